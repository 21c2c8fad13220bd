// Loading the cache at start (config_pipeline::load_cache, issue 14 item 1): reading a large
// cache entry, checking its SHA-256 and validating it take hundreds of ms of CPU, and run on the
// disk pool. The loop's own monitor (CPU time of the loop thread, which a loaded machine does not
// inflate) shows no stretch of work on the loop anywhere near what the load costs.
#include "agent/config_pipeline.hpp"
#include "agent/loop_monitor.hpp"
#include "harness/test_env.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

using namespace lifeboat;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// About `services` * 110 bytes of declarative config.
std::string big_config(std::size_t services) {
    std::string s = R"({"_format_version":"3.0","services":[)";
    s.reserve(services * 120);
    for (std::size_t i = 0; i < services; ++i)
        s += fmt::format(
            R"({}{{"name":"cached-service-{}","host":"upstream-{}.internal","port":8080,"tags":["t"]}})",
            i ? "," : "", i, i);
    return s + "]}";
}

struct loaded {
    protocol::snapshot_ptr snapshot;
    agent::loop_status loop;
};

loaded load_with_monitor(const agent::settings& s, agent::agent_status& status) {
    asio::io_context io;
    agent::config_pipeline pipeline(io.get_executor(), s, status, nullptr);
    loaded out;
    asio::cancellation_signal stop;
    asio::co_spawn(io, agent::monitor_loop(out.loop, 20ms),
                   asio::bind_cancellation_slot(stop.slot(), [](std::exception_ptr) {}));
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            out.snapshot = co_await pipeline.load_cache();
            stop.emit(asio::cancellation_type::all);
        },
        asio::detached);
    io.run();
    return out;
}

} // namespace

TEST(cache_load, a_large_cache_is_read_and_checked_on_the_disk_pool_not_the_loop) {
    agent::settings s;
    s.prefix = test::scratch_dir() / "prefix";
    s.cluster_max_config_size = std::size_t(256) << 20;
    const auto text = big_config(600'000); // about 60 MiB
    ASSERT_GT(text.size(), std::size_t(48) << 20);
    const protocol::config_hashes known{std::string(32, 'c'), {}, {}, {}, {}, {}};
    auto snapshot =
        protocol::snapshot_from_config_table(text, protocol::config_source::control_plane, &known);
    ASSERT_TRUE(snapshot) << snapshot.error();
    ASSERT_TRUE(agent::config_cache(s.prefix).store(*snapshot.value()));

    agent::agent_status status;
    const auto got = load_with_monitor(s, status);
    ASSERT_TRUE(got.snapshot);
    EXPECT_EQ(got.snapshot->hash, known.config);
    EXPECT_EQ(got.snapshot->size(), text.size());
    EXPECT_EQ(got.snapshot->source, protocol::config_source::cache);
    EXPECT_EQ(status.cache.state, "loaded");
    EXPECT_EQ(status.cache.hash, known.config);
    // Reading 60 MiB, its SHA-256 and its validation cost several hundred ms of CPU: on the loop,
    // one tick would show them all.
    EXPECT_LT(got.loop.max_busy_ms, 100) << "the cache was loaded on the event loop";
    EXPECT_GE(got.loop.ticks, 1u) << "the loop ticked while the cache loaded";
}

TEST(cache_load, an_empty_and_a_corrupt_cache_are_reported_as_before) {
    agent::settings s;
    s.prefix = test::scratch_dir() / "prefix";
    agent::agent_status status;
    EXPECT_FALSE(load_with_monitor(s, status).snapshot);
    EXPECT_EQ(status.cache.state, "empty");

    const protocol::config_hashes known{std::string(32, 'd'), {}, {}, {}, {}, {}};
    auto snapshot =
        protocol::snapshot_from_config_table(big_config(10), protocol::config_source::control_plane, &known);
    ASSERT_TRUE(agent::config_cache(s.prefix).store(*snapshot.value()));
    {
        // One byte changed in the cached file: its SHA-256 no longer matches the manifest.
        const auto file = s.prefix / ("config-" + known.config + ".json");
        auto bytes = read_whole_file(file).value();
        bytes[bytes.size() / 2] ^= 1;
        ASSERT_TRUE(write_file_atomically(file, bytes));
    }
    agent::agent_status corrupt_status;
    EXPECT_FALSE(load_with_monitor(s, corrupt_status).snapshot);
    EXPECT_EQ(corrupt_status.cache.state, "corrupt");
    EXPECT_NE(corrupt_status.cache.last_error.find("SHA-256"), std::string::npos)
        << corrupt_status.cache.last_error;
}
