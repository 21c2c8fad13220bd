#include "agent/config_pipeline.hpp"

#include "base/log.hpp"
#include "base/offload.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <malloc.h>

namespace lifeboat::agent {

namespace asio = boost::asio;
using protocol::config_source;

namespace {
constexpr auto forever = std::chrono::steady_clock::time_point::max();
constexpr std::size_t trim_after_bytes = std::size_t(1) << 20;

} // namespace

config_pipeline::config_pipeline(asio::any_io_executor executor, const settings& s, agent_status& status,
                                 std::unique_ptr<gateway_handoff> handoff)
    : executor_(executor)
    , status_(status)
    , cache_(s.prefix)
    , max_config_size_(s.cluster_max_config_size)
    , handoff_(std::move(handoff))
    , apply_done_(executor, forever)
    , retry_wakeup_(executor, forever) {
    status_.cache.path = cache_.manifest_path().string();
}

protocol::snapshot_ptr config_pipeline::load_cache() {
    auto loaded = cache_.load(max_config_size_);
    switch (loaded.status) {
    case cache_load_status::empty:
        status_.cache.state = "empty";
        return nullptr;
    case cache_load_status::corrupt:
        status_.cache.state = "corrupt";
        status_.cache.last_error = loaded.error;
        log::error("config cache is corrupt and is not used", "error", loaded.error);
        return nullptr;
    case cache_load_status::loaded:
        status_.cache.state = "loaded";
        status_.cache.hash = loaded.snapshot->hash;
        log::info("config cache loaded", "hash", loaded.snapshot->hash, "bytes", loaded.snapshot->size(),
                  "first_source", protocol::to_string(loaded.stored_source));
        return loaded.snapshot;
    }
    return nullptr;
}

void incoming_config::start(std::optional<std::uint64_t> size) {
    started_ = true;
    table_.reset();
    const auto expected = static_cast<std::size_t>(std::min<std::uint64_t>(size.value_or(0), max_size_));
    reader_.restart(expected);
    cache_.restart();
    if (handoff_)
        handoff_->restart();
}

std::optional<std::string> incoming_config::write(std::string_view bytes) {
    if (!started_)
        start(std::nullopt);
    // Validation first: an invalid piece is never written anywhere.
    if (!reader_.feed(bytes))
        return reader_.error();
    cache_.write(bytes);
    if (handoff_)
        handoff_->write(bytes);
    return std::nullopt;
}

result<void, std::string> incoming_config::finish() {
    if (!started_)
        start(std::nullopt);
    auto table = reader_.finish();
    if (!table)
        return failure{table.error()};
    table_ = std::move(table).value();
    return ok_v;
}

std::unique_ptr<incoming_config> config_pipeline::receive() {
    return std::unique_ptr<incoming_config>(
        new incoming_config(cache_.stage(), handoff_ ? handoff_->stage() : nullptr, max_config_size_));
}

asio::awaitable<void> config_pipeline::wait_for_slot() {
    // One apply at a time, in order: a later config must not overtake an earlier one half-way.
    while (applying_) {
        boost::system::error_code ec;
        co_await apply_done_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec && ec != asio::error::operation_aborted)
            throw boost::system::system_error(ec);
        // operation_aborted is also how a waiting apply is woken; a real cancellation shows up on
        // the next wait or I/O of the caller.
    }
}

asio::awaitable<bool> config_pipeline::apply(protocol::snapshot_ptr snapshot) {
    co_await wait_for_slot();
    apply_slot slot(*this);

    const bool same = current_ && current_->hash == snapshot->hash;
    if (same && delivered_ && delivered_->hash == snapshot->hash) {
        // Already running this config (the CP confirmed what the cache or the bucket gave us).
        if (snapshot->source == config_source::control_plane &&
            current_->source != config_source::control_plane) {
            // The local file was never cached; the CP's config is.
            if (current_->source == config_source::declarative_config) {
                auto stored = co_await offload([&] { return cache_.store(*snapshot); });
                book_cache_write(*snapshot, stored);
            }
            current_ = snapshot;
            status_.config.source = protocol::to_string(snapshot->source);
            status_.config.cp_timestamp = snapshot->cp_timestamp;
            log::info("control plane confirmed the running config", "hash", snapshot->hash);
            if (on_applied)
                on_applied(snapshot);
        }
        co_return true;
    }
    if (snapshot->source == config_source::fallback && has_config_beyond_local_file())
        co_return false; // a backup never replaces a config the node has (the CP's came first)
    if (snapshot->source == config_source::declarative_config && current_)
        co_return false; // the local file is the last resort: it never replaces anything

    // The local file is not cached: it is still there after a restart, and a cached copy would
    // stop the next start from importing the backup.
    if (snapshot->source != config_source::cache && snapshot->source != config_source::declarative_config) {
        if (on_accepting)
            on_accepting(snapshot);
        std::string sha256;
        auto stored = co_await offload([&] { return cache_.store(*snapshot, &sha256); });
        book_cache_write(*snapshot, stored);
        if (stored && on_cached)
            on_cached(snapshot, sha256);
    }
    const bool large =
        snapshot->size() >= trim_after_bytes || (current_ && current_->size() >= trim_after_bytes);
    accept(snapshot);
    const bool delivered = co_await deliver(snapshot);
    if (large) {
        // A large config's buffers are mapped and go back when freed, but its decoding (on the
        // disk pool's threads) leaves many small blocks behind in the allocator's arenas: once a
        // large config came or went, hand what is free back to the system (RSS returns to idle).
        co_await offload([] { ::malloc_trim(0); });
    }
    co_return delivered;
}

