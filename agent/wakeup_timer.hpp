// A sleep that another task can cut short: the importer and the exporter wait on one for their
// next attempt, and a new config (or the CP's answer) wakes them at once. Single-threaded, like
// the rest of the agent: wake() only reaches a task that is already waiting, so callers set their
// state first and check it before each wait().
#pragma once

#include "base/backoff.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace lifeboat::agent {

class wakeup_timer {
public:
    explicit wakeup_timer(boost::asio::any_io_executor executor)
        : timer_(std::move(executor), std::chrono::steady_clock::time_point::max()) {}

    void wake() { timer_.cancel(); }

    // Returns after `d` or when woken; throws operation_aborted only when the waiting task itself
    // is cancelled (a wake() is not a cancellation).
    boost::asio::awaitable<void> wait(steady_duration d) {
        namespace asio = boost::asio;
        timer_.expires_after(d);
        boost::system::error_code ec;
        co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        auto cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none)
            throw boost::system::system_error(asio::error::operation_aborted);
    }

private:
    boost::asio::steady_timer timer_;
};

} // namespace lifeboat::agent
