// First contact with a Kong (Enterprise) control plane, end to end with real processes: the
// reference CP (`lifeboat cp`, which applies Kong's version check and plugin gate) and
// `lifeboat run` agents. The gateway's Admin API root for dp_plugins = auto is played by the
// loopback fake (fake_kong_admin.hpp: Kong cannot run here) serving the shape of Kong's
// documented answer to GET /.
#include "fake_kong_admin.hpp"
#include "fleet.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// sample_config with plugins (Kong's declarative shape: global plugins).
std::string config_with_plugins(const std::string& marker, const std::vector<std::string>& plugins) {
    auto doc = json::parse(sample_config(marker, 2)).as_object();
    json::array list;
    int n = 0;
    for (const auto& p : plugins)
        list.push_back(json::object{{"id", fmt::format("30000000-0000-4000-8000-{:012d}", n++)},
                                    {"name", p},
                                    {"enabled", true},
                                    {"protocols", json::array{"http", "https"}},
                                    {"config", json::object{}}});
    doc["plugins"] = std::move(list);
    return json::serialize(doc);
}

std::map<std::string, std::string> node(const reference_cp& cp, const cluster_certs& certs) {
    return {{"cluster_control_plane", cp.address()},
            {"cluster_cert", certs.cert.string()},
            {"cluster_cert_key", certs.key.string()},
            {"cluster_ping_interval", "1"},
            {"cluster_reconnect_delay_min", "0.5"},
            {"cluster_reconnect_delay_max", "1"},
            {"node_version", "3.9.0.0"}};
}

std::string field(const agent_process& a, const std::string& section, const std::string& key) {
    return a.status_field(section, key);
}

std::string reasons(const agent_process& a) {
    auto s = a.status();
    return s.is_object() ? json::serialize(s.at("degraded_reasons")) : "<unreachable>";
}

bool has_config_from_cp(const agent_process& a) {
    return field(a, "config", "source") == "control_plane";
}

// `lifeboat status` against the agent: exit 0 healthy, 1 degraded, 2 unreachable.
int lifeboat_status(const agent_process& a) {
    return run({.args = {lifeboat_bin().string(), "status", "--addr", a.status_address()}, .name = "status"},
               20s)
        .exit_code;
}

// Kong's Admin API root (GET /), trimmed to what matters: version and the plugins it loaded.
std::string kong_root(const std::string& version,
                      const std::vector<std::pair<std::string, std::string>>& plugins) {
    json::object available;
    int priority = 1000;
    for (const auto& [name, v] : plugins)
        available[name] = json::object{{"version", v}, {"priority", priority--}};
    return json::serialize(json::object{
        {"version", version + "-enterprise-edition"},
        {"edition", "enterprise"},
        {"tagline", "Welcome to kong"},
        {"hostname", "gateway-1"},
        {"node_id", "0f9b1e0a-6d0b-4c6e-9a50-1f6b2d8f4a11"},
        {"lua_version", "LuaJIT 2.1.0-20231117"},
        {"configuration", json::object{{"role", "traditional"}, {"database", "off"}}},
        {"plugins",
         json::object{{"available_on_server", std::move(available)}, {"enabled_in_cluster", json::array{}}}},
        {"timers", json::object{{"running", 0}, {"pending", 1}}},
    });
}

} // namespace

// Enterprise bundled plugins are in the default advertised set: a new user's config reaches the node.
TEST(kong_plugins_e2e, enterprise_bundled_plugins_reach_a_node_with_default_settings) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs,
                    config_with_plugins("ee", {"openid-connect", "rate-limiting-advanced", "key-auth"}));
    agent_process a(dir, "dp", node(cp, certs));
    ASSERT_TRUE(eventually([&] { return has_config_from_cp(a); }, 20s)) << a.log() << cp.proc()->err();
    EXPECT_EQ(field(a, "control_plane", "plugins_source"), "catalogue");
    EXPECT_EQ(reasons(a), "[]");
}

