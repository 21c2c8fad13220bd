// The election section of the agent's status: /status JSON and /metrics, from the fields the
// agent copies out of election_status (agent.cpp refresh_election_status).
#include "agent/status.hpp"
#include "agent/status_server.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

using namespace lifeboat::agent;
namespace json = boost::json;

namespace {

agent_status follower_status() {
    agent_status s;
    s.exporter.enabled = true;
    auto& e = s.election;
    e.enabled = true;
    e.role = "follower";
    e.leader = "node-b";
    e.term = 4;
    e.fencing = true;
    e.fencing_state = "enforced";
    e.candidates = {
        {.node_id = "node-a", .registration = "1767225600.5-node-a", .alive = true, .self = true},
        {.node_id = "node-b", .registration = "1767225500-node-b", .alive = true, .since_change_s = 1.5},
        {.node_id = "node-c", .registration = "1767225400-node-c", .alive = false, .since_change_s = 42}};
    e.next_round_in_s = 2.25;
    e.interval_s = 5;
    e.lease_s = 10;
    e.rounds = 17;
    e.failed_rounds = 1;
    e.elections_won = 0;
    e.leader_changes = 2;
    e.term_changes = 3;
    return s;
}

} // namespace

TEST(election_status, json_shows_leader_term_role_candidates_next_round_and_fencing) {
    const auto doc = to_json(follower_status());
    const auto& e = doc.at("election").as_object();
    EXPECT_EQ(e.at("role"), "follower");
    EXPECT_EQ(e.at("leader"), "node-b");
    EXPECT_EQ(e.at("is_leader"), false);
    EXPECT_EQ(e.at("term"), 4);
    EXPECT_EQ(e.at("my_term"), 0);
    EXPECT_EQ(e.at("fencing"), true);
    EXPECT_EQ(e.at("fencing_state"), "enforced");
    EXPECT_EQ(e.at("next_round_in_s"), 2.25);
    EXPECT_EQ(e.at("interval_s"), 5.0);
    EXPECT_EQ(e.at("lease_s"), 10.0);
    EXPECT_EQ(e.at("rounds"), 17);
    EXPECT_EQ(e.at("failed_rounds"), 1);
    EXPECT_EQ(e.at("elections_won"), 0);
    EXPECT_EQ(e.at("leader_changes"), 2);
    EXPECT_EQ(e.at("term_changes"), 3);
    EXPECT_TRUE(e.at("note").is_null());
    const auto& c = e.at("candidates").as_array();
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[0].at("node_id"), "node-a");
    EXPECT_EQ(c[0].at("self"), true);
    EXPECT_EQ(c[1].at("registration"), "1767225500-node-b");
    EXPECT_EQ(c[1].at("since_change_s"), 1.5);
    EXPECT_EQ(c[2].at("alive"), false);
}

TEST(election_status, a_store_without_conditional_writes_is_said_in_status_and_metrics) {
    auto s = follower_status();
    s.election.fencing = false;
    s.election.fencing_state = "unsupported";
    s.election.note = "the store ignores conditional writes";
    const auto doc = to_json(s);
    EXPECT_EQ(doc.at("election").at("fencing_state"), "unsupported");
    EXPECT_EQ(doc.at("election").at("note"), "the store ignores conditional writes");
    const auto m = to_prometheus(s);
    EXPECT_NE(m.find("lifeboat_election_fencing_enforced 0\n"), std::string::npos) << m;
}

TEST(election_status, metrics_count_rounds_elections_and_term_changes) {
    auto s = follower_status();
    const auto m = route_status_request(s, "GET", "/metrics").body;
    for (const char* line :
         {"# TYPE lifeboat_election_is_leader gauge\nlifeboat_election_is_leader 0\n",
          "lifeboat_election_term 4\n", "lifeboat_election_fencing_enforced 1\n",
          "lifeboat_election_candidates 2\n", "lifeboat_election_next_round_seconds 2.25\n",
          "# TYPE lifeboat_election_rounds_total counter\nlifeboat_election_rounds_total 17\n",
          "lifeboat_election_failed_rounds_total 1\n", "lifeboat_election_elections_won_total 0\n",
          "lifeboat_election_leader_changes_total 2\n", "lifeboat_election_term_changes_total 3\n"})
        EXPECT_NE(m.find(line), std::string::npos) << line << "\nin:\n" << m;

    // A node without export runs no election and shows no election metrics.
    agent_status off;
    EXPECT_EQ(to_prometheus(off).find("lifeboat_election_"), std::string::npos);
    EXPECT_EQ(to_json(off).at("election").at("role"), "disabled");
}

TEST(election_status, failing_rounds_and_an_unprobed_store_make_the_node_degraded) {
    auto s = follower_status();
    EXPECT_TRUE(s.degraded_reasons().empty());
    s.election.failing_rounds = 1; // retried within a quarter interval: not yet worth a look
    s.election.last_error = "list: timed out";
    EXPECT_TRUE(s.degraded_reasons().empty());
    s.election.failing_rounds = 2;
    ASSERT_EQ(s.degraded_reasons().size(), 1u);
    EXPECT_EQ(s.degraded_reasons()[0], "election rounds failing (2 in a row): list: timed out");
    EXPECT_EQ(to_json(s).at("election").at("failing_rounds"), 2);

    s.election.failing_rounds = 0;
    s.election.fencing = false;
    s.election.fencing_state = "unknown";
    s.election.last_error = "probe: AccessDenied";
    ASSERT_EQ(s.degraded_reasons().size(), 1u);
    EXPECT_NE(s.degraded_reasons()[0].find("could not be probed for conditional writes"), std::string::npos);
    // A store that ignores conditional writes is a property of the store, said in the status, not
    // a fault.
    s.election.fencing_state = "unsupported";
    s.election.note = "the store ignores conditional writes";
    EXPECT_TRUE(s.degraded_reasons().empty());
}
