// Kong's plugins as the hybrid protocol sees them: the catalogue of plugins bundled with each Kong
// Gateway version (open source and Enterprise, 3.4 to 3.15), what a data plane advertises in
// basic_info (dp_plugins), and the CP's plugin gate (Kong's check_configuration_compatibility),
// shared by the reference CP and the tests.
#pragma once

#include "base/result.hpp"

#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::protocol {

struct plugin_info {
    std::string name;
    std::string version; // "x.y.z"; empty: unversioned
};

enum class plugin_edition { oss, enterprise };

// One row of the catalogue (kong_plugins.cpp names its sources).
struct catalogued_plugin {
    std::string_view name;
    int since_minor; // bundled from 3.<since_minor> on (4: 3.4 LTS or earlier)
    plugin_edition edition;
};
std::span<const catalogued_plugin> kong_plugin_catalogue();

// The catalogue covers 3.<first> to 3.<last>; a newer 3.x version gets the newest set.
inline constexpr int catalogue_first_minor = 4;
inline constexpr int catalogue_last_minor = 15;

// Kong's bundled plugins (open source and Enterprise) for a node version ("3.9.0.0" or "3.9.0"),
// each at the version Kong reports for it (the gateway's major.minor.patch; opentelemetry
// reported 0.1.0 up to 3.7), sorted by name as Kong sends them.
std::vector<plugin_info> bundled_plugins(std::string_view node_version);

// Where the advertised list comes from.
enum class plugin_source {
    catalogue, // bundled_plugins(node_version), the default
    gateway,   // dp_plugins = auto: the gateway's Admin API root (plugins.available_on_server)
    list,      // an explicit list
};
const char* to_string(plugin_source s);

// dp_plugins, parsed. Entries: "auto" (mirror the gateway), "bundled" (the catalogue), "name" (at the
// node version) or "name:x.y.z" (an explicit list: replaces the catalogue), "+name" or
// "+name:x.y.z" (added to whatever the base is). Empty: the catalogue.
struct plugin_selection {
    plugin_source base = plugin_source::catalogue;
    bool with_catalogue = false;      // an explicit list that names "bundled" too
    std::vector<std::string> entries; // explicit entries, "name" or "name:x.y.z", in order
    std::vector<std::string> added;   // "+" entries without the "+"
};
result<plugin_selection, std::string> parse_plugin_selection(const std::vector<std::string>& entries);

// The list to advertise. `gateway` is the gateway's answer for plugin_source::gateway (nullptr
// when it could not be read: the catalogue stands in). Sorted by name, later duplicates win.
std::vector<plugin_info> resolve_plugins(const plugin_selection& selection, std::string_view node_version,
                                         const std::vector<plugin_info>* gateway = nullptr);

// parse_plugin_selection + resolve_plugins without a gateway ("auto" is an error here).
result<std::vector<plugin_info>, std::string> plugin_list(const std::vector<std::string>& entries,
                                                          std::string_view node_version);

// ---- the CP's plugin gate (kong/clustering/compat/init.lua) ----

// plugins_list_to_map: a version Kong's pattern cannot read makes the plugin present but
// unversioned (the version rule then does not apply).
struct plugin_version {
    int major = 0, minor = 0;
    std::string text;
};
using plugin_map = std::map<std::string, std::optional<plugin_version>, std::less<>>;
plugin_map to_plugin_map(const std::vector<plugin_info>& plugins);

enum class gate_verdict {
    normal,                      // the config may be sent
    plugin_set_incompatible,     // a configured plugin is missing from the data plane
    plugin_version_incompatible, // other major, or the DP's minor is newer than the CP's
};
const char* to_string(gate_verdict v);

struct gate_result {
    gate_verdict verdict = gate_verdict::normal;
    std::string message; // Kong's wording, for the CP's log
};

// check_configuration_compatibility: walks the CP's plugins in order; each one the config uses
// must be on the data plane, and when both sides have a version, with the CP's major and a minor
// no newer than the CP's (opentelemetry 0.1.0 on the DP is accepted, as Kong does since 3.8).
gate_result check_configuration_compatibility(const std::vector<plugin_info>& cp_plugins,
                                              const std::set<std::string, std::less<>>& configured,
                                              const plugin_map& dp_plugins);

} // namespace lifeboat::protocol