// A custom plugin the node does not advertise: the CP withholds the config and keeps the session.
// The node names it within three ping intervals (1 s here), `lifeboat status` exits 1, /readyz is
// 503 with the reason, a metric counts it; a config the node can take clears it.
TEST(kong_plugins_e2e, a_withheld_config_is_named_and_clears_when_a_config_arrives) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, config_with_plugins("custom", {"key-auth", "my-header-auth"}), 0,
                    {"--plugin", "my-header-auth:1.4.0"});
    auto settings = node(cp, certs);
    agent_process a(dir, "dp", settings);
    ASSERT_TRUE(eventually([&] { return field(a, "control_plane", "state") == "connected"; }, 15s))
        << a.log();
    const auto connected = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] { return field(a, "control_plane", "config_withheld") == "true"; }, 10s))
        << a.log() << cp.proc()->err();
    // Three ping intervals of 1 s, plus the status poll and process scheduling.
    EXPECT_LT(std::chrono::steady_clock::now() - connected, 5s);
    const auto why = reasons(a);
    EXPECT_NE(why.find("no config from the control plane within 3 ping intervals although it answers pings"),
              std::string::npos)
        << why;
    EXPECT_NE(why.find("plugins for 3.9.0.0 (Kong's catalogue)"), std::string::npos) << why;
    EXPECT_NE(why.find("allow_inconsistent_data_plane_plugins"), std::string::npos) << why;
    EXPECT_EQ(field(a, "control_plane", "state"), "connected"); // the CP keeps the socket
    EXPECT_TRUE(
        cp.proc()->wait_for_output("configured my-header-auth plugin 1.4.0 is missing from data plane", 5s));

    const auto [code, body] = a.get("/readyz");
    EXPECT_EQ(code, 503u);
    EXPECT_NE(body.find("withholds configs"), std::string::npos) << body;
    const auto metrics = a.get("/metrics").second;
    EXPECT_NE(metrics.find("lifeboat_control_plane_config_withheld 1"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("lifeboat_control_plane_config_withheld_total 1"), std::string::npos);

    EXPECT_EQ(lifeboat_status(a), 1);

    // The CP's config no longer uses the custom plugin: it is sent, the reason clears.
    cp.set_config(config_with_plugins("fixed", {"key-auth"}));
    ASSERT_TRUE(eventually([&] { return has_config_from_cp(a); }, 15s)) << a.log();
    EXPECT_TRUE(eventually([&] { return field(a, "control_plane", "config_withheld") == "false"; }, 5s));
    EXPECT_EQ(reasons(a), "[]");
    EXPECT_EQ(a.get("/readyz").first, 200u);
    EXPECT_EQ(lifeboat_status(a), 0);
    EXPECT_NE(a.get("/metrics").second.find("lifeboat_control_plane_config_withheld_total 1"),
              std::string::npos);
}

// +name:x.y.z adds the custom plugin to the catalogue: the same config is delivered.
TEST(kong_plugins_e2e, a_custom_plugin_added_with_plus_is_delivered) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, config_with_plugins("plus", {"openid-connect", "my-header-auth"}), 0,
                    {"--plugin", "my-header-auth:1.4.0"});
    auto settings = node(cp, certs);
    settings["dp_plugins"] = "+my-header-auth:1.4.0";
    agent_process a(dir, "dp", settings);
    ASSERT_TRUE(eventually([&] { return has_config_from_cp(a); }, 20s)) << a.log() << cp.proc()->err();
    EXPECT_EQ(field(a, "control_plane", "config_withheld"), "false");
    EXPECT_EQ(lifeboat_status(a), 0);
}

