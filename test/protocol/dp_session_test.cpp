// The data-plane session against `lifeboat cp` run as a real process, over real TLS on loopback,
// with certificates made by the openssl CLI. Curl plays an independent client where the
// question is what the CP answers on the HTTP level.
#include "base/log.hpp"
#include "cluster_fixture.hpp"
#include "harness/test_env.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>
#include <random>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
using protocol::cluster_mtls;
using protocol::session_state;

namespace {

std::string loopback() {
    return fmt::format("127.0.0.1:{}", free_port());
}

struct cluster : ::testing::Test {
    std::filesystem::path dir = scratch_dir();
    std::filesystem::path config = dir / "kong.json";
    std::string config_text = sample_config(3, {"key-auth", "cors"});
    void SetUp() override { write_atomically(config, config_text); }
};

bool connected_with(dp_runner& dp, const std::string& hash) {
    return dp.status().state == session_state::connected && dp.observer().last_hash() == hash;
}

} // namespace

// shared mode: the DP presents the cluster certificate and trusts only it; it receives the
// config with Kong's hash, and its pings carry that hash back to the CP.
TEST_F(cluster, shared_mode_delivers_the_config_and_pings_its_hash) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    const auto expected = config_hash_of(config_text);
    ASSERT_TRUE(cp.log_has("config_hash=" + expected));

    dp_runner dp(dp_options(cp.address, cluster_mtls::shared));
    ASSERT_TRUE(dp.run_until([&] { return connected_with(dp, expected); }, 15s)) << cp.log();
    const auto& snap = *dp.observer().configs.back();
    EXPECT_EQ(snap.config_json, config_text); // byte for byte what the file holds
    EXPECT_EQ(snap.source, protocol::config_source::control_plane);
    EXPECT_GT(snap.cp_timestamp, 1.6e9);
    // The CP saw the DP (id, hostname, version) and, after the hand-off, a ping with the hash.
    EXPECT_TRUE(wait_for_cp_log(dp, cp,
                                "msg=\"data plane connected\" node_id=6d8e3b0a-43c7-4bd1-9b34-2a1c6b7f1e01 "
                                "hostname=dp-test version=3.9.0.0"));
    EXPECT_TRUE(wait_for_cp_log(dp, cp, "config_hash=" + expected + " in_sync=true"));
    ASSERT_TRUE(dp.run_until([&] { return dp.status().round_trip.has_value(); }, 5s));
    EXPECT_LT(*dp.status().round_trip, 1s);
}

// A realistic config's frame spans many TLS records (16 KiB each); the frame must arrive whole.
// (The reference CP once sent only the header of such a frame: it stalled every config whose
// compressed frame was over 16 KiB.)
TEST_F(cluster, a_frame_spanning_many_tls_records_arrives_whole) {
    std::mt19937_64 rng(42);
    std::string big = R"({"_format_version":"3.0","services":[)";
    for (int i = 0; i < 4000; ++i) // random host names: about 100 KiB of gzip
        big += fmt::format(R"({}{{"name":"service-{}","host":"{:016x}{:016x}.internal","port":8080}})",
                           i ? "," : "", i, rng(), rng());
    big += "]}";
    write_atomically(config, big);
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    const auto expected = config_hash_of(big);
    dp_runner dp(dp_options(cp.address, cluster_mtls::shared));
    ASSERT_TRUE(dp.run_until([&] { return connected_with(dp, expected); }, 15s)) << cp.log();
    EXPECT_EQ(dp.observer().configs.back()->config_json, big);
}

TEST_F(cluster, pki_mode_delivers_the_config) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::pki, config);
    const auto expected = config_hash_of(config_text);
    dp_runner dp(dp_options(cp.address, cluster_mtls::pki));
    ASSERT_TRUE(dp.run_until([&] { return connected_with(dp, expected); }, 15s)) << cp.log();
    EXPECT_TRUE(wait_for_cp_log(dp, cp, "config_hash=" + expected + " in_sync=true"));
}

