#include "agent/loop_monitor.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <ctime>

namespace lifeboat::agent {

namespace asio = boost::asio;

std::chrono::nanoseconds thread_cpu_time() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

asio::awaitable<void> monitor_loop(loop_status& status, std::chrono::milliseconds tick) {
    using ms = std::chrono::duration<double, std::milli>;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto due = std::chrono::steady_clock::now() + tick;
    auto cpu_before = thread_cpu_time();
    for (;;) {
        timer.expires_at(due);
        co_await timer.async_wait(asio::use_awaitable);
        const auto now = std::chrono::steady_clock::now();
        const auto cpu = thread_cpu_time();
        const double late = ms(std::max(now - due, std::chrono::steady_clock::duration::zero())).count();
        // Before `due` the thread can have used at most one tick of CPU; whatever it used beyond
        // that, it used past the due time without coming back to the timer: one stretch of work.
        const double busy = std::max(0.0, ms(cpu - cpu_before).count() - ms(tick).count());
        status.max_late_ms = std::max(status.max_late_ms, late);
        status.max_busy_ms = std::max(status.max_busy_ms, busy);
        if (busy >= loop_status::long_turn_ms)
            ++status.long_turns;
        ++status.ticks;
        cpu_before = cpu;
        // The next tick from now, not from `due`: after a stall, no burst of catch-up ticks.
        due = now + tick;
    }
}

} // namespace lifeboat::agent
