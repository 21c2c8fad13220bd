// The data-plane session state machine on a virtual clock: no sockets, no sleeping. Each test
// feeds events at chosen instants and checks the actions (and, where it matters, the log lines).
#include "base/log.hpp"
#include "protocol/dp_session_fsm.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

using namespace lifeboat;
using namespace lifeboat::protocol;
using namespace std::chrono_literals;

namespace {

const steady_time t0 = steady_time{} + 1000h; // any origin: the machine never reads a clock
const std::string zeros(empty_config_hash);

snapshot_ptr config(char fill) {
    auto s = std::make_shared<config_snapshot>();
    s->hash = std::string(32, fill);
    s->storage = std::make_shared<std::string>(R"({"_format_version":"3.0"})");
    s->config_json = *s->storage;
    return s;
}

std::vector<dp_action> of_kind(const dp_action_list& actions, dp_action::kind_t kind) {
    std::vector<dp_action> out;
    std::copy_if(actions.begin(), actions.end(), std::back_inserter(out),
                 [&](const dp_action& a) { return a.kind == kind; });
    return out;
}
bool has(const dp_action_list& actions, dp_action::kind_t kind) {
    return !of_kind(actions, kind).empty();
}
std::optional<steady_time> wake_at(const dp_action_list& actions) {
    auto w = of_kind(actions, dp_action::wait_until);
    return w.empty() ? std::nullopt : std::optional(w.back().at);
}
std::vector<std::string> pings(const dp_action_list& actions) {
    std::vector<std::string> out;
    for (const auto& a : of_kind(actions, dp_action::send_ping))
        out.push_back(a.text);
    return out;
}

// A machine already connected at t0.
struct connected_fsm {
    jitter rng{7};
    dp_session_fsm fsm;
    dp_action_list first;
    explicit connected_fsm(dp_timing timing = {}, std::string hash = zeros)
        : fsm(timing, rng, std::move(hash)) {
        fsm.start(t0);
        first = fsm.on_connected(t0);
    }
};

// Thousands of simulated failures would print thousands of warnings; keep the test output short.
struct quiet_logs {
    log::level before = log::current_level();
    quiet_logs() { log::set_level(log::level::error); }
    ~quiet_logs() { log::set_level(before); }
};

} // namespace

TEST(dp_session_fsm, connect_sends_basic_info_then_a_ping_with_the_hash) {
    jitter rng(1);
    dp_session_fsm fsm({}, rng);
    auto a = fsm.start(t0);
    ASSERT_TRUE(has(a, dp_action::connect));
    EXPECT_EQ(fsm.status().state, session_state::connecting);
    EXPECT_EQ(fsm.status().attempt, 1u);

    log::capture logs;
    a = fsm.on_connected(t0);
    ASSERT_GE(a.size(), 3u);
    // basic_info strictly before the first ping: Kong's CP reads basic_info first.
    const auto bi =
        std::find_if(a.begin(), a.end(), [](auto& x) { return x.kind == dp_action::send_basic_info; });
    const auto pg = std::find_if(a.begin(), a.end(), [](auto& x) { return x.kind == dp_action::send_ping; });
    ASSERT_NE(bi, a.end());
    ASSERT_NE(pg, a.end());
    EXPECT_LT(bi, pg);
    EXPECT_EQ(pg->text, zeros); // no config yet: 32 zeros
    EXPECT_EQ(wake_at(a), t0 + 30s);
    EXPECT_EQ(fsm.status().state, session_state::connected);
    EXPECT_TRUE(logs.contains("msg=\"connected to the control plane\""));
}

TEST(dp_session_fsm, the_first_ping_carries_the_cached_hash) {
    connected_fsm c({}, std::string(32, 'c'));
    EXPECT_EQ(pings(c.first), std::vector<std::string>{std::string(32, 'c')});
}

// Pings every 30 s as long as the CP answers; the round trip is measured from each ping.
TEST(dp_session_fsm, pings_every_30_seconds) {
    connected_fsm c;
    steady_time t = t0;
    for (int i = 1; i <= 20; ++i) {
        auto pong = c.fsm.on_pong(t + 12ms);
        EXPECT_FALSE(has(pong, dp_action::send_ping));
        EXPECT_EQ(c.fsm.status().round_trip, 12ms);
        EXPECT_EQ(c.fsm.status().attempt, 0u); // healthy since the first pong
        // A spurious early wake-up does nothing.
        EXPECT_TRUE(pings(c.fsm.on_timer(t + 29s)).empty());
        t += 30s;
        auto tick = c.fsm.on_timer(t);
        ASSERT_EQ(pings(tick), std::vector<std::string>{zeros}) << "ping " << i;
        // The next wake-up is the earlier of the next ping and 45 s after the last pong.
        EXPECT_EQ(wake_at(tick), t - 30s + 12ms + 45s);
    }
    EXPECT_EQ(c.fsm.status().state, session_state::connected);
}

