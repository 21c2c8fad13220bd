// A config streamed into the pipeline piece by piece (what the fallback import does with the
// bucket's object): it reaches the cache and the gateway exactly as a whole config would, in the
// order its hash allows, and a refused, restarted or overtaken one leaves nothing behind.
// A reload command that copies what it sees shows the state at the moment of the hand-off.
#include "agent/config_pipeline.hpp"
#include "agent/handoff.hpp"
#include "base/atomic_file.hpp"
#include "harness/test_env.hpp"
#include "protocol/envelope.hpp"
#include "protocol/kong_hash.hpp"
#include "stores/sync.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>

using namespace lifeboat;
namespace fs = std::filesystem;

namespace {

// A declarative config of about `services` * 60 bytes.
std::string config_with(char tag, std::size_t services) {
    std::string s = R"({"_format_version":"3.0","services":[)";
    for (std::size_t i = 0; i < services; ++i)
        s +=
            fmt::format(R"({}{{"name":"svc-{}{}","host":"h","port":80,"tags":["t"]}})", i ? "," : "", tag, i);
    return s + R"(],"consumers":[{"username":"u"}]})";
}

std::string kong_hash_of(const std::string& text) {
    return protocol::kong_config_hashes(boost::json::parse(text).get_object()).config;
}

struct incoming_fixture : ::testing::Test {
    boost::asio::io_context io;
    fs::path dir = test::scratch_dir();
    fs::path gateway = dir / "gw" / "kong.json";
    agent::settings s;
    agent::agent_status status;
    std::unique_ptr<agent::config_pipeline> pipeline;

    void SetUp() override {
        fs::create_directories(gateway.parent_path());
        s.prefix = dir / "prefix";
        s.gateway_handoff = agent::handoff_kind::file;
        s.gateway_config_path = gateway;
        // What the gateway and the cache hold when the gateway is told to reload.
        s.gateway_reload_command = fmt::format("cp {} {}; ls -a {} > {} 2>/dev/null; true", gateway.string(),
                                               (dir / "gateway-at-reload").string(), s.prefix.string(),
                                               (dir / "cache-at-reload").string());
        pipeline = std::make_unique<agent::config_pipeline>(io.get_executor(), s, status,
                                                            agent::make_handoff(io.get_executor(), s));
    }

    // Streams `text` in pieces of `piece` bytes; the first refusal, if any.
    std::optional<std::string> stream(agent::incoming_config& in, std::string_view text, std::size_t piece) {
        in.start(text.size());
        for (std::size_t at = 0; at < text.size(); at += piece)
            if (auto refused = in.write(text.substr(at, piece)))
                return refused;
        return std::nullopt;
    }

    bool apply(std::unique_ptr<agent::incoming_config> in, const protocol::config_hashes* known) {
        return test::run_sync(io, pipeline->apply_incoming(std::move(in), known));
    }

    static std::string text_of(const fs::path& p) {
        auto r = read_whole_file(p);
        return r ? r.value() : std::string("<none>");
    }
    // Which cache files existed when the gateway was told to reload.
    bool cache_existed_at_reload() const {
        return text_of(dir / "cache-at-reload").find("cache.json") != std::string::npos;
    }
    agent::cache_load_result cache() const { return agent::config_cache(s.prefix).load(64 << 20); }
};

} // namespace

TEST_F(incoming_fixture, kongs_object_reaches_the_gateway_first_then_the_cache_under_kongs_hash) {
    const auto text = config_with('a', 30000); // ~1.8 MB, many pieces
    auto in = pipeline->receive();
    ASSERT_EQ(stream(*in, text, 100 * 1000), std::nullopt);
    ASSERT_TRUE(in->finish());
    EXPECT_TRUE(fs::exists(gateway) == false) << "nothing is visible before the apply";
    ASSERT_TRUE(apply(std::move(in), nullptr));

    EXPECT_TRUE(text_of(gateway) == text);
    // The gateway had all of it when told to reload, and the cache entry did not exist yet: it is
    // named by Kong's hash, computed after the hand-off.
    EXPECT_TRUE(text_of(dir / "gateway-at-reload") == text);
    EXPECT_FALSE(cache_existed_at_reload()) << text_of(dir / "cache-at-reload");
    const auto hash = kong_hash_of(text);
    auto cached = cache();
    ASSERT_EQ(cached.status, agent::cache_load_status::loaded) << cached.error;
    EXPECT_EQ(cached.snapshot->hash, hash);
    EXPECT_EQ(cached.snapshot->config_json, text);
    ASSERT_TRUE(pipeline->current());
    EXPECT_EQ(pipeline->current()->hash, hash);
    EXPECT_EQ(pipeline->current()->source, protocol::config_source::fallback);
    EXPECT_EQ(status.config.hash, hash);
    EXPECT_EQ(status.handoff.state, "ok");
    EXPECT_EQ(status.handoff.hash, hash);
    EXPECT_EQ(status.cache.state, "written");
    EXPECT_TRUE(test::temporary_files(s.prefix).empty());
    EXPECT_TRUE(test::temporary_files(gateway.parent_path()).empty());
}