asio::awaitable<bool> config_pipeline::apply_incoming(std::unique_ptr<incoming_config> incoming,
                                                      const protocol::config_hashes* known) {
    co_await wait_for_slot();
    apply_slot slot(*this);
    if (has_config_beyond_local_file() || !incoming->table_) {
        // The CP answered while the backup was on its way: its config wins (the local
        // declarative_config file does not: the backup replaces it). The staged files go with
        // `incoming`.
        co_return false;
    }
    const auto table = *incoming->table_;
    // The gateway first: it only needs the config itself, already validated and in its staged
    // file. What identifies the config comes after: Kong's hash when the object has none (it
    // costs more than the download), then the cache entry (its SHA-256, fsyncs and manifest).
    std::shared_ptr<const protocol::config_snapshot> first;
    if (known) {
        auto snapshot = protocol::snapshot_from_validated(table, config_source::fallback, known);
        if (!snapshot) {
            log::error("fallback config dropped", "error", snapshot.error());
            co_return false;
        }
        first = snapshot.value();
    } else {
        auto unhashed = std::make_shared<protocol::config_snapshot>();
        unhashed->storage = table.storage;
        unhashed->config_json = table.text;
        unhashed->source = config_source::fallback;
        first = std::move(unhashed);
    }
    result<void, std::string> outcome = ok_v;
    std::chrono::steady_clock::duration took{};
    if (handoff_) {
        status_.handoff.state = "pending";
        const auto started = std::chrono::steady_clock::now();
        // (Two statements, not a ?: with a co_await in each arm: GCC 12 destroys the result of
        // such an expression too early.)
        if (incoming->handoff_)
            outcome = co_await incoming->handoff_->deliver(*first);
        else
            outcome = co_await handoff_->deliver(*first);
        took = std::chrono::steady_clock::now() - started;
    }
    // Kong's hash of a 200 MiB config parses all of it (seconds): on the disk pool, not the loop.
    // `table` shares the text's buffer, so the worker reads the same bytes.
    // (An if, not a ?: with a co_await in one arm: GCC 12 mishandles temporaries there.)
    result<protocol::snapshot_ptr, std::string> snapshot(first);
    if (!known)
        snapshot = co_await offload(
            [&] { return protocol::snapshot_from_validated(table, config_source::fallback, nullptr); });
    if (!snapshot) {
        // Cannot happen for a validated text; if it did, the node has no identity for the config.
        log::error("fallback config dropped: its hash cannot be computed", "error", snapshot.error());
        co_return false;
    }
    {
        // A staged file holds every byte that arrived: the storage, whitespace around the table included.
        const auto& s = *snapshot.value();
        auto& staged = incoming->cache_;
        auto stored = co_await offload([&] { return cache_.commit(staged, s, *s.storage); });
        book_cache_write(s, stored);
    }
    accept(snapshot.value());
    if (!handoff_) {
        delivered_ = snapshot.value();
        status_.handoff.hash = snapshot.value()->hash;
        co_return true;
    }
    co_return record_delivery(snapshot.value(), outcome, took);
}

void config_pipeline::accept(const protocol::snapshot_ptr& snapshot) {
    current_ = snapshot;
    status_.config.hash = snapshot->hash;
    status_.config.source = protocol::to_string(snapshot->source);
    status_.config.cp_timestamp = snapshot->cp_timestamp;
    status_.config.size_bytes = snapshot->size();
    status_.config.applied_at = wall_clock::now();
    log::info("config accepted", "hash", snapshot->hash, "source", protocol::to_string(snapshot->source),
              "bytes", snapshot->size());
    if (on_applied)
        on_applied(snapshot);
}