// 45 s without any frame: the CP is dead. Not a moment before.
TEST(dp_session_fsm, the_cp_is_dead_after_45_seconds_of_silence) {
    connected_fsm c;
    auto a = c.fsm.on_timer(t0 + 30s);
    EXPECT_EQ(pings(a).size(), 1u);
    EXPECT_EQ(wake_at(a), t0 + 45s);
    a = c.fsm.on_timer(t0 + 45s - 1ms);
    EXPECT_FALSE(has(a, dp_action::close_session));

    log::capture logs;
    a = c.fsm.on_timer(t0 + 45s);
    const auto close = of_kind(a, dp_action::close_session);
    ASSERT_EQ(close.size(), 1u);
    EXPECT_EQ(close[0].text, "no frame from the control plane for 45.000s");
    EXPECT_EQ(c.fsm.status().state, session_state::disconnected);
    ASSERT_TRUE(c.fsm.status().next_attempt_at);
    EXPECT_EQ(wake_at(a), c.fsm.status().next_attempt_at);
    EXPECT_TRUE(
        logs.contains("warn: msg=\"control plane session lost\" error=\"no frame from the control plane for "
                      "45.000s\""));
    // The connection's own end, reported later by the driver, changes nothing.
    EXPECT_TRUE(c.fsm.on_connection_lost(t0 + 46s, "operation aborted").empty());
}

// Any frame from the CP counts, so a slow-but-alive CP is not dropped.
TEST(dp_session_fsm, any_frame_keeps_the_session_alive) {
    connected_fsm c;
    c.fsm.on_pong(t0 + 20s);
    auto a = c.fsm.on_timer(t0 + 30s);
    EXPECT_EQ(wake_at(a), t0 + 60s); // next ping 60 s, death at 65 s
    c.fsm.on_other_frame(t0 + 50s);  // e.g. a ping from the CP
    c.fsm.on_timer(t0 + 60s);
    EXPECT_FALSE(has(c.fsm.on_timer(t0 + 94s), dp_action::close_session));
    EXPECT_TRUE(has(c.fsm.on_timer(t0 + 95s), dp_action::close_session));
}

// Reconnect delay: uniform in [5, 10] s, continuous, spread over the window.
TEST(dp_session_fsm, reconnect_delays_are_uniform_in_the_window) {
    quiet_logs quiet;
    jitter rng(2024);
    dp_session_fsm fsm({}, rng);
    steady_time t = t0;
    fsm.start(t);
    std::map<int, int> buckets; // half-second buckets
    steady_duration lo = 1h, hi = 0s, total = 0s;
    int whole = 0;
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) {
        auto a = fsm.on_connect_failed(t, "connection refused");
        const auto delay = fsm.status().next_attempt_delay;
        ASSERT_GE(delay, 5s);
        ASSERT_LE(delay, 10s);
        ASSERT_EQ(wake_at(a), t + delay);
        // Not a moment early.
        ASSERT_FALSE(has(fsm.on_timer(t + delay - 1ns), dp_action::connect));
        lo = std::min(lo, delay);
        hi = std::max(hi, delay);
        total += delay;
        whole += delay % 1s == 0s;
        ++buckets[int((delay - 5s) / 500ms)];
        t += delay;
        ASSERT_TRUE(has(fsm.on_timer(t), dp_action::connect));
    }
    EXPECT_LT(lo, 5s + 10ms);
    EXPECT_GT(hi, 10s - 10ms);
    EXPECT_NEAR(std::chrono::duration<double>(total).count() / draws, 7.5, 0.05);
    EXPECT_LT(whole, 3); // continuous, not whole seconds as Kong's math.random(5, 10)
    for (int b = 0; b < 10; ++b)
        EXPECT_NEAR(buckets[b], draws / 10, draws / 10 * 0.1) << "bucket " << b;
    EXPECT_EQ(fsm.status().attempt, unsigned(draws + 1));
    EXPECT_EQ(fsm.status().reconnects, std::uint64_t(draws));
}

// Whatever the configuration and however the CP fails, attempts never come in a tight loop.
TEST(dp_session_fsm, never_a_tight_loop) {
    quiet_logs quiet;
    jitter rng(3);
    dp_timing zero;
    zero.reconnect_min = 0s;
    zero.reconnect_max = 0s;
    dp_session_fsm fsm(zero, rng);
    steady_time t = t0;
    fsm.start(t);
    int attempts = 0;
    // A CP that accepts and drops at once, for one virtual hour.
    while (t < t0 + 1h) {
        fsm.on_connected(t);
        fsm.on_connection_lost(t, "the control plane closed the connection");
        const auto next = *fsm.status().next_attempt_at;
        ASSERT_GE(next - t, min_reconnect_delay);
        t = next;
        ASSERT_TRUE(has(fsm.on_timer(t), dp_action::connect));
        ++attempts;
    }
    EXPECT_LE(attempts, 3600 * 10);

    // With the defaults: between 360 and 720 attempts in an hour of refused connections.
    jitter rng2(4);
    dp_session_fsm kong_like({}, rng2);
    t = t0;
    kong_like.start(t);
    attempts = 0;
    while (t < t0 + 1h) {
        kong_like.on_connect_failed(t, "connection refused");
        t = *kong_like.status().next_attempt_at;
        kong_like.on_timer(t);
        ++attempts;
    }
    EXPECT_GE(attempts, 360);
    EXPECT_LE(attempts, 721);
}

