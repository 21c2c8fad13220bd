#include "protocol/kong_node.hpp"

#include "base/percent_encoding.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <fmt/format.h>

namespace lifeboat::protocol {

namespace json = boost::json;

std::string outlet_target(const node_description& node) {
    return "/v1/outlet?node_id=" + percent_encode(node.node_id) +
           "&node_hostname=" + percent_encode(node.hostname) +
           "&node_version=" + percent_encode(node.version);
}

std::string basic_info(const node_description& node) {
    json::array plugins;
    const auto list = node.plugins.empty() ? bundled_plugins(node.version) : node.plugins;
    for (const auto& p : list) {
        json::object entry{{"name", p.name}};
        if (!p.version.empty())
            entry["version"] = p.version;
        plugins.push_back(std::move(entry));
    }
    // process_conf is Kong's remove_sensitive() configuration; the CPs read nothing from it that
    // matters to config delivery, so a few non-secret facts suffice.
    json::object process_conf{{"role", "data_plane"},
                              {"database", "off"},
                              {"cluster_mtls", node.mtls == cluster_mtls::shared ? "shared" : "pki"},
                              {"cluster_control_plane", node.control_plane},
                              {"cluster_max_payload", node.max_payload},
                              {"router_flavor", "traditional_compatible"}};
    json::object info{
        {"type", "basic_info"}, {"plugins", std::move(plugins)}, {"process_conf", std::move(process_conf)}};
    if (!node.labels.empty()) {
        json::object labels;
        for (const auto& [k, v] : node.labels)
            labels[k] = v;
        info["labels"] = std::move(labels);
    }
    return json::serialize(info);
}

std::optional<outlet_query> parse_outlet_target(std::string_view target) {
    auto url = boost::urls::parse_origin_form(target);
    if (!url || url->path() != "/v1/outlet")
        return std::nullopt;
    outlet_query q;
    for (const auto& param : url->params()) {
        if (param.key == "node_id")
            q.node_id = param.value;
        else if (param.key == "node_hostname")
            q.hostname = param.value;
        else if (param.key == "node_version")
            q.version = param.value;
    }
    return q;
}

// The checks and messages of Kong's control_plane.lua (handle_cp_websocket).
result<std::vector<plugin_info>, std::string> parse_basic_info(std::string_view payload) {
    json::error_code ec;
    const json::value info = json::parse(payload, ec);
    if (ec || !info.is_object())
        return failure(std::string("failed to decode websocket basic info data"));
    const auto* type = info.get_object().if_contains("type");
    if (!type || !type->is_string() || type->get_string() != "basic_info")
        return failure(fmt::format("invalid basic info data type: {}", type && type->is_string()
                                                                           ? std::string(type->get_string())
                                                                           : std::string("unknown")));
    const auto* plugins = info.get_object().if_contains("plugins");
    if (!plugins || !(plugins->is_array() || plugins->is_object()))
        return failure(std::string("missing plugins in basic info data"));
    std::vector<plugin_info> list;
    if (plugins->is_array()) // an object (an empty Lua table, as cjson encodes it) lists none
        for (const auto& p : plugins->get_array()) {
            if (!p.is_object())
                continue;
            const auto* name = p.get_object().if_contains("name");
            if (!name || !name->is_string())
                continue;
            const auto* ver = p.get_object().if_contains("version");
            list.push_back({std::string(name->get_string()),
                            ver && ver->is_string() ? std::string(ver->get_string()) : std::string()});
        }
    return list;
}

} // namespace lifeboat::protocol