// The CP polls the file; a changed file reaches the connected DP, whose next ping reports it.
TEST_F(cluster, a_changed_file_reaches_the_data_plane) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    dp_runner dp(dp_options(cp.address, cluster_mtls::shared));
    ASSERT_TRUE(dp.run_until([&] { return connected_with(dp, config_hash_of(config_text)); }, 15s))
        << cp.log();

    const auto v2 = sample_config(5, {"key-auth"}, "v2");
    write_atomically(config, v2);
    const auto h2 = config_hash_of(v2);
    ASSERT_TRUE(dp.run_until([&] { return dp.observer().last_hash() == h2; }, 15s)) << cp.log();
    EXPECT_EQ(dp.observer().configs.back()->config_json, v2);
    EXPECT_TRUE(wait_for_cp_log(dp, cp, "config_hash=" + h2 + " in_sync=true"));
    EXPECT_EQ(dp.status().reconnects, 0u); // pushed over the same connection
}

// The CP dies: the DP notices at once (the connection drops), retries within its window, and
// gets the config again when a CP is back on the same address.
TEST_F(cluster, the_data_plane_survives_a_control_plane_restart) {
    const auto address = loopback();
    auto cp = start_cp("cp1", address, cluster_mtls::shared, config);
    auto options = dp_options(address, cluster_mtls::shared);
    options.timing.reconnect_min = 1s;
    options.timing.reconnect_max = 2s;
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return connected_with(dp, config_hash_of(config_text)); }, 15s))
        << cp.log();

    cp.proc->signal(SIGKILL);
    cp.proc->wait(5s);
    ASSERT_TRUE(dp.run_until([&] { return dp.status().state == session_state::disconnected; }, 10s));
    const auto lost_at = dp.status().since;
    EXPECT_EQ(dp.status().last_error, "the control plane closed the connection");
    // Retries come within the [1, 2] s window, again and again, while the CP is down.
    ASSERT_TRUE(dp.run_until([&] { return dp.status().reconnects >= 3; }, 15s));
    EXPECT_NE(dp.status().last_error.find("connection refused"), std::string::npos) << dp.status().last_error;
    std::vector<protocol::session_status> waits;
    for (const auto& s : dp.observer().statuses)
        if (s.state == session_state::disconnected && s.since >= lost_at)
            waits.push_back(s);
    ASSERT_GE(waits.size(), 3u);
    for (const auto& w : waits) {
        EXPECT_GE(w.next_attempt_delay, 1s);
        EXPECT_LE(w.next_attempt_delay, 2s);
    }

    // Back, with a config changed while it was down.
    const auto v2 = sample_config(4, {"cors"}, "v2");
    write_atomically(config, v2);
    auto cp2 = start_cp("cp2", address, cluster_mtls::shared, config);
    ASSERT_TRUE(dp.run_until([&] { return connected_with(dp, config_hash_of(v2)); }, 15s)) << cp2.log();
    EXPECT_TRUE(wait_for_cp_log(dp, cp2, "config_hash=" + config_hash_of(v2) + " in_sync=true"));
}

// A CP restarted with the same config pushes it again on admission; the DP does not re-apply it
// (same hash) but answers with a ping that shows it in sync.
TEST_F(cluster, the_same_config_after_a_restart_is_not_applied_twice) {
    const auto address = loopback();
    auto cp = start_cp("cp1", address, cluster_mtls::shared, config);
    dp_runner dp(dp_options(address, cluster_mtls::shared));
    const auto h = config_hash_of(config_text);
    ASSERT_TRUE(dp.run_until([&] { return connected_with(dp, h); }, 15s)) << cp.log();
    cp.proc->signal(SIGKILL);
    cp.proc->wait(5s);
    ASSERT_TRUE(dp.run_until([&] { return dp.status().state == session_state::disconnected; }, 10s));
    auto cp2 = start_cp("cp2", address, cluster_mtls::shared, config);
    EXPECT_TRUE(wait_for_cp_log(dp, cp2, "msg=\"config sent to data plane\""));
    ASSERT_TRUE(dp.run_until([&] { return dp.status().state == session_state::connected; }, 15s));
    EXPECT_TRUE(wait_for_cp_log(dp, cp2, "config_hash=" + h + " in_sync=true"));
    EXPECT_EQ(dp.observer().configs.size(), 1u);
}

