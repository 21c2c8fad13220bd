// Fleets of election FSMs on a virtual clock sharing one bucket (sim.hpp): joins, leaves,
// crashes, pauses, clock skew, failing and lenient stores, Kong exporters in the fleet, and the
// request rate.
#include "base/log.hpp"
#include "election/sim.hpp"

#include <gtest/gtest.h>

#include <random>

namespace lifeboat::test {
namespace {

using election::fenced_outcome;
using election::role;

std::string leader_seen_by(sim& s, std::size_t i) {
    auto st = s.fsm(i).status(s.now);
    return st.leader ? st.leader->node_id : std::string("none");
}

// Starts n nodes 6 s apart, more than the random first-round delay, so that n1 registers first,
// and runs a minute.
void start_fleet(sim& s, int n) {
    for (int i = 1; i <= n; ++i) {
        s.add("n" + std::to_string(i));
        s.run_for(6s);
    }
    s.run_for(1min);
}

// Runs until some node other than `old` may export; returns how long that took.
std::optional<steady_duration> time_to_new_leader(sim& s, std::optional<std::size_t> old,
                                                  steady_duration limit) {
    const auto from = s.now;
    std::optional<steady_time> found;
    s.run_until(s.now + limit, [&] {
        if (found)
            return;
        for (auto i : s.exporters())
            if (!old || i != *old)
                found = s.now;
    });
    if (!found)
        return std::nullopt;
    return *found - from;
}

TEST(election_sim, three_nodes_elect_exactly_one_leader_and_agree_on_it) {
    sim s;
    start_fleet(s, 3);
    std::size_t max_exporters = 0;
    s.run_for(10min, [&] { max_exporters = std::max(max_exporters, s.exporters().size()); });
    EXPECT_EQ(max_exporters, 1u);
    ASSERT_EQ(s.only_exporter(), 0u); // n1 registered first
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(leader_seen_by(s, i), "n1") << "node " << i;
        EXPECT_EQ(s.fsm(i).highest_term(), 1u);
        EXPECT_EQ(s.fsm(i).fencing(), election::fencing_state::enforced);
    }
    EXPECT_EQ(s.fsm(1).current_role(s.now), role::follower);
    EXPECT_EQ(s.fsm(0).status(s.now).counters.elections_won, 1u);
    EXPECT_EQ(s.fsm(1).status(s.now).counters.elections_won, 0u);
    EXPECT_EQ(s.upload(0, 100).outcome, fenced_outcome::uploaded);
    EXPECT_EQ(s.upload(1, 200).outcome, fenced_outcome::not_leader);
}

TEST(election_sim, equal_register_times_go_to_the_smallest_node_id) {
    sim s({.first_round_max_delay = 0s});
    s.add("n-b");
    s.add("n-c");
    s.add("n-a");
    s.run_for(2min);
    EXPECT_EQ(s.only_exporter(), 2u);
    for (std::size_t i = 0; i < 3; ++i)
        EXPECT_EQ(leader_seen_by(s, i), "n-a");
}

TEST(election_sim, a_later_node_joins_as_a_follower) {
    sim s;
    start_fleet(s, 2);
    s.add("n3");
    std::size_t max_exporters = 0;
    s.run_for(5min, [&] { max_exporters = std::max(max_exporters, s.exporters().size()); });
    EXPECT_EQ(max_exporters, 1u);
    EXPECT_EQ(s.only_exporter(), 0u);
    EXPECT_EQ(s.fsm(2).current_role(s.now), role::follower);
    EXPECT_EQ(s.fsm(2).highest_term(), 1u);
}

TEST(election_sim, a_node_with_an_earlier_register_time_takes_over_and_the_old_leader_is_fenced) {
    log::capture logs;
    sim s;
    start_fleet(s, 2);
    ASSERT_EQ(s.only_exporter(), 0u);
    ASSERT_EQ(s.upload(0, 10).outcome, fenced_outcome::uploaded);

    s.add("n0", -1h); // its wall clock is an hour behind: it sorts first
    steady_duration overlap{};
    steady_time last = s.now;
    s.run_for(2min, [&] {
        if (s.exporters().size() > 1)
            overlap += s.now - last;
        last = s.now;
    });
    EXPECT_EQ(s.only_exporter(), 2u);
    EXPECT_EQ(s.fsm(2).my_term(), 2u);
    EXPECT_LE(overlap, 10s); // until the old leader's next list shows term 2
    // The old leader, even with a newer config, cannot write over term 2.
    EXPECT_EQ(s.upload(2, 20).outcome, fenced_outcome::uploaded);
    auto stale = s.upload(0, 30);
    EXPECT_EQ(stale.outcome, fenced_outcome::not_leader);
    auto head = s.bucket->head("bkt-prefix/3.9.0.0/config.json");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->metadata.at("lifeboat-term"), "2");
    EXPECT_EQ(head->metadata.at("lifeboat-cp-timestamp"), "20");
    EXPECT_TRUE(logs.contains("stepping down; exporting disabled"));
}

