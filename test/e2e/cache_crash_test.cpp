// Crash safety of the config cache (and, for streamed imports, of the gateway file): a child
// process writes configs in a loop and is killed with SIGKILL at random moments, many times.
// After every kill the cache must load as the old or the new config, never as a torn one.
#include "agent/config_cache.hpp"
#include "agent/config_pipeline.hpp"
#include "agent/handoff.hpp"
#include "base/atomic_file.hpp"
#include "harness/test_env.hpp"
#include "protocol/envelope.hpp"
#include "stores/sync.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <random>
#include <signal.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace lifeboat;

namespace {
std::string big_config(char tag, std::size_t services) {
    std::string s = R"({"_format_version":"3.0","services":[)";
    for (std::size_t i = 0; i < services; ++i)
        s += std::string(i ? "," : "") + R"({"name":"svc-)" + tag + std::to_string(i) +
             R"(","host":"h","port":80})";
    return s + "]}";
}
// When to kill a writer: at a random moment in a window that widens while kills land before the
// writer has finished anything (a loaded machine writes slowly), so that every run interrupts
// writes and commits, not only the start of the first write.
class kill_window {
public:
    kill_window(std::chrono::microseconds low, std::chrono::microseconds high, std::uint32_t seed)
        : low_(low)
        , high_(high)
        , rng_(seed) {}
    std::chrono::microseconds next() {
        return std::chrono::microseconds(
            std::uniform_int_distribution<std::int64_t>(low_.count(), high_.count())(rng_));
    }
    void saw_progress(bool progress) {
        if (!progress && high_ < std::chrono::seconds(3))
            high_ = high_ * 3 / 2;
    }

private:
    std::chrono::microseconds low_, high_;
    std::mt19937 rng_;
};
} // namespace

TEST(cache_crash, kill_9_during_writes_never_leaves_a_torn_cache) {
    const auto prefix = test::scratch_dir() / "prefix";
    std::vector<protocol::snapshot_ptr> configs;
    for (char tag : {'a', 'b', 'c'})
        configs.push_back(protocol::snapshot_from_config_table(big_config(tag, 40000),
                                                               protocol::config_source::control_plane)
                              .value()); // ~1.6 MB each: a write takes long enough to be interrupted
    std::set<std::string> hashes;
    for (auto& c : configs)
        hashes.insert(c->hash);

    kill_window window(std::chrono::microseconds(200), std::chrono::milliseconds(30), 12345);
    std::string previous;
    int changes = 0;
    for (int round = 0; round < 60; ++round) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            // Each round starts with another config than the last, so a completed write shows.
            agent::config_cache cache(prefix);
            for (std::size_t i = round;; ++i)
                if (!cache.store(*configs[i % configs.size()]))
                    ::_exit(3);
        }
        std::this_thread::sleep_for(window.next());
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        ASSERT_TRUE(WIFSIGNALED(status)) << "the writer failed on its own: " << status;

        auto r = agent::config_cache(prefix).load(64 << 20);
        ASSERT_NE(r.status, agent::cache_load_status::corrupt) << "round " << round << ": " << r.error;
        if (r.status == agent::cache_load_status::loaded) {
            EXPECT_TRUE(hashes.contains(r.snapshot->hash));
        } else {
            // Only before the first manifest was ever written: once there is a cache, a kill
            // leaves the old entry or the new one, never none.
            ASSERT_TRUE(previous.empty()) << "round " << round << ": the cache vanished";
        }
        const auto now = r.status == agent::cache_load_status::loaded ? r.snapshot->hash : std::string();
        window.saw_progress(now != previous);
        changes += now != previous;
        previous = now;
    }
    // Writes completed between the kills (so kills also landed in the middle of commits).
    EXPECT_GE(changes, 10);
    // Leftover temporary files never count as the cache and are not listed as configs.
    std::size_t configs_on_disk = 0;
    for (const auto& e : std::filesystem::directory_iterator(prefix))
        configs_on_disk += e.path().filename().string().starts_with("config-");
    EXPECT_LE(configs_on_disk, 2u);
}