// dp_plugins = auto and node_version = auto mirror the gateway's Admin API root: its version and
// exactly its available_on_server plugins, the custom one included.
TEST(kong_plugins_e2e, auto_mirrors_the_gateway_admin_api_and_the_config_is_delivered) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, config_with_plugins("auto", {"key-auth", "my-header-auth"}), 0,
                    {"--plugin", "my-header-auth:1.4.0", "--version", "3.9.1.0"});
    fake_kong_admin kong;
    kong.answer([](const admin_request& r) {
        if (r.method == "GET" && r.target == "/")
            return admin_reply{
                200, kong_root("3.9.1.0",
                               {{"key-auth", "3.9.1"}, {"cors", "3.9.1"}, {"my-header-auth", "1.4.0"}})};
        return admin_reply{404, R"({"message":"Not found"})"};
    });
    auto settings = node(cp, certs);
    settings["dp_plugins"] = "auto";
    settings["node_version"] = "auto";
    settings["gateway_admin_url"] = kong.url();
    settings["gateway_admin_token"] = "admin-token-7c1d";
    agent_process a(dir, "dp", settings);
    ASSERT_TRUE(eventually([&] { return has_config_from_cp(a); }, 20s)) << a.log() << cp.proc()->err();
    EXPECT_EQ(field(a, "control_plane", "plugins_source"), "gateway");
    EXPECT_EQ(field(a, "control_plane", "advertised_plugins"), "3");
    EXPECT_EQ(field(a, "control_plane", "node_version"), "3.9.1.0");
    const auto requests = kong.requests();
    ASSERT_FALSE(requests.empty());
    EXPECT_EQ(requests.front().target, "/");
    EXPECT_EQ(requests.front().headers.at("kong-admin-token"), "admin-token-7c1d");
    EXPECT_EQ(a.log().find("admin-token-7c1d"), std::string::npos); // a secret is never logged
}

// The gateway cannot be read at start: say so, and advertise the catalogue meanwhile.
TEST(kong_plugins_e2e, auto_falls_back_to_the_catalogue_when_the_gateway_is_down) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, config_with_plugins("down", {"openid-connect"}));
    auto settings = node(cp, certs);
    settings["dp_plugins"] = "auto";
    settings["gateway_admin_url"] = "http://127.0.0.1:" + std::to_string(free_port());
    agent_process a(dir, "dp", settings);
    EXPECT_NE(a.log().find("cannot read the gateway's Admin API"), std::string::npos) << a.log();
    ASSERT_TRUE(eventually([&] { return has_config_from_cp(a); }, 20s)) << a.log();
    EXPECT_EQ(field(a, "control_plane", "plugins_source"), "catalogue");
}

// Kong's version check: a node newer than the CP gets an empty close frame after basic_info.
// That is a /status reason of its own, and `lifeboat status` exits 1.
TEST(kong_plugins_e2e, a_rejected_version_is_a_status_reason) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, config_with_plugins("ver", {"key-auth"}));
    auto settings = node(cp, certs);
    settings["node_version"] = "3.10.0.0";
    agent_process a(dir, "dp", settings);
    ASSERT_TRUE(eventually([&] { return field(a, "control_plane", "refused") == "true"; }, 15s))
        << a.log() << cp.proc()->err();
    const auto why = reasons(a);
    EXPECT_NE(why.find("the control plane refused this node"), std::string::npos) << why;
    EXPECT_NE(why.find("node_version 3.10.0.0"), std::string::npos) << why;
    EXPECT_EQ(a.get("/readyz").first, 503u);
    EXPECT_EQ(lifeboat_status(a), 1);
}

// `lifeboat doctor` holds one session and reports the CP's verdict with the advertised plugins.
TEST(kong_plugins_e2e, doctor_checks_the_control_plane) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, config_with_plugins("doc", {"key-auth", "my-header-auth"}), 0,
                    {"--plugin", "my-header-auth:1.4.0"});
    auto doctor = [&](std::vector<std::string> extra) {
        std::vector<std::string> args{lifeboat_bin().string(), "doctor", "--cp-wait", "3"};
        for (const auto& [k, v] : node(cp, certs)) {
            args.push_back("--set");
            args.push_back(k + "=" + v);
        }
        args.push_back("--set");
        args.push_back("prefix=" + (dir / "doctor-prefix").string());
        args.insert(args.end(), extra.begin(), extra.end());
        return run({.args = args, .name = "doctor"}, 60s);
    };
    auto withheld = doctor({});
    EXPECT_EQ(withheld.exit_code, 1) << withheld.out << withheld.err;
    EXPECT_NE(withheld.out.find("fail  control plane"), std::string::npos) << withheld.out;
    EXPECT_NE(withheld.out.find("answers pings but sent no config within"), std::string::npos)
        << withheld.out;
    auto admitted = doctor({"--set", "dp_plugins=+my-header-auth:1.4.0"});
    EXPECT_EQ(admitted.exit_code, 0) << admitted.out << admitted.err;
    EXPECT_NE(admitted.out.find("ok    control plane"), std::string::npos) << admitted.out;
    EXPECT_NE(admitted.out.find("plugins for 3.9.0.0 (Kong's catalogue)"), std::string::npos) << admitted.out;
    auto refused = doctor({"--set", "node_version=3.10.0.0"});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.out.find("refused this node right after basic_info"), std::string::npos) << refused.out;
}

