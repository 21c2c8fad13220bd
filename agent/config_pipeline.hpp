// The one path every config takes, whatever its source (control plane, cache, fallback bucket):
//
//   snapshot (already validated) -> cache -> hand-off to the gateway -> exporter (on_applied)
//
// Applies are serialised (one at a time, in arrival order) and the newest always wins. A failed
// hand-off is reported in /status and /readyz and retried with back-off by run_handoff_retries()
// until it succeeds or a newer config replaces it. Nothing is lost on bad input: a config is only
// cached after it was validated, and the last good config stays in the cache and the gateway.
#pragma once

#include "agent/config.hpp"
#include "agent/config_cache.hpp"
#include "agent/handoff.hpp"
#include "agent/status.hpp"
#include "base/backoff.hpp"
#include "protocol/config_snapshot.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>

namespace lifeboat::agent {

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

    // Re-delivers a config whose hand-off failed, with back-off; runs until cancelled.
    boost::asio::awaitable<void> run_handoff_retries();

    protocol::snapshot_ptr current() const { return current_; }
    bool has_config() const { return current_ != nullptr; }

    // Called after each config is accepted (cached), with the snapshot; the exporter listens.
    std::function<void(const protocol::snapshot_ptr&)> on_applied;
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

    boost::asio::awaitable<bool> deliver(const protocol::snapshot_ptr& snapshot);

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
