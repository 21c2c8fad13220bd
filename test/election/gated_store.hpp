// Wraps a real object_store to stand for one process's view of it: while `held`, every request
// of this process waits (as if the process were SIGSTOPped or its packets delayed), then goes to
// the real store. A waiting request can still be cancelled (the elector's per-request deadline).
#pragma once

#include "backends/object_store.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <string>

namespace lifeboat::test {

class gated_store final : public backends::object_store {
public:
    explicit gated_store(std::unique_ptr<backends::object_store> inner) : inner_(std::move(inner)) {}

    bool held = false;            // every request waits while this is set
    std::string hold_next_put_to; // the next PUT to this key sets `held` before it waits
    std::size_t requests = 0;
    // Time spent in requests that were not held (the store's own latency), for the bench.
    std::chrono::steady_clock::duration busy{};

    backends::store_kind kind() const override { return inner_->kind(); }
    std::string describe() const override { return inner_->describe(); }

    boost::asio::awaitable<backends::store_result<backends::object_info>> head(std::string key) override {
        co_await gate();
        timed t(*this);
        co_return co_await inner_->head(std::move(key));
    }
    boost::asio::awaitable<backends::store_result<backends::object_data>> get(std::string key,
                                                                              std::size_t max_size) override {
        co_await gate();
        timed t(*this);
        co_return co_await inner_->get(std::move(key), max_size);
    }
    boost::asio::awaitable<backends::store_result<backends::object_info>>
    get_streamed(std::string key, std::uint64_t max_size, backends::object_sink sink) override {
        co_await gate();
        timed t(*this);
        co_return co_await inner_->get_streamed(std::move(key), max_size, std::move(sink));
    }
    boost::asio::awaitable<backends::store_result<backends::object_info>>
    get_to_file(std::string key, std::filesystem::path target) override {
        co_await gate();
        co_return co_await inner_->get_to_file(std::move(key), std::move(target));
    }
    boost::asio::awaitable<backends::store_result<backends::object_info>>
    put(std::string key, backends::body_source body, backends::put_options options) override {
        if (!hold_next_put_to.empty() && key == hold_next_put_to) {
            hold_next_put_to.clear();
            held = true;
        }
        co_await gate();
        timed t(*this);
        co_return co_await inner_->put(std::move(key), std::move(body), std::move(options));
    }
    boost::asio::awaitable<backends::store_result<void>> remove(std::string key,
                                                                std::string expected) override {
        co_await gate();
        timed t(*this);
        co_return co_await inner_->remove(std::move(key), std::move(expected));
    }
    boost::asio::awaitable<backends::store_result<std::vector<backends::object_info>>>
    list(std::string prefix, std::size_t max_keys) override {
        co_await gate();
        timed t(*this);
        co_return co_await inner_->list(std::move(prefix), max_keys);
    }
    std::optional<wall_clock::time_point> last_server_date() const override {
        return inner_->last_server_date();
    }

private:
    struct timed {
        gated_store& s;
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        explicit timed(gated_store& store) : s(store) {}
        ~timed() { s.busy += std::chrono::steady_clock::now() - start; }
    };

    boost::asio::awaitable<void> gate() {
        ++requests;
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
        while (held) {
            t.expires_after(std::chrono::milliseconds(2));
            co_await t.async_wait(boost::asio::use_awaitable); // throws when cancelled
        }
    }

    std::unique_ptr<backends::object_store> inner_;
};

} // namespace lifeboat::test