// shared mode, wrong certificate on the DP side: the DP does not trust a CP that presents a
// different certificate, and says so.
TEST_F(cluster, shared_mode_refuses_a_control_plane_with_another_certificate) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    auto options = dp_options(cp.address, cluster_mtls::shared);
    options.cert = certs().other_shared.cert;
    options.key = certs().other_shared.key;
    log::capture logs;
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return !dp.status().last_error.empty(); }, 10s));
    EXPECT_EQ(dp.status().state, session_state::disconnected);
    EXPECT_NE(
        dp.status().last_error.find("TLS handshake failed: the control plane's certificate is not trusted"),
        std::string::npos)
        << dp.status().last_error;
    EXPECT_NE(dp.status().last_error.find("cluster_mtls = shared"), std::string::npos);
    EXPECT_TRUE(logs.contains("cannot connect to the control plane"));
    EXPECT_TRUE(dp.observer().configs.empty());
}

// shared mode, wrong certificate seen from the CP: a DP that trusts the CP but presents another
// certificate is dropped without an HTTP answer (Kong's 444), which the DP reports clearly.
TEST_F(cluster, shared_mode_control_plane_drops_a_foreign_certificate) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    auto options = dp_options(cp.address, cluster_mtls::pki); // trust the CP's cert as a CA ...
    options.ca_cert = certs().shared.cert;
    options.server_name = "kong_clustering";
    options.cert = certs().other_shared.cert; // ... but present another one
    options.key = certs().other_shared.key;
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return !dp.status().last_error.empty(); }, 10s));
    EXPECT_NE(dp.status().last_error.find("websocket handshake failed"), std::string::npos)
        << dp.status().last_error;
    EXPECT_TRUE(wait_for_cp_log(dp, cp, "data plane certificate does not match the cluster certificate"));
    EXPECT_TRUE(dp.observer().configs.empty());
}

// pki mode: a DP certificate from another CA is refused in the TLS handshake.
TEST_F(cluster, pki_mode_refuses_a_certificate_from_another_ca) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::pki, config);
    auto options = dp_options(cp.address, cluster_mtls::pki);
    options.cert = certs().rogue_dp.cert;
    options.key = certs().rogue_dp.key;
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return !dp.status().last_error.empty(); }, 10s));
    EXPECT_NE(dp.status().last_error.find("refused this node's client certificate"), std::string::npos)
        << dp.status().last_error;
    EXPECT_TRUE(wait_for_cp_log(dp, cp, "TLS handshake with a data plane failed"));
    EXPECT_TRUE(dp.observer().configs.empty());
}

// pki mode: the DP checks the CP's name against its certificate.
TEST_F(cluster, pki_mode_checks_the_control_plane_name) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::pki, config);
    auto options = dp_options(cp.address, cluster_mtls::pki);
    options.server_name = "cp.example.com";
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return !dp.status().last_error.empty(); }, 10s));
    EXPECT_NE(dp.status().last_error.find("hostname mismatch"), std::string::npos) << dp.status().last_error;
}

// The CP answers 400 before the upgrade without node_id or node_version (curl as the client).
TEST_F(cluster, the_control_plane_requires_node_id_and_node_version) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    const auto& c = certs();
    auto status_of = [&](const std::string& query) {
        auto r =
            run({.args = {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                          c.shared.cert.string(), "--cert", c.shared.cert.string(), "--key",
                          c.shared.key.string(), "--resolve",
                          "kong_clustering:" + cp.address.substr(cp.address.rfind(':') + 1) + ":127.0.0.1",
                          "https://kong_clustering:" + cp.address.substr(cp.address.rfind(':') + 1) +
                              "/v1/outlet" + query},
                 .name = "curl"});
        return r.out;
    };
    EXPECT_EQ(status_of("?node_hostname=h&node_version=3.9.0"), "400");
    EXPECT_EQ(status_of("?node_id=x&node_hostname=h"), "400");
    EXPECT_EQ(status_of("?node_id=x&node_version=3.9.0"), "400"); // not a websocket upgrade
    EXPECT_TRUE(cp.log_has("data plane didn't pass the id"));
    EXPECT_TRUE(cp.log_has("data plane didn't pass the version"));
}

