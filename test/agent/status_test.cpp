#include "agent/json_text.hpp"
#include "agent/status.hpp"
#include "agent/status_server.hpp"
#include "base/atomic_file.hpp"
#include "harness/test_env.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <sstream>

using namespace lifeboat;
using namespace lifeboat::agent;
namespace json = boost::json;

TEST(status, json_has_every_documented_field) {
    agent_status s;
    s.node_id = "3f1c0a52-9d4e-4a8e-8f0b-2b1e6c0d9a71";
    s.node_version = "3.6.0.0";
    const auto doc = to_json(s);
    for (const char* key : {"node_id", "version", "node_version", "health", "ready", "roles", "control_plane",
                            "config", "cache", "handoff", "import", "election", "export"})
        EXPECT_TRUE(doc.contains(key)) << key;
    const auto& cp = doc.at("control_plane").as_object();
    for (const char* key : {"state", "since", "last_pong", "reconnects", "next_attempt_at", "rtt_ms"})
        EXPECT_TRUE(cp.contains(key)) << key;
    const auto& cfg = doc.at("config").as_object();
    for (const char* key : {"hash", "source", "applied_at"})
        EXPECT_TRUE(cfg.contains(key)) << key;
    const auto& el = doc.at("election").as_object();
    for (const char* key : {"leader", "is_leader", "term", "role"})
        EXPECT_TRUE(el.contains(key)) << key;
    const auto& ex = doc.at("export").as_object();
    for (const char* key : {"last_hash", "last_at", "failures"})
        EXPECT_TRUE(ex.contains(key)) << key;
    EXPECT_EQ(doc.at("roles").at("import"), false);
    EXPECT_EQ(doc.at("config").at("source"), "none");
    EXPECT_TRUE(doc.at("config").at("hash").is_null());

    // Every field docs/operations.md documents ("The status document": a table per section, each
    // row naming its fields in backquotes) is in the document, null or not.
    auto text = read_whole_file(test::source_dir() / "docs" / "operations.md");
    ASSERT_TRUE(text) << text.error();
    std::istringstream in(text.value());
    std::string line, section;
    bool inside = false;
    std::size_t checked = 0;
    while (std::getline(in, line)) {
        if (line.starts_with("## ")) {
            inside = line == "## The status document";
            continue;
        }
        if (!inside)
            continue;
        if (line.starts_with("Top level:")) {
            section.clear();
        } else if (line.starts_with("`")) {
            section = line.substr(1, line.find('`', 1) - 1); // "`cache` (...):" starts a section
        } else if (line.starts_with("| `")) {
            const auto cell = line.substr(2, line.find('|', 2) - 2);
            for (std::size_t at = cell.find('`'); at != std::string::npos; at = cell.find('`', at)) {
                const auto end = cell.find('`', at + 1);
                std::string name = cell.substr(at + 1, end - at - 1);
                at = end + 1;
                const json::object* where = section.empty()            ? &doc
                                            : doc.if_contains(section) ? doc.at(section).if_object()
                                                                       : nullptr;
                ASSERT_NE(where, nullptr) << "section " << section;
                if (const auto dot = name.find('.'); dot != std::string::npos) { // roles.import
                    ASSERT_TRUE(where->contains(name.substr(0, dot))) << name;
                    where = where->at(name.substr(0, dot)).if_object();
                    ASSERT_NE(where, nullptr) << name;
                    name = name.substr(dot + 1);
                }
                EXPECT_TRUE(where->contains(name))
                    << (section.empty() ? "" : section + ".") << name << " is documented but not in /status";
                ++checked;
            }
        }
    }
    EXPECT_GT(checked, 100u) << "the field tables of docs/operations.md were not found";
}

TEST(status, health_and_readiness_follow_the_sections) {
    agent_status s;
    std::string why;
    EXPECT_TRUE(s.degraded_reasons().empty());
    EXPECT_FALSE(s.ready(why));
    EXPECT_EQ(why, "no config yet");

    s.control_plane.state = "disconnected";
    s.control_plane.last_error = "connection refused";
    s.config.source = "fallback";
    s.config.hash = std::string(32, 'a');
    s.handoff.kind = "file";
    s.handoff.state = "ok";
    const auto reasons = s.degraded_reasons();
    ASSERT_EQ(reasons.size(), 2u);
    EXPECT_EQ(reasons[0], "control plane disconnected: connection refused");
    EXPECT_TRUE(s.ready(why));
    EXPECT_EQ(why, "serving the fallback config from the bucket");
    EXPECT_EQ(to_json(s).at("health"), "degraded");

    s.handoff.state = "failed";
    s.handoff.last_error = "reload exited 1";
    EXPECT_FALSE(s.ready(why));
}

