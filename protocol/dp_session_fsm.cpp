#include "protocol/dp_session_fsm.hpp"

#include "base/log.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace lifeboat::protocol {

namespace {

std::string seconds_text(steady_duration d) {
    return fmt::format("{:.3f}s", std::chrono::duration<double>(d).count());
}

constexpr std::size_t max_pings_in_flight = 8;

} // namespace

const char* to_string(session_state s) {
    switch (s) {
    case session_state::connecting:
        return "connecting";
    case session_state::connected:
        return "connected";
    case session_state::disconnected:
        return "disconnected";
    }
    return "disconnected";
}

dp_session_fsm::dp_session_fsm(dp_timing timing, jitter& rng, std::string initial_hash)
    : timing_(timing)
    , rng_(rng) {
    status_.config_hash = std::move(initial_hash);
}

void dp_session_fsm::enter(session_state s, steady_time now, dp_action_list& out) {
    status_.state = s;
    status_.since = now;
    out.push_back({dp_action::status_changed});
}

dp_action_list dp_session_fsm::start(steady_time now) {
    dp_action_list out;
    if (started_)
        return out;
    started_ = true;
    status_.attempt = 1;
    enter(session_state::connecting, now, out);
    out.push_back({dp_action::connect});
    return out;
}

dp_action_list dp_session_fsm::on_connected(steady_time now) {
    dp_action_list out;
    if (status_.state != session_state::connecting || stopping_)
        return out;
    enter(session_state::connected, now, out);
    status_.next_attempt_at.reset();
    log::info("connected to the control plane", "attempt", status_.attempt, "config_hash",
              status_.config_hash);
    last_frame_at_ = now;
    connection_ended(); // of any earlier connection
    exchanged_ = false;
    connected_at_ = now;
    config_seen_ = false;
    config_wait_over_ = false;
    pings_in_flight_.clear();
    // basic_info first: Kong's CP reads it before anything else and refuses any other frame.
    out.push_back({dp_action::send_basic_info});
    ping(now, out);
    rearm(out);
    return out;
}

dp_action_list dp_session_fsm::on_connect_failed(steady_time now, std::string_view error) {
    dp_action_list out;
    if (status_.state != session_state::connecting)
        return out;
    status_.last_error = std::string(error);
    if (!outage_since_)
        outage_since_ = now;
    enter(session_state::disconnected, now, out);
    schedule_reconnect(now, out);
    log::warn("cannot connect to the control plane", "error", error, "attempt", status_.attempt, "retry_in",
              seconds_text(status_.next_attempt_delay));
    rearm(out);
    return out;
}

void dp_session_fsm::schedule_reconnect(steady_time now, dp_action_list&) {
    status_.next_attempt_delay = draw_reconnect_delay(now);
    status_.next_attempt_at = now + status_.next_attempt_delay;
}

steady_duration dp_session_fsm::draw_reconnect_delay(steady_time now) {
    const steady_duration lo = std::max(timing_.reconnect_min, min_reconnect_delay);
    steady_duration hi = std::max(timing_.reconnect_max, lo);
    if (timing_.reconnect_ceiling > hi && outage_since_ && now - *outage_since_ >= timing_.grow_after) {
        // A long outage: widen the window so that a fleet of agents stops knocking every few
        // seconds, doubling its upper bound with each attempt up to the ceiling.
        ++grow_steps_;
        for (unsigned i = 0; i < grow_steps_ && hi < timing_.reconnect_ceiling; ++i)
            hi *= 2;
        hi = std::min(hi, timing_.reconnect_ceiling);
    }
    return rng_.uniform(lo, hi);
}

void dp_session_fsm::ping(steady_time now, dp_action_list& out) {
    out.push_back({dp_action::send_ping, status_.config_hash});
    if (pings_in_flight_.size() < max_pings_in_flight)
        pings_in_flight_.push_back(now);
    next_ping_at_ = now + timing_.ping_interval;
}

// The first frame on a connection proves the CP healthy: the outage is over. (Counting a TCP or
// TLS success as recovery would reset the window for a CP that accepts and then drops us.)
void dp_session_fsm::healthy(steady_time, dp_action_list& out) {
    if (exchanged_)
        return;
    exchanged_ = true;
    outage_since_.reset();
    grow_steps_ = 0;
    if (status_.refused) {
        status_.refused = false;
        out.push_back({dp_action::status_changed});
    }
    if (status_.attempt != 0) {
        status_.attempt = 0;
        out.push_back({dp_action::status_changed});
    }
}

