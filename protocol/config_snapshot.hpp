// A config as it flows through lifeboat: session (or cache, or fallback) -> validate -> cache ->
// hand-off to the gateway -> upload. Immutable once built and shared by pointer, so a 200 MiB
// config is held once however many tasks look at it.
#pragma once

#include "base/result.hpp"
#include "base/time_format.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace lifeboat::protocol {

// declarative_config: the operator's local file (Kong's declarative_config key), the last resort
// of a node with no cache, no CP and no usable backup.
enum class config_source { none, cache, control_plane, fallback, declarative_config };
const char* to_string(config_source s);

// Kong's per-section hashes (the `hashes` object of a reconfigure envelope); absent sections
// hold 32 zeros.
struct config_hashes {
    std::string config, routes, services, plugins, upstreams, targets;
};

inline constexpr std::string_view empty_config_hash = "00000000000000000000000000000000";

struct config_snapshot {
    std::shared_ptr<const std::string> storage; // owns the bytes config_json points into
    std::string_view config_json;               // the declarative config_table as JSON text
    std::string hash;                           // 32 lower-case hex: the CP's, or Kong's algorithm
    config_hashes hashes;
    double cp_timestamp = 0; // the CP's envelope "timestamp" (seconds), 0 if unknown
    config_source source = config_source::none;
    wall_clock::time_point received_at{};

    std::size_t size() const { return config_json.size(); }

    // The config_table text as a shared string, for bodies that must not copy 200 MiB: the
    // storage itself when it holds exactly config_json (a config from the cache, the bucket or
    // an inflated envelope that is only the table), otherwise one copy of the slice.
    std::shared_ptr<const std::string> shared_config_json() const;
};

using snapshot_ptr = std::shared_ptr<const config_snapshot>;

} // namespace lifeboat::protocol
