// A synthetic Kong 3.x declarative config (the config_table a CP exports) of about a given size:
// services with routes, plugins on services, routes and consumers, consumers with key-auth
// credentials and ACL groups, upstreams with targets. Every entity has a UUIDv4 id, timestamps
// and tags, in the proportions of research/perf-limits.md's 50 MiB test config. Deterministic
// for a given seed. For benchmarks and demos.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lifeboat::bench {

struct kong_config_counts {
    std::size_t services = 0, routes = 0, plugins = 0, consumers = 0, upstreams = 0, targets = 0;
};

// Compact JSON of at least `target_bytes` (a little more: whole entity groups only).
std::string make_kong_config(std::size_t target_bytes, std::uint64_t seed = 1,
                             kong_config_counts* counts = nullptr);

} // namespace lifeboat::bench