void dp_session_fsm::frame_seen(steady_time now, dp_action_list& out) {
    last_frame_at_ = now;
    healthy(now, out);
}

dp_action_list dp_session_fsm::on_pong(steady_time now) {
    dp_action_list out;
    if (status_.state != session_state::connected)
        return out;
    frame_seen(now, out);
    status_.last_pong = now;
    if (!pings_in_flight_.empty()) {
        status_.round_trip = now - pings_in_flight_.front();
        pings_in_flight_.pop_front();
    }
    out.push_back({dp_action::status_changed});
    check_withheld(now, out);
    rearm(out);
    return out;
}

dp_action_list dp_session_fsm::on_other_frame(steady_time now) {
    dp_action_list out;
    if (status_.state != session_state::connected)
        return out;
    frame_seen(now, out);
    rearm(out);
    return out;
}

dp_action_list dp_session_fsm::on_config_frame(steady_time now,
                                               const result<snapshot_ptr, std::string>& decoded) {
    dp_action_list out;
    if (status_.state != session_state::connected)
        return out;
    frame_seen(now, out);
    config_arrived(out);
    if (!decoded) {
        // Kong logs and keeps running; so do we. The current config stays.
        status_.last_error = "invalid config from the control plane: " + decoded.error();
        ++status_.rejected_configs;
        status_.last_rejection = decoded.error();
        out.push_back({dp_action::status_changed});
        log::error("invalid config from the control plane dropped; keeping the current one", "reason",
                   decoded.error(), "config_hash", status_.config_hash);
        rearm(out);
        return out;
    }
    const snapshot_ptr& snap = decoded.value();
    const bool same_as_current = snap->hash == status_.config_hash && !delivering_;
    const bool same_as_delivering = delivering_ && snap->hash == delivering_->hash;
    if (same_as_current || same_as_delivering) {
        // Kong does not reload an identical config, but answers it with a ping right away.
        log::debug("config from the control plane unchanged", "config_hash", snap->hash);
        pending_.reset();
        if (same_as_current)
            ping(now, out);
        rearm(out);
        return out;
    }
    log::info("new config from the control plane", "config_hash", snap->hash, "bytes", snap->size());
    if (delivering_) {
        // Only the newest config matters; an older pending one is dropped unseen.
        if (pending_)
            log::info("config superseded before it was applied", "config_hash", pending_->hash);
        pending_ = snap;
    } else {
        delivering_ = snap;
        out.push_back({dp_action::deliver_config, {}, snap});
    }
    rearm(out);
    return out;
}

// Any config frame, even one that fails to decode, shows that the CP does not withhold configs.
void dp_session_fsm::config_arrived(dp_action_list& out) {
    config_seen_ = true;
    if (!status_.config_withheld)
        return;
    status_.config_withheld = false;
    out.push_back({dp_action::status_changed});
    log::info("a config arrived from the control plane; it no longer withholds configs from this node");
}

// When to conclude that the CP withholds configs: config_wait_pings ping intervals after the
// connection opened, if no config came meanwhile.
std::optional<steady_time> dp_session_fsm::config_deadline() const {
    if (status_.state != session_state::connected || config_seen_ || status_.config_withheld ||
        timing_.config_wait_pings == 0)
        return std::nullopt;
    return connected_at_ + timing_.ping_interval * timing_.config_wait_pings;
}

void dp_session_fsm::check_withheld(steady_time now, dp_action_list& out) {
    const auto deadline = config_deadline();
    if (!deadline || now < *deadline)
        return;
    config_wait_over_ = true; // no more wake-ups for it; a later pong re-checks
    if (!status_.last_pong || *status_.last_pong < connected_at_)
        return; // the CP has not answered yet: that is the dead-peer rule's business
    // The CP is alive and answers this node, but sends nothing: Kong's CP does exactly this when
    // its plugin gate fails, logging the reason only on its own side.
    status_.config_withheld = true;
    ++status_.withheld_total;
    out.push_back({dp_action::status_changed});
    log::warn("no config from the control plane although it answers pings: it withholds configs from data "
              "planes that lack a plugin the config uses or run another plugin version",
              "waited", seconds_text(now - connected_at_));
}