// `lifeboat doctor` ends its CP probe with a terminal cancel of the session at the instant the
// verdict is in; a cancel that landed while the session's writer was between two operations was
// lost and the doctor hung about one run in three. Every run must exit, in all three verdicts
// (admitted, withheld, refused). The bound per run is generous: the point is that it ends.
TEST(kong_plugins_e2e, doctor_always_exits) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, config_with_plugins("loop", {"key-auth", "my-header-auth"}), 0,
                    {"--plugin", "my-header-auth:1.4.0"});
    const std::vector<std::vector<std::string>> verdicts{
        {"--set", "dp_plugins=+my-header-auth:1.4.0"}, {}, {"--set", "node_version=3.10.0.0"}};
    constexpr int runs = 15;
    for (int i = 0; i < runs; ++i) {
        const auto& extra = verdicts[i % verdicts.size()];
        std::vector<std::string> args{lifeboat_bin().string(), "doctor", "--cp-wait", "2"};
        for (const auto& [k, v] : node(cp, certs)) {
            args.push_back("--set");
            args.push_back(k + "=" + v);
        }
        args.push_back("--set");
        args.push_back("prefix=" + (dir / "doctor-prefix").string());
        args.insert(args.end(), extra.begin(), extra.end());
        const auto r = run({.args = args, .name = "doctor"}, 20s);
        ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1)
            << "run " << i << " did not exit by itself (exit code " << r.exit_code << ")\n"
            << r.out << r.err;
        EXPECT_NE(r.out.find("control plane"), std::string::npos) << r.out;
    }
}

// `lifeboat run` connected to a CP: SIGTERM closes the session politely and exits 0; a second
// SIGTERM right after the first stops at once (exit 1). Neither may hang on the session.
TEST(kong_plugins_e2e, sigterm_and_a_second_sigterm_stop_an_agent_connected_to_a_cp) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, config_with_plugins("term", {"key-auth"}));
    {
        agent_process a(dir, "polite", node(cp, certs));
        ASSERT_TRUE(eventually([&] { return field(a, "control_plane", "state") == "connected"; }, 20s))
            << a.log();
        a.signal(SIGTERM);
        const auto code = a.wait(30s);
        ASSERT_TRUE(code) << "still running after SIGTERM\n" << a.log();
        EXPECT_EQ(*code, 0) << a.log();
        EXPECT_NE(a.log().find("control plane session stopped"), std::string::npos) << a.log();
    }
    for (int i = 0; i < 5; ++i) {
        agent_process a(dir, "hard-" + std::to_string(i), node(cp, certs));
        ASSERT_TRUE(eventually([&] { return field(a, "control_plane", "state") == "connected"; }, 20s))
            << a.log();
        a.signal(SIGTERM);
        ASSERT_TRUE(eventually([&] { return a.log().find("msg=stopping") != std::string::npos; }, 10s))
            << a.log();
        a.signal(SIGTERM);
        const auto code = a.wait(30s);
        ASSERT_TRUE(code) << "still running after two SIGTERMs\n" << a.log();
        // Closing a session with a live CP takes milliseconds, so the second signal often comes
        // after the graceful stop: exit 0, or death by that SIGTERM on the way out once its
        // handler is gone (128 + 15). Otherwise it stops the agent at once: exit 1.
        if (*code == 1)
            EXPECT_NE(a.log().find("second signal: stopping at once"), std::string::npos) << a.log();
        else if (*code == 0 || *code == 128 + SIGTERM)
            EXPECT_NE(a.log().find("msg=stopped"), std::string::npos) << a.log();
        else
            ADD_FAILURE() << "exit code " << *code << "\n" << a.log();
    }
}