asio::awaitable<bool> config_pipeline::deliver(const protocol::snapshot_ptr& snapshot) {
    if (!handoff_) {
        delivered_ = snapshot;
        status_.handoff.hash = snapshot->hash;
        co_return true;
    }
    status_.handoff.state = "pending";
    const auto started = std::chrono::steady_clock::now();
    auto r = co_await handoff_->deliver(*snapshot);
    co_return record_delivery(snapshot, r, std::chrono::steady_clock::now() - started);
}

bool config_pipeline::record_delivery(const protocol::snapshot_ptr& snapshot,
                                      const result<void, std::string>& r,
                                      std::chrono::steady_clock::duration took) {
    status_.handoff.last_at = wall_clock::now();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took);
    if (r) {
        delivered_ = snapshot;
        status_.handoff.state = "ok";
        status_.handoff.hash = snapshot->hash;
        status_.handoff.last_error.clear();
        log::info("config handed to the gateway", "hash", snapshot->hash, "via", handoff_->kind(), "ms",
                  ms.count());
        return true;
    }
    status_.handoff.state = "failed";
    status_.handoff.last_error = r.error();
    ++status_.handoff.failures;
    log::error("gateway hand-off failed; will retry", "hash", snapshot->hash, "via", handoff_->kind(),
               "error", r.error());
    retry_wakeup_.cancel(); // let the retry loop take over
    return false;
}

// Books a cache write in the status. The write itself runs on the disk pool (offload): writing and
// fsyncing a large config takes seconds, and the session's pings and the election's rounds must go
// on meanwhile. Only the apply holding the slot touches the cache.
void config_pipeline::book_cache_write(const protocol::config_snapshot& snapshot,
                                       const result<void, std::string>& stored) {
    if (stored) {
        status_.cache.state = "written";
        status_.cache.hash = snapshot.hash;
        status_.cache.written_at = wall_clock::now();
        status_.cache.last_error.clear();
        return;
    }
    // The gateway still gets the config; the node just would not survive a restart with it.
    status_.cache.state = "error";
    status_.cache.last_error = stored.error();
    log::error("config cache write failed; will retry", "hash", snapshot.hash, "error", stored.error());
    retry_wakeup_.cancel(); // let the retry loop take over
}

asio::awaitable<void> config_pipeline::run_handoff_retries() {
    unsigned attempt = 0;
    for (;;) {
        const bool needed = delivery_failed() || cache_write_failed();
        retry_wakeup_.expires_at(
            needed ? std::chrono::steady_clock::now() + retry_backoff_.delay(attempt, jitter_) : forever);
        boost::system::error_code ec;
        co_await retry_wakeup_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            // Woken by a new failure (operation_aborted from cancel()) or a real cancellation:
            // tell them apart by our own cancellation state.
            auto cs = co_await asio::this_coro::cancellation_state;
            if (cs.cancelled() != asio::cancellation_type::none)
                co_return;
            attempt = 0;
            continue;
        }
        if (applying_ || !(delivery_failed() || cache_write_failed()))
            continue;
        ++attempt;
        const auto target = current_;
        bool ok = true;
        {
            apply_slot slot(*this);
            // A full or failing disk under the prefix: the running config is cached once the disk
            // takes it again, without waiting for the next config.
            if (cache_write_failed()) {
                auto stored = co_await offload([&] { return cache_.store(*target); });
                book_cache_write(*target, stored);
                ok = status_.cache.state == "written";
            }
            if (delivery_failed()) {
                const bool delivered = co_await deliver(target);
                if (delivered && on_delivered_late)
                    on_delivered_late(target->hash);
                ok = ok && delivered;
            }
        }
        if (ok)
            attempt = 0;
    }
}

bool config_pipeline::delivery_failed() const {
    return handoff_ && current_ && (!delivered_ || delivered_->hash != current_->hash) &&
           status_.handoff.state == "failed";
}

bool config_pipeline::cache_write_failed() const {
    // Only what apply() would have written: the local declarative_config file and a config
    // loaded from the cache are not written back.
    return current_ && status_.cache.state == "error" && status_.cache.hash != current_->hash &&
           (current_->source == config_source::control_plane || current_->source == config_source::fallback);
}

} // namespace lifeboat::agent
