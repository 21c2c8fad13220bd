// Re-reading the configuration while the agent runs (SIGHUP, `systemctl reload lifeboat`): which
// changed keys take effect at once and which wait for a restart. The agent applies the first
// kind (agent::reload); the second is logged, never applied half-way.
#pragma once

#include "agent/config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::agent {

// Keys whose new value the running agent takes on a re-read: the log's level and format, how
// the gateway is reloaded and its Admin API's token and timeout, the export delay and S3 options,
// and the election interval.
bool is_live_key(std::string_view key);

struct reload_plan {
    std::vector<std::string> live;         // changed keys applied now
    std::vector<std::string> need_restart; // changed keys the running agent keeps its old value for
    bool empty() const { return live.empty() && need_restart.empty(); }
};

// The keys whose effective value differs between the running settings and the re-read ones, in
// the order of docs/configuration.md. Secrets are compared too (and never shown).
reload_plan plan_reload(const settings& running, const settings& fresh);

// `running` with the live keys of `fresh` copied in.
settings with_live_values(settings running, const settings& fresh);

} // namespace lifeboat::agent
