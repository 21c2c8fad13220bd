#include "election/memory_bucket.hpp"

#include "base/digest.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace lifeboat::test {

using backends::store_errc;
using backends::store_error;

namespace {

store_error make_error(store_errc code, int status, std::string provider, std::string op) {
    store_error e;
    e.code = code;
    e.http_status = status;
    e.provider_code = std::move(provider);
    e.operation = std::move(op);
    return e;
}

} // namespace

std::optional<store_error> memory_bucket::check(std::string_view op, const std::string& key) {
    ++counts_[std::string(op)];
    if (fail)
        if (auto e = fail(op, key)) {
            e->operation = std::string(op) + " " + key;
            return e;
        }
    return std::nullopt;
}

backends::store_result<backends::object_info> memory_bucket::head(const std::string& key) {
    if (auto e = check("HEAD", key))
        return lifeboat::failure{*e};
    auto it = objects_.find(key);
    if (it == objects_.end())
        return lifeboat::failure{make_error(store_errc::not_found, 404, "NoSuchKey", "HEAD " + key)};
    return it->second.info;
}

backends::store_result<backends::object_data> memory_bucket::get(const std::string& key) {
    if (auto e = check("GET", key))
        return lifeboat::failure{*e};
    auto it = objects_.find(key);
    if (it == objects_.end())
        return lifeboat::failure{make_error(store_errc::not_found, 404, "NoSuchKey", "GET " + key)};
    return backends::object_data{it->second.info, it->second.bytes};
}

backends::store_result<backends::object_info> memory_bucket::put(const std::string& key, std::string bytes,
                                                                 const backends::put_options& options) {
    if (auto e = check("PUT", key))
        return lifeboat::failure{*e};
    auto it = objects_.find(key);
    if (enforce_conditions) {
        const bool lost =
            (options.condition == backends::write_condition::if_absent && it != objects_.end()) ||
            (options.condition == backends::write_condition::if_match &&
             (it == objects_.end() || backends::version_token(it->second.info) != options.expected_version));
        if (lost)
            return lifeboat::failure{
                make_error(store_errc::precondition_failed, 412, "PreconditionFailed", "PUT " + key)};
    }
    stored s;
    s.info.key = key;
    s.info.size = bytes.size();
    s.info.etag = md5_hex(bytes);
    s.info.last_modified = clock();
    s.info.content_type = options.content_type;
    for (const auto& [k, v] : options.metadata) {
        std::string lower = k;
        for (auto& c : lower)
            c = char(std::tolower(static_cast<unsigned char>(c)));
        s.info.metadata[lower] = v;
    }
    s.bytes = std::move(bytes);
    auto info = s.info;
    objects_[key] = std::move(s);
    return info;
}

backends::store_result<void> memory_bucket::remove(const std::string& key,
                                                   const std::string& expected_version) {
    if (auto e = check("DELETE", key))
        return lifeboat::failure{*e};
    auto it = objects_.find(key);
    if (it == objects_.end())
        return lifeboat::ok_v;
    if (enforce_conditions && !expected_version.empty() &&
        backends::version_token(it->second.info) != expected_version)
        return lifeboat::failure{
            make_error(store_errc::precondition_failed, 412, "PreconditionFailed", "DELETE " + key)};
    objects_.erase(it);
    return lifeboat::ok_v;
}

backends::store_result<std::vector<backends::object_info>> memory_bucket::list(const std::string& prefix) {
    if (auto e = check("LIST", prefix))
        return lifeboat::failure{*e};
    std::vector<backends::object_info> out;
    for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.starts_with(prefix);
         ++it) {
        auto info = it->second.info;
        info.metadata.clear(); // ListObjectsV2 does not return user metadata
        info.content_type.clear();
        out.push_back(std::move(info));
    }
    return out;
}

std::size_t memory_bucket::requests(std::string_view op) const {
    auto it = counts_.find(op);
    return it == counts_.end() ? 0 : it->second;
}

std::size_t memory_bucket::total_requests() const {
    std::size_t n = 0;
    for (const auto& [op, c] : counts_)
        n += c;
    return n;
}

std::vector<std::string> memory_bucket::keys(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : objects_)
        if (k.starts_with(prefix))
            out.push_back(k);
    return out;
}

namespace {

class memory_store final : public backends::object_store {
public:
    explicit memory_store(std::shared_ptr<memory_bucket> bucket) : bucket_(std::move(bucket)) {}

    backends::store_kind kind() const override { return backends::store_kind::s3; }
    std::string describe() const override { return "memory://bucket"; }

    boost::asio::awaitable<backends::store_result<backends::object_info>> head(std::string key) override {
        co_await yield();
        co_return answered(bucket_->head(key));
    }
    boost::asio::awaitable<backends::store_result<backends::object_data>> get(std::string key,
                                                                              std::size_t max_size) override {
        co_await yield();
        auto r = bucket_->get(key);
        if (r && r->bytes.size() > max_size)
            co_return lifeboat::failure{make_error(store_errc::too_large, 0, "", "GET " + key)};
        co_return answered(std::move(r));
    }
    boost::asio::awaitable<backends::store_result<backends::object_info>>
    get_streamed(std::string key, std::uint64_t max_size, backends::object_sink sink) override {
        co_await yield();
        auto r = bucket_->get(key);
        if (r && r->bytes.size() > max_size)
            co_return lifeboat::failure{make_error(store_errc::too_large, 0, "", "GET " + key)};
        if (!r)
            co_return answered(backends::store_result<backends::object_info>(lifeboat::failure{r.error()}));
        if (sink.start)
            sink.start(r->bytes.size());
        if (sink.write)
            if (auto refused = sink.write(r->bytes))
                co_return lifeboat::failure{make_error(store_errc::local_io, 0, "", *refused)};
        co_return answered(backends::store_result<backends::object_info>(std::move(r->info)));
    }
    boost::asio::awaitable<backends::store_result<backends::object_info>>
    get_to_file(std::string key, std::filesystem::path) override {
        co_return lifeboat::failure{make_error(store_errc::invalid_argument, 0, "", "GET " + key)};
    }
    boost::asio::awaitable<backends::store_result<backends::object_info>>
    put(std::string key, backends::body_source body, backends::put_options options) override {
        co_await yield();
        auto* bytes = std::get_if<std::shared_ptr<const std::string>>(&body.data);
        if (!bytes)
            co_return lifeboat::failure{make_error(store_errc::invalid_argument, 0, "", "PUT " + key)};
        co_return answered(bucket_->put(key, **bytes, options));
    }
    boost::asio::awaitable<backends::store_result<void>> remove(std::string key,
                                                                std::string expected) override {
        co_await yield();
        co_return answered(bucket_->remove(key, expected));
    }
    boost::asio::awaitable<backends::store_result<std::vector<backends::object_info>>>
    list(std::string prefix, std::size_t) override {
        co_await yield();
        co_return answered(bucket_->list(prefix));
    }
    std::optional<wall_clock::time_point> last_server_date() const override { return date_; }

private:
    // Completes asynchronously, as a network store would.
    static boost::asio::awaitable<void> yield() {
        co_await boost::asio::post(co_await boost::asio::this_coro::executor, boost::asio::use_awaitable);
    }
    template <class R>
    R answered(R r) {
        date_ = bucket_->clock();
        return r;
    }

    std::shared_ptr<memory_bucket> bucket_;
    std::optional<wall_clock::time_point> date_;
};

} // namespace

std::unique_ptr<backends::object_store> make_memory_store(std::shared_ptr<memory_bucket> bucket) {
    return std::make_unique<memory_store>(std::move(bucket));
}

} // namespace lifeboat::test
