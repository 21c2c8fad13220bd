// The retry decisions of one http::client::send(), as a sans-io state machine: the client feeds
// it each failed attempt and the current time; it answers "retry after this wait" or "give up,
// and why". No sockets, no timers: tests step it on a virtual clock with a seeded jitter.
#pragma once

#include "base/backoff.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace lifeboat::http {

using steady_time = std::chrono::steady_clock::time_point;

enum class failure_kind {
    not_sent,         // resolve/connect/TLS failure: nothing reached the server
    stale_connection, // a pooled keep-alive connection turned out closed before any response byte
    maybe_sent,       // failed after (part of) the request was written, no complete response
    retryable_status, // a complete 5xx (or a policy-specific retryable response)
    throttled,        // 429: the server refused the request before processing it
};

struct retry_decision {
    bool retry = false;
    std::chrono::steady_clock::duration wait{}; // before the next attempt
    std::string reason;                         // when giving up: "3 of 3 attempts used", ...
};

class retry_state {
public:
    struct limits {
        unsigned max_attempts = 4;
        backoff_policy backoff;
        std::chrono::steady_clock::duration total{std::chrono::minutes(5)};
    };

    retry_state(limits l, steady_time start, bool idempotent);

    // An attempt is about to start.
    void on_attempt_start() { ++attempts_; }

    // The attempt failed as `kind`; `retry_after` is the server's Retry-After, if any.
    retry_decision on_failure(failure_kind kind, steady_time now, jitter& j,
                              std::optional<std::chrono::steady_clock::duration> retry_after = std::nullopt);

    unsigned attempts() const { return attempts_; }
    steady_time deadline() const { return deadline_; }
    bool expired(steady_time now) const { return now >= deadline_; }

private:
    limits limits_;
    steady_time deadline_;
    bool idempotent_;
    unsigned attempts_ = 0;
    unsigned backoff_step_ = 0;
    bool stale_retry_used_ = false;
};

} // namespace lifeboat::http
