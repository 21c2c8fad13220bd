#include "backends/http/retry_state.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace lifeboat::http {

retry_state::retry_state(limits l, steady_time start, bool idempotent)
    : limits_(l)
    , deadline_(start + l.total)
    , idempotent_(idempotent) {
    limits_.max_attempts = std::max(1u, limits_.max_attempts);
}

retry_decision retry_state::on_failure(failure_kind kind, steady_time now, jitter& j,
                                       std::optional<std::chrono::steady_clock::duration> retry_after) {
    retry_decision d;
    if (now >= deadline_) {
        d.reason = "the total timeout was reached";
        return d;
    }
    // A keep-alive connection the server had already closed is not the server's answer: retry
    // at once on a fresh connection, once per send, without spending an attempt. A request that
    // is not idempotent may have been read before the close, so it never gets this pass.
    if (kind == failure_kind::stale_connection) {
        if (idempotent_ && !stale_retry_used_) {
            stale_retry_used_ = true;
            --attempts_;
            d.retry = true;
            return d;
        }
        kind = failure_kind::maybe_sent;
    }
    if (!idempotent_ && (kind == failure_kind::maybe_sent || kind == failure_kind::retryable_status)) {
        d.reason = "the request is not idempotent and may have reached the server";
        return d;
    }
    if (attempts_ >= limits_.max_attempts) {
        d.reason = fmt::format("{} of {} attempts used", attempts_, limits_.max_attempts);
        return d;
    }
    auto wait = limits_.backoff.delay(backoff_step_++, j);
    if (retry_after)
        wait = std::max(wait, *retry_after);
    if (now + wait >= deadline_) {
        d.reason = "no time left for another attempt within the total timeout";
        return d;
    }
    d.retry = true;
    d.wait = wait;
    return d;
}

} // namespace lifeboat::http