TEST(election_sim, a_leader_that_stops_gracefully_is_replaced_within_one_interval) {
    sim s;
    start_fleet(s, 3);
    ASSERT_EQ(s.only_exporter(), 0u);
    s.stop(0);
    auto took = time_to_new_leader(s, 0, 2min);
    ASSERT_TRUE(took);
    EXPECT_LE(*took, 5s + 5 * s.latency); // the default interval, plus the successor's round
    s.run_for(1min);
    EXPECT_EQ(s.only_exporter(), 1u);
    EXPECT_EQ(s.fsm(1).my_term(), 2u);
    EXPECT_FALSE(s.bucket->contains(s.fsm(0).registration_key()));
    EXPECT_TRUE(s.node(0).dead);
}

// The defaults: 5 s rounds, a 10 s lease. A follower sees the leader's last heartbeat up to an
// interval late and looks again the moment the lease ends: 5-15 s, plus a round's requests.
TEST(election_sim, a_crashed_leader_is_replaced_within_the_lease_plus_one_interval) {
    steady_duration longest{}, shortest = 1h;
    for (int trial = 0; trial < 20; ++trial) {
        sim s;
        s.latency = std::chrono::milliseconds(5 + trial * 7);
        start_fleet(s, 3);
        s.run_for(std::chrono::milliseconds(trial * 1370)); // vary the phase of the crash
        auto leader = s.only_exporter();
        ASSERT_TRUE(leader);
        s.kill(*leader);
        auto took = time_to_new_leader(s, leader, 5min);
        ASSERT_TRUE(took) << "trial " << trial;
        EXPECT_GE(*took, 5s) << "trial " << trial; // never before the lease can have run out
        EXPECT_LE(*took, 15s + 6 * s.latency) << "trial " << trial;
        longest = std::max(longest, *took);
        shortest = std::min(shortest, *took);
        s.run_for(1min);
        EXPECT_EQ(s.exporters().size(), 1u);
    }
    EXPECT_GT(longest - shortest, 3s) << "the crash phases should spread the failover times";
}

TEST(election_sim, a_leader_restarted_after_kill_9_clears_its_old_registration_so_failover_is_fast) {
    sim s;
    start_fleet(s, 3);
    ASSERT_EQ(s.only_exporter(), 0u);
    s.kill(0);
    s.add("n1"); // same node id, new process
    auto took = time_to_new_leader(s, 0, 2min);
    ASSERT_TRUE(took);
    EXPECT_LE(*took, 20s);            // instead of a 30 s lease: the restarted process deleted the stale key
    EXPECT_EQ(s.only_exporter(), 1u); // n2; the restarted n1 registered last
}

TEST(election_sim, list_failures_keep_every_nodes_previous_state) {
    log::capture logs;
    sim s;
    start_fleet(s, 3);
    ASSERT_EQ(s.only_exporter(), 0u);
    s.bucket->fail = [](std::string_view op, std::string_view) -> std::optional<backends::store_error> {
        if (op != "LIST")
            return std::nullopt;
        backends::store_error e;
        e.code = backends::store_errc::server_error;
        e.http_status = 503;
        return e;
    };
    std::size_t max_exporters = 0;
    s.run_for(3min, [&] { max_exporters = std::max(max_exporters, s.exporters().size()); });
    EXPECT_EQ(max_exporters, 1u);
    EXPECT_EQ(s.only_exporter(), 0u); // still renewing: still leading
    EXPECT_EQ(s.fsm(1).current_role(s.now), role::follower);
    EXPECT_GE(s.fsm(1).status(s.now).counters.failed_rounds, 17u);
    EXPECT_TRUE(logs.contains("step=list"));
    s.bucket->fail = nullptr;
    s.run_for(1min);
    EXPECT_EQ(s.only_exporter(), 0u);
    EXPECT_EQ(s.fsm(0).highest_term(), 1u); // nothing changed hands
}

