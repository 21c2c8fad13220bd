// The S3 wire details the store needs, as pure functions (no I/O): error documents to
// store_error, Kong's PutObject fields to headers, response headers to object_info, and the
// ListObjectsV2 / multipart documents.
#pragma once

#include "backends/http/client.hpp"
#include "backends/http/store_errors.hpp"
#include "backends/object_store.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::s3 {

struct s3_error_doc {
    std::string code;        // "NoSuchKey"
    std::string message;     // may be empty (RGW)
    std::string server_time; // RequestTimeTooSkewed: <ServerTime>
};
// The <Error> document of a failed request (also found inside a 200 CompleteMultipartUpload).
std::optional<s3_error_doc> parse_error(std::string_view body);

using backends::write_kind;

// Maps a non-2xx S3 answer to a store_error; RGW's empty <Message> is replaced by a human
// explanation of the code. `conditional` turns a 5xx into conflict ("outcome unknown: re-read").
backends::store_error to_store_error(const http::response& res, std::string operation,
                                     write_kind kind = write_kind::plain);
// A transport failure (no complete answer): backends/http/store_errors.hpp.
using backends::to_store_error;

// Codes that mean "your credentials", as opposed to "your permissions".
bool is_credential_code(std::string_view code);
// 400 RequestTimeout and 500/503 InternalError/SlowDown... worth another attempt.
bool is_retryable_s3_response(const http::response& res);

// Kong's cluster_fallback_export_s3_config keys (the PutObject input names of the AWS API, as
// lua-resty-aws takes them) to request headers. Unknown or unsupported keys are refused with a
// one-line error naming them.
result<std::vector<std::pair<std::string, std::string>>, std::string>
put_fields_to_headers(const std::map<std::string, std::string>& fields);

// User metadata names must be HTTP tokens; stored lower-case as S3 does.
result<void, std::string> check_metadata(const std::map<std::string, std::string>& metadata);

// An object's info from HEAD/GET/PUT response headers.
backends::object_info info_from_headers(const http::response& res, std::string key);

// "\"abc\"" -> "abc" (also W/"abc").
std::string strip_etag_quotes(std::string_view etag);

struct list_page {
    std::vector<backends::object_info> objects;
    bool truncated = false;
    std::string next_token;
};
// A ListObjectsV2 answer; keys are decoded when the answer says EncodingType=url.
result<list_page, std::string> parse_list_page(std::string_view body);

std::string complete_multipart_body(const std::vector<std::string>& part_etags);

} // namespace lifeboat::s3
