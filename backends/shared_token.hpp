// A bearer token shared by every request of a store (GCS, Azure): the cache decides when to
// fetch (gcs::token_cache), and concurrent callers wait for the one fetch in progress instead of
// each starting their own.
#pragma once

#include "backends/gcs/gcs_auth.hpp"
#include "backends/object_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace lifeboat::backends {

class shared_token {
public:
    shared_token(const boost::asio::any_io_executor& executor, std::chrono::seconds refresh_margin)
        : tokens_(refresh_margin)
        , ready_(executor, boost::asio::steady_timer::time_point::max()) {}

    // The store got a 401 with `token`: the next caller fetches a new one.
    void invalidate(std::string_view token) { tokens_.invalidate(token); }

    // New credentials (SIGHUP): the cached token came from the old ones; the next caller fetches.
    void forget() {
        if (auto token = tokens_.valid_token(gcs::token_cache::clock::now()))
            tokens_.invalidate(*token);
    }

    // The current token, fetched with `fetch` (a coroutine returning
    // store_result<gcs::access_token>) when the cache says so. A caller that waited for another's
    // fetch gets that fetch's error, under its own operation's name.
    template <class Fetch>
    boost::asio::awaitable<store_result<std::string>> get(const std::string& operation, Fetch fetch) {
        using gcs::token_cache;
        for (;;) {
            auto decision = tokens_.need(token_cache::clock::now());
            if (decision.what == token_cache::action::use)
                co_return std::move(decision.token);
            if (decision.what == token_cache::action::wait) {
                const auto round = fetch_round_;
                boost::system::error_code ec;
                co_await ready_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
                if (failed_round_ == round)
                    co_return failure{named(failed_error_, operation)};
                continue;
            }
            const auto round = ++fetch_round_;
            auto fetched = co_await fetch();
            if (fetched) {
                auto token = fetched->token;
                tokens_.fetched(std::move(fetched).value(), token_cache::clock::now());
                ready_.cancel();
                co_return token;
            }
            tokens_.fetch_failed();
            failed_round_ = round;
            failed_error_ = fetched.error();
            ready_.cancel();
            if (auto still = tokens_.valid_token(token_cache::clock::now()))
                co_return std::move(*still); // the refresh failed but the old token has not expired
            co_return failure{named(fetched.error(), operation)};
        }
    }

private:
    static store_error named(store_error e, const std::string& operation) {
        e.operation = operation;
        return e;
    }

    gcs::token_cache tokens_;
    boost::asio::steady_timer ready_; // cancelled when a fetch finishes, to wake the waiters
    std::uint64_t fetch_round_ = 0;   // fetches started
    std::uint64_t failed_round_ = 0;  // the last fetch that failed, with its error
    store_error failed_error_;
};

} // namespace lifeboat::backends
