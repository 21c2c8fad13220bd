// A store for tests that forwards to a real one, with hooks that bend the rules the way broken
// or restricted stores do (ignored conditions, denied writes, a skewed clock).
#pragma once

#include "backends/object_store.hpp"

#include <functional>
#include <memory>
#include <optional>

namespace lifeboat::backends {

// Forwards to a real store, with hooks that bend the rules the way broken stores do.
class bent_store : public object_store {
public:
    explicit bent_store(std::unique_ptr<object_store> inner) : inner_(std::move(inner)) {}

    std::function<void(put_options&)> rewrite_put; // e.g. drop the condition
    std::function<std::optional<store_error>()> fail_remove;
    std::function<std::optional<store_error>(const put_options&)> fail_put;
    bool constant_version = false;
    std::optional<wall_clock::time_point> server_date; // what last_server_date() reports
    std::function<std::optional<store_error>()> fail_list;
    std::optional<store_kind> kind_override;

    store_kind kind() const override { return kind_override.value_or(inner_->kind()); }
    std::string describe() const override { return "bent " + inner_->describe(); }
    boost::asio::awaitable<store_result<object_info>> head(std::string key) override {
        auto r = co_await inner_->head(std::move(key));
        if (r && constant_version)
            r->etag = "same";
        co_return r;
    }
    boost::asio::awaitable<store_result<object_data>> get(std::string key, std::size_t max) override {
        return inner_->get(std::move(key), max);
    }
    boost::asio::awaitable<store_result<object_info>> get_streamed(std::string key, std::uint64_t max,
                                                                   object_sink sink) override {
        return inner_->get_streamed(std::move(key), max, std::move(sink));
    }
    boost::asio::awaitable<store_result<object_info>> get_to_file(std::string key,
                                                                  std::filesystem::path target) override {
        return inner_->get_to_file(std::move(key), std::move(target));
    }
    boost::asio::awaitable<store_result<object_info>> put(std::string key, body_source body,
                                                          put_options options) override {
        if (fail_put)
            if (auto e = fail_put(options))
                co_return failure{*e};
        if (rewrite_put)
            rewrite_put(options);
        if (constant_version && options.condition == write_condition::if_match) {
            // Pretend the version is "same": translate to the real one before forwarding.
            auto real = co_await inner_->head(key);
            if (real && options.expected_version == "same")
                options.expected_version = real->etag;
        }
        auto r = co_await inner_->put(std::move(key), std::move(body), std::move(options));
        if (r && constant_version)
            r->etag = "same";
        co_return r;
    }
    boost::asio::awaitable<store_result<void>> remove(std::string key, std::string expected) override {
        if (fail_remove)
            if (auto e = fail_remove())
                co_return failure{*e};
        co_return co_await inner_->remove(std::move(key), std::move(expected));
    }
    boost::asio::awaitable<store_result<std::vector<object_info>>> list(std::string prefix,
                                                                        std::size_t max) override {
        if (fail_list)
            if (auto e = fail_list())
                co_return failure{*e};
        co_return co_await inner_->list(std::move(prefix), max);
    }
    std::optional<wall_clock::time_point> last_server_date() const override { return server_date; }

private:
    std::unique_ptr<object_store> inner_;
};

} // namespace lifeboat::backends