TEST(status, routes) {
    agent_status s;
    auto r = route_status_request(s, "GET", "/status");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_TRUE(json::parse(r.body).is_object());
    EXPECT_EQ(route_status_request(s, "GET", "/readyz").status, 503u);
    s.config.source = "cache";
    EXPECT_EQ(route_status_request(s, "GET", "/readyz?verbose").status, 200u);
    EXPECT_EQ(route_status_request(s, "GET", "/healthz").status, 200u);
    EXPECT_EQ(route_status_request(s, "POST", "/status").status, 405u);
    EXPECT_EQ(route_status_request(s, "GET", "/nope").status, 404u);
    const auto m = route_status_request(s, "GET", "/metrics");
    EXPECT_NE(m.body.find("# TYPE lifeboat_ready gauge\nlifeboat_ready 1\n"), std::string::npos) << m.body;
    EXPECT_NE(m.body.find("lifeboat_config_info{hash=\"\",source=\"cache\"} 1"), std::string::npos) << m.body;
}

// Issue #19: names from the bucket are not necessarily UTF-8, and there may be any number of them.
TEST(status, status_json_is_valid_whatever_the_bucket_holds) {
    EXPECT_EQ(valid_utf8("1.0-node"), "1.0-node");
    EXPECT_EQ(valid_utf8("1.0-\xff"), "1.0-\\xff");
    EXPECT_EQ(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\xa4"),
              "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\xa4");
    EXPECT_EQ(valid_utf8("\xc3"), "\\xc3");                            // truncated sequence
    EXPECT_EQ(valid_utf8("\xc0\xaf"), "\\xc0\\xaf");                   // overlong '/'
    EXPECT_EQ(valid_utf8("\xed\xa0\x80"), "\\xed\\xa0\\x80");          // a surrogate
    EXPECT_EQ(valid_utf8("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); // above U+10FFFF

    agent_status s;
    s.election.enabled = true;
    election_candidate odd;
    odd.node_id = "\xff";
    odd.registration = "1.0-\xff";
    s.election.candidates.push_back(odd);
    for (int i = 0; i < 1000; ++i) {
        election_candidate c;
        c.node_id = "n" + std::to_string(i);
        c.registration = "2." + std::to_string(i) + "-" + c.node_id;
        c.alive = i % 100 == 0; // 10 live ones
        s.election.candidates.push_back(c);
    }
    election_candidate me;
    me.self = true;
    me.alive = true;
    me.node_id = "me";
    me.registration = "3.0-me";
    s.election.candidates.push_back(me);

    {
        json::value direct = to_json(s);
        make_valid_utf8(direct);
        const auto text = json::serialize(direct);
        EXPECT_EQ(text.find('\xff'), std::string::npos) << "make_valid_utf8";
        EXPECT_EQ(serialize_valid(to_json(s)).find('\xff'), std::string::npos) << "serialize_valid";
    }
    const auto reply = route_status_request(s, "GET", "/status");
    boost::system::error_code ec;
    auto doc = json::parse(reply.body, ec);
    ASSERT_FALSE(ec) << "invalid JSON: " << ec.message();
    const auto& el = doc.at("election").as_object();
    const auto& shown = el.at("candidates").as_array();
    ASSERT_EQ(shown.size(), max_status_candidates);
    EXPECT_EQ(el.at("candidates_not_shown").to_number<std::size_t>(), 1002 - max_status_candidates);
    // This node and every live one come first.
    std::size_t live = 0;
    bool self_shown = false;
    for (std::size_t i = 0; i < 11; ++i) {
        live += shown[i].at("alive").as_bool();
        self_shown = self_shown || shown[i].at("self").as_bool();
    }
    EXPECT_EQ(live, 11u);
    EXPECT_TRUE(self_shown);
    bool odd_shown = false;
    for (const auto& c : shown)
        odd_shown = odd_shown || c.at("registration") == "1.0-\\xff";
    EXPECT_TRUE(odd_shown);
    EXPECT_LT(reply.body.size(), 32u * 1024);
}
