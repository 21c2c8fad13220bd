// What a configuration re-read (SIGHUP) applies at once and what waits for a restart.
#include "agent/reload.hpp"

#include <gtest/gtest.h>

using namespace lifeboat::agent;
using namespace std::chrono_literals;

TEST(reload, nothing_changed_is_an_empty_plan) {
    settings s;
    EXPECT_TRUE(plan_reload(s, s).empty());
}

TEST(reload, live_keys_and_restart_keys_are_told_apart) {
    settings running, fresh;
    fresh.log_level = "debug";
    fresh.log_format = "json";
    fresh.gateway_reload_command = "kong reload";
    fresh.gateway_reload_timeout = 5s;
    fresh.cluster_fallback_config_export_delay = 7s;
    fresh.status_listen = "127.0.0.1:9999";
    fresh.cluster_control_plane = "cp.example.com:8005";
    fresh.election_interval = 9s;
    const auto plan = plan_reload(running, fresh);
    EXPECT_EQ(plan.live,
              (std::vector<std::string>{"cluster_fallback_config_export_delay", "gateway_reload_command",
                                        "gateway_reload_timeout", "election_interval", "log_level",
                                        "log_format"}));
    EXPECT_EQ(plan.need_restart, (std::vector<std::string>{"cluster_control_plane", "status_listen"}));
}

TEST(reload, a_changed_secret_is_noticed_although_it_prints_redacted) {
    settings running, fresh;
    running.gateway_admin_token = "old-token";
    fresh.gateway_admin_token = "new-token";
    EXPECT_EQ(plan_reload(running, fresh).live, std::vector<std::string>{"gateway_admin_token"});
    running.proxy_server = "http://u:one@proxy:3128";
    fresh = running;
    fresh.proxy_server = "http://u:two@proxy:3128";
    EXPECT_EQ(plan_reload(running, fresh).need_restart, std::vector<std::string>{"proxy_server"});
}

TEST(reload, only_the_live_values_are_taken) {
    settings running, fresh;
    fresh.log_level = "warn";
    fresh.gateway_admin_timeout = 3s;
    fresh.prefix = "/elsewhere";
    fresh.election_interval = 9s;
    fresh.status_listen = "127.0.0.1:9999";
    const auto merged = with_live_values(running, fresh);
    EXPECT_EQ(merged.log_level, "warn");
    EXPECT_EQ(merged.gateway_admin_timeout, 3s);
    EXPECT_EQ(merged.election_interval, 9s);
    EXPECT_EQ(merged.prefix, running.prefix);
    EXPECT_EQ(merged.status_listen, running.status_listen);
}
