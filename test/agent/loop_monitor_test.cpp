// The agent's own measure of a stalled event loop (agent/loop_monitor.hpp). The figures asserted
// are CPU time of the loop thread, not wall-clock bounds: a loaded machine delays the thread but
// does not make it use more CPU, so these hold under CI's -j2.
#include "agent/loop_monitor.hpp"
#include "agent/status.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <thread>

using namespace lifeboat;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// Runs the monitor for a while on its own loop; `work` is posted to that loop once the monitor
// has ticked a few times.
agent::loop_status measure(const std::function<void()>& work) {
    asio::io_context io;
    agent::loop_status status;
    asio::cancellation_signal stop;
    asio::co_spawn(io, agent::monitor_loop(status, 20ms),
                   asio::bind_cancellation_slot(stop.slot(), [](std::exception_ptr) {}));
    asio::steady_timer at(io, 200ms);
    at.async_wait([&](boost::system::error_code) {
        work();
        // A few ticks after the work, then stop.
        at.expires_after(200ms);
        at.async_wait([&](boost::system::error_code) { stop.emit(asio::cancellation_type::all); });
    });
    io.run();
    return status;
}

// Works on the calling thread until it has used `cpu` of CPU time (not wall time: on a loaded
// machine this takes longer, and uses the same CPU).
void spin_for(std::chrono::milliseconds cpu) {
    const auto until = agent::thread_cpu_time() + cpu;
    volatile unsigned sink = 0;
    while (agent::thread_cpu_time() < until)
        for (int i = 0; i < 1000; ++i)
            sink = sink + i;
}

} // namespace

TEST(loop_monitor, a_long_turn_shows_as_busy_cpu_time_and_lateness) {
    const auto status = measure([] { spin_for(300ms); });
    EXPECT_GE(status.max_busy_ms, 250);
    EXPECT_GE(status.max_late_ms, 250);
    EXPECT_GE(status.long_turns, 1u);
    EXPECT_GE(status.ticks, 5u);
}

TEST(loop_monitor, short_turns_and_waiting_do_not_count_as_busy) {
    // The loop sleeps (a blocking wait, as a loaded machine that gives it no CPU would look):
    // late, but not busy.
    const auto status = measure([] {
        std::this_thread::sleep_for(300ms);
        spin_for(5ms);
    });
    EXPECT_GE(status.max_late_ms, 250);
    EXPECT_LT(status.max_busy_ms, 30);
    EXPECT_EQ(status.long_turns, 0u);
}

TEST(loop_monitor, the_figures_are_each_agents_own) {
    // Two agents in one process (as the tests run them): each /status and /metrics shows the
    // figures its own monitor keeps, not a process-wide set.
    agent::agent_status first;
    agent::agent_status second;
    first.loop.max_busy_ms = 7;
    first.loop.long_turns = 0;
    first.loop.ticks = 40;
    second.loop.max_busy_ms = 120;
    second.loop.long_turns = 2;
    second.loop.ticks = 3;
    const auto a = agent::to_json(first);
    const auto b = agent::to_json(second);
    EXPECT_EQ(a.at("loop").at("max_busy_ms").to_number<double>(), 7);
    EXPECT_EQ(a.at("loop").at("ticks").to_number<std::uint64_t>(), 40u);
    EXPECT_EQ(b.at("loop").at("max_busy_ms").to_number<double>(), 120);
    EXPECT_EQ(b.at("loop").at("long_turns").to_number<std::uint64_t>(), 2u);
    EXPECT_NE(agent::to_prometheus(first).find("lifeboat_loop_max_busy_seconds 0.007\n"), std::string::npos);
    EXPECT_NE(agent::to_prometheus(second).find("lifeboat_loop_long_turns_total 2\n"), std::string::npos);
}