TEST(election_sim, a_leader_cut_off_from_the_store_steps_down_before_its_successor_takes_over) {
    sim s;
    start_fleet(s, 3);
    ASSERT_EQ(s.only_exporter(), 0u);
    const auto leader_key = s.fsm(0).registration_key();
    // Every request of n1 fails from now on (a partition between n1 and the store).
    s.bucket->fail = [&](std::string_view, std::string_view key) -> std::optional<backends::store_error> {
        if (key.find("/probe/n1/") != std::string_view::npos || key == leader_key) {
            backends::store_error e;
            e.code = backends::store_errc::network;
            return e;
        }
        return std::nullopt;
    };
    std::optional<steady_time> old_stopped, new_started;
    s.run_for(2min, [&] {
        if (!old_stopped && !s.fsm(0).may_export(s.now))
            old_stopped = s.now;
        if (!new_started && s.fsm(1).may_export(s.now))
            new_started = s.now;
    });
    ASSERT_TRUE(old_stopped);
    ASSERT_TRUE(new_started);
    EXPECT_LT(*old_stopped, *new_started); // never two leaders, even for a moment
    EXPECT_EQ(s.only_exporter(), 1u);
}

TEST(election_sim, a_store_that_ignores_conditional_writes_falls_back_and_reports_it) {
    log::capture logs;
    sim s;
    s.bucket->enforce_conditions = false;
    start_fleet(s, 3);
    std::size_t max_exporters = 0;
    s.run_for(5min, [&] { max_exporters = std::max(max_exporters, s.exporters().size()); });
    EXPECT_EQ(max_exporters, 1u);
    EXPECT_EQ(s.only_exporter(), 0u);
    for (std::size_t i = 0; i < 3; ++i) {
        auto st = s.fsm(i).status(s.now);
        EXPECT_EQ(st.fencing, election::fencing_state::unsupported);
        EXPECT_EQ(st.fencing_note, "the store ignores conditional writes");
        EXPECT_EQ(st.term, 0u);
    }
    EXPECT_TRUE(logs.contains("falling back to registration-only election"));
    // Uploads still refuse to go backwards, without the atomicity.
    EXPECT_EQ(s.upload(0, 10).outcome, fenced_outcome::uploaded);
    EXPECT_EQ(s.upload(0, 5).outcome, fenced_outcome::superseded);
    EXPECT_FALSE(s.upload(0, 20).conditional);
}

TEST(election_sim, clock_skew_between_nodes_and_the_store_changes_nothing) {
    for (auto store_skew :
         {-std::chrono::hours(3), std::chrono::hours(24 * 365 * 5), std::chrono::hours(0)}) {
        sim s;
        s.store_skew = store_skew;
        // The nodes' own clocks are off by minutes in both directions, in registration order.
        s.add("n1", -7min);
        s.run_for(1s);
        s.add("n2", +9min);
        s.run_for(1s);
        s.add("n3", +20min);
        s.run_for(1min);
        std::size_t max_exporters = 0;
        s.run_for(5min, [&] { max_exporters = std::max(max_exporters, s.exporters().size()); });
        EXPECT_EQ(max_exporters, 1u);
        ASSERT_EQ(s.only_exporter(), 0u);
        s.kill(0);
        auto took = time_to_new_leader(s, 0, 5min);
        ASSERT_TRUE(took);
        EXPECT_GE(*took, 5s); // the default lease - interval .. lease + interval, as without skew
        EXPECT_LE(*took, 15s + 6 * s.latency);
        s.run_for(1min);
        EXPECT_EQ(s.only_exporter(), 1u);
    }
}

