#include "agent/reload.hpp"

#include "agent/config_keys.hpp"

#include <array>
#include <map>

namespace lifeboat::agent {
namespace {

constexpr std::array<std::string_view, 9> live_keys{"log_level",
                                                    "log_format",
                                                    "gateway_reload_command",
                                                    "gateway_reload_timeout",
                                                    "gateway_admin_token",
                                                    "gateway_admin_timeout",
                                                    "cluster_fallback_config_export_delay",
                                                    "cluster_fallback_export_s3_config",
                                                    "election_interval"};

// key -> value as `lifeboat config` prints it (render_effective), which covers every key.
std::map<std::string, std::string> effective_values(const settings& s) {
    loaded_config c;
    c.values = s;
    std::map<std::string, std::string> out;
    const auto text = render_effective(c);
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto eol = text.find('\n', pos);
        const std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
        pos = eol == std::string::npos ? text.size() : eol + 1;
        if (line.empty())
            break; // the storage environment follows: it comes from the process environment
        const auto eq = line.find(" = ");
        if (eq != std::string::npos)
            out[line.substr(0, eq)] = line.substr(eq + 3);
    }
    return out;
}

} // namespace

bool is_live_key(std::string_view key) {
    for (const auto k : live_keys)
        if (k == key)
            return true;
    return false;
}

reload_plan plan_reload(const settings& running, const settings& fresh) {
    const auto before = effective_values(running), after = effective_values(fresh);
    reload_plan plan;
    for (const auto& k : config_keys()) {
        const std::string key(k.name);
        auto changed = [&] {
            // Secrets print redacted, so compare them as values.
            if (key == "gateway_admin_token")
                return running.gateway_admin_token != fresh.gateway_admin_token;
            if (key == "proxy_server")
                return running.proxy_server != fresh.proxy_server;
            const auto b = before.find(key), a = after.find(key);
            const bool has_b = b != before.end(), has_a = a != after.end();
            return has_b != has_a || (has_b && b->second != a->second);
        };
        if (!changed())
            continue;
        (is_live_key(key) ? plan.live : plan.need_restart).push_back(key);
    }
    return plan;
}

settings with_live_values(settings running, const settings& fresh) {
    running.log_level = fresh.log_level;
    running.log_format = fresh.log_format;
    running.gateway_reload_command = fresh.gateway_reload_command;
    running.gateway_reload_timeout = fresh.gateway_reload_timeout;
    running.gateway_admin_token = fresh.gateway_admin_token;
    running.gateway_admin_timeout = fresh.gateway_admin_timeout;
    running.cluster_fallback_config_export_delay = fresh.cluster_fallback_config_export_delay;
    running.cluster_fallback_export_s3_config = fresh.cluster_fallback_export_s3_config;
    running.election_interval = fresh.election_interval;
    return running;
}

} // namespace lifeboat::agent