TEST(cache_crash, a_corrupted_or_truncated_cache_is_detected_and_not_applied) {
    const auto prefix = test::scratch_dir() / "prefix";
    agent::config_cache cache(prefix);
    auto snap =
        protocol::snapshot_from_config_table(big_config('x', 10), protocol::config_source::control_plane)
            .value();
    ASSERT_TRUE(cache.store(*snap));
    auto good = cache.load(1 << 20);
    ASSERT_EQ(good.status, agent::cache_load_status::loaded);
    EXPECT_EQ(good.snapshot->hash, snap->hash);
    EXPECT_EQ(good.snapshot->source, protocol::config_source::cache);

    const auto file = prefix / ("config-" + snap->hash + ".json");
    std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
    auto torn = cache.load(1 << 20);
    EXPECT_EQ(torn.status, agent::cache_load_status::corrupt);
    EXPECT_NE(torn.error.find("torn write"), std::string::npos) << torn.error;

    ASSERT_TRUE(cache.store(*snap));
    {
        std::FILE* f = std::fopen(file.c_str(), "r+");
        std::fseek(f, 20, SEEK_SET);
        std::fputc('#', f);
        std::fclose(f);
    }
    auto flipped = cache.load(1 << 20);
    EXPECT_EQ(flipped.status, agent::cache_load_status::corrupt);
    EXPECT_NE(flipped.error.find("SHA-256"), std::string::npos) << flipped.error;
}

// The fallback import streams a config into the cache's and the gateway's temporary files while
// it downloads, and commits them only at the end, in an order that depends on whether the hash
// is known. Killed at any moment, the cache is the old entry or the new one and the gateway file
// is a whole config or absent, never a part.
TEST(cache_crash, kill_9_during_streamed_imports_never_leaves_a_torn_cache_or_gateway_file) {
    const auto dir = test::scratch_dir();
    agent::settings s;
    s.prefix = dir / "prefix";
    s.gateway_handoff = agent::handoff_kind::file;
    s.gateway_config_path = dir / "gateway.json";
    std::vector<std::string> texts;
    std::vector<protocol::config_hashes> exporter_hashes; // as an exporter's metadata gives them
    std::set<std::string> hashes;
    for (char tag : {'a', 'b', 'c'}) {
        texts.push_back(big_config(tag, 40000)); // ~1.6 MB: 25 pieces of 64 KiB
        hashes.insert(protocol::snapshot_from_config_table(texts.back(), protocol::config_source::fallback)
                          .value()
                          ->hash);
        exporter_hashes.push_back({std::string(32, static_cast<char>(tag + 3)), {}, {}, {}, {}, {}});
        hashes.insert(exporter_hashes.back().config);
    }

    // One import, streamed as the importer does, on a new node (an import only applies to a node
    // without a config); every other one comes with an exporter's hash.
    auto import_one = [&](std::size_t i) {
        boost::asio::io_context io;
        agent::agent_status status;
        agent::config_pipeline pipeline(io.get_executor(), s, status,
                                        agent::make_handoff(io.get_executor(), s));
        const auto& text = texts[i % texts.size()];
        auto in = pipeline.receive();
        in->start(text.size());
        for (std::size_t at = 0; at < text.size(); at += 64 * 1024)
            if (in->write(std::string_view(text).substr(at, 64 * 1024)))
                return false;
        return in->finish() &&
               test::run_sync(io, pipeline.apply_incoming(
                                      std::move(in), i % 2 ? &exporter_hashes[i % texts.size()] : nullptr));
    };
    ASSERT_TRUE(import_one(0)); // the old config every kill may fall back to

    kill_window window(std::chrono::milliseconds(1), std::chrono::milliseconds(150), 4242);
    std::string previous;
    int changes = 0;
    for (int round = 0; round < 50; ++round) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            for (std::size_t i = round + 1;; ++i) // another first import than the last round's
                if (!import_one(i))
                    ::_exit(3);
        }
        std::this_thread::sleep_for(window.next());
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        ASSERT_TRUE(WIFSIGNALED(status)) << "the importer failed on its own: " << WEXITSTATUS(status);

        auto r = agent::config_cache(s.prefix).load(64 << 20);
        ASSERT_EQ(r.status, agent::cache_load_status::loaded) << "round " << round << ": " << r.error;
        EXPECT_TRUE(hashes.contains(r.snapshot->hash)) << r.snapshot->hash;
        window.saw_progress(r.snapshot->hash != previous);
        changes += r.snapshot->hash != previous;
        previous = r.snapshot->hash;
        const auto gateway = read_whole_file(s.gateway_config_path);
        ASSERT_TRUE(gateway) << gateway.error();
        EXPECT_TRUE(std::find(texts.begin(), texts.end(), gateway.value()) != texts.end())
            << "round " << round << ": the gateway file is not a whole config (" << gateway->size()
            << " bytes)";
    }
    // Imports completed between the kills (so kills also landed in the middle of commits).
    EXPECT_GE(changes, 10);
}
