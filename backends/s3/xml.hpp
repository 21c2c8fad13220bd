// Just enough XML for S3 and STS responses: find elements by tag name and read their text with
// entities decoded. S3 documents are flat and machine-written (no comments, no CDATA in the
// places we read), so this scanner is enough; it never allocates a DOM.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::s3::xml {

// The inner XML of every <tag>...</tag> (or empty for <tag/>) in `doc`, in document order, not
// descending into a found element. Tags may carry attributes; a namespace prefix is not matched.
std::vector<std::string_view> elements(std::string_view doc, std::string_view tag);

// The inner XML of the first <tag> element, if any.
std::optional<std::string_view> element(std::string_view doc, std::string_view tag);

// The decoded text of the first <tag> element (entities and character references resolved).
std::optional<std::string> text(std::string_view doc, std::string_view tag);

// &amp; &lt; &gt; &quot; &apos; &#N; &#xN; -> characters (UTF-8).
std::string decode_entities(std::string_view s);

// The reverse, for request documents (CompleteMultipartUpload).
std::string escape(std::string_view s);

} // namespace lifeboat::s3::xml