// Optional growth for very long outages: the window widens after `grow_after`, up to the
// ceiling, and snaps back once the CP answers.
TEST(dp_session_fsm, the_window_grows_only_in_long_outages) {
    quiet_logs quiet;
    jitter rng(5);
    dp_timing timing;
    timing.reconnect_ceiling = 300s;
    timing.grow_after = 5min;
    dp_session_fsm fsm(timing, rng);
    steady_time t = t0;
    fsm.start(t);
    steady_duration longest = 0s;
    while (t < t0 + 2h) {
        fsm.on_connect_failed(t, "connection refused");
        const auto d = fsm.status().next_attempt_delay;
        ASSERT_GE(d, 5s);
        ASSERT_LE(d, 300s);
        if (t - t0 < 5min - 10s) {
            ASSERT_LE(d, 10s) << "grew too early";
        }
        longest = std::max(longest, d);
        t += d;
        fsm.on_timer(t);
    }
    EXPECT_GT(longest, 200s);
    // Recovery: connected and a pong arrived; the next outage starts at [5, 10] s again.
    fsm.on_connected(t);
    fsm.on_pong(t + 5ms);
    fsm.on_connection_lost(t + 1s, "reset");
    EXPECT_LE(fsm.status().next_attempt_delay, 10s);
    EXPECT_EQ(fsm.status().attempt, 0u);
}

// A config arriving between a ping and its pong: delivered at once; the round trip still
// belongs to the ping; after the hand-off the session pings with the new hash.
TEST(dp_session_fsm, a_new_config_arriving_during_a_ping) {
    connected_fsm c;
    c.fsm.on_pong(t0 + 5ms);
    auto a = c.fsm.on_timer(t0 + 30s);
    ASSERT_EQ(pings(a), std::vector<std::string>{zeros});

    log::capture logs;
    auto cfg = config('a');
    a = c.fsm.on_config_frame(t0 + 30s + 4ms, cfg);
    const auto d = of_kind(a, dp_action::deliver_config);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].snapshot, cfg);
    EXPECT_TRUE(pings(a).empty());
    EXPECT_TRUE(logs.contains("msg=\"new config from the control plane\" config_hash=" + cfg->hash));

    c.fsm.on_pong(t0 + 30s + 9ms);
    EXPECT_EQ(c.fsm.status().round_trip, 9ms);
    EXPECT_EQ(c.fsm.current_hash(), zeros); // not applied yet

    a = c.fsm.on_config_applied(t0 + 31s, cfg->hash, true);
    EXPECT_EQ(pings(a), std::vector<std::string>{cfg->hash});
    EXPECT_EQ(c.fsm.current_hash(), cfg->hash);
    EXPECT_EQ(wake_at(a), t0 + 61s); // the periodic ping restarts from the immediate one
    EXPECT_EQ(pings(c.fsm.on_timer(t0 + 61s)), std::vector<std::string>{cfg->hash});
}

TEST(dp_session_fsm, only_the_newest_config_waits_for_a_busy_hand_off) {
    connected_fsm c;
    auto a_cfg = config('a'), b_cfg = config('b'), c_cfg = config('c');
    ASSERT_TRUE(has(c.fsm.on_config_frame(t0 + 1s, a_cfg), dp_action::deliver_config));
    log::capture logs;
    EXPECT_FALSE(has(c.fsm.on_config_frame(t0 + 2s, b_cfg), dp_action::deliver_config));
    EXPECT_FALSE(has(c.fsm.on_config_frame(t0 + 3s, c_cfg), dp_action::deliver_config));
    EXPECT_TRUE(logs.contains("config superseded before it was applied\" config_hash=" + b_cfg->hash));
    auto a = c.fsm.on_config_applied(t0 + 4s, a_cfg->hash, true);
    const auto d = of_kind(a, dp_action::deliver_config);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].snapshot, c_cfg);
    // The config being applied arrives again: nothing new to do.
    EXPECT_FALSE(has(c.fsm.on_config_frame(t0 + 5s, c_cfg), dp_action::deliver_config));
    a = c.fsm.on_config_applied(t0 + 6s, c_cfg->hash, true);
    EXPECT_FALSE(has(a, dp_action::deliver_config));
    EXPECT_EQ(c.fsm.current_hash(), c_cfg->hash);
}

TEST(dp_session_fsm, an_unchanged_config_is_not_applied_but_answered_with_a_ping) {
    connected_fsm c({}, std::string(32, 'a'));
    auto a = c.fsm.on_config_frame(t0 + 1s, config('a'));
    EXPECT_FALSE(has(a, dp_action::deliver_config));
    EXPECT_EQ(pings(a), std::vector<std::string>{std::string(32, 'a')});
}