TEST(election_sim, a_paused_leader_waking_up_cannot_overwrite_its_successor) {
    log::capture logs;
    sim s;
    start_fleet(s, 3);
    ASSERT_EQ(s.only_exporter(), 0u);
    const std::string key = "bkt-prefix/3.9.0.0/config.json";
    ASSERT_EQ(s.upload(0, 10).outcome, fenced_outcome::uploaded);

    // n1 starts an upload of config 11: reads config.json, decides to replace it... and is
    // SIGSTOPped right before its PUT.
    auto& f0 = s.fsm(0);
    election::fenced_write zombie(key, {}, f0.my_term(), "n1", {11, "h11"}, true);
    auto a = zombie.on_head(s.bucket->head(std::get<election::fw::head>(zombie.start()).key));
    ASSERT_TRUE(std::holds_alternative<election::fw::put>(a));
    s.pause(0, 2min);

    auto took = time_to_new_leader(s, 0, 2min);
    ASSERT_TRUE(took);
    EXPECT_LE(*took, 50s);
    auto successor = s.exporters().front();
    EXPECT_EQ(s.fsm(successor).my_term(), 2u);
    ASSERT_EQ(s.upload(successor, 12).outcome, fenced_outcome::uploaded);

    s.run_for(2min); // n1 wakes up
    auto& p = std::get<election::fw::put>(a);
    a = zombie.on_put(s.bucket->put(p.key, "config 11", p.options)); // its delayed PUT: 412
    ASSERT_TRUE(std::holds_alternative<election::fw::head>(a));
    a = zombie.on_head(s.bucket->head(key));
    auto& done = std::get<election::fw::done>(a);
    EXPECT_EQ(done.result.outcome, fenced_outcome::not_leader);
    EXPECT_EQ(done.result.bucket_term, 2u);
    EXPECT_EQ(s.bucket->head(key)->metadata.at("lifeboat-cp-timestamp"), "12");

    // It re-registered at the back of the queue rather than take the lead back.
    EXPECT_TRUE(logs.contains("registration lapsed; re-registering at the back of the queue"));
    s.run_for(2min);
    EXPECT_EQ(s.only_exporter(), successor);
    EXPECT_EQ(s.fsm(0).current_role(s.now), role::follower);
    EXPECT_EQ(s.upload(0, 13).outcome, fenced_outcome::not_leader);
}

TEST(election_sim, a_heartbeat_that_lands_after_the_lease_does_not_bring_the_old_leader_back) {
    log::capture logs;
    sim s;
    start_fleet(s, 3);
    ASSERT_EQ(s.only_exporter(), 0u);
    // Freeze n1 for 25 s while its registration put is in flight: sent 10 s after the previous
    // one, the put lands 35 s after it, when the others may already have declared n1 dead.
    bool paused = false;
    bool exported_after = false;
    s.run_until(s.now + 3min, [&] {
        if (!paused && std::holds_alternative<election::act::put_registration>(s.node(0).pending)) {
            s.pause(0, 25s);
            paused = true;
        } else if (paused && s.fsm(0).may_export(s.now) && !s.node(0).paused_until) {
            exported_after = true;
        }
    });
    ASSERT_TRUE(paused);
    EXPECT_FALSE(exported_after);
    EXPECT_TRUE(logs.contains("registration lapsed; re-registering at the back of the queue"));
    EXPECT_EQ(s.only_exporter(), 1u); // n2 took over and keeps the lead
    EXPECT_EQ(leader_seen_by(s, 0), "n2");
    EXPECT_EQ(s.fsm(0).current_role(s.now), role::follower);
    int n1_keys = 0; // only n1's new registration is left
    for (const auto& k : s.bucket->keys(sim::prefix))
        n1_keys += k.ends_with("-n1");
    EXPECT_EQ(n1_keys, 1);
}

TEST(election_sim, a_kong_exporter_in_the_fleet_leads_while_it_refreshes) {
    sim s;
    const std::string kong_key = sim::prefix + "1767225000.5-kong-node"; // registered before everyone
    auto kong_refresh = [&] { ASSERT_TRUE(s.bucket->put(kong_key, "", {})); };
    kong_refresh();
    const auto kong_start = s.now;
    start_fleet(s, 3);
    for (int i = 1; i <= 3; ++i) { // Kong refreshes every 600 s
        s.run_until(kong_start + i * 600s);
        kong_refresh();
        EXPECT_TRUE(s.exporters().empty());
        for (std::size_t n = 0; n < 3; ++n)
            EXPECT_EQ(leader_seen_by(s, n), "kong-node");
    }
    // Kong stops (it never deletes its registration): lifeboat takes over after Kong's lease.
    auto took = time_to_new_leader(s, std::nullopt, 20min);
    ASSERT_TRUE(took);
    EXPECT_GE(*took, 600s);
    EXPECT_LE(*took, 600s + 5s + 20s + 20s);
    EXPECT_EQ(s.only_exporter(), 0u);
}

