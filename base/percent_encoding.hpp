// Percent-encoding (RFC 3986, section 2.1), the one copy every part uses (the HTTP client's
// targets and form bodies, SigV4's canonical requests, the CP session's /v1/outlet query), on
// Boost.URL's encoder.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lifeboat {

// Every byte but RFC 3986's "unreserved" (A-Z a-z 0-9 - . _ ~) as %XX with upper-case hex; a
// space is %20, never '+'. That is also SigV4's UriEncode() exactly (the signer's vectors in
// test/s3 check it). keep_slash leaves '/' alone (S3 object keys in paths).
std::string percent_encode(std::string_view s, bool keep_slash = false);

// Decodes %XX (and nothing else: '+' stays '+'). nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view s);

} // namespace lifeboat
