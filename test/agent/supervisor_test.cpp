#include "agent/supervisor.hpp"
#include "base/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {
asio::awaitable<void> sleep_for(steady_duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}
} // namespace

TEST(supervisor, polite_cancel_stops_waiting_tasks_within_the_grace) {
    asio::io_context io;
    agent::supervisor sup(io.get_executor());
    log::capture cap;
    int finished = 0;
    for (int i = 0; i < 3; ++i)
        sup.spawn("sleeper", [&]() -> asio::awaitable<void> {
            try {
                co_await sleep_for(1h);
            } catch (const boost::system::system_error&) {
                ++finished; // saw the polite cancellation
                throw;
            }
        });
    const auto start = std::chrono::steady_clock::now();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            co_await sleep_for(10ms);
            co_await sup.shutdown(5s);
        },
        asio::detached);
    io.run();
    EXPECT_EQ(finished, 3);
    EXPECT_EQ(sup.running(), 0u);
    // Within the grace: the polite cancel stopped them, the grace's terminal cancel was not needed
    // (an event, not a wall-clock bound a loaded machine could break).
    EXPECT_FALSE(cap.contains("tasks still running after the grace period"))
        << testing::PrintToString(cap.lines());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1min); // not the tasks' hour
}

TEST(supervisor, a_task_that_ignores_the_polite_cancel_is_stopped_after_the_grace) {
    asio::io_context io;
    agent::supervisor sup(io.get_executor());
    log::capture cap;
    sup.spawn("stubborn", [&]() -> asio::awaitable<void> {
        // Shields itself from the polite (total) cancellation; only terminal gets through.
        co_await asio::this_coro::reset_cancellation_state(asio::enable_terminal_cancellation());
        co_await sleep_for(1h);
    });
    const auto start = std::chrono::steady_clock::now();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            co_await sleep_for(10ms);
            co_await sup.shutdown(200ms);
        },
        asio::detached);
    io.run();
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(sup.running(), 0u);
    EXPECT_GE(took, 200ms); // the grace was given
    EXPECT_LT(took, 1min);  // and then the task was stopped, not left its hour
    EXPECT_TRUE(cap.contains("tasks still running after the grace period"))
        << testing::PrintToString(cap.lines());
    EXPECT_TRUE(cap.contains("tasks=stubborn"));
}

TEST(supervisor, a_failing_task_is_logged_and_restarted_with_backoff) {
    asio::io_context io;
    agent::supervisor sup(io.get_executor(), backoff_policy{10ms, 40ms, 5ms});
    log::capture cap;
    int runs = 0;
    sup.spawn("flaky", [&]() -> asio::awaitable<void> {
        ++runs;
        if (runs < 4)
            throw std::runtime_error("boom " + std::to_string(runs));
        // The fourth run stays: stop once it is reached (an event, not a time a loaded machine
        // could overrun), then check that no fifth one ever started.
        asio::co_spawn(io, sup.shutdown(1s), asio::detached);
        co_await sleep_for(1h);
    });
    io.run();
    EXPECT_EQ(runs, 4);
    EXPECT_EQ(sup.restarts(), 3u);
    EXPECT_TRUE(cap.contains(R"(msg="task failed; restarting" task=flaky error="boom 1")"))
        << testing::PrintToString(cap.lines());
    EXPECT_TRUE(cap.contains(R"(error="boom 3")"));
}

TEST(supervisor, a_task_that_returns_early_counts_as_a_failure) {
    asio::io_context io;
    agent::supervisor sup(io.get_executor(), backoff_policy{5ms, 5ms, 5ms});
    log::capture cap;
    int runs = 0;
    sup.spawn("quitter", [&]() -> asio::awaitable<void> {
        if (++runs > 2) {
            asio::co_spawn(io, sup.shutdown(1s), asio::detached); // the third run stays
            co_await sleep_for(1h);
        }
    });
    io.run();
    EXPECT_EQ(runs, 3);
    EXPECT_TRUE(cap.contains("error=\"returned unexpectedly\""));
}