TEST(election_sim, unparsable_keys_under_the_prefix_are_skipped) {
    sim s;
    for (const char* junk : {"README", "abc-def", "123", "probe/x/y", "terms/notanumber", ".hidden-1"})
        ASSERT_TRUE(s.bucket->put(sim::prefix + junk, "x", {}));
    start_fleet(s, 2);
    EXPECT_EQ(s.only_exporter(), 0u);
    EXPECT_EQ(s.fsm(0).status(s.now).candidates.size(), 2u);
}

TEST(election_sim, each_node_makes_24_requests_a_minute_at_the_default_interval) {
    sim s;
    start_fleet(s, 3);
    s.run_for(1min);
    std::vector<std::size_t> before;
    for (auto& n : s.nodes)
        before.push_back(n->requests);
    s.run_for(10min);
    for (std::size_t i = 0; i < 3; ++i)
        EXPECT_EQ(s.node(i).requests - before[i], 240u) << "node " << i; // PUT + LIST every 5 s
    // With a 2 s interval: 60 a minute, and a crashed leader is replaced in 2-6 s.
    sim fast({.interval = 2s});
    start_fleet(fast, 3);
    before.clear();
    for (auto& n : fast.nodes)
        before.push_back(n->requests);
    fast.run_for(1min);
    EXPECT_EQ(fast.node(1).requests - before[1], 60u);
    fast.kill(0);
    auto took = time_to_new_leader(fast, 0, 1min);
    ASSERT_TRUE(took);
    EXPECT_LE(*took, 6s + 6 * fast.latency);
}

// Chaos: random crashes, pauses, graceful stops and joins for two hours, with every node that may
// export uploading the newest config it knows every few seconds. The bucket's config never goes
// back (CP timestamp and term only grow), and two nodes export at once only briefly after a
// change of leader.
TEST(election_sim, chaos_never_moves_the_bucket_backwards) {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        sim s;
        std::mt19937_64 rng(seed);
        start_fleet(s, 4);
        int next_id = 5;
        double cp_clock = 1000;
        std::vector<double> known(64, 0); // per node: the newest config it received
        double bucket_cp = 0;
        std::uint64_t bucket_term = 0;
        int double_export_ticks = 0;
        const std::string key = "bkt-prefix/3.9.0.0/config.json";
        for (int tick = 0; tick < 2 * 3600 / 5; ++tick) {
            cp_clock += 1;
            for (std::size_t i = 0; i < s.nodes.size(); ++i)
                if (rng() % 4 != 0) // some nodes lag behind the CP
                    known[i] = cp_clock;
            switch (rng() % 200) {
            case 0: { // kill -9 a random live node
                auto i = rng() % s.nodes.size();
                s.kill(i);
                break;
            }
            case 1:
                s.pause(rng() % s.nodes.size(), std::chrono::seconds(20 + rng() % 60));
                break;
            case 2:
                s.stop(rng() % s.nodes.size());
                break;
            case 3:
            case 4:
                if (s.nodes.size() < 60)
                    s.add("n" + std::to_string(next_id++), std::chrono::minutes(int(rng() % 20) - 10));
                break;
            default:
                break;
            }
            s.run_for(5s);
            if (s.exporters().size() > 1)
                ++double_export_ticks;
            for (auto i : s.exporters()) {
                auto r = s.upload(i, known[i], fmt::format("h{}", known[i]));
                auto head = s.bucket->head(key);
                if (!head)
                    continue;
                double cp = std::stod(head->metadata.at("lifeboat-cp-timestamp"));
                std::uint64_t term = std::stoull(head->metadata.at("lifeboat-term"));
                EXPECT_GE(cp, bucket_cp)
                    << "seed " << seed << " tick " << tick << " " << to_string(r.outcome);
                EXPECT_GE(term, bucket_term) << "seed " << seed << " tick " << tick;
                bucket_cp = cp;
                bucket_term = term;
            }
        }
        EXPECT_GT(bucket_term, 1u) << "seed " << seed << ": the chaos changed leaders";
        EXPECT_GT(bucket_cp, 1000.0);
        EXPECT_LT(double_export_ticks, 2 * 3600 / 5 / 50) << "seed " << seed; // under 2% of the time
    }
}

} // namespace
} // namespace lifeboat::test