TEST(dp_session_fsm, an_invalid_config_is_logged_and_dropped) {
    connected_fsm c({}, std::string(32, 'a'));
    log::capture logs;
    auto a = c.fsm.on_config_frame(
        t0 + 1s, result<snapshot_ptr, std::string>(failure(std::string("no config_table member"))));
    EXPECT_FALSE(has(a, dp_action::deliver_config));
    EXPECT_FALSE(has(a, dp_action::close_session));
    EXPECT_TRUE(pings(a).empty());
    EXPECT_EQ(c.fsm.current_hash(), std::string(32, 'a'));
    EXPECT_EQ(c.fsm.status().state, session_state::connected);
    EXPECT_EQ(c.fsm.status().rejected_configs, 1u); // /status config.rejected
    EXPECT_EQ(c.fsm.status().last_rejection, "no config_table member");
    EXPECT_TRUE(
        logs.contains("error: msg=\"invalid config from the control plane dropped; keeping the current one\" "
                      "reason=\"no config_table member\""));
    // The frame still proved the CP alive.
    EXPECT_FALSE(has(c.fsm.on_timer(t0 + 45s), dp_action::close_session));
}

TEST(dp_session_fsm, a_config_the_gateway_refused_keeps_the_current_one) {
    connected_fsm c;
    auto cfg = config('e');
    c.fsm.on_config_frame(t0 + 1s, cfg);
    log::capture logs;
    auto a = c.fsm.on_config_applied(t0 + 2s, cfg->hash, false);
    EXPECT_TRUE(pings(a).empty());
    EXPECT_EQ(c.fsm.current_hash(), zeros);
    EXPECT_TRUE(logs.contains("config was not applied; keeping the current one"));
    // The same config may come again later and is delivered again.
    EXPECT_TRUE(has(c.fsm.on_config_frame(t0 + 10s, cfg), dp_action::deliver_config));
}

TEST(dp_session_fsm, a_hand_off_that_outlives_the_connection_still_counts) {
    connected_fsm c;
    auto cfg = config('f');
    c.fsm.on_config_frame(t0 + 1s, cfg);
    c.fsm.on_connection_lost(t0 + 2s, "the control plane closed the connection");
    auto a = c.fsm.on_config_applied(t0 + 3s, cfg->hash, true);
    EXPECT_TRUE(pings(a).empty()); // nobody to tell
    EXPECT_EQ(c.fsm.current_hash(), cfg->hash);
    const auto next = *c.fsm.status().next_attempt_at;
    ASSERT_TRUE(has(c.fsm.on_timer(next), dp_action::connect));
    EXPECT_EQ(pings(c.fsm.on_connected(next + 10ms)), std::vector<std::string>{cfg->hash});
}

TEST(dp_session_fsm, a_close_frame_ends_the_session_quietly_and_reconnects) {
    connected_fsm c;
    log::capture logs;
    auto a = c.fsm.on_close_frame(t0 + 3s, "close frame (code 1000)");
    EXPECT_FALSE(has(a, dp_action::close_session));
    EXPECT_EQ(c.fsm.status().state, session_state::disconnected);
    EXPECT_TRUE(logs.contains("info: msg=\"control plane closed the session\""));
    EXPECT_GE(*c.fsm.status().next_attempt_at - (t0 + 3s), 5s);
}

TEST(dp_session_fsm, status_tracks_attempts_errors_and_reconnects) {
    jitter rng(9);
    dp_session_fsm fsm({}, rng);
    fsm.start(t0);
    fsm.on_connect_failed(t0 + 1s, "connection refused");
    EXPECT_EQ(fsm.status().state, session_state::disconnected);
    EXPECT_EQ(fsm.status().since, t0 + 1s);
    EXPECT_EQ(fsm.status().last_error, "connection refused");
    EXPECT_EQ(fsm.status().attempt, 1u);
    const auto next = *fsm.status().next_attempt_at;
    fsm.on_timer(next);
    EXPECT_EQ(fsm.status().state, session_state::connecting);
    EXPECT_EQ(fsm.status().attempt, 2u);
    EXPECT_EQ(fsm.status().reconnects, 1u);
    EXPECT_FALSE(fsm.status().next_attempt_at);
    fsm.on_connected(next + 1s);
    EXPECT_EQ(fsm.status().attempt, 2u); // not healthy until the CP answers
    fsm.on_pong(next + 1s + 3ms);
    EXPECT_EQ(fsm.status().attempt, 0u);
    EXPECT_EQ(fsm.status().last_pong, next + 1s + 3ms);
    EXPECT_EQ(fsm.status().last_error, "connection refused"); // the last error stays visible
    EXPECT_EQ(fsm.status().state, session_state::connected);
}

TEST(dp_session_fsm, an_external_config_changes_the_pings) {
    connected_fsm c;
    auto a = c.fsm.on_external_config(t0 + 1s, std::string(32, 'd'));
    EXPECT_EQ(pings(a), std::vector<std::string>{std::string(32, 'd')});
    EXPECT_TRUE(c.fsm.on_external_config(t0 + 2s, std::string(32, 'd')).empty());
}

// Kong's CP refuses a node (incompatible version) by hanging up right after basic_info; the
// error says so, since the close itself carries no reason.
TEST(dp_session_fsm, a_hang_up_before_any_answer_is_reported_as_a_refusal) {
    connected_fsm c;
    c.fsm.on_close_frame(t0 + 5ms, "close frame (code 0)");
    EXPECT_NE(c.fsm.status().last_error.find("the control plane refused this node"), std::string::npos);
    // After an answer, a hang-up is just a hang-up.
    const auto next = *c.fsm.status().next_attempt_at;
    c.fsm.on_timer(next);
    c.fsm.on_connected(next);
    c.fsm.on_pong(next + 1ms);
    c.fsm.on_connection_lost(next + 2ms, "the control plane closed the connection");
    EXPECT_EQ(c.fsm.status().last_error, "the control plane closed the connection");
}