TEST_F(incoming_fixture, with_the_hash_known_the_gateway_still_comes_first_and_the_cache_takes_that_hash) {
    const auto text = config_with('b', 2000);
    protocol::config_hashes known{std::string(32, 'b'), {}, {}, {}, {}, {}};
    auto in = pipeline->receive();
    ASSERT_EQ(stream(*in, text, 4096), std::nullopt);
    ASSERT_TRUE(in->finish());
    ASSERT_TRUE(apply(std::move(in), &known));
    EXPECT_TRUE(text_of(gateway) == text);
    // The cache entry (its SHA-256, fsyncs, manifest) waits until the gateway has the config.
    EXPECT_TRUE(text_of(dir / "gateway-at-reload") == text);
    EXPECT_FALSE(cache_existed_at_reload()) << text_of(dir / "cache-at-reload");
    auto cached = cache();
    ASSERT_EQ(cached.status, agent::cache_load_status::loaded) << cached.error;
    EXPECT_EQ(cached.snapshot->hash, known.config);
    EXPECT_EQ(pipeline->current()->hash, known.config);
    EXPECT_EQ(status.handoff.hash, known.config);
}

TEST_F(incoming_fixture, an_invalid_piece_stops_it_and_nothing_changes) {
    ASSERT_TRUE(write_file_atomically(gateway, "the gateway's last good config", 0640));
    const auto good = config_with('c', 20000);
    // Valid for 600 kB, then not an object where an entity must be.
    const auto bad = good.substr(0, good.find("},{", good.size() / 2) + 1) + R"(,7]})";
    auto in = pipeline->receive();
    const auto refused = stream(*in, bad, 64 * 1024);
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(*refused, "services[" + std::to_string(std::count(bad.begin(), bad.end(), '{') - 1) +
                            "] is a number, expected an object");
    EXPECT_EQ(in->invalid_reason(), *refused);
    in.reset(); // the import gives up on it

    EXPECT_EQ(text_of(gateway), "the gateway's last good config");
    EXPECT_EQ(cache().status, agent::cache_load_status::empty);
    EXPECT_FALSE(pipeline->has_config());
    EXPECT_TRUE(test::temporary_files(s.prefix).empty()) << test::temporary_files(s.prefix).front();
    EXPECT_TRUE(test::temporary_files(gateway.parent_path()).empty());
    EXPECT_FALSE(fs::exists(dir / "gateway-at-reload")); // the gateway was never told to reload
}

TEST_F(incoming_fixture, a_text_that_ends_early_is_refused_at_the_end) {
    const auto good = config_with('d', 500);
    auto in = pipeline->receive();
    ASSERT_EQ(stream(*in, good.substr(0, good.size() - 2), 1000), std::nullopt);
    auto finished = in->finish();
    ASSERT_FALSE(finished);
    EXPECT_NE(finished.error().find("incomplete"), std::string::npos) << finished.error();
    in.reset();
    EXPECT_FALSE(fs::exists(gateway));
    EXPECT_EQ(cache().status, agent::cache_load_status::empty);
    EXPECT_TRUE(test::temporary_files(s.prefix).empty());
    EXPECT_TRUE(test::temporary_files(gateway.parent_path()).empty());
}

TEST_F(incoming_fixture, a_retried_download_starts_over) {
    const auto first = config_with('e', 3000);
    const auto second = config_with('f', 2000);
    auto in = pipeline->receive();
    in->start(first.size());
    ASSERT_EQ(in->write(first.substr(0, first.size() / 2)), std::nullopt); // cut off mid-way
    ASSERT_EQ(stream(*in, second, 10000), std::nullopt);                   // the retry
    ASSERT_TRUE(in->finish());
    ASSERT_TRUE(apply(std::move(in), nullptr));
    EXPECT_TRUE(text_of(gateway) == second);
    auto cached = cache();
    ASSERT_EQ(cached.status, agent::cache_load_status::loaded) << cached.error;
    EXPECT_EQ(cached.snapshot->hash, kong_hash_of(second));
    EXPECT_TRUE(test::temporary_files(s.prefix).empty());
    EXPECT_TRUE(test::temporary_files(gateway.parent_path()).empty());
}

TEST_F(incoming_fixture, a_config_that_arrived_meanwhile_wins_and_the_backup_leaves_nothing) {
    const auto backup = config_with('g', 2000);
    auto in = pipeline->receive();
    ASSERT_EQ(stream(*in, backup, 10000), std::nullopt);
    ASSERT_TRUE(in->finish());
    // The CP answers before the backup is applied.
    const auto cp_text = config_with('h', 10);
    auto cp = protocol::snapshot_from_config_table(cp_text, protocol::config_source::control_plane).value();
    ASSERT_TRUE(test::run_sync(io, pipeline->apply(cp)));
    EXPECT_FALSE(apply(std::move(in), nullptr));
    EXPECT_TRUE(text_of(gateway) == cp_text);
    EXPECT_EQ(pipeline->current()->source, protocol::config_source::control_plane);
    EXPECT_EQ(cache().snapshot->hash, cp->hash);
    EXPECT_TRUE(test::temporary_files(s.prefix).empty());
    EXPECT_TRUE(test::temporary_files(gateway.parent_path()).empty());
}

TEST_F(incoming_fixture, an_unwritable_cache_does_not_keep_the_config_from_the_gateway) {
    // The prefix is a file: no temporary file, no cache entry, but the gateway gets the config.
    ASSERT_TRUE(write_file_atomically(s.prefix, "not a directory"));
    const auto text = config_with('i', 100);
    auto in = pipeline->receive();
    ASSERT_EQ(stream(*in, text, 1000), std::nullopt);
    ASSERT_TRUE(in->finish());
    EXPECT_TRUE(apply(std::move(in), nullptr));
    EXPECT_TRUE(text_of(gateway) == text);
    EXPECT_EQ(status.cache.state, "error");
    EXPECT_FALSE(status.cache.last_error.empty());
    EXPECT_EQ(status.handoff.state, "ok");
}
