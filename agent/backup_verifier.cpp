#include "agent/backup_verifier.hpp"

#include "base/log.hpp"

namespace lifeboat::agent {

namespace asio = boost::asio;

namespace {
constexpr std::string_view age_magic = "age-encryption.org/v1\n";
}

backends::object_sink backup_verifier::wrap(backends::object_sink inner) {
    auto st = state_ = std::make_shared<stream_state>();
    const bool keep_reading = enabled();
    return backends::object_sink{[st, start = std::move(inner.start)](std::optional<std::uint64_t> size) {
                                     st->hash.reset();
                                     st->size = 0;
                                     st->head.clear();
                                     st->inner_error.reset();
                                     start(size);
                                 },
                                 [st, keep_reading, write = std::move(inner.write)](
                                     std::string_view bytes) -> std::optional<std::string> {
                                     st->hash.update(bytes);
                                     st->size += bytes.size();
                                     if (st->head.size() < age_magic.size())
                                         st->head.append(bytes.substr(0, age_magic.size() - st->head.size()));
                                     if (st->inner_error)
                                         return std::nullopt; // already refused: only hashing now
                                     auto e = write(bytes);
                                     if (e && keep_reading) {
                                         st->inner_error = std::move(e);
                                         return std::nullopt;
                                     }
                                     return e;
                                 }};
}

asio::awaitable<result<std::optional<std::string>, std::string>>
read_signature_object(backends::object_store& store, std::string key) {
    auto got = co_await store.get(key, backends::max_signature_object_size);
    if (got)
        co_return std::optional<std::string>(std::move(got->bytes));
    if (got.error().code == backends::store_errc::not_found)
        co_return std::optional<std::string>();
    if (got.error().code == backends::store_errc::too_large) // not a signature object we wrote:
        co_return std::optional<std::string>(
            std::string(backends::max_signature_object_size + 1, '?')); // malformed
    co_return failure{"cannot read the signature object: " + got.error().to_string()};
}

asio::awaitable<void> backup_verifier::prefetch(backends::object_store& store, std::string config_key) {
    prefetched_.reset();
    auto head = co_await store.head(config_key);
    if (!head)
        co_return; // check() reads what it needs
    const auto it = head->metadata.find(backends::signature_metadata::object_sha256);
    if (it == head->metadata.end() || !is_lower_hex(it->second, 64))
        co_return;
    auto key = backends::signature_key(config_key, it->second);
    auto object = co_await read_signature_object(store, key);
    if (object)
        prefetched_ = prefetched_signature{std::move(key), std::move(object).value()};
}

asio::awaitable<verification_outcome> backup_verifier::check(backends::object_store& store,
                                                             const std::string& config_key,
                                                             const backends::object_info& info) {
    verification_outcome out;
    received_backup got;
    got.sha256_hex = state_->hash.finish_hex();
    state_->hash.reset();
    got.size = state_->size;
    got.encrypted = state_->head == age_magic;

    const auto own_key = backends::signature_key(config_key, got.sha256_hex);
    auto prefetched = std::exchange(prefetched_, std::nullopt);
    result<std::optional<std::string>, std::string> own = std::optional<std::string>();
    if (prefetched && prefetched->key == own_key)
        own = std::move(prefetched->object);
    else
        own = co_await read_signature_object(store, own_key);
    if (!own) {
        out.error = own.error();
        co_return out;
    }
    std::optional<std::string> claimed;
    if (!*own) {
        auto it = info.metadata.find(backends::signature_metadata::object_sha256);
        if (it != info.metadata.end() && is_lower_hex(it->second, 64) && it->second != got.sha256_hex) {
            auto other =
                co_await read_signature_object(store, backends::signature_key(config_key, it->second));
            if (other)
                claimed = std::move(*other);
        }
    }
    out.sha256_hex = got.sha256_hex;
    out.size = got.size;
    out.signature = *own;
    auto decided = check_backup(policy_, got, *own, claimed, wall_clock::now());
    if (decided)
        out.accepted = std::move(decided).value();
    else
        out.refused = decided.error();
    co_return out;
}

} // namespace lifeboat::agent