// Kong's CP withholds every config from a data plane that fails its plugin gate, yet keeps the
// socket and answers pings. Three ping intervals without a config, pings answered: say so.
TEST(dp_session_fsm, a_config_withheld_for_three_ping_intervals_is_named) {
    dp_timing timing;
    timing.ping_interval = 1s;
    connected_fsm c(timing);
    EXPECT_EQ(wake_at(c.first), t0 + 1s);
    log::capture logs;
    steady_time t = t0;
    for (int i = 1; i <= 2; ++i) {
        c.fsm.on_pong(t + 5ms);
        t += 1s;
        c.fsm.on_timer(t);
        EXPECT_FALSE(c.fsm.status().config_withheld) << "after " << i << " intervals";
    }
    c.fsm.on_pong(t + 5ms); // the next ping and the config deadline coincide at t0 + 3 s
    c.fsm.on_timer(t0 + 3s - 1ms);
    EXPECT_FALSE(c.fsm.status().config_withheld);
    auto tick = c.fsm.on_timer(t0 + 3s);
    EXPECT_TRUE(c.fsm.status().config_withheld);
    EXPECT_EQ(c.fsm.status().withheld_total, 1u);
    EXPECT_TRUE(has(tick, dp_action::status_changed));
    EXPECT_EQ(c.fsm.status().state, session_state::connected); // nothing else changes
    EXPECT_TRUE(logs.contains("no config from the control plane although it answers pings"));

    // Still nothing: counted once, not on every tick.
    for (int i = 0; i < 10; ++i) {
        c.fsm.on_pong(t0 + 3s + i * 1s + 5ms);
        c.fsm.on_timer(t0 + 4s + i * 1s);
    }
    EXPECT_EQ(c.fsm.status().withheld_total, 1u);

    // The CP sends a config at last (the operator fixed dp_plugins or the CP's settings).
    auto got = c.fsm.on_config_frame(t0 + 20s, config('a'));
    EXPECT_FALSE(c.fsm.status().config_withheld);
    EXPECT_TRUE(has(got, dp_action::status_changed));
    EXPECT_TRUE(has(got, dp_action::deliver_config));
}

TEST(dp_session_fsm, a_config_in_time_is_not_withheld) {
    connected_fsm c; // 30 s pings: the deadline is 90 s
    c.fsm.on_pong(t0 + 10ms);
    c.fsm.on_config_frame(t0 + 50ms, config('a'));
    c.fsm.on_config_applied(t0 + 60ms, std::string(32, 'a'), true);
    for (int i = 1; i <= 10; ++i) {
        c.fsm.on_timer(t0 + i * 30s);
        c.fsm.on_pong(t0 + i * 30s + 10ms);
    }
    EXPECT_FALSE(c.fsm.status().config_withheld);
    EXPECT_EQ(c.fsm.status().withheld_total, 0u);
}

// A config with the node's own hash still proves that the CP sends configs.
TEST(dp_session_fsm, an_unchanged_config_also_counts_as_sent) {
    connected_fsm c({}, std::string(32, 'a'));
    c.fsm.on_pong(t0 + 10ms);
    c.fsm.on_config_frame(t0 + 50ms, config('a'));
    for (int i = 1; i <= 4; ++i) {
        c.fsm.on_timer(t0 + i * 30s);
        c.fsm.on_pong(t0 + i * 30s + 10ms);
    }
    EXPECT_FALSE(c.fsm.status().config_withheld);
}

// No pong: the CP is not answering, which is the dead-peer rule's business, not the gate's.
TEST(dp_session_fsm, a_silent_cp_is_dead_not_withholding) {
    dp_timing timing;
    timing.ping_interval = 10s;
    connected_fsm c(timing);
    c.fsm.on_timer(t0 + 10s);
    c.fsm.on_timer(t0 + 20s);
    c.fsm.on_timer(t0 + 30s);
    EXPECT_FALSE(c.fsm.status().config_withheld);
    // A late pong after the deadline: now the CP answers and still sends nothing.
    c.fsm.on_pong(t0 + 31s);
    EXPECT_TRUE(c.fsm.status().config_withheld);
}

// The deadline restarts with each connection; the finding stays until a config arrives.
TEST(dp_session_fsm, withheld_survives_a_reconnect_until_a_config_arrives) {
    dp_timing timing;
    timing.ping_interval = 1s;
    connected_fsm c(timing);
    c.fsm.on_pong(t0 + 5ms);
    c.fsm.on_timer(t0 + 1s);
    c.fsm.on_timer(t0 + 2s);
    c.fsm.on_timer(t0 + 3s);
    ASSERT_TRUE(c.fsm.status().config_withheld);
    c.fsm.on_connection_lost(t0 + 4s, "reset");
    const auto at = *c.fsm.status().next_attempt_at;
    c.fsm.on_timer(at);
    c.fsm.on_connected(at);
    EXPECT_TRUE(c.fsm.status().config_withheld);
    c.fsm.on_pong(at + 5ms);
    c.fsm.on_config_frame(at + 10ms, config('b'));
    EXPECT_FALSE(c.fsm.status().config_withheld);
    EXPECT_EQ(c.fsm.status().withheld_total, 1u);
}

