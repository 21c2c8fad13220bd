// Kong Gateway version strings ("3.9.0", Enterprise's "3.9.0.1"), read as Kong reads them: its
// pattern ^(%d+)%.(%d+)%.%d+ (kong/clustering/compat, check_kong_version_compatibility), the one
// copy the data plane's plugin list, the agent's gateway mirror and the reference CP use.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace lifeboat {

struct kong_version {
    int major = 0, minor = 0, patch = 0;
    std::string three; // "3.9.0"
};

// nullopt unless `v` starts with three dot-separated numbers (anything may follow the third).
std::optional<kong_version> parse_kong_version(std::string_view v);

} // namespace lifeboat
