// AWS Signature Version 4 (header signing and presigned URLs), with S3's canonicalisation rules:
// the path is URI-encoded once and never normalised ("a//b/../c" is a legal key and is signed
// as is). Pure functions: no clock, no I/O; the caller passes the time and the payload hash.
#pragma once

#include "base/time_format.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lifeboat::s3 {

struct credentials {
    std::string access_key_id;
    std::string secret_access_key;                    // secret
    std::string session_token;                        // secret; empty for long-term keys
    std::optional<wall_clock::time_point> expiration; // nullopt: does not expire
    std::string source; // "environment", "profile default", "web identity", ... (for logs)

    bool empty() const { return access_key_id.empty() || secret_access_key.empty(); }
};

inline constexpr std::string_view unsigned_payload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view empty_payload_sha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// The payload hash of a request whose body is sent aws-chunked, each chunk signed (chunk_signer).
inline constexpr std::string_view streaming_payload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

// What gets signed. Header names may be in any case and may repeat (values are then joined with
// ',' in order); values are trimmed and inner runs of whitespace collapsed, as SigV4 requires.
struct canonical_input {
    std::string method;                                     // "GET"
    std::string canonical_uri;                              // already encoded: "/bkt/a%20b"
    std::vector<std::pair<std::string, std::string>> query; // decoded names and values
    std::vector<std::pair<std::string, std::string>> headers;
    std::string payload_hash; // hex SHA-256 or UNSIGNED-PAYLOAD
};

struct scope {
    std::string region;
    std::string service = "s3";
    wall_clock::time_point time;
};

struct signed_parts {
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature;      // hex
    std::string signed_headers; // "host;x-amz-content-sha256;x-amz-date"
    std::string authorization;  // the Authorization header value (header signing only)
    std::string query;          // presigning only: the complete canonical query with X-Amz-Signature
};

// S3 path encoding: every byte except A-Z a-z 0-9 - . _ ~ and '/' becomes %XX, once.
std::string encode_path(std::string_view raw_path);
// RFC 3986 encoding of one query name or value ('/' too).
std::string encode_query_component(std::string_view s);
// "a=1&b=" from decoded pairs, sorted by encoded name then value.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);
// Lower-cased, sorted names; duplicate names joined with ','. Returns {block, signed_headers}.
std::pair<std::string, std::string>
canonical_headers(const std::vector<std::pair<std::string, std::string>>& headers);
std::string canonical_request(const canonical_input& in);

// "20130524/us-east-1/s3/aws4_request"
std::string credential_scope(const scope& sc);

// HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request" (raw bytes).
std::string signing_key(std::string_view secret, std::string_view yyyymmdd, std::string_view region,
                        std::string_view service);

// Header signing. `in.headers` must already hold every header to sign, x-amz-date (and
// x-amz-security-token, x-amz-content-sha256 where used) included.
signed_parts sign(const canonical_input& in, const credentials& creds, const scope& sc);

// Presigning (query signing): adds X-Amz-Algorithm, -Credential, -Date, -Expires,
// -SignedHeaders (and -Security-Token unless omit_token) to the query, signs, and returns the
// final query in signed_parts::query.
signed_parts presign(const canonical_input& in, const credentials& creds, const scope& sc,
                     std::chrono::seconds expires, bool omit_token = false);

// S3's chunked upload signing ("Transferring Payload in Multiple Chunks"). The request header is
// signed with the payload hash STREAMING-AWS4-HMAC-SHA256-PAYLOAD; that signature is the seed.
// The body (Content-Encoding: aws-chunked) is then a series of chunks
//   <hex size>;chunk-signature=<signature>\r\n<data>\r\n
// ending with a 0-byte chunk, each signature covering the chunk's SHA-256 and the previous
// signature: the body is hashed once, as it is sent, and a chunk can be neither altered, dropped
// nor moved. A new attempt needs a new seed (a new x-amz-date), hence a new signer.
class chunk_signer {
public:
    chunk_signer(const credentials& creds, const scope& sc, std::string seed_signature);

    // The signature of the next chunk (hex), chained to the previous one.
    std::string sign(std::string_view data);
    // sign(data) framed as the chunk's header line: "<hex size>;chunk-signature=<sig>\r\n".
    std::string chunk_header(std::string_view data);

private:
    std::string key_;
    std::string prefix_; // "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n"
    std::string previous_;
};

// The Content-Length of `decoded` body bytes framed in chunks of `chunk_size` (the last one
// shorter), the final 0-byte chunk included.
std::uint64_t aws_chunked_length(std::uint64_t decoded, std::uint64_t chunk_size);

} // namespace lifeboat::s3