void dp_session_fsm::deliver_next(dp_action_list& out) {
    if (!pending_)
        return;
    snapshot_ptr next = std::move(pending_);
    pending_.reset();
    if (next->hash == status_.config_hash)
        return;
    delivering_ = next;
    out.push_back({dp_action::deliver_config, {}, std::move(next)});
}

dp_action_list dp_session_fsm::on_config_applied(steady_time now, const std::string& hash, bool applied) {
    dp_action_list out;
    if (!delivering_ || delivering_->hash != hash)
        return out;
    delivering_.reset();
    if (applied) {
        status_.config_hash = hash;
        out.push_back({dp_action::status_changed});
        log::info("config applied", "config_hash", hash);
        // Tell the CP at once which config runs now.
        if (status_.state == session_state::connected)
            ping(now, out);
    } else {
        log::error("config was not applied; keeping the current one", "rejected_hash", hash, "config_hash",
                   status_.config_hash);
    }
    deliver_next(out);
    rearm(out);
    return out;
}

dp_action_list dp_session_fsm::on_external_config(steady_time now, const std::string& hash) {
    dp_action_list out;
    if (hash == status_.config_hash)
        return out;
    status_.config_hash = hash;
    out.push_back({dp_action::status_changed});
    if (status_.state == session_state::connected)
        ping(now, out);
    rearm(out);
    return out;
}

dp_action_list dp_session_fsm::on_advertisement_changed(steady_time now) {
    dp_action_list out;
    if (status_.state != session_state::connected || stopping_)
        return out; // the next connection sends the new basic_info anyway
    const std::string reason = "the advertised version or plugins changed; reconnecting to send them";
    request_close(now, reason, out);
    exchanged_ = true; // not a refusal: this node hangs up
    lost(now, reason, loss::close_frame, out);
    return out;
}

void dp_session_fsm::request_close(steady_time now, std::string reason, dp_action_list& out) {
    out.push_back({dp_action::close_session, std::move(reason)});
    begin_close(now);
}

// The connection is gone: no close is pending any more.
void dp_session_fsm::connection_ended() {
    close_deadline_.reset();
    close_ = close_phase::none;
}

// One deadline per connection: a second reason to close does not extend it, and a connection
// already dropped is not given another.
void dp_session_fsm::begin_close(steady_time now) {
    if (close_ != close_phase::none)
        return;
    close_ = close_phase::closing;
    close_deadline_ = now + timing_.close_timeout;
}

void dp_session_fsm::lost(steady_time now, std::string_view error, loss kind, dp_action_list& out) {
    status_.last_error = std::string(error);
    if (!exchanged_ && status_.state == session_state::connected &&
        now - status_.since < timing_.ping_interval)
        // Kong's CP hangs up right after basic_info when it refuses a node (an incompatible
        // version, a bad basic_info): say so, the CP's log has the details.
        status_.last_error +=
            " before answering: the control plane refused this node (check node_version against "
            "the control plane's version, and its log)";
    error = status_.last_error;
    if (!outage_since_)
        outage_since_ = now;
    pings_in_flight_.clear();
    enter(session_state::disconnected, now, out);
    if (!stopping_)
        schedule_reconnect(now, out);
    switch (kind) {
    case loss::close_frame:
        log::info("control plane closed the session", "detail", error, "retry_in",
                  seconds_text(status_.next_attempt_delay));
        break;
    case loss::violation:
        log::warn("control plane broke the websocket protocol; session dropped", "error", error, "retry_in",
                  seconds_text(status_.next_attempt_delay));
        break;
    case loss::failure:
        log::warn("control plane session lost", "error", error, "retry_in",
                  seconds_text(status_.next_attempt_delay));
        break;
    }
    rearm(out);
}

dp_action_list dp_session_fsm::on_close_received(steady_time now, std::string_view detail) {
    dp_action_list out;
    if (status_.state != session_state::connected)
        return out;
    if (!exchanged_) {
        // A close frame before any answer: Kong's CP refuses a node this way (an empty close
        // frame after basic_info) when its version fails check_kong_version_compatibility.
        status_.refused = true;
        ++status_.refusals;
    }
    // The session is over now, whether or not the CP ever hangs up: the driver answers the close
    // and drops the connection if the CP keeps it open past close_timeout.
    begin_close(now);
    lost(now, detail, loss::close_frame, out);
    return out;
}

dp_action_list dp_session_fsm::on_closing(steady_time now) {
    dp_action_list out;
    if (close_ != close_phase::none)
        return out; // already bounded
    begin_close(now);
    log::debug("closing the control plane connection", "timeout", seconds_text(timing_.close_timeout));
    rearm(out);
    return out;
}

