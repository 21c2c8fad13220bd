// Superseded signature objects (agent/signature_pruner.hpp): the decision on virtual times, then
// the pruning itself against the Ceph RGW fixture, including a reader that fetched the previous
// config.json just before it was overwritten.
#include "agent/signature_pruner.hpp"
#include "backends/backup_signature.hpp"
#include "backends/s3/s3_store.hpp"
#include "harness/rgw_store.hpp"
#include "harness/test_env.hpp"
#include "s3/run_async.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

using namespace lifeboat;
using namespace std::chrono_literals;

namespace {

const std::string config_key = "p/3.9.0.0/config.json";

backends::object_info object(std::string key, wall_clock::time_point at) {
    backends::object_info o;
    o.key = std::move(key);
    o.last_modified = at;
    return o;
}

std::string sig(std::string_view sha) {
    return backends::signature_key(config_key, sha);
}

struct plan_fixture : ::testing::Test {
    wall_clock::time_point t0 = wall_clock::time_point(std::chrono::seconds(1'800'000'000));
    backends::object_info current = [this] {
        auto o = object(config_key, t0);
        o.metadata[backends::signature_metadata::object_sha256] = "c";
        return o;
    }();
    std::vector<backends::object_info> listing{object(sig("a"), t0 - 20s), object(sig("b"), t0 - 1s),
                                               object(sig("c"), t0 - 1s), object(sig("d"), t0 + 5s)};
};

} // namespace

TEST_F(plan_fixture, nothing_goes_within_the_grace_after_config_json_was_replaced) {
    const auto plan = agent::plan_signature_pruning(listing, current, t0 + 1h - 1s, 1h, 10);
    EXPECT_TRUE(plan.keys.empty());
    EXPECT_FALSE(plan.more);
}

TEST_F(plan_fixture, after_the_grace_the_older_signatures_go_but_never_the_current_or_a_newer_one) {
    const auto plan = agent::plan_signature_pruning(listing, current, t0 + 1h, 1h, 10);
    EXPECT_EQ(plan.keys, (std::vector<std::string>{sig("a"), sig("b")}));
    EXPECT_FALSE(plan.more);
}

TEST_F(plan_fixture, a_round_is_bounded_and_says_more_are_left) {
    const auto plan = agent::plan_signature_pruning(listing, current, t0 + 2h, 1h, 1);
    EXPECT_EQ(plan.keys, (std::vector<std::string>{sig("a")}));
    EXPECT_TRUE(plan.more);
}

TEST_F(plan_fixture, a_config_json_without_its_signature_name_stops_the_pruning) {
    current.metadata.clear(); // Kong's own object: which signature is current is unknown
    EXPECT_TRUE(agent::plan_signature_pruning(listing, current, t0 + 2h, 1h, 10).keys.empty());
}

TEST_F(plan_fixture, objects_that_are_not_signatures_stay) {
    listing.push_back(object("p/3.9.0.0/signatures/notes.txt", t0 - 1h));
    const auto plan = agent::plan_signature_pruning(listing, current, t0 + 2h, 1h, 10);
    EXPECT_EQ(plan.keys, (std::vector<std::string>{sig("a"), sig("b")}));
}

namespace {

struct rgw_pruning : ::testing::Test {
    boost::asio::io_context ioc;
    std::string key = "signature-pruner/" + test::unique_suffix() + "/3.9.0.0/config.json";
    std::unique_ptr<backends::object_store> store = s3::make_s3_store(
        ioc.get_executor(),
        s3::s3_options::from_environment(test::rgw().bucket, test::rgw_store_environment()).value());

    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }
    std::string sha(char c) const { return std::string(64, c); }
    void put_signature(char c) {
        ASSERT_TRUE(run(store->put(backends::signature_key(key, sha(c)),
                                   backends::body_source::from_string("manifest " + sha(c) + "\n"), {})));
    }
    // config.json as an exporter writes it: its signature named in the metadata.
    void put_config(char c) {
        backends::put_options o;
        o.content_type = "application/json";
        o.metadata[backends::signature_metadata::object_sha256] = sha(c);
        ASSERT_TRUE(run(
            store->put(key, backends::body_source::from_string("{\"config\":\"" + std::string(1, c) + "\"}"),
                       std::move(o))));
    }
    std::vector<std::string> signatures() {
        auto folder = backends::signature_key(key, "");
        folder.resize(folder.size() - 4);
        auto l = run(store->list(folder));
        EXPECT_TRUE(l.ok());
        std::vector<std::string> out;
        for (const auto& o : l.value())
            out.push_back(o.key);
        std::sort(out.begin(), out.end());
        return out;
    }
    ~rgw_pruning() override {
        for (const auto& k : signatures())
            (void)run(store->remove(k));
        (void)run(store->remove(key));
    }
};

} // namespace

TEST_F(rgw_pruning, a_reader_of_the_replaced_config_still_finds_its_signature_then_the_old_ones_go) {
    put_signature('a');
    put_config('a');
    put_signature('b');
    put_config('b');
    // A reader fetches config.json (b) ...
    auto read = run(store->get(key, 1 << 20));
    ASSERT_TRUE(read.ok());
    ASSERT_EQ(read->bytes, "{\"config\":\"b\"}");
    // ... and the exporter replaces it. LastModified has one-second steps in a HEAD: a second
    // apart, so the old signatures are strictly older than the new config.json.
    std::this_thread::sleep_for(1100ms);
    put_signature('c');
    put_config('c');
    // An export in flight: its signature is written, its config.json not yet.
    put_signature('d');

    // The exporter prunes with the real grace: the reader's signature stays.
    auto within = run(agent::prune_superseded_signatures(*store, key, agent::superseded_signature_grace));
    EXPECT_TRUE(within.error.empty()) << within.error;
    EXPECT_EQ(within.deleted, 0u);
    auto theirs = run(store->get(backends::signature_key(key, sha('b')), 4096));
    ASSERT_TRUE(theirs.ok()) << theirs.error().to_string();

    // Once the grace has passed (0 here), the superseded ones go; the current and the newer stay.
    auto after = run(agent::prune_superseded_signatures(*store, key, 0s));
    EXPECT_TRUE(after.error.empty()) << after.error;
    EXPECT_EQ(after.deleted, 2u);
    EXPECT_FALSE(after.more);
    EXPECT_EQ(signatures(), (std::vector<std::string>{backends::signature_key(key, sha('c')),
                                                      backends::signature_key(key, sha('d'))}));
}

TEST_F(rgw_pruning, rounds_are_bounded_until_only_the_current_signature_is_left) {
    for (char c : std::string("abcdefg"))
        put_signature(c);
    std::this_thread::sleep_for(1100ms);
    put_signature('h');
    put_config('h');
    std::size_t rounds = 0, deleted = 0;
    for (bool more = true; more; ++rounds) {
        ASSERT_LT(rounds, 10u);
        auto r = run(agent::prune_superseded_signatures(*store, key, 0s, 3));
        ASSERT_TRUE(r.error.empty()) << r.error;
        EXPECT_LE(r.deleted, 3u);
        deleted += r.deleted;
        more = r.more;
    }
    EXPECT_EQ(deleted, 7u);
    EXPECT_GE(rounds, 3u);
    EXPECT_EQ(signatures(), (std::vector<std::string>{backends::signature_key(key, sha('h'))}));
}

TEST_F(rgw_pruning, kongs_config_json_without_the_signature_name_prunes_nothing) {
    put_signature('a');
    std::this_thread::sleep_for(1100ms);
    ASSERT_TRUE(run(store->put(key, backends::body_source::from_string("{}"), {})));
    auto r = run(agent::prune_superseded_signatures(*store, key, 0s));
    EXPECT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.deleted, 0u);
    EXPECT_EQ(signatures().size(), 1u);
}
