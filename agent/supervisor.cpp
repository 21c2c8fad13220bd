#include "agent/supervisor.hpp"

#include "base/log.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace lifeboat::agent {

namespace asio = boost::asio;

supervisor::supervisor(asio::any_io_executor executor, backoff_policy restart_backoff)
    : executor_(std::move(executor))
    , backoff_(restart_backoff)
    , all_done_(executor_) {}

void supervisor::spawn(std::string name, task_fn fn, kind k) {
    auto& t = tasks_.emplace_back();
    t.name = std::move(name);
    t.fn = std::move(fn);
    t.k = k;
    ++running_;
    asio::co_spawn(executor_, run(t),
                   asio::bind_cancellation_slot(t.signal.slot(), [this, &t](std::exception_ptr) {
                       t.done = true;
                       if (--running_ == 0)
                           all_done_.cancel();
                   }));
}

asio::awaitable<void> supervisor::run(task& t) {
    // Let the polite (total) cancellation reach the task's waits, not only the terminal one.
    co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
    unsigned failures = 0;
    while (!stopping_) {
        const auto started = std::chrono::steady_clock::now();
        std::string why;
        try {
            co_await t.fn();
            if (stopping_ || t.k == kind::one_shot)
                break;
            why = "returned unexpectedly";
        } catch (const boost::system::system_error& e) {
            if (stopping_)
                break;
            why = e.what();
        } catch (const std::exception& e) {
            if (stopping_)
                break;
            why = e.what();
        }
        // A task that ran healthy for a while starts its back-off afresh.
        if (std::chrono::steady_clock::now() - started > std::chrono::minutes(1))
            failures = 0;
        const auto delay = backoff_.delay(failures++, jitter_);
        log::error("task failed; restarting", "task", t.name, "error", why, "restart_in_ms",
                   std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
        asio::steady_timer timer(executor_, delay);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (stopping_ || ec)
            break;
        // Clear a cancellation that arrived while we slept so the restarted task starts clean.
        co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
        ++restarts_;
        if (on_restart)
            on_restart(t.name);
    }
}

void supervisor::emit(asio::cancellation_type type) {
    for (auto& t : tasks_)
        if (!t.done)
            t.signal.emit(type);
}

asio::awaitable<void> supervisor::shutdown(steady_duration grace) {
    stopping_ = true;
    if (running_ == 0)
        co_return;
    emit(asio::cancellation_type::total);
    all_done_.expires_after(grace);
    boost::system::error_code ec;
    co_await all_done_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (running_ == 0)
        co_return;
    std::string still;
    for (const auto& t : tasks_)
        if (!t.done)
            still += (still.empty() ? "" : ",") + t.name;
    log::warn("tasks still running after the grace period; cancelling them", "tasks", still);
    emit(asio::cancellation_type::terminal);
    all_done_.expires_after(std::chrono::seconds(5));
    co_await all_done_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void supervisor::stop_now() {
    stopping_ = true;
    emit(asio::cancellation_type::terminal);
}

} // namespace lifeboat::agent
