// The backup watch (agent/backup_watch.hpp): when each node reads the backup's metadata, on a
// virtual clock, and what an answer makes of /status and /metrics.
#include "agent/backup_watch.hpp"

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace lifeboat::agent;
using namespace std::chrono_literals;

namespace {

using tp = backup_watch_schedule::time_point;
const tp t0 = tp(std::chrono::hours(1000)); // a virtual clock: nothing here reads the real one

backends::object_info object(wall_time written, std::string hash) {
    backends::object_info o;
    o.key = "kong/3.9.0.0/config.json";
    o.size = 1234;
    o.last_modified = written;
    o.metadata["lifeboat-config-hash"] = std::move(hash);
    o.metadata["uploader"] = "node-a";
    return o;
}

backends::store_error failure_of(backends::store_errc code) {
    backends::store_error e;
    e.code = code;
    e.message = "boom";
    e.operation = "HEAD bkt/kong/3.9.0.0/config.json";
    return e;
}

} // namespace

TEST(backup_watch_schedule, reads_at_once_then_every_interval) {
    backup_watch_schedule s(60s);
    ASSERT_TRUE(s.enabled());
    EXPECT_TRUE(s.due(t0));
    s.started();
    s.checked(t0 + 1s);
    EXPECT_FALSE(s.due(t0 + 30s));
    EXPECT_FALSE(s.due(t0 + 60s));
    EXPECT_TRUE(s.due(t0 + 61s));
    EXPECT_EQ(s.next(), t0 + 61s);
    // A failed read is read again after the same interval, not in a tight loop.
    s.started();
    s.checked(t0 + 62s);
    EXPECT_EQ(s.next(), t0 + 122s);
}

TEST(backup_watch_schedule, an_upload_is_read_back_at_once_even_during_a_read) {
    backup_watch_schedule s(60s);
    s.started();
    s.checked(t0);
    s.soon(t0 + 5s); // this node exported
    EXPECT_TRUE(s.due(t0 + 5s));
    // An upload while a HEAD is in flight: that HEAD may predate it, so read again after it.
    s.started();
    s.soon(t0 + 6s);
    EXPECT_FALSE(s.due(t0 + 6s)); // not two HEADs at once
    s.checked(t0 + 7s);
    EXPECT_TRUE(s.due(t0 + 7s));
    s.started();
    s.checked(t0 + 8s);
    EXPECT_EQ(s.next(), t0 + 68s);
}

TEST(backup_watch_schedule, interval_zero_never_reads) {
    backup_watch_schedule s(0ms);
    EXPECT_FALSE(s.enabled());
    EXPECT_FALSE(s.due(t0));
    EXPECT_EQ(s.next(), tp::max());
}

TEST(backup_watch, an_answer_gives_the_age_hash_and_holds_current) {
    agent_status st;
    st.backup.enabled = true;
    st.backup.interval_s = 60;
    const auto written = wall_clock::now() - 120s;
    const std::string key = "kong/3.9.0.0/config.json";
    record_backup_head(st.backup, key, object(written, "0123456789abcdef0123456789abcdef"),
                       wall_clock::now());
    EXPECT_EQ(st.backup.state, "present");
    EXPECT_EQ(st.backup.uploader, "node-a");
    auto j = to_json(st).at("backup").as_object();
    EXPECT_GE(j.at("age_s").as_double(), 119.0);
    EXPECT_LT(j.at("age_s").as_double(), 180.0);
    EXPECT_TRUE(j.at("holds_current").is_null()); // this node has no config yet
    st.config.hash = "0123456789abcdef0123456789abcdef";
    EXPECT_EQ(to_json(st).at("backup").at("holds_current"), true);
    auto metrics = to_prometheus(st);
    EXPECT_NE(metrics.find("lifeboat_backup_holds_current_config 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("lifeboat_backup_present 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("lifeboat_backup_age_seconds 1"), std::string::npos) << metrics; // 12x s
    st.config.hash = "ffffffffffffffffffffffffffffffff"; // the CP moved on, the bucket did not
    EXPECT_EQ(to_json(st).at("backup").at("holds_current"), false);
    EXPECT_NE(to_prometheus(st).find("lifeboat_backup_holds_current_config 0\n"), std::string::npos);
}

TEST(backup_watch, a_failed_read_keeps_the_last_figures_and_says_why) {
    backup_status b;
    const std::string key = "kong/3.9.0.0/config.json";
    const auto written = wall_clock::now() - 10s;
    record_backup_head(b, key, object(written, "h"), wall_clock::now());
    record_backup_head(b, key, lifeboat::failure{failure_of(backends::store_errc::network)},
                       wall_clock::now());
    EXPECT_EQ(b.state, "error");
    EXPECT_EQ(b.check_failures, 1u);
    EXPECT_EQ(b.checks, 2u);
    ASSERT_TRUE(b.written_at);
    EXPECT_EQ(*b.written_at, written); // its age keeps growing from what was seen
    EXPECT_NE(b.last_error.find("boom"), std::string::npos);
    // Gone from the bucket: nothing of it is kept.
    record_backup_head(b, key, lifeboat::failure{failure_of(backends::store_errc::not_found)},
                       wall_clock::now());
    EXPECT_EQ(b.state, "absent");
    EXPECT_FALSE(b.written_at);
    EXPECT_TRUE(b.last_error.empty());
}

TEST(backup_watch, another_key_forgets_the_former_objects_figures) {
    backup_status b;
    b.interval_s = 30;
    record_backup_head(b, "kong/3.9.0.0/config.json", object(wall_clock::now(), "h"), wall_clock::now());
    record_backup_head(b, "kong/3.9.0.1/config.json",
                       lifeboat::failure{failure_of(backends::store_errc::timeout)}, wall_clock::now());
    EXPECT_EQ(b.key, "kong/3.9.0.1/config.json");
    EXPECT_FALSE(b.written_at);
    EXPECT_TRUE(b.hash.empty());
    EXPECT_EQ(b.interval_s, 30);
    EXPECT_EQ(b.checks, 2u);
}
