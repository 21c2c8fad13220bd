// What a Kong data plane tells its control plane about itself, in Kong's words
// (kong/clustering/data_plane.lua, control_plane.lua): the query of its /v1/outlet request
// (node_id, node_hostname, node_version) and its first frame, basic_info (the plugins it runs with
// their versions, its labels, a few process_conf facts). The data-plane session writes them; the
// reference CP reads them with the functions below, so both sides agree by construction.
#pragma once

#include "base/result.hpp"
#include "protocol/kong_plugins.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::protocol {

enum class cluster_mtls { shared, pki };

struct node_description {
    std::string node_id;
    std::string hostname;
    std::string version;
    std::vector<plugin_info> plugins;          // empty: bundled_plugins(version)
    std::map<std::string, std::string> labels; // cluster_dp_labels
    // What basic_info's process_conf says (non-secret facts only).
    cluster_mtls mtls = cluster_mtls::shared;
    std::string control_plane; // cluster_control_plane
    std::size_t max_payload = 0;
};

// The URL path and query Kong's DP requests, e.g. /v1/outlet?node_id=..&node_hostname=..
std::string outlet_target(const node_description& node);
// The basic_info frame (uncompressed JSON).
std::string basic_info(const node_description& node);

// The CP's reading of an /v1/outlet request target; nullopt for another path or a target that
// does not parse. A parameter the DP did not pass stays empty.
struct outlet_query {
    std::optional<std::string> node_id, hostname, version;
};
std::optional<outlet_query> parse_outlet_target(std::string_view target);

// The CP's reading of basic_info: the plugins the node runs, or Kong's refusal message.
result<std::vector<plugin_info>, std::string> parse_basic_info(std::string_view payload);

} // namespace lifeboat::protocol