// Kong's CP answers an incompatible node version with an empty close frame right after
// basic_info. That is a refusal, named as such until a later session is admitted.
TEST(dp_session_fsm, a_close_before_any_answer_is_a_refusal) {
    connected_fsm c;
    auto closed = c.fsm.on_close_frame(t0 + 20ms, "close frame (code 0)");
    EXPECT_TRUE(c.fsm.status().refused);
    EXPECT_EQ(c.fsm.status().refusals, 1u);
    EXPECT_EQ(c.fsm.status().state, session_state::disconnected);
    EXPECT_NE(c.fsm.status().last_error.find("refused this node"), std::string::npos);

    // Admitted the next time (the operator fixed node_version): the refusal clears.
    const auto at = *c.fsm.status().next_attempt_at;
    c.fsm.on_timer(at);
    c.fsm.on_connected(at);
    EXPECT_TRUE(c.fsm.status().refused); // not yet: connected is not admitted
    c.fsm.on_pong(at + 5ms);
    EXPECT_FALSE(c.fsm.status().refused);

    // A close after the CP answered is an ordinary end, not a refusal.
    c.fsm.on_close_frame(at + 1s, "close frame (code 1001)");
    EXPECT_FALSE(c.fsm.status().refused);
    EXPECT_EQ(c.fsm.status().refusals, 1u);
}

// Issue #19 item 5: a close frame ends the session at once (status disconnected with its reason),
// and the peer gets close_timeout to hang up before the connection is dropped.
TEST(dp_session_fsm, a_close_frame_ends_the_session_at_once_and_the_close_is_bounded) {
    dp_timing timing;
    timing.close_timeout = 2s;
    connected_fsm c(timing);
    c.fsm.on_pong(t0 + 1s);
    log::capture logs;
    auto a = c.fsm.on_close_received(t0 + 3s, "close frame (code 1000: bye)");
    EXPECT_EQ(c.fsm.status().state, session_state::disconnected);
    EXPECT_EQ(c.fsm.status().last_error, "close frame (code 1000: bye)");
    EXPECT_FALSE(c.fsm.status().refused);
    EXPECT_TRUE(logs.contains(
        "info: msg=\"control plane closed the session\" detail=\"close frame (code 1000: bye)\""));
    EXPECT_EQ(wake_at(a), t0 + 5s); // the close deadline comes before the reconnect (5-10 s)
    const auto reconnect_at = *c.fsm.status().next_attempt_at;
    EXPECT_GE(reconnect_at - (t0 + 3s), 5s);

    EXPECT_FALSE(has(c.fsm.on_timer(t0 + 5s - 1ms), dp_action::drop_connection));
    a = c.fsm.on_timer(t0 + 5s);
    EXPECT_EQ(of_kind(a, dp_action::drop_connection).size(), 1u);
    EXPECT_EQ(wake_at(a), reconnect_at);
    EXPECT_TRUE(logs.contains(
        "warn: msg=\"the control plane did not finish closing the connection; dropping it\" waited=2.000s"));
    // The connection's end, reported by the driver, keeps the first reason.
    c.fsm.on_close_frame(t0 + 5s, "close frame (code 1000: bye)");
    EXPECT_EQ(c.fsm.status().last_error, "close frame (code 1000: bye)");
    a = c.fsm.on_timer(reconnect_at);
    EXPECT_TRUE(has(a, dp_action::connect));
    EXPECT_FALSE(has(a, dp_action::drop_connection));
}

// A protocol violation: the websocket layer answers it with a close and waits for the peer; the
// machine bounds that wait, and the session ends with the violation as the reason.
TEST(dp_session_fsm, a_protocol_violation_is_dropped_within_the_close_timeout) {
    dp_timing timing;
    timing.close_timeout = 2s;
    connected_fsm c(timing);
    c.fsm.on_pong(t0 + 1s);
    log::capture logs;
    auto a = c.fsm.on_closing(t0 + 4s);
    EXPECT_EQ(wake_at(a), t0 + 6s);
    EXPECT_EQ(c.fsm.status().state, session_state::connected);
    EXPECT_TRUE(c.fsm.on_closing(t0 + 5s).empty()); // one deadline per close
    a = c.fsm.on_timer(t0 + 6s);
    ASSERT_TRUE(has(a, dp_action::drop_connection));
    EXPECT_FALSE(has(a, dp_action::send_ping));

    a = c.fsm.on_protocol_violation(t0 + 6s,
                                    "the control plane broke the websocket protocol: bad continuation");
    EXPECT_EQ(c.fsm.status().state, session_state::disconnected);
    EXPECT_EQ(c.fsm.status().last_error, "the control plane broke the websocket protocol: bad continuation");
    EXPECT_FALSE(c.fsm.status().refused);
    EXPECT_TRUE(logs.contains("warn: msg=\"control plane broke the websocket protocol; session dropped\" "
                              "error=\"the control plane broke the websocket protocol: bad continuation\""));
    const auto reconnect_at = *c.fsm.status().next_attempt_at;
    EXPECT_GE(reconnect_at - (t0 + 6s), 5s);
    EXPECT_LE(reconnect_at - (t0 + 6s), 10s);
    EXPECT_EQ(wake_at(a), reconnect_at);
    EXPECT_TRUE(has(c.fsm.on_timer(reconnect_at), dp_action::connect));
}

