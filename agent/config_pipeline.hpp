// The one path every config takes, whatever its source (control plane, cache, fallback bucket):
//
//   snapshot (already validated) -> cache -> hand-off to the gateway -> exporter (on_applied)
//
// Applies are serialised (one at a time, in arrival order) and the newest always wins. A failed
// hand-off is reported in /status and /readyz and retried with back-off by run_handoff_retries()
// until it succeeds or a newer config replaces it. Nothing is lost on bad input: a config is only
// cached after it was validated, and the last good config stays in the cache and the gateway.
//
// A config can also arrive in pieces (the fallback import streams the bucket's object into an
// incoming_config): each piece is validated and written to the cache's and the gateway's
// temporary files as it lands, so apply_incoming() is left with renames, fsyncs and the reload.
// An incoming config reaches the gateway before its cache entry (see apply_incoming()).
#pragma once

#include "agent/config.hpp"
#include "agent/config_cache.hpp"
#include "agent/handoff.hpp"
#include "agent/status.hpp"
#include "base/backoff.hpp"
#include "protocol/config_snapshot.hpp"
#include "protocol/envelope.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

namespace lifeboat::agent {

// A config on its way in, piece by piece. Built by config_pipeline::receive(); nothing of it
// is visible (cache, gateway) before config_pipeline::apply_incoming().
class incoming_config {
public:
    // A transfer of the whole config (re)starts: everything written before is dropped.
    void start(std::optional<std::uint64_t> size);
    // The next piece. An error line when the config is invalid: stop sending. A failing
    // temporary file is not an error here (the config is then written from memory at the end).
    std::optional<std::string> write(std::string_view bytes);
    // Every piece is in: the whole text must be a valid config. Returns the reason when not.
    result<void, std::string> finish();
    // The reason the config was refused, if it was (write() or finish()).
    const std::string& invalid_reason() const { return reader_.error(); }

private:
    friend class config_pipeline;
    incoming_config(cache_stage cache, std::unique_ptr<handoff_stage> handoff, std::size_t max_size)
        : cache_(std::move(cache))
        , handoff_(std::move(handoff))
        , max_size_(max_size) {}

    protocol::config_table_reader reader_;
    cache_stage cache_;
    std::unique_ptr<handoff_stage> handoff_; // nullptr: the hand-off takes the whole config at the end
    std::size_t max_size_;
    bool started_ = false;
    std::optional<protocol::validated_config_table> table_; // set by finish()
};

class config_pipeline {
public:
    config_pipeline(boost::asio::any_io_executor executor, const settings& s, agent_status& status,
                    std::unique_ptr<gateway_handoff> handoff);

    // Loads the cache at start-up. Returns the cached snapshot (source `cache`) or nullptr; a
    // corrupt cache is logged, shown in status, and ignored.
    protocol::snapshot_ptr load_cache();

    // Caches and hands off `snapshot`. Returns true once the gateway has it (always true with no
    // hand-off configured). A snapshot from the cache is not written back to it.
    boost::asio::awaitable<bool> apply(protocol::snapshot_ptr snapshot);

    // A config to be received piece by piece (incoming_config), from the fallback bucket.
    std::unique_ptr<incoming_config> receive();

    // Applies a finished incoming config from the fallback bucket, unless the node got a config
    // meanwhile (the CP's wins, and a backup never replaces anything): then it is dropped and
    // this returns false. Unlike apply(), the gateway gets the config first; then Kong's hash is
    // computed (unless `known`, an exporter's metadata, gives it: it costs more than the
    // download), the cache entry committed (its file is already written) and the status set.
    // A crash in between leaves a node without a cache, which imports again when it restarts.
    // Returns true once the gateway has it.
    boost::asio::awaitable<bool> apply_incoming(std::unique_ptr<incoming_config> incoming,
                                                const protocol::config_hashes* known);

    // Re-delivers a config whose hand-off failed, and writes again a cache entry whose write failed
    // (a full disk), with back-off; runs until cancelled.
    boost::asio::awaitable<void> run_handoff_retries();

    protocol::snapshot_ptr current() const { return current_; }
    // A configuration re-read (SIGHUP): passes the live settings on to the hand-off.
    void update_handoff(const settings& s) {
        if (handoff_)
            handoff_->update(s);
    }
    bool has_config() const { return current_ != nullptr; }
    // A config from the CP, the cache or the bucket: not (only) the local declarative_config
    // file, which the backup and the CP still replace.
    bool has_config_beyond_local_file() const {
        return current_ && current_->source != protocol::config_source::declarative_config;
    }

    // Called after each config is accepted (cached), with the snapshot; the exporter listens.
    std::function<void(const protocol::snapshot_ptr&)> on_applied;
    // Called when a new config is about to be cached, before on_applied, with the same snapshot:
    // the exporter starts its own pass over the bytes (hash, encryption) alongside the cache write.
    std::function<void(const protocol::snapshot_ptr&)> on_accepting;
    // Called when that config was cached, before on_applied, with the SHA-256 of its bytes that
    // the cache computed (the exporter signs it instead of hashing the config again).
    std::function<void(const protocol::snapshot_ptr&, const std::string& sha256_hex)> on_cached;
    // Called when a config reaches the gateway later, through a retry (the session pings its hash).
    std::function<void(const std::string& hash)> on_delivered_late;

private:
    // Held while an apply or a hand-off retry runs: one at a time, and the next waiting apply is
    // woken when it ends.
    struct apply_slot {
        explicit apply_slot(config_pipeline& p) : self(p) { self.applying_ = true; }
        ~apply_slot() {
            self.applying_ = false;
            self.apply_done_.cancel();
        }
        apply_slot(const apply_slot&) = delete;
        apply_slot& operator=(const apply_slot&) = delete;
        config_pipeline& self;
    };

    boost::asio::awaitable<void> wait_for_slot();
    void book_cache_write(const protocol::config_snapshot& snapshot, const result<void, std::string>& stored);
    // The snapshot becomes the node's config: status, log, on_applied.
    void accept(const protocol::snapshot_ptr& snapshot);
    boost::asio::awaitable<bool> deliver(const protocol::snapshot_ptr& snapshot);
    // Books the outcome of a hand-off of `snapshot` that took `took`.
    bool record_delivery(const protocol::snapshot_ptr& snapshot, const result<void, std::string>& outcome,
                         std::chrono::steady_clock::duration took);
    // What run_handoff_retries() retries: the running config is not at the gateway, or not cached.
    bool delivery_failed() const;
    bool cache_write_failed() const;

    boost::asio::any_io_executor executor_;
    agent_status& status_;
    config_cache cache_;
    std::size_t max_config_size_;
    std::unique_ptr<gateway_handoff> handoff_;
    protocol::snapshot_ptr current_;
    protocol::snapshot_ptr delivered_; // what the gateway has
    bool applying_ = false;
    boost::asio::steady_timer apply_done_;   // wakes applies queued behind the running one
    boost::asio::steady_timer retry_wakeup_; // wakes run_handoff_retries()
    backoff_policy retry_backoff_{std::chrono::seconds(1), std::chrono::seconds(60),
                                  std::chrono::milliseconds(500)};
    jitter jitter_;
};

} // namespace lifeboat::agent
