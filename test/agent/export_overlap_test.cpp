// A config from the CP is offered to the exporter (on_validated) before its cache entry is written,
// so the upload runs alongside the cache write and its fsyncs (issue 14, faster export), while the
// node's own state keeps its order: the config is accepted (on_applied, status, current()) only
// once the cache holds it, and a config the decoder refuses reaches neither hook.
#include "agent/config_pipeline.hpp"
#include "base/gzip.hpp"
#include "harness/test_env.hpp"
#include "protocol/envelope.hpp"
#include "stores/sync.hpp"

#include <boost/asio/io_context.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

using namespace lifeboat;
namespace fs = std::filesystem;

namespace {

std::string config_with(char tag, std::size_t services) {
    std::string s = R"({"_format_version":"3.0","services":[)";
    for (std::size_t i = 0; i < services; ++i)
        s += fmt::format(R"({}{{"name":"svc-{}{}","host":"h","port":80}})", i ? "," : "", tag, i);
    return s + "]}";
}

// What the CP sends: a gzipped reconfigure envelope, decoded as the session decodes it.
result<protocol::snapshot_ptr, std::string> from_cp(const std::string& table, char hash_digit) {
    const std::string hash(32, hash_digit);
    const protocol::config_hashes hashes{hash, hash, hash, hash, hash, hash};
    return protocol::decode_reconfigure_frame(
        gzip_compress(protocol::make_reconfigure_envelope(table, hashes, 1700000000)));
}

struct overlap_fixture : ::testing::Test {
    boost::asio::io_context io;
    fs::path dir = test::scratch_dir();
    agent::settings s;
    agent::agent_status status;
    std::unique_ptr<agent::config_pipeline> pipeline;
    // What each hook saw: which hook, the snapshot's hash, the cache's hash at that moment.
    struct seen {
        std::string hook, hash, cached_hash, current_hash;
    };
    std::vector<seen> events;

    void SetUp() override {
        s.prefix = dir / "prefix";
        pipeline = std::make_unique<agent::config_pipeline>(io.get_executor(), s, status, nullptr);
        auto record = [this](const char* hook) {
            return [this, hook](const protocol::snapshot_ptr& snap) {
                auto c = agent::config_cache(s.prefix).load(64 << 20);
                events.push_back({hook, snap->hash, c.snapshot ? c.snapshot->hash : std::string("none"),
                                  pipeline->current() ? pipeline->current()->hash : std::string("none")});
            };
        };
        pipeline->on_validated = record("validated");
        pipeline->on_applied = record("applied");
    }

    bool apply(protocol::snapshot_ptr snap) { return test::run_sync(io, pipeline->apply(std::move(snap))); }
};

} // namespace

TEST_F(overlap_fixture, the_exporter_is_offered_a_cp_config_before_its_cache_write_and_it_is_accepted_after) {
    auto first = from_cp(config_with('a', 200), '1');
    ASSERT_TRUE(first) << first.error();
    ASSERT_TRUE(apply(first.value()));
    auto second = from_cp(config_with('b', 200), '2');
    ASSERT_TRUE(second) << second.error();
    ASSERT_TRUE(apply(second.value()));

    const std::string h1(32, '1'), h2(32, '2');
    ASSERT_EQ(events.size(), 4u);
    // Offered while the cache still held the previous config (nothing, then the first)...
    EXPECT_EQ(events[0].hook, "validated");
    EXPECT_EQ(events[0].hash, h1);
    EXPECT_EQ(events[0].cached_hash, "none");
    EXPECT_EQ(events[0].current_hash, "none");
    // ...accepted once the cache holds it.
    EXPECT_EQ(events[1].hook, "applied");
    EXPECT_EQ(events[1].hash, h1);
    EXPECT_EQ(events[1].cached_hash, h1);
    EXPECT_EQ(events[1].current_hash, h1);
    EXPECT_EQ(events[2].hook, "validated");
    EXPECT_EQ(events[2].hash, h2);
    EXPECT_EQ(events[2].cached_hash, h1) << "the old cache entry stays until the new one is committed";
    EXPECT_EQ(events[2].current_hash, h1);
    EXPECT_EQ(events[3].hook, "applied");
    EXPECT_EQ(events[3].cached_hash, h2);
    EXPECT_EQ(status.cache.state, "written");
}

TEST_F(overlap_fixture, a_config_the_decoder_refuses_is_never_offered) {
    auto good = from_cp(config_with('a', 10), '1');
    ASSERT_TRUE(good) << good.error();
    ASSERT_TRUE(apply(good.value()));
    events.clear();
    // Valid JSON, not a declarative config: the session drops it before the pipeline sees it.
    auto bad = from_cp(R"({"_format_version":"3.0","services":[1]})", '2');
    ASSERT_FALSE(bad);
    EXPECT_TRUE(events.empty());
    EXPECT_EQ(agent::config_cache(s.prefix).load(64 << 20).snapshot->hash, std::string(32, '1'));
}

TEST_F(overlap_fixture, an_unwritable_cache_still_lets_the_config_through_both_hooks_in_order) {
    // A file where the prefix should be: every cache write fails (as it did before the overlap,
    // the config is still accepted and exported; the retry loop writes the cache later).
    fs::create_directories(dir);
    {
        std::FILE* f = std::fopen(s.prefix.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fclose(f);
    }
    auto snap = from_cp(config_with('c', 10), '3');
    ASSERT_TRUE(snap) << snap.error();
    ASSERT_TRUE(apply(snap.value()));
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].hook, "validated");
    EXPECT_EQ(events[1].hook, "applied");
    EXPECT_EQ(status.cache.state, "error");
}

TEST_F(overlap_fixture, a_config_from_the_cache_is_not_offered_again) {
    auto snap = from_cp(config_with('d', 10), '4');
    ASSERT_TRUE(snap) << snap.error();
    ASSERT_TRUE(apply(snap.value()));
    auto restarted = std::make_unique<agent::config_pipeline>(io.get_executor(), s, status, nullptr);
    bool offered = false;
    restarted->on_validated = [&](const protocol::snapshot_ptr&) { offered = true; };
    auto cached = test::run_sync(io, restarted->load_cache());
    ASSERT_TRUE(cached);
    ASSERT_TRUE(test::run_sync(io, restarted->apply(cached)));
    EXPECT_FALSE(offered);
}
