// The Blob service's wire formats, without I/O: error codes to store errors, a blob's
// properties from response headers, List Blobs pages, Put Block List bodies, block ids, and
// lifeboat's metadata names in Azure's spelling.
#pragma once

#include "backends/http/client.hpp"
#include "backends/http/store_errors.hpp"
#include "backends/object_store.hpp"
#include "base/result.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::azure {

// Pinned: every request says which REST version it speaks (Azurite accepts up to its own).
inline constexpr const char* api_version = "2021-08-06";

using backends::write_kind;

// <Error><Code>BlobNotFound</Code><Message>...</Message></Error>, or for HEAD (no body) the
// x-ms-error-code header. The message keeps its first line (Azure appends RequestId and Time).
backends::store_error to_store_error(const http::response& res, std::string operation,
                                     write_kind kind = write_kind::plain);
// A transport failure (no complete answer): backends/http/store_errors.hpp.
using backends::to_store_error;

// Azure metadata names are C# identifiers: lifeboat's '-' travels as '_' and comes back as '-'.
// A name that would not survive the round trip ('_', a leading digit, other characters) is refused.
result<std::string, std::string> metadata_name_to_azure(std::string_view name);
std::string metadata_name_from_azure(std::string_view name);

backends::object_info info_from_headers(const http::response& res, std::string key);

struct list_page {
    std::vector<backends::object_info> blobs;
    std::string next_marker; // empty: the last page
};
result<list_page, std::string> parse_list_page(std::string_view xml);

// Block ids of one upload: the same length (Azure requires it), with a random upload tag so that
// two writers of one blob never commit each other's uncommitted blocks. Base64 (not yet URL-encoded).
std::string block_id(std::string_view upload_tag, std::uint64_t index);
std::string random_upload_tag();
std::string block_list_body(const std::vector<std::string>& ids);

} // namespace lifeboat::azure
