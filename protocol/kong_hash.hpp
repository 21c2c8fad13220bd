// Kong's config hash (kong/clustering/config_helper.lua, Kong 3.x), over Boost.JSON values.
//
// Kong serialises a config with `to_sorted_string` and hashes the result with MD5:
//   null -> "/null/"; string -> its raw bytes; number -> LuaJIT tostring ("%.14g");
//   boolean -> "true"/"false"; an empty array or object -> "{}";
//   an array of 1-5 items -> items joined with ";"; of 6+ items -> every item followed by ";";
//   an object -> "key:" value ";" for each key, keys sorted byte-wise.
// Before visiting any value, a buffer longer than 1,000,000 bytes is replaced by its 16-byte
// md5_bin, so the order of visits matters. `calculate_config_hash` hashes routes, services,
// plugins, upstreams and targets separately, then the rest of the table, and hashes the
// concatenation of the six hex digests.
//
// A data plane adopts the CP's config_hash verbatim; lifeboat computes it only when a frame
// lacks one, for configs read from the cache or the fallback bucket, and in the reference CP.
#pragma once

#include "protocol/config_snapshot.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <string>

namespace lifeboat::protocol {

// Kong compacts its buffer once it holds more than this many bytes.
inline constexpr std::size_t kong_hash_compaction_threshold = 1'000'000;

// A number as LuaJIT's tostring prints it: "%.14g", with "inf", "-inf" and "nan".
void append_lua_number(std::string& out, double v);
std::string lua_number(double v);

// The bytes Kong's buffer holds after to_sorted_string(v), compactions included. For tests and
// diagnostics only: it materialises the whole string.
std::string kong_sorted_string(const boost::json::value& v);

// Kong's calculate_hash(v): lower-case hex MD5 of to_sorted_string(v), streamed (the sorted
// string is never held in memory).
std::string kong_value_hash(const boost::json::value& v);

// Kong's calculate_config_hash(config_table): `config` is the config hash; sections absent from
// the table get 32 zeros.
config_hashes kong_config_hashes(const boost::json::object& config_table);

} // namespace lifeboat::protocol
