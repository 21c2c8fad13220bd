// What this node advertises to the control plane: the node version and the plugin list of
// basic_info. By default Kong's catalogue for node_version (protocol/kong_plugins.hpp); with
// `dp_plugins = auto` and/or `node_version = auto`, the answer of the gateway next to the node:
// the Kong Admin API root (GET / on gateway_admin_url), its `version` and
// `plugins.available_on_server` (name -> {version, priority}), so the CP's plugin gate sees what
// the gateway really runs.
#pragma once

#include "agent/config.hpp"
#include "backends/http/client.hpp"
#include "protocol/dp_session.hpp"
#include "protocol/kong_plugins.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>
#include <vector>

namespace lifeboat::agent {

// The part of Kong's Admin API root that matters here.
struct gateway_answer {
    std::string version; // "3.9.0.0" ("-enterprise-edition" and the like removed)
    std::vector<protocol::plugin_info> plugins;
    bool operator==(const gateway_answer&) const;
};
result<gateway_answer, std::string> parse_admin_root(std::string_view body);

// GET / on gateway_admin_url (Kong-Admin-Token when set), bounded by `timeout`, no retries.
boost::asio::awaitable<result<gateway_answer, std::string>>
read_admin_root(http::client& client, const settings& s, std::chrono::milliseconds timeout);

// Whether the settings ask for the gateway's answer at all.
bool mirrors_gateway(const settings& s);

struct advertisement {
    std::string node_version;
    std::vector<protocol::plugin_info> plugins;
    protocol::plugin_source source = protocol::plugin_source::catalogue;
    std::string note; // why the catalogue stands in for the gateway, if it does
    // "83 plugins for 3.9.0.0 (Kong's catalogue)", for logs, /status and doctor
    std::string describe() const;
    bool operator==(const advertisement&) const;
};

// The default node version when node_version = auto and the gateway cannot be read.
inline constexpr std::string_view fallback_node_version = "3.9.0.0";

// Decides from the settings and the gateway's answer (or why there is none; nullptr when the
// settings do not mirror the gateway). dp_plugins must have passed load_config's check.
advertisement decide_advertisement(const settings& s, const result<gateway_answer, std::string>* answer);

// Reads the gateway when the settings mirror it and decides, on a private io_context (for start-up
// and the CLI, before any event loop runs). Logs a warning when the gateway cannot be read.
advertisement read_advertisement(const settings& s, std::chrono::milliseconds timeout);

// A Kong CP sends its config right after admitting a node: three ping intervals without one, the
// CP answering pings, mean that it withholds it (its plugin gate).
inline constexpr unsigned config_wait_pings = 3;

// The CP session this node opens with what it advertises: the agent's session and the doctor's probe.
protocol::dp_session_options session_options(const settings& s, const std::string& node_id,
                                             const advertisement& advertised);

} // namespace lifeboat::agent
