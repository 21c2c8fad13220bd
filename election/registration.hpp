// The election's files in the bucket, in Kong Enterprise's layout so that a fleet mixing Kong
// exporters and lifeboat agents agrees on one leader:
//
//   <election_prefix><register_time>-<node_id>    one registration per exporter process
//   <election_prefix>terms/<20-digit term>         one per leadership change (lifeboat only)
//
// register_time is the node's wall-clock start time in seconds, printed as Lua's "%.14g"
// (e.g. "1704921469.123"), and parsed with Kong's pattern ^(%d+%.?%d*)%-(.+)$. Kong ignores the
// terms/ keys because they do not match that pattern.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lifeboat::election {

struct registration_name {
    double register_time = 0;
    std::string node_id;
    std::string name; // the part after the election prefix, e.g. "1704921469.123-3f2a..."
};

// "1704921469.123-<node_id>": register_time formatted as Lua's %.14g.
std::string format_registration(double register_time, std::string_view node_id);

// Parses the part of a key after the election prefix; nullopt for anything Kong would skip.
std::optional<registration_name> parse_registration(std::string_view name);

// The leader is the earliest registration; equal times are ordered by node id, byte-wise.
bool earlier(const registration_name& a, const registration_name& b);

// "terms/00000000000000000042"
std::string format_term(std::uint64_t term);
std::optional<std::uint64_t> parse_term(std::string_view name);

} // namespace lifeboat::election
