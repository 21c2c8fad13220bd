// The election FSM fed by hand, one event at a time, on a virtual clock: the exact actions it
// asks for, the state it reports and the lines it logs.
#include "base/log.hpp"
#include "election/election_fsm.hpp"

#include <gtest/gtest.h>

namespace lifeboat::election {
namespace {

using namespace std::chrono_literals;
using backends::object_data;
using backends::object_info;
using backends::store_errc;
using backends::store_error;

const std::string prefix = "p/3.9.0.0/election/";
const steady_time t0 = steady_time(1000h);

fsm_config config(std::string node_id = "n1", double register_time = 1000.25) {
    fsm_config c;
    c.election_prefix = prefix;
    c.node_id = std::move(node_id);
    c.hostname = "host";
    c.register_time = register_time;
    c.first_round_max_delay = 0s; // the registration keeps exactly `register_time`
    // The mechanics below are written at 10 s rounds and a 3-round lease, to keep their numbers
    // readable; the defaults (5 s, 2 rounds) have their own tests at the end.
    c.interval = 10s;
    c.lease_rounds = 3;
    return c;
}

store_error error(store_errc code, int status = 0) {
    store_error e;
    e.code = code;
    e.http_status = status;
    return e;
}

object_info listed(std::string name, std::string etag, std::uint64_t size = 10,
                   wall_clock::time_point lm = {}) {
    object_info o;
    o.key = prefix + name;
    o.etag = std::move(etag);
    o.size = size;
    o.last_modified = lm;
    return o;
}

template <class A>
const A& as(const action& a) {
    EXPECT_TRUE(std::holds_alternative<A>(a)) << "got " << action_name(a);
    static const A empty{};
    return std::holds_alternative<A>(a) ? std::get<A>(a) : empty;
}

object_data term_object(std::uint64_t term, const std::string& owner) {
    object_data d;
    d.bytes = fmt::format(R"({{"term":{},"owner":"{}"}})", term, owner);
    return d;
}

// Drives one node through start -> probe -> register -> list(only itself) -> term 1.
struct lone_leader {
    jitter random{7};
    election_fsm fsm;
    steady_time now = t0;

    explicit lone_leader(fsm_config c = config()) : fsm(std::move(c), random) {}