dp_action_list dp_session_fsm::on_close_frame(steady_time now, std::string_view detail) {
    dp_action_list out = on_close_received(now, detail);
    connection_ended();
    rearm(out);
    return out;
}

dp_action_list dp_session_fsm::on_protocol_violation(steady_time now, std::string_view detail) {
    dp_action_list out;
    if (status_.state != session_state::connected) {
        rearm(out);
        return out;
    }
    exchanged_ = true; // the CP spoke, badly: not a refusal
    // Over now, not when the peer finishes the close the websocket layer started (a hostile CP
    // never does): the transport's close is only bounded, and the cause is the violation.
    begin_close(now);
    lost(now, detail, loss::violation, out);
    return out;
}

dp_action_list dp_session_fsm::on_connection_closed(steady_time now) {
    connection_ended();
    dp_action_list out;
    if (status_.state != session_state::connected) {
        rearm(out);
        return out;
    }
    lost(now, "the control plane closed the connection", loss::failure, out);
    return out;
}

dp_action_list dp_session_fsm::on_connection_lost(steady_time now, std::string_view error) {
    connection_ended();
    dp_action_list out;
    // A connection the machine already gave up on (the CP went silent, or sent a close frame)
    // reports its end too.
    if (status_.state != session_state::connected) {
        rearm(out);
        return out;
    }
    lost(now, error, loss::failure, out);
    return out;
}

dp_action_list dp_session_fsm::on_stop(steady_time now) {
    dp_action_list out;
    if (stopping_)
        return out;
    stopping_ = true;
    status_.next_attempt_at.reset();
    if (status_.state == session_state::connected && close_ == close_phase::none)
        request_close(now, "lifeboat shutting down", out);
    rearm(out);
    return out;
}

dp_action_list dp_session_fsm::on_timer(steady_time now) {
    dp_action_list out;
    armed_.reset();
    if (close_deadline_ && now >= *close_deadline_) {
        // Beast waits for the peer's close reply and TCP close without a bound: a CP that keeps the
        // connection open after a close must not hold the session (nor a stop).
        close_deadline_.reset();
        close_ = close_phase::dropped;
        out.push_back({dp_action::drop_connection});
        log::warn("the control plane did not finish closing the connection; dropping it", "waited",
                  seconds_text(timing_.close_timeout));
    }
    if (stopping_) {
        rearm(out);
        return out;
    }
    switch (status_.state) {
    case session_state::connected:
        if (close_ != close_phase::none)
            break; // the driver reports how the connection ended
        if (now - last_frame_at_ >= timing_.dead_after) {
            const auto reason =
                fmt::format("no frame from the control plane for {}", seconds_text(now - last_frame_at_));
            request_close(now, reason, out);
            lost(now, reason, loss::failure, out);
            return out;
        }
        if (now >= next_ping_at_)
            ping(now, out);
        check_withheld(now, out);
        break;
    case session_state::disconnected:
        if (status_.next_attempt_at && now >= *status_.next_attempt_at) {
            status_.next_attempt_at.reset();
            ++status_.attempt;
            ++status_.reconnects;
            enter(session_state::connecting, now, out);
            out.push_back({dp_action::connect});
            rearm(out);
            return out;
        }
        break;
    case session_state::connecting:
        break;
    }
    rearm(out);
    return out;
}

// Ask for one wake-up at the earliest deadline of the current state (none while connecting:
// the driver bounds each connection step with its own timeout).
void dp_session_fsm::rearm(dp_action_list& out) {
    std::optional<steady_time> at;
    if (stopping_)
        ;
    else if (status_.state == session_state::connected && close_ != close_phase::none)
        ; // a closing connection: only the close deadline (below)
    else if (status_.state == session_state::connected) {
        at = std::min(next_ping_at_, last_frame_at_ + timing_.dead_after);
        if (const auto deadline = config_deadline(); deadline && !config_wait_over_)
            at = std::min(*at, *deadline);
    } else if (status_.state == session_state::disconnected)
        at = status_.next_attempt_at;
    if (close_deadline_)
        at = at ? std::min(*at, *close_deadline_) : *close_deadline_;
    if (at && at != armed_) {
        armed_ = at;
        out.push_back({dp_action::wait_until, {}, {}, *at});
    }
}

} // namespace lifeboat::protocol
