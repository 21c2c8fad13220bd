// Parsers for configuration values, shared by the key table. Each returns nullopt on bad input.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::agent {

std::string_view trim(std::string_view s);

// on/off, true/false, yes/no, 1/0 (Kong writes on/off).
std::optional<bool> parse_bool(std::string_view v);
// Bytes: "16777216", "16m", "512k", "1g" (binary multiples).
std::optional<std::uint64_t> parse_size(std::string_view v);
// A plain number is seconds, as in kong.conf ("60", "0.5"); suffixes ms, s, m, h are accepted.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view v);
// "a, b ,c" -> {"a","b","c"}; empty items dropped.
std::vector<std::string> parse_list(std::string_view v);
// Kong's cluster_dp_labels: "region:eu,tier:gold".
std::optional<std::map<std::string, std::string>> parse_labels(std::string_view v);
// host:port, [v6]:port, or unix:/absolute/path.
bool is_listen_address(std::string_view v);
bool is_host_port(std::string_view v);
bool is_uuid(std::string_view v);
// 3.9.0 or 3.9.0.0 (Kong Enterprise's four-part versions).
bool is_gateway_version(std::string_view v);

} // namespace lifeboat::agent