    void elect() {
        auto w = as<act::wait>(fsm.start(now));
        now = w.until;
        as<act::probe>(fsm.on_timer(now));
        auto reg = as<act::put_registration>(fsm.on_probe(now, true));
        as<act::list>(fsm.on_registered(now, object_info{}));
        auto create =
            as<act::create_term>(fsm.on_listed(now, std::vector{listed(fsm.status(now).registration, "e1")}));
        as<act::read_term>(fsm.on_term_created(now, object_info{}));
        as<act::wait>(fsm.on_term_read(now, term_object(create.term, fsm.status(now).registration)));
        (void)reg;
    }
};

TEST(election_fsm, first_round_starts_after_a_random_delay_of_at_most_five_seconds) {
    auto five = config();
    five.first_round_max_delay = 5s;
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        jitter random(seed);
        election_fsm fsm(five, random);
        auto w = as<act::wait>(fsm.start(t0));
        EXPECT_GE(w.until, t0);
        EXPECT_LE(w.until, t0 + 5s);
    }
    // ... and at most one interval when the interval is shorter.
    jitter random(1);
    auto c = five;
    c.interval = 200ms;
    election_fsm fsm(c, random);
    EXPECT_LE(as<act::wait>(fsm.start(t0)).until, t0 + 200ms);
}

TEST(election_fsm, a_lone_node_registers_lists_takes_term_one_and_leads) {
    log::capture logs;
    lone_leader n;
    auto w = as<act::wait>(n.fsm.start(n.now));
    EXPECT_EQ(n.fsm.current_role(n.now), role::candidate);
    n.now = w.until;

    auto probe = as<act::probe>(n.fsm.on_timer(n.now));
    EXPECT_EQ(probe.scratch_prefix, prefix + "probe/n1/");
    auto reg = as<act::put_registration>(n.fsm.on_probe(n.now, true));
    EXPECT_EQ(reg.key, prefix + "1000.25-n1");
    EXPECT_NE(reg.body.find(R"("seq":1)"), std::string::npos) << reg.body;
    EXPECT_NE(reg.body.find(R"("interval_ms":10000)"), std::string::npos) << reg.body;
    EXPECT_EQ(n.fsm.fencing(), fencing_state::enforced);

    auto list = as<act::list>(n.fsm.on_registered(n.now + 20ms, object_info{}));
    EXPECT_EQ(list.prefix, prefix);
    auto create =
        as<act::create_term>(n.fsm.on_listed(n.now + 40ms, std::vector{listed("1000.25-n1", "e1")}));
    EXPECT_EQ(create.term, 1u);
    EXPECT_EQ(create.key, prefix + "terms/00000000000000000001");
    EXPECT_NE(create.body.find(R"("owner":"1000.25-n1")"), std::string::npos) << create.body;
    EXPECT_EQ(n.fsm.current_role(n.now + 40ms), role::candidate); // leads by registration, holds no term yet

    auto read = as<act::read_term>(n.fsm.on_term_created(n.now + 60ms, object_info{}));
    EXPECT_EQ(read.key, create.key);
    auto next = as<act::wait>(n.fsm.on_term_read(n.now + 80ms, term_object(1, "1000.25-n1")));
    EXPECT_EQ(next.until, n.now + 10s); // fixed rate: one interval after the round started
    EXPECT_TRUE(n.fsm.may_export(n.now + 80ms));
    EXPECT_EQ(n.fsm.my_term(), 1u);

    auto s = n.fsm.status(n.now + 80ms);
    EXPECT_EQ(s.my_role, role::leader);
    EXPECT_EQ(s.term, 1u);
    ASSERT_TRUE(s.leader);
    EXPECT_EQ(s.leader->node_id, "n1");
    EXPECT_TRUE(s.leader->self);
    EXPECT_EQ(s.counters.elections_won, 1u);
    EXPECT_EQ(s.counters.term_changes, 1u);
    EXPECT_EQ(s.fencing, fencing_state::enforced);
    EXPECT_EQ(s.next_round_in, 10s - 80ms);
    EXPECT_TRUE(logs.contains("node is chosen as leader; exporting enabled"));
    EXPECT_TRUE(logs.contains("term=1"));
}

TEST(election_fsm, the_leader_stops_exporting_at_its_renew_deadline_before_anyone_may_take_over) {
    lone_leader n;
    n.elect();
    const auto renewed = n.now; // the registration put was sent at n.now
    EXPECT_EQ(n.fsm.renew_deadline(), 25s);
    EXPECT_EQ(n.fsm.lease(), 30s);
    EXPECT_TRUE(n.fsm.may_export(renewed + 24s));
    EXPECT_FALSE(n.fsm.may_export(renewed + 25s)); // others wait a full 30 s lease from a later observation
    EXPECT_EQ(n.fsm.current_role(renewed + 25s), role::candidate);
}

// SIGHUP with a new election_interval: the lease and renew deadline follow at once, the round
// already scheduled keeps its time, and the rounds after it run at the new interval.
TEST(election_fsm, a_new_interval_applies_from_the_next_round) {
    log::capture logs;
    lone_leader n;
    n.elect();
    const auto round = n.now;
    EXPECT_EQ(n.fsm.status(round).next_round_in, 10s);
    n.fsm.set_interval(4s);
    EXPECT_EQ(n.fsm.interval(), 4s);
    EXPECT_EQ(n.fsm.lease(), 12s);          // 3 rounds
    EXPECT_EQ(n.fsm.renew_deadline(), 10s); // half an interval before the lease ends
    EXPECT_TRUE(logs.contains("election interval changed"));
    EXPECT_TRUE(logs.contains("interval_ms=4000"));
    EXPECT_TRUE(logs.contains("was_ms=10000"));
    EXPECT_EQ(n.fsm.status(round).next_round_in, 10s); // the scheduled round keeps its time
    // The leader's last renewal was at `round`: with the shorter lease it stops exporting sooner.
    EXPECT_TRUE(n.fsm.may_export(round + 9s));
    EXPECT_FALSE(n.fsm.may_export(round + 10s));

    // The next round renews, then waits one new interval.
    n.now = round + 10s;
    auto reg = as<act::put_registration>(n.fsm.on_timer(n.now));
    EXPECT_NE(reg.body.find(R"("interval_ms":4000)"), std::string::npos) << reg.body;
    as<act::list>(n.fsm.on_registered(n.now, object_info{}));
    auto w = as<act::wait>(n.fsm.on_listed(n.now, std::vector{listed("1000.25-n1", "e2")}));
    EXPECT_EQ(w.until, n.now + 4s);
    EXPECT_TRUE(n.fsm.may_export(n.now + 9s));
    EXPECT_EQ(n.fsm.status(n.now).interval, 4s);

    // The same interval again changes nothing and logs nothing.
    logs.clear();
    n.fsm.set_interval(4s);
    EXPECT_FALSE(logs.contains("election interval changed"));
}

TEST(election_fsm, a_failed_list_keeps_the_previous_view) {
    log::capture logs;
    lone_leader n;
    n.elect();
    n.now += 10s;
    as<act::put_registration>(n.fsm.on_timer(n.now));
    as<act::list>(n.fsm.on_registered(n.now, object_info{}));
    auto w = as<act::wait>(n.fsm.on_listed(n.now, lifeboat::failure{error(store_errc::server_error, 503)}));
    EXPECT_EQ(w.until, n.now + 2500ms);   // the first failure is retried after a quarter interval
    EXPECT_TRUE(n.fsm.may_export(n.now)); // still renewing, still the leader
    EXPECT_EQ(n.fsm.status(n.now).counters.failed_rounds, 1u);
    EXPECT_TRUE(logs.contains("election round failed; keeping the previous view"));
    EXPECT_TRUE(logs.contains("step=list"));
    // A second failure in a row waits the whole interval: a store that is down gets no storm.
    n.now = w.until;
    as<act::put_registration>(n.fsm.on_timer(n.now));
    as<act::list>(n.fsm.on_registered(n.now, object_info{}));
    w = as<act::wait>(n.fsm.on_listed(n.now, lifeboat::failure{error(store_errc::server_error, 503)}));
    EXPECT_EQ(w.until, n.now + 10s);
    EXPECT_EQ(n.fsm.status(n.now).failing_rounds, 2u);
    // A good round ends the streak (the counter of failed rounds stays).
    n.now = w.until;
    as<act::put_registration>(n.fsm.on_timer(n.now));
    as<act::list>(n.fsm.on_registered(n.now, object_info{}));
    as<act::wait>(n.fsm.on_listed(n.now, std::vector{listed(n.fsm.status(n.now).registration, "e2")}));
    EXPECT_EQ(n.fsm.status(n.now).failing_rounds, 0u);
    EXPECT_EQ(n.fsm.status(n.now).counters.failed_rounds, 2u);
}

TEST(election_fsm, a_failed_register_aborts_the_round_and_the_lead_runs_out) {
    lone_leader n;
    n.elect();
    const auto renewed = n.now;
    for (int round = 1; round <= 2; ++round) {
        n.now = renewed + round * 10s;
        as<act::put_registration>(n.fsm.on_timer(n.now));
        as<act::wait>(n.fsm.on_registered(n.now, lifeboat::failure{error(store_errc::network)}));
        EXPECT_TRUE(n.fsm.may_export(n.now)); // one or two missed heartbeats are tolerated
    }
    EXPECT_FALSE(n.fsm.may_export(renewed + 25s));
    EXPECT_EQ(n.fsm.status(n.now).counters.failed_rounds, 2u);
    // The third round finds the registration lapsed: it starts over as a new registration.
    n.now = renewed + 30s;
    as<act::remove>(n.fsm.on_timer(n.now));
}

TEST(election_fsm, losing_the_race_for_a_term_leaves_a_candidate) {
    log::capture logs;
    jitter random(1);
    election_fsm fsm(config(), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    as<act::list>(fsm.on_registered(now, object_info{}));
    auto create = as<act::create_term>(fsm.on_listed(
        now, std::vector{listed("1000.25-n1", "e1"), listed("terms/00000000000000000004", "t")}));
    EXPECT_EQ(create.term, 5u);
    as<act::wait>(fsm.on_term_created(now, lifeboat::failure{error(store_errc::precondition_failed, 412)}));
    EXPECT_FALSE(fsm.may_export(now));
    EXPECT_EQ(fsm.highest_term(), 5u);
    EXPECT_TRUE(logs.contains("another node took the term first"));
}

TEST(election_fsm, an_unknown_create_outcome_is_settled_by_reading_the_term_back) {
    jitter random(1);
    election_fsm fsm(config(), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    as<act::list>(fsm.on_registered(now, object_info{}));
    as<act::create_term>(fsm.on_listed(now, std::vector{listed("1000.25-n1", "e1")}));
    // RGW answers some losers of a conditional race with a 500.
    as<act::read_term>(fsm.on_term_created(now, lifeboat::failure{error(store_errc::server_error, 500)}));
    as<act::wait>(fsm.on_term_read(now, term_object(1, "999-other")));
    EXPECT_FALSE(fsm.may_export(now));
    EXPECT_EQ(fsm.fencing(),
              fencing_state::enforced); // not a lenient store: the create did not claim success
}

TEST(election_fsm, a_create_that_succeeds_over_another_nodes_term_reveals_a_lenient_store) {
    log::capture logs;
    jitter random(1);
    election_fsm fsm(config(), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    as<act::list>(fsm.on_registered(now, object_info{}));
    as<act::create_term>(fsm.on_listed(now, std::vector{listed("1000.25-n1", "e1")}));
    as<act::read_term>(fsm.on_term_created(now, object_info{}));
    as<act::wait>(fsm.on_term_read(now, term_object(1, "999-other")));
    EXPECT_EQ(fsm.fencing(), fencing_state::unsupported);
    EXPECT_TRUE(fsm.may_export(now)); // registration-only, as Kong
    EXPECT_EQ(fsm.status(now).fencing_note,
              "the store accepted a create-if-absent write over an existing object");
    EXPECT_TRUE(logs.contains("the store ignores conditional writes"));
}

TEST(election_fsm, a_store_without_conditional_writes_elects_by_registration_and_says_so) {
    log::capture logs;
    jitter random(1);
    election_fsm fsm(config(), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, false));
    as<act::list>(fsm.on_registered(now, object_info{}));
    as<act::wait>(fsm.on_listed(now, std::vector{listed("1000.25-n1", "e1")})); // no term to create
    EXPECT_TRUE(fsm.may_export(now));
    EXPECT_EQ(fsm.my_term(), 0u);
    auto s = fsm.status(now);
    EXPECT_EQ(s.fencing, fencing_state::unsupported);
    EXPECT_EQ(s.fencing_note, "the store ignores conditional writes");
    EXPECT_TRUE(logs.contains("falling back to registration-only election"));
    EXPECT_TRUE(logs.contains("fencing=unsupported"));
}

TEST(election_fsm, a_failed_probe_is_retried_and_nobody_leads_meanwhile) {
    jitter random(1);
    election_fsm fsm(config(), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, lifeboat::failure{error(store_errc::access_denied, 403)}));
    as<act::list>(fsm.on_registered(now, object_info{}));
    as<act::wait>(fsm.on_listed(now, std::vector{listed("1000.25-n1", "e1")}));
    EXPECT_EQ(fsm.current_role(now), role::candidate);
    EXPECT_FALSE(fsm.may_export(now));
    now += 10s;
    as<act::probe>(fsm.on_timer(now)); // asks again
}

TEST(election_fsm, an_earlier_live_registration_leads_and_this_node_follows) {
    jitter random(1);
    election_fsm fsm(config("n1", 1000.25), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    as<act::list>(fsm.on_registered(now, object_info{}));
    as<act::wait>(fsm.on_listed(now, std::vector{listed("999-n0", "a"), listed("1000.25-n1", "e1"),
                                                 listed("terms/00000000000000000003", "t")}));
    auto s = fsm.status(now);
    EXPECT_EQ(s.my_role, role::follower);
    ASSERT_TRUE(s.leader);
    EXPECT_EQ(s.leader->node_id, "n0");
    EXPECT_EQ(s.term, 3u);
    EXPECT_EQ(s.candidates.size(), 2u);
}

TEST(election_fsm, ties_on_register_time_go_to_the_smaller_node_id) {
    jitter random(1);
    election_fsm fsm(config("n5", 1000.25), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    as<act::list>(fsm.on_registered(now, object_info{}));
    as<act::wait>(fsm.on_listed(
        now, std::vector{listed("1000.25-n5", "a"), listed("1000.25-n4", "b"), listed("1000.25-n6", "c")}));
    EXPECT_EQ(fsm.status(now).leader->node_id, "n4");
}

TEST(election_fsm, a_registration_that_stops_changing_dies_after_a_lease_on_the_local_clock) {
    jitter random(1);
    election_fsm fsm(config("n1", 1000.25), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    // The other node's LastModified is absurd (year 2100): it is only ever compared with itself.
    const auto far = wall_clock::time_point(std::chrono::seconds(4102444800));
    int seen = 0;
    auto round = [&](std::string other_etag) -> action {
        as<act::list>(fsm.on_registered(now, object_info{}));
        return fsm.on_listed(
            now, std::vector{listed("999-n0", std::move(other_etag), 10, far + std::chrono::seconds(seen)),
                             listed("1000.25-n1", "e")});
    };
    as<act::put_registration>(fsm.on_probe(now, true));
    as<act::wait>(round("a"));
    EXPECT_EQ(fsm.status(now).leader->node_id, "n0");
    // n0 keeps renewing for a minute: it stays the leader.
    for (int i = 0; i < 6; ++i) {
        now += 10s;
        ++seen;
        as<act::put_registration>(fsm.on_timer(now));
        as<act::wait>(round(fmt::format("a{}", i)));
        EXPECT_EQ(fsm.status(now).leader->node_id, "n0");
    }
    // Then it stops: identical listings. Dead once 30 s passed since the last change was seen.
    const auto last_change = now;
    for (;;) {
        now += 10s;
        as<act::put_registration>(fsm.on_timer(now));
        auto a = round("a5");
        if (now - last_change < 30s) {
            EXPECT_EQ(fsm.status(now).leader->node_id, "n0");
            EXPECT_TRUE(std::holds_alternative<act::wait>(a));
        } else {
            EXPECT_EQ(fsm.status(now).leader->node_id, "n1");
            EXPECT_TRUE(std::holds_alternative<act::create_term>(a)) << action_name(a);
            break;
        }
    }
    EXPECT_EQ(now - last_change, 30s);
}

TEST(election_fsm, registrations_seen_stale_by_the_stores_own_clock_are_dead_at_first_sight) {
    jitter random(1);
    election_fsm fsm(config("n1", 1000.25), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    as<act::list>(fsm.on_registered(now, object_info{}));
    // The store's clock is 3 hours off true time; only its Date against its LastModified counts.
    const auto store_now = wall_clock::now() - std::chrono::hours(3);
    auto a = fsm.on_listed(now,
                           std::vector{listed("100-crashed-long-ago", "x", 10, store_now - 61s),
                                       listed("200-recent", "y", 10, store_now - 59s),
                                       listed("1000.25-n1", "e", 10, store_now)},
                           store_now);
    as<act::wait>(a);
    auto s = fsm.status(now);
    EXPECT_EQ(s.leader->node_id, "recent"); // within two leases: benefit of the doubt
    for (const auto& c : s.candidates)
        if (c.node_id == "crashed-long-ago")
            EXPECT_FALSE(c.alive);
}

TEST(election_fsm, kong_registrations_get_kongs_interval_as_lease) {
    jitter random(1);
    election_fsm fsm(config("n1", 1000.25), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    auto round = [&] {
        as<act::list>(fsm.on_registered(now, object_info{}));
        // Kong writes an empty object every 600 s: it does not change between our rounds.
        return fsm.on_listed(
            now, std::vector{listed("999.5-kong-node", "d41d8cd98f00b204e9800998ecf8427e", 0),
                             listed("1000.25-n1", fmt::format("e{}", now.time_since_epoch().count()))});
    };
    as<act::wait>(round());
    const auto first_seen = now;
    while (now - first_seen < 600s + 5s + 20s) {
        auto s = fsm.status(now);
        ASSERT_EQ(s.leader->node_id, "kong-node") << "after " << (now - first_seen) / 1s << " s";
        EXPECT_TRUE(s.leader->kong);
        now += 10s;
        as<act::put_registration>(fsm.on_timer(now));
        (void)round();
        if (fsm.status(now).leader->node_id != "kong-node")
            break;
    }
    EXPECT_EQ(fsm.status(now).leader->node_id, "n1");
    EXPECT_GE(now - first_seen, 625s);
}

TEST(election_fsm, a_higher_term_seen_on_an_upload_ends_the_lead_at_once) {
    log::capture logs;
    lone_leader n;
    n.elect();
    EXPECT_TRUE(n.fsm.may_export(n.now));
    n.fsm.observe_term(n.now, 1); // our own term: nothing changes
    EXPECT_TRUE(n.fsm.may_export(n.now));
    n.fsm.observe_term(n.now, 7);
    EXPECT_FALSE(n.fsm.may_export(n.now));
    EXPECT_EQ(n.fsm.highest_term(), 7u);
    EXPECT_TRUE(logs.contains("stepping down; exporting disabled"));
    EXPECT_EQ(n.fsm.status(n.now).counters.step_downs, 1u);
    // Next round it is still the earliest registration: it takes term 8.
    n.now += 10s;
    as<act::put_registration>(n.fsm.on_timer(n.now));
    as<act::list>(n.fsm.on_registered(n.now, object_info{}));
    EXPECT_EQ(as<act::create_term>(n.fsm.on_listed(n.now, std::vector{listed("1000.25-n1", "e2")})).term, 8u);
}

TEST(election_fsm, a_listed_higher_term_ends_the_lead) {
    lone_leader n;
    n.elect();
    n.now += 10s;
    as<act::put_registration>(n.fsm.on_timer(n.now));
    as<act::list>(n.fsm.on_registered(n.now, object_info{}));
    // An earlier registration appeared (a node whose clock is behind) and took term 2.
    as<act::wait>(n.fsm.on_listed(n.now, std::vector{listed("999-n0", "a"), listed("1000.25-n1", "e2"),
                                                     listed("terms/00000000000000000001", "t1"),
                                                     listed("terms/00000000000000000002", "t2")}));
    EXPECT_FALSE(n.fsm.may_export(n.now));
    EXPECT_EQ(n.fsm.current_role(n.now), role::follower);
    EXPECT_EQ(n.fsm.highest_term(), 2u);
}

TEST(election_fsm, a_paused_node_re_registers_at_the_back_of_the_queue) {
    log::capture logs;
    lone_leader n;
    n.elect();
    const auto old_key = prefix + "1000.25-n1";
    n.now += 45s; // SIGSTOP for longer than the lease: the timer fires late
    EXPECT_FALSE(n.fsm.may_export(n.now));
    auto del = as<act::remove>(n.fsm.on_timer(n.now));
    EXPECT_EQ(del.key, old_key);
    auto reg = as<act::put_registration>(n.fsm.on_removed(n.now, lifeboat::ok_v));
    // The register time moved on by the monotonic time elapsed since the start.
    EXPECT_EQ(reg.key, prefix + format_registration(
                                    1000.25 + std::chrono::duration<double>(n.now - t0).count(), "n1"));
    EXPECT_TRUE(logs.contains("registration lapsed; re-registering at the back of the queue"));
    EXPECT_TRUE(logs.contains("stepping down; exporting disabled"));
    as<act::list>(n.fsm.on_registered(n.now, object_info{}));
    // Meanwhile n2 took over with term 2; it stays the leader.
    as<act::wait>(
        n.fsm.on_listed(n.now, std::vector{listed("1030-n2", "x"), listed(reg.key.substr(prefix.size()), "y"),
                                           listed("terms/00000000000000000002", "t")}));
    EXPECT_EQ(n.fsm.status(n.now).leader->node_id, "n2");
    EXPECT_EQ(n.fsm.current_role(n.now), role::follower);
}

TEST(election_fsm, the_first_round_deletes_registrations_left_by_an_earlier_run_of_this_node) {
    log::capture logs;
    jitter random(1);
    election_fsm fsm(config("n1", 2000), random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    as<act::list>(fsm.on_registered(now, object_info{}));
    auto a = fsm.on_listed(
        now, std::vector{listed("1000-n1", "old"), listed("1500-n2", "b"), listed("2000-n1", "me")});
    auto del = as<act::remove>(a);
    EXPECT_EQ(del.key, prefix + "1000-n1");
    EXPECT_EQ(del.expected_version, "old");
    EXPECT_TRUE(logs.contains("deleting a registration left by an earlier run of this node"));
    as<act::wait>(fsm.on_removed(now, lifeboat::ok_v));
    EXPECT_EQ(fsm.status(now).leader->node_id, "n2"); // re-evaluated without the deleted one
}

TEST(election_fsm, the_leader_cleans_up_old_terms_and_long_dead_registrations) {
    auto c = config("n1", 1000.25);
    c.terms_kept = 3;
    c.forget_after = 1h;
    jitter random(1);
    election_fsm fsm(c, random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    as<act::list>(fsm.on_registered(now, object_info{}));
    std::vector<object_info> objects{listed("1000.25-n1", "e"), listed("1200-dead", "d")};
    for (int t = 1; t <= 5; ++t)
        objects.push_back(listed(format_term(t), "t"));
    auto create = as<act::create_term>(fsm.on_listed(now, objects));
    EXPECT_EQ(create.term, 6u);
    as<act::read_term>(fsm.on_term_created(now, object_info{}));
    // Keeps terms 4..6: deletes 1, 2 and 3.
    std::vector<std::string> removed;
    auto a = fsm.on_term_read(now, term_object(6, "1000.25-n1"));
    while (auto* r = std::get_if<act::remove>(&a)) {
        removed.push_back(r->key.substr(prefix.size()));
        a = fsm.on_removed(now, lifeboat::ok_v);
    }
    as<act::wait>(a);
    EXPECT_EQ(removed, (std::vector<std::string>{format_term(1), format_term(2), format_term(3)}));

    // "1200-dead" never changes; an hour after its lease ran out, the leader deletes it.
    bool forgotten = false;
    for (int round = 1; round < 400 && !forgotten; ++round) {
        now += 10s;
        as<act::put_registration>(fsm.on_timer(now));
        as<act::list>(fsm.on_registered(now, object_info{}));
        a = fsm.on_listed(now, std::vector{listed("1000.25-n1", fmt::format("e{}", round)),
                                           listed("1200-dead", "d"), listed(format_term(6), "t")});
        if (auto* r = std::get_if<act::remove>(&a)) {
            EXPECT_EQ(r->key, prefix + "1200-dead");
            EXPECT_EQ(r->expected_version, "d"); // conditional where the store supports it
            EXPECT_GE(round * 10s, 30s + 1h);
            EXPECT_LE(round * 10s, 30s + 1h + 10s);
            forgotten = true;
            as<act::wait>(fsm.on_removed(now, lifeboat::ok_v));
        }
    }
    EXPECT_TRUE(forgotten);
}

TEST(election_fsm, stop_deletes_the_registration_and_refuses_exports) {
    log::capture logs;
    lone_leader n;
    n.elect();
    auto del = as<act::remove>(n.fsm.stop(n.now));
    EXPECT_EQ(del.key, prefix + "1000.25-n1");
    EXPECT_FALSE(n.fsm.may_export(n.now));
    EXPECT_EQ(n.fsm.current_role(n.now), role::disabled);
    as<act::stopped>(n.fsm.on_removed(n.now, lifeboat::ok_v));
    EXPECT_TRUE(logs.contains("a successor takes over at its next round"));
    // Before anything was registered, there is nothing to delete.
    jitter random(1);
    election_fsm idle(config(), random);
    (void)idle.start(t0);
    as<act::stopped>(idle.stop(t0));
}

TEST(election_fsm, status_serialises_to_json) {
    lone_leader n;
    n.elect();
    auto j = boost::json::serialize(to_json(n.fsm.status(n.now)));
    EXPECT_NE(j.find(R"("role":"leader")"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("fencing":"enforced")"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("fencing_enforced":true)"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("term":1)"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("elections_won":1)"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("next_round_in_ms":10000)"), std::string::npos) << j;
}

// ---------------------------------------------------------------------------------------------
// The defaults: 5 s rounds, a 2-round lease.

TEST(election_fsm, defaults_are_five_second_rounds_and_a_ten_second_lease) {
    fsm_config c;
    EXPECT_EQ(c.interval, 5s);
    EXPECT_EQ(c.lease_rounds, 2u);
    jitter random(1);
    c.election_prefix = prefix;
    c.node_id = "n1";
    election_fsm fsm(c, random);
    EXPECT_EQ(fsm.lease(), 10s);
    EXPECT_EQ(fsm.renew_deadline(), 7500ms);
}

TEST(election_fsm, a_follower_looks_again_the_moment_the_leaders_lease_ends) {
    auto c = config("n1", 1000.25);
    c.interval = 5s;
    c.lease_rounds = 2;
    jitter random(1);
    election_fsm fsm(c, random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    auto round = [&](const std::string& leader_etag) {
        as<act::list>(fsm.on_registered(now, object_info{}));
        return as<act::wait>(
            fsm.on_listed(now, std::vector{listed("999-n0", leader_etag), listed("1000.25-n1", "e")}));
    };
    // n0 renews: the next round is a whole interval later.
    auto w = round("a");
    EXPECT_EQ(w.until, now + 5s);
    const auto seen_change = now;
    // n0 stops renewing. At the next round its lease (from when its change was seen) has 5 s to
    // run, as much as the interval: no extra round.
    now = w.until;
    as<act::put_registration>(fsm.on_timer(now));
    w = round("a");
    EXPECT_EQ(w.until, seen_change + 10s);
    // The round after that is not an interval after this one but when the lease ends; here both
    // coincide. Shift this node's phase by 2 s to see the difference:
    now = w.until - 3s;
    as<act::put_registration>(fsm.on_timer(now)); // (the timer fired early: a round like any other)
    w = round("a");
    EXPECT_EQ(w.until, seen_change + 10s) << "woken when the lease ends, not at " << (now + 5s - t0).count();
    now = w.until;
    as<act::put_registration>(fsm.on_timer(now));
    as<act::list>(fsm.on_registered(now, object_info{}));
    auto a = fsm.on_listed(now, std::vector{listed("999-n0", "a"), listed("1000.25-n1", "e")});
    EXPECT_TRUE(std::holds_alternative<act::create_term>(a)) << action_name(a);
    EXPECT_EQ(now - seen_change, 10s);
}

// Issue #19: registrations pile up unless the leader deletes the stale ones. A day unchanged on
// the store's own clock (Date against LastModified) is stale from the first round; 23 hours is
// not yet; a registration that changes (a live node, lifeboat or Kong) never is. Each deletion
// is conditional on the version seen, and counted.
TEST(election_fsm, the_leader_deletes_registrations_stale_for_a_day_on_the_stores_clock) {
    auto c = config("n1", 1000.25);
    ASSERT_EQ(c.forget_after, 24h); // the default
    jitter random(1);
    election_fsm fsm(c, random);
    auto now = as<act::wait>(fsm.start(t0)).until;
    as<act::probe>(fsm.on_timer(now));
    as<act::put_registration>(fsm.on_probe(now, true));
    as<act::list>(fsm.on_registered(now, object_info{}));
    const auto store_now = wall_clock::time_point{} + std::chrono::hours(24 * 365 * 50);
    auto listing = [&](int round) {
        return std::vector{listed("1000.25-n1", fmt::format("e{}", round)),
                           listed("900-stale", "s", 10, store_now - 25h),
                           listed("910-kong-stale", "k", 0, store_now - 25h),
                           listed("920-recent", "r", 10, store_now - 23h),
                           listed("1100-live", fmt::format("l{}", round), 10, store_now - 1s),
                           listed("1110-kong-live", fmt::format("kl{}", round / 60), 0, store_now - 300s)};
    };
    log::capture logs;
    // The older registrations sort first but are dead: this node takes the term, then cleans up.
    auto a = fsm.on_listed(now, listing(0), store_now);
    as<act::create_term>(a);
    as<act::read_term>(fsm.on_term_created(now, object_info{}));
    a = fsm.on_term_read(now, term_object(1, "1000.25-n1"));
    std::vector<std::string> removed;
    while (auto* r = std::get_if<act::remove>(&a)) {
        removed.push_back(r->key.substr(prefix.size()));
        EXPECT_FALSE(r->expected_version.empty()) << r->key; // never unconditional
        a = fsm.on_removed(now, lifeboat::ok_v);
    }
    as<act::wait>(a);
    EXPECT_EQ(removed, (std::vector<std::string>{"900-stale", "910-kong-stale"}));
    EXPECT_EQ(fsm.status(now).counters.forgotten_registrations, 2u);
    EXPECT_TRUE(logs.contains("msg=\"forgetting a dead registration\" registration=900-stale"));

    // An hour later (on this node's clock) 920-recent has its day; the live ones, which keep
    // changing, stay however long this runs.
    bool recent_removed = false;
    for (int round = 1; round <= 400; ++round) {
        now += 10s;
        as<act::put_registration>(fsm.on_timer(now));
        as<act::list>(fsm.on_registered(now, object_info{}));
        auto l = listing(round);
        std::erase_if(l, [&](const object_info& o) {
            return o.key.ends_with("-stale") || (recent_removed && o.key.ends_with("920-recent"));
        });
        a = fsm.on_listed(now, l, store_now + round * 10s);
        while (auto* r = std::get_if<act::remove>(&a)) {
            EXPECT_EQ(r->key, prefix + "920-recent");
            EXPECT_GE(round * 10s, 1h - 10s);
            recent_removed = true;
            a = fsm.on_removed(now, lifeboat::ok_v);
        }
        as<act::wait>(a);
    }
    EXPECT_TRUE(recent_removed);
    EXPECT_EQ(fsm.status(now).counters.forgotten_registrations, 3u);
}

} // namespace
} // namespace lifeboat::election
