// The GCS JSON API as lifeboat uses it, without I/O: request targets, the multipart/related
// upload body, and the parsing of object resources, list pages and errors. gcs_store.cpp sends
// these with the shared HTTP client.
//
//   head      GET    /storage/v1/b/<bucket>/o/<key>
//   download  GET    /storage/v1/b/<bucket>/o/<key>?alt=media&generation=<g>
//   upload    POST   /upload/storage/v1/b/<bucket>/o?uploadType=media&name=<key>      (no metadata)
//             POST   /upload/storage/v1/b/<bucket>/o?uploadType=multipart              (metadata)
//   list      GET    /storage/v1/b/<bucket>/o?prefix=<p>&maxResults=<n>&pageToken=<t>
//   delete    DELETE /storage/v1/b/<bucket>/o/<key>
// Writes and deletes take ifGenerationMatch=<g> (0: create only). Names are percent-encoded
// whole, '/' included, as the JSON API wants.
#pragma once

#include "backends/object_store.hpp"
#include "base/result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::backends::gcs {

// Why `key` is not a valid GCS object name, or an empty string.
std::string object_name_problem(std::string_view key);

std::string metadata_target(std::string_view bucket, std::string_view key);
std::string media_target(std::string_view bucket, std::string_view key, std::string_view generation);
std::string delete_target(std::string_view bucket, std::string_view key,
                          std::string_view if_generation_match);
std::string list_target(std::string_view bucket, std::string_view prefix, std::size_t max_results,
                        std::string_view page_token);
// if_generation_match: nullopt for an unconditional write, "0" for create-only.
std::string upload_target(std::string_view bucket, std::string_view key, bool multipart,
                          const std::optional<std::string>& if_generation_match);

// A multipart/related body: `head` (boundary, JSON metadata part, media part headers), the
// object's bytes, then `tail`. The bytes are not copied here, so a file can be streamed between.
struct multipart_body {
    std::string content_type; // multipart/related; boundary=...
    std::string head;
    std::string tail;
};
multipart_body make_multipart(std::string_view key, std::string_view content_type,
                              const std::map<std::string, std::string>& metadata, std::string_view boundary);
std::string random_boundary();

// The object resource JSON -> object_info (name, size, etag, generation, updated,
// contentType, metadata).
result<object_info, std::string> parse_object_resource(std::string_view json);

struct list_page {
    std::vector<object_info> items;
    std::string next_page_token;
};
result<list_page, std::string> parse_list_page(std::string_view json);

// Maps a non-2xx response: 401 bad_credentials, 403 access_denied, 404 not_found, 409 conflict,
// 412 precondition_failed, 429 throttled, 5xx server_error; the JSON error's reason and message
// become provider_code and message.
store_error error_from_response(unsigned status, std::string_view body, std::string operation);

} // namespace lifeboat::backends::gcs