// Issue #19 item 5, as the driver feeds it: the websocket layer answers a violation with its own
// close and starts the teardown (on_closing), then reports the violation in the same instant.
// The session is over then and there: disconnected with the violation as the cause, the usual
// reconnect delay; the peer keeps close_timeout to hang up, then the connection is dropped.
TEST(dp_session_fsm, a_protocol_violation_ends_the_session_at_once_and_its_close_is_bounded) {
    dp_timing timing;
    timing.close_timeout = 2s;
    connected_fsm c(timing);
    c.fsm.on_pong(t0 + 1s);
    log::capture logs;
    const auto violation_at = t0 + 4s;
    auto a = c.fsm.on_closing(violation_at);
    EXPECT_EQ(wake_at(a), violation_at + 2s); // the close deadline
    EXPECT_EQ(c.fsm.status().state, session_state::connected);
    a = c.fsm.on_protocol_violation(violation_at, "the control plane broke the websocket protocol: "
                                                       "The WebSocket continuation frame was unexpected");
    EXPECT_EQ(c.fsm.status().state, session_state::disconnected);
    EXPECT_EQ(c.fsm.status().since, violation_at);
    EXPECT_EQ(
        c.fsm.status().last_error,
        "the control plane broke the websocket protocol: The WebSocket continuation frame was unexpected");
    EXPECT_FALSE(c.fsm.status().refused);
    EXPECT_TRUE(has(a, dp_action::status_changed));
    EXPECT_FALSE(has(a, dp_action::close_session)); // the websocket layer already sent its close
    ASSERT_EQ(logs.lines().size(), 1u);
    EXPECT_NE(
        logs.lines()[0].find("warn: msg=\"control plane broke the websocket protocol; session dropped\" "
                             "error=\"the control plane broke the websocket protocol: The WebSocket "
                             "continuation frame was unexpected\" retry_in="),
        std::string::npos)
        << logs.lines()[0];
    const auto reconnect_at = *c.fsm.status().next_attempt_at;
    EXPECT_GE(reconnect_at - violation_at, 5s);
    EXPECT_LE(reconnect_at - violation_at, 10s);
    EXPECT_FALSE(wake_at(a)); // the close deadline stays the next wake-up, before the reconnect
    EXPECT_TRUE(c.fsm.close_pending());

    // The peer holds the connection: no pings meanwhile, dropped at the deadline, not before.
    a = c.fsm.on_timer(violation_at + 2s - 1ms);
    EXPECT_FALSE(has(a, dp_action::drop_connection));
    EXPECT_FALSE(has(a, dp_action::send_ping));
    logs.clear();
    a = c.fsm.on_timer(violation_at + 2s);
    EXPECT_EQ(of_kind(a, dp_action::drop_connection).size(), 1u);
    EXPECT_EQ(wake_at(a), reconnect_at);
    EXPECT_FALSE(c.fsm.close_pending());
    EXPECT_TRUE(logs.contains(
        "warn: msg=\"the control plane did not finish closing the connection; dropping it\" waited=2.000s"));

    // The driver reports the closed connection: the cause stays the violation.
    a = c.fsm.on_connection_closed(violation_at + 2s + 1ms);
    EXPECT_FALSE(has(a, dp_action::status_changed));
    EXPECT_EQ(c.fsm.status().state, session_state::disconnected);
    EXPECT_EQ(
        c.fsm.status().last_error,
        "the control plane broke the websocket protocol: The WebSocket continuation frame was unexpected");
    EXPECT_EQ(*c.fsm.status().next_attempt_at, reconnect_at);
    EXPECT_TRUE(has(c.fsm.on_timer(reconnect_at), dp_action::connect));
}

// A peer that hangs up in time after a violation (or a close frame) is not dropped, and the next
// connection starts with no close pending.
TEST(dp_session_fsm, a_peer_that_hangs_up_after_a_violation_is_not_dropped) {
    dp_timing timing;
    timing.close_timeout = 2s;
    connected_fsm c(timing);
    c.fsm.on_pong(t0 + 1s);
    // Without on_closing first: the violation alone bounds the close.
    auto a = c.fsm.on_protocol_violation(t0 + 3s, "the control plane broke the websocket protocol: x");
    EXPECT_EQ(c.fsm.status().state, session_state::disconnected);
    EXPECT_EQ(wake_at(a), t0 + 5s);
    EXPECT_TRUE(c.fsm.on_closing(t0 + 3s).empty()); // one deadline per close
    a = c.fsm.on_connection_closed(t0 + 3500ms);
    EXPECT_FALSE(c.fsm.close_pending());
    const auto reconnect_at = *c.fsm.status().next_attempt_at;
    EXPECT_EQ(wake_at(a), reconnect_at);
    EXPECT_FALSE(has(c.fsm.on_timer(t0 + 5s), dp_action::drop_connection));
    ASSERT_TRUE(has(c.fsm.on_timer(reconnect_at), dp_action::connect));
    c.fsm.on_connected(reconnect_at + 10ms);
    EXPECT_FALSE(c.fsm.close_pending());
    EXPECT_FALSE(has(c.fsm.on_timer(reconnect_at + 3s), dp_action::drop_connection));
    EXPECT_EQ(c.fsm.status().state, session_state::connected);
}

