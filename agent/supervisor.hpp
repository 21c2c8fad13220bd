// Owns the agent's concurrent tasks and their cancellation.
//
// A task is a coroutine that runs until cancelled. If it throws, or returns while the agent is not
// stopping, the failure is logged and the task restarted after a jittered back-off: nothing fails
// silently and nothing spins. shutdown() stops everything the way Beast's
// advanced_server_flex_awaitable does: a polite (total) cancellation, a grace period, then a
// terminal cancellation for whatever is still running.
//
// Tasks that want the polite signal (to close a websocket cleanly, say) see it as
// operation_aborted on their current wait; the supervisor enables total cancellation for them.
#pragma once

#include "base/backoff.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <list>
#include <string>

namespace lifeboat::agent {

class supervisor {
public:
    using task_fn = std::function<boost::asio::awaitable<void>()>;

    explicit supervisor(boost::asio::any_io_executor executor, backoff_policy restart_backoff = {});
    supervisor(const supervisor&) = delete;
    supervisor& operator=(const supervisor&) = delete;

    // A task normally runs until cancelled; returning early counts as a failure. A `one_shot`
    // task (loading the cache at start, say) may finish; only an exception restarts it.
    enum class kind { long_running, one_shot };
    void spawn(std::string name, task_fn fn, kind k = kind::long_running);

    // Polite cancel, wait up to `grace`, then terminal cancel; completes when every task ended.
    boost::asio::awaitable<void> shutdown(steady_duration grace);
    // Terminal cancel at once (a second SIGTERM).
    void stop_now();

    bool stopping() const { return stopping_; }
    std::size_t running() const { return running_; }
    std::uint64_t restarts() const { return restarts_; }
    // Called after each restart (the agent counts them in /status).
    std::function<void(const std::string& task)> on_restart;

private:
    struct task {
        std::string name;
        task_fn fn;
        kind k = kind::long_running;
        boost::asio::cancellation_signal signal;
        bool done = false;
    };
    boost::asio::awaitable<void> run(task& t);
    void emit(boost::asio::cancellation_type type);

    boost::asio::any_io_executor executor_;
    backoff_policy backoff_;
    jitter jitter_;
    std::list<task> tasks_; // std::list: the signals must not move while tasks hold their slots
    bool stopping_ = false;
    std::size_t running_ = 0;
    std::uint64_t restarts_ = 0;
    boost::asio::steady_timer all_done_;
};

} // namespace lifeboat::agent