// Kong's version rule: same major, CP minor >= DP minor. A refused DP gets an empty close frame
// and keeps retrying after its delay.
TEST_F(cluster, the_control_plane_checks_versions_as_kong_does) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config, {"--version", "3.9.1.0"});
    {
        auto options = dp_options(cp.address, cluster_mtls::shared);
        options.node_version = "3.10.0.0";
        dp_runner dp(options);
        EXPECT_TRUE(wait_for_cp_log(
            dp, cp, "data plane version 3.10.0.0 is incompatible with older control plane version 3.9.1.0"));
        ASSERT_TRUE(dp.run_until([&] { return dp.status().reconnects >= 1; }, 10s));
        EXPECT_TRUE(dp.observer().configs.empty());
        EXPECT_NE(dp.status().last_error.find("the control plane refused this node"), std::string::npos)
            << dp.status().last_error;
    }
    {
        auto options = dp_options(cp.address, cluster_mtls::shared);
        options.node_version = "4.0.0";
        dp_runner dp(options);
        EXPECT_TRUE(wait_for_cp_log(
            dp, cp,
            "data plane version 4.0.0 is incompatible with control plane version 3.9.1.0 (3.x.y are "
            "accepted)"));
    }
    {
        auto options = dp_options(cp.address, cluster_mtls::shared);
        options.node_version = "3.8.2";
        dp_runner dp(options);
        ASSERT_TRUE(dp.run_until([&] { return !dp.observer().configs.empty(); }, 15s)) << cp.log();
    }
}

// The plugin gate: a DP that lacks a plugin the config uses stays connected but gets no config.
// (openid-connect, once the example here, is in the default set since Enterprise plugins are:
// a custom plugin, which the CP has loaded unversioned, takes its place.)
TEST_F(cluster, a_data_plane_without_a_used_plugin_gets_no_config) {
    config_text = sample_config(2, {"key-auth", "my-header-auth"});
    write_atomically(config, config_text);
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    {
        dp_runner dp(dp_options(cp.address, cluster_mtls::shared)); // bundled plugins only
        EXPECT_TRUE(wait_for_cp_log(dp, cp, "configured my-header-auth plugin is missing from data plane"));
        dp.run_for(1500ms);
        EXPECT_EQ(dp.status().state, session_state::connected);
        EXPECT_TRUE(dp.observer().configs.empty());
    }
    auto options = dp_options(cp.address, cluster_mtls::shared);
    auto plugins = protocol::plugin_list({"bundled", "my-header-auth"}, options.node_version);
    ASSERT_TRUE(plugins);
    options.plugins = plugins.value();
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return connected_with(dp, config_hash_of(config_text)); }, 15s))
        << cp.log();
}

// Total cancellation closes the websocket politely: the CP sees a close frame, not a drop.
TEST_F(cluster, a_polite_stop_sends_a_close_frame) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    dp_runner dp(dp_options(cp.address, cluster_mtls::shared));
    ASSERT_TRUE(dp.run_until([&] { return dp.status().state == session_state::connected; }, 15s)) << cp.log();
    ASSERT_TRUE(dp.stop(boost::asio::cancellation_type::total, 10s));
    EXPECT_TRUE(
        wait_for_cp_log(dp, cp,
                        "msg=\"data plane disconnected\" node_id=6d8e3b0a-43c7-4bd1-9b34-2a1c6b7f1e01 "
                        "reason=\"data plane closed the connection\""));
}

// Terminal cancellation while waiting to reconnect returns at once.
TEST_F(cluster, a_terminal_stop_returns_at_once) {
    auto options = dp_options(loopback(), cluster_mtls::shared); // nobody listens there
    options.timing.reconnect_min = 30s;
    options.timing.reconnect_max = 30s;
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return dp.status().state == session_state::disconnected; }, 10s));
    const auto t = std::chrono::steady_clock::now();
    ASSERT_TRUE(dp.stop(boost::asio::cancellation_type::total, 5s));
    EXPECT_LT(std::chrono::steady_clock::now() - t, 2s);
}
