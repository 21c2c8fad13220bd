#include "agent/gateway_mirror.hpp"

#include "base/kong_version.hpp"
#include "base/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace lifeboat::agent {

namespace asio = boost::asio;

bool gateway_answer::operator==(const gateway_answer& o) const {
    return version == o.version && plugins.size() == o.plugins.size() &&
           std::equal(plugins.begin(), plugins.end(), o.plugins.begin(), [](const auto& a, const auto& b) {
               return a.name == b.name && a.version == b.version;
           });
}

bool advertisement::operator==(const advertisement& o) const {
    return node_version == o.node_version && source == o.source &&
           gateway_answer{node_version, plugins} == gateway_answer{o.node_version, o.plugins};
}

std::string advertisement::describe() const {
    const char* from = source == protocol::plugin_source::gateway ? "the gateway's Admin API"
                       : source == protocol::plugin_source::list  ? "dp_plugins"
                                                                  : "Kong's catalogue";
    return fmt::format("{} plugins for {} ({}{}{})", plugins.size(), node_version, from,
                       note.empty() ? "" : ": ", note);
}

result<gateway_answer, std::string> parse_admin_root(std::string_view body) {
    boost::system::error_code ec;
    const auto doc = boost::json::parse(body, ec);
    if (ec || !doc.is_object())
        return failure(std::string("the Admin API root is not a JSON object"));
    gateway_answer out;
    const auto* version = doc.as_object().if_contains("version");
    if (!version || !version->is_string())
        return failure(std::string("the Admin API root has no version"));
    // "3.9.0.0-enterprise-edition" -> "3.9.0.0": the version a Kong DP reports to its CP.
    const std::string_view v = version->as_string();
    out.version = std::string(v.substr(0, v.find_first_not_of("0123456789.")));
    while (!out.version.empty() && out.version.back() == '.')
        out.version.pop_back();
    if (!parse_kong_version(out.version))
        return failure(fmt::format("the Admin API root's version {:?} is not x.y.z", std::string(v)));
    const auto* plugins = doc.as_object().if_contains("plugins");
    const auto* available =
        plugins && plugins->is_object() ? plugins->as_object().if_contains("available_on_server") : nullptr;
    if (!available || !available->is_object())
        return failure(std::string("the Admin API root has no plugins.available_on_server"));
    for (const auto& [name, info] : available->as_object()) {
        std::string plugin_version;
        // Kong 3.x: {"version": "3.9.0", "priority": 1000}; older: true (loaded, unversioned).
        if (info.is_object())
            if (const auto* pv = info.as_object().if_contains("version"); pv && pv->is_string())
                plugin_version = std::string(pv->as_string());
        if (info.is_bool() && !info.as_bool())
            continue;
        out.plugins.push_back({std::string(name), std::move(plugin_version)});
    }
    std::sort(out.plugins.begin(), out.plugins.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

asio::awaitable<result<gateway_answer, std::string>> read_admin_root(http::client& client, const settings& s,
                                                                     std::chrono::milliseconds timeout) {
    auto where = http::split_url(s.gateway_admin_url);
    if (!where)
        co_return failure(fmt::format("gateway_admin_url: {}", where.error()));
    http::request req;
    req.method = http::verb::get;
    req.server = where->server;
    req.target = where->target.empty() ? "/" : where->target;
    if (!s.gateway_admin_token.empty())
        req.headers.set("Kong-Admin-Token", s.gateway_admin_token);
    req.retry = http::retry_policy{1};
    req.timeout = http::timeouts{.connect = timeout, .idle = timeout, .total = timeout};
    auto res = co_await client.send(std::move(req));
    if (!res)
        co_return failure(fmt::format("GET {}: {}", s.gateway_admin_url, res.error().message));
    if (!res->ok())
        co_return failure(fmt::format("GET {}: HTTP {}", s.gateway_admin_url, res->status));
    auto answer = parse_admin_root(res->body);
    if (!answer)
        co_return failure(fmt::format("GET {}: {}", s.gateway_admin_url, answer.error()));
    co_return std::move(answer).value();
}

bool mirrors_gateway(const settings& s) {
    if (s.node_version_auto)
        return true;
    auto selection = protocol::parse_plugin_selection(s.dp_plugins);
    return selection && selection->base == protocol::plugin_source::gateway;
}

advertisement decide_advertisement(const settings& s, const result<gateway_answer, std::string>* answer) {
    advertisement out;
    const bool have = answer && answer->ok();
    out.node_version = s.node_version_auto ? (have ? (*answer)->version : std::string(fallback_node_version))
                                           : s.node_version;
    auto selection = protocol::parse_plugin_selection(s.dp_plugins);
    if (!selection) // load_config checked it; keep the catalogue rather than advertise nothing
        selection = protocol::plugin_selection{.with_catalogue = true};
    out.source = selection->base;
    if (selection->base == protocol::plugin_source::gateway && !have)
        out.source = protocol::plugin_source::catalogue;
    out.plugins =
        protocol::resolve_plugins(*selection, out.node_version, have ? &(*answer)->plugins : nullptr);
    if (answer && !have)
        out.note = "the gateway cannot be read: " + answer->error();
    return out;
}

advertisement read_advertisement(const settings& s, std::chrono::milliseconds timeout) {
    if (!mirrors_gateway(s))
        return decide_advertisement(s, nullptr);
    asio::io_context io(1);
    std::optional<result<gateway_answer, std::string>> answer;
    {
        http::client client(io.get_executor());
        asio::co_spawn(
            io, [&]() -> asio::awaitable<void> { answer = co_await read_admin_root(client, s, timeout); },
            asio::detached);
        io.run();
    }
    if (!answer)
        answer.emplace(failure(std::string("the request did not complete")));
    auto out = decide_advertisement(s, &*answer);
    if (!answer->ok())
        log::warn("cannot read the gateway's Admin API; advertising Kong's catalogue until it answers",
                  "error", answer->error(), "advertised", out.describe());
    else
        log::info("mirroring the gateway next to this node", "advertised", out.describe());
    return out;
}

protocol::dp_session_options session_options(const settings& s, const std::string& node_id,
                                             const advertisement& advertised) {
    protocol::dp_session_options o;
    o.control_plane = s.cluster_control_plane;
    o.mtls = s.cluster_mtls == mtls_mode::pki ? protocol::cluster_mtls::pki : protocol::cluster_mtls::shared;
    o.cert = s.cluster_cert;
    o.key = s.cluster_cert_key;
    o.ca_cert = s.cluster_ca_cert;
    o.server_name = s.cluster_server_name;
    if (s.cluster_use_proxy)
        o.proxy = s.proxy_server;
    o.node_id = node_id;
    o.node_hostname = s.node_hostname;
    o.node_version = advertised.node_version;
    o.plugins = advertised.plugins;
    o.labels = s.cluster_dp_labels;
    o.max_payload = s.cluster_max_payload;
    o.max_config_size = s.cluster_max_config_size;
    o.timing.ping_interval = s.cluster_ping_interval;
    o.timing.dead_after = s.cluster_dead_after;
    o.timing.reconnect_min = s.cluster_reconnect_delay_min;
    o.timing.reconnect_max = s.cluster_reconnect_delay_max;
    o.timing.reconnect_ceiling = s.cluster_reconnect_delay_ceiling;
    o.timing.config_wait_pings = config_wait_pings;
    return o;
}

} // namespace lifeboat::agent
