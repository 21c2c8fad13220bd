// Crash safety of the config cache: a child process writes configs into the cache in a loop and
// is killed with SIGKILL at random moments, many times. After every kill the cache must load as
// the old or the new config, never as a torn one.
#include "agent/config_cache.hpp"
#include "harness/test_env.hpp"
#include "protocol/envelope.hpp"

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

    std::mt19937 rng(12345);
    int loaded = 0, empty = 0;
    for (int round = 0; round < 60; ++round) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            agent::config_cache cache(prefix);
            for (std::size_t i = 0;; ++i)
                if (!cache.store(*configs[i % configs.size()]))
                    ::_exit(3);
        }
        std::this_thread::sleep_for(
            std::chrono::microseconds(std::uniform_int_distribution<int>(200, 30000)(rng)));
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        ASSERT_TRUE(WIFSIGNALED(status)) << "the writer failed on its own: " << status;

        auto r = agent::config_cache(prefix).load(64 << 20);
        ASSERT_NE(r.status, agent::cache_load_status::corrupt) << "round " << round << ": " << r.error;
        if (r.status == agent::cache_load_status::loaded) {
            ++loaded;
            EXPECT_TRUE(hashes.contains(r.snapshot->hash));
        } else {
            ++empty; // killed before the first manifest was ever written
        }
    }
    EXPECT_GT(loaded, 50);
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
