// Wall-clock formats met on the wire: ISO 8601 (S3 LastModified, status JSON), RFC 7231 HTTP
// dates (the `Date` header), and SigV4's compact "20261122T034200Z".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace lifeboat {

using wall_clock = std::chrono::system_clock;

std::string format_iso8601(wall_clock::time_point t);   // 2026-11-22T03:42:00.123Z
std::string format_http_date(wall_clock::time_point t); // Sun, 22 Nov 2026 03:42:00 GMT
std::string format_amz_date(wall_clock::time_point t);  // 20261122T034200Z

std::optional<wall_clock::time_point> parse_iso8601(std::string_view s);
std::optional<wall_clock::time_point> parse_http_date(std::string_view s);

// Seconds since the epoch as a double (Kong's ngx.now()), and back.
double to_epoch_seconds(wall_clock::time_point t);
wall_clock::time_point from_epoch_seconds(double s);

} // namespace lifeboat