// A close handshake whose cause never reached the machine, and the connection closed after it:
// the CP hung up, an ordinary loss with the usual delay.
TEST(dp_session_fsm, a_connection_closed_while_the_session_is_open_is_a_loss) {
    connected_fsm c;
    c.fsm.on_pong(t0 + 1s);
    c.fsm.on_closing(t0 + 2s);
    EXPECT_EQ(c.fsm.status().state, session_state::connected);
    log::capture logs;
    c.fsm.on_connection_closed(t0 + 2100ms);
    EXPECT_EQ(c.fsm.status().state, session_state::disconnected);
    EXPECT_EQ(c.fsm.status().last_error, "the control plane closed the connection");
    EXPECT_TRUE(logs.contains("warn: msg=\"control plane session lost\""));
    EXPECT_GE(*c.fsm.status().next_attempt_at - (t0 + 2100ms), 5s);
    EXPECT_FALSE(c.fsm.close_pending());
}

// A close that completes in time leaves no drop behind for the next connection.
TEST(dp_session_fsm, a_close_that_completes_in_time_is_not_dropped) {
    dp_timing timing;
    timing.close_timeout = 2s;
    connected_fsm c(timing);
    c.fsm.on_closing(t0 + 1s);
    auto a = c.fsm.on_connection_lost(t0 + 1500ms, "the control plane closed the connection");
    const auto reconnect_at = *c.fsm.status().next_attempt_at;
    EXPECT_EQ(wake_at(a), reconnect_at);
    EXPECT_FALSE(has(c.fsm.on_timer(t0 + 3s), dp_action::drop_connection));
    a = c.fsm.on_timer(reconnect_at);
    EXPECT_TRUE(has(a, dp_action::connect));
    a = c.fsm.on_connected(reconnect_at + 10ms);
    EXPECT_FALSE(has(c.fsm.on_timer(reconnect_at + 2s), dp_action::drop_connection));
}

// The close watchdog for a CP gone silent: the close frame this node sends must be answered
// within close_timeout, or the connection is dropped.
TEST(dp_session_fsm, a_dead_control_plane_is_dropped_if_it_does_not_answer_the_close) {
    dp_timing timing;
    timing.close_timeout = 3s;
    connected_fsm c(timing);
    auto a = c.fsm.on_timer(t0 + 45s);
    ASSERT_TRUE(has(a, dp_action::close_session));
    EXPECT_EQ(wake_at(a), std::min(t0 + 48s, *c.fsm.status().next_attempt_at));
    log::capture logs;
    a = c.fsm.on_timer(t0 + 48s);
    EXPECT_TRUE(has(a, dp_action::drop_connection));
    EXPECT_FALSE(has(a, dp_action::connect));
    EXPECT_TRUE(logs.contains("the control plane did not finish closing the connection; dropping it"));
}

// Stop: a polite close bounded by close_timeout, then nothing more (no pings, no reconnects).
TEST(dp_session_fsm, stop_closes_politely_within_the_close_timeout_and_never_reconnects) {
    dp_timing timing;
    timing.close_timeout = 2s;
    connected_fsm c(timing);
    log::capture logs;
    auto a = c.fsm.on_stop(t0 + 10s);
    const auto close = of_kind(a, dp_action::close_session);
    ASSERT_EQ(close.size(), 1u);
    EXPECT_EQ(close[0].text, "lifeboat shutting down");
    EXPECT_EQ(wake_at(a), t0 + 12s);
    EXPECT_TRUE(c.fsm.stopping());
    a = c.fsm.on_timer(t0 + 12s);
    EXPECT_TRUE(has(a, dp_action::drop_connection));
    EXPECT_FALSE(has(a, dp_action::send_ping));
    a = c.fsm.on_connection_lost(t0 + 12s, "operation aborted");
    EXPECT_FALSE(c.fsm.status().next_attempt_at);
    EXPECT_FALSE(wake_at(a));
    for (auto t = t0 + 13s; t < t0 + 120s; t += 7s) {
        a = c.fsm.on_timer(t);
        EXPECT_FALSE(has(a, dp_action::connect));
        EXPECT_FALSE(has(a, dp_action::send_ping));
    }
    // A stop while waiting to reconnect: nothing to close, no further attempt.
    jitter rng(3);
    dp_session_fsm idle({}, rng);
    idle.start(t0);
    idle.on_connect_failed(t0 + 1s, "connection refused");
    a = idle.on_stop(t0 + 2s);
    EXPECT_FALSE(has(a, dp_action::close_session));
    EXPECT_FALSE(has(idle.on_timer(t0 + 20s), dp_action::connect));
}
