// The data-plane side of a Kong hybrid-mode session (/v1/outlet) as a sans-io state machine:
// events and the time come in, actions go out. No sockets, no timers, no clock reads: the driver
// (dp_session.cpp) performs the actions, and tests step the machine on a virtual clock, as
// Boost.Redis does with its detail/*_fsm.
//
// Kong's rules (kong/clustering/data_plane.lua, constants.lua):
//  - on connect: send basic_info, then a ping whose payload is the current config hash (32 zeros
//    before any config); then a ping every 30 s, and one right after each reconfigure frame that
//    was handled without error;
//  - the CP is dead after 45 s without any frame from it (pong or binary); a close frame ends
//    the session quietly;
//  - only the newest received config is kept; one equal to the current hash is not applied;
//  - after a failed connect or a lost session, reconnect after a uniform random delay in
//    [5, 10] s. Lifeboat draws it continuously rather than in whole seconds, never below
//    min_reconnect_delay, and may widen the window during very long outages.
#pragma once

#include "base/backoff.hpp"
#include "base/result.hpp"
#include "protocol/config_snapshot.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::protocol {

using steady_time = std::chrono::steady_clock::time_point;

struct dp_timing {
    steady_duration ping_interval = std::chrono::seconds(30);
    steady_duration dead_after = std::chrono::seconds(45);
    steady_duration reconnect_min = std::chrono::seconds(5);
    steady_duration reconnect_max = std::chrono::seconds(10);
    // 0: the window stays [min, max]. Otherwise, once an outage has lasted `grow_after`, the
    // window's upper bound doubles with each further attempt, up to this ceiling.
    steady_duration reconnect_ceiling = steady_duration::zero();
    steady_duration grow_after = std::chrono::minutes(5);
    // Admitted, the CP answers pings, and no config within this many ping intervals: the CP
    // withholds it (Kong's plugin gate). A Kong CP sends its config right after admission.
    unsigned config_wait_pings = 3;
    // Once a close starts (a close frame either way, a protocol violation, a dead CP, a stop), the
    // peer has this long to finish it (its close reply, TLS and TCP close); then the connection
    // is dropped. Beast itself waits for the peer without a bound.
    steady_duration close_timeout = std::chrono::seconds(10);
};

// Whatever the configuration says, two connection attempts are never closer than this.
inline constexpr steady_duration min_reconnect_delay = std::chrono::milliseconds(100);

enum class session_state { connecting, connected, disconnected };
const char* to_string(session_state s);

// What /status shows about the CP session. Times are on the steady clock.
struct session_status {
    session_state state = session_state::disconnected;
    steady_time since{}; // when `state` was entered
    std::optional<steady_time> last_pong;
    std::optional<steady_duration> round_trip;  // ping -> pong, the latest
    std::uint64_t reconnects = 0;               // connection attempts after the first
    std::uint32_t attempt = 0;                  // attempts in the current outage (0: healthy)
    std::optional<steady_time> next_attempt_at; // while waiting to reconnect
    steady_duration next_attempt_delay{};
    std::string last_error;             // the latest failure, kept after recovery
    std::string config_hash;            // what the pings carry
    std::uint64_t rejected_configs = 0; // invalid config frames dropped (the current config stayed)
    std::string last_rejection;         // why the latest one was dropped
    // The CP closed the session right after basic_info, before any other frame: Kong's CP does
    // that (an empty close frame) when the node's version is incompatible. Cleared by a frame
    // that proves the node admitted.
    bool refused = false;
    std::uint64_t refusals = 0;
    // Admitted and answered, yet no config within config_wait_pings ping intervals (see
    // dp_timing). Cleared when a config frame arrives.
    bool config_withheld = false;
    std::uint64_t withheld_total = 0; // times it was detected
};

// What the driver must do. One struct rather than a std::variant: simpler to test, and GCC 12
// reports false "maybe uninitialized" warnings on variants of strings.
struct dp_action {
    enum kind_t {
        connect,         // open a connection (TCP, proxy, TLS, websocket)
        send_basic_info, // the first frame
        send_ping,       // payload: `text` (the config hash)
        deliver_config,  // hand `snapshot` to the observer
        close_session,   // close the connection; `text` says why
        drop_connection, // a close did not finish within close_timeout: drop the TCP connection now
        wait_until,      // call on_timer at `at` (replaces any earlier request)
        status_changed,  // status() changed
    };
    kind_t kind;
    std::string text;
    snapshot_ptr snapshot;
    steady_time at{};
};
using dp_action_list = std::vector<dp_action>;

class dp_session_fsm {
public:
    // `rng` must outlive the machine; tests seed it.
    dp_session_fsm(dp_timing timing, jitter& rng, std::string initial_hash = std::string(empty_config_hash));

    dp_action_list start(steady_time now);

    // The websocket handshake completed.
    dp_action_list on_connected(steady_time now);
    // TCP, proxy, TLS or websocket handshake failed.
    dp_action_list on_connect_failed(steady_time now, std::string_view error);
    dp_action_list on_pong(steady_time now);
    // A binary frame, already decoded (or rejected with a reason) by decode_reconfigure_frame.
    dp_action_list on_config_frame(steady_time now, const result<snapshot_ptr, std::string>& decoded);
    // Any other frame from the CP (text): it proves the CP alive, nothing else.
    dp_action_list on_other_frame(steady_time now);
    // A close frame from the CP, as it arrives (the driver answers it, then waits for the TCP
    // close): the session is over at once, and the peer has close_timeout to hang up.
    dp_action_list on_close_received(steady_time now, std::string_view detail);
    // A close handshake or teardown began on the connection (whoever started it, including the
    // websocket layer's answer to a protocol violation): it must end within close_timeout.
    dp_action_list on_closing(steady_time now);
    // The connection ended after a close frame from the CP (on_close_received, then
    // on_connection_closed).
    dp_action_list on_close_frame(steady_time now, std::string_view detail);
    // The CP broke the WebSocket protocol (a continuation without a start, reserved bits, an
    // oversized control frame, an unknown opcode...); the websocket layer answered with its own
    // close frame. The session is over at once, as for a close frame: disconnected with this
    // cause, the usual reconnect delay, and the peer has what is left of close_timeout to hang up.
    dp_action_list on_protocol_violation(steady_time now, std::string_view detail);
    dp_action_list on_connection_lost(steady_time now, std::string_view error);
    // The connection is closed after a close whose cause the machine already has (a close frame,
    // a violation, a stop, a close it asked for): no close is pending any more. Should the
    // machine still think the session open, the CP hung up.
    dp_action_list on_connection_closed(steady_time now);
    // Stop: close an open connection politely (within close_timeout), then nothing more:
    // no pings, no reconnects.
    dp_action_list on_stop(steady_time now);
    // The observer finished with a delivered config: applied (the pings now carry its hash) or not.
    dp_action_list on_config_applied(steady_time now, const std::string& hash, bool applied);
    // A config applied outside this session (loaded from the fallback bucket).
    dp_action_list on_external_config(steady_time now, const std::string& hash);
    // What the node advertises (version, plugins) changed: the CP reads basic_info only once per
    // session, so an open session is closed and dialled again after the usual delay.
    dp_action_list on_advertisement_changed(steady_time now);
    dp_action_list on_timer(steady_time now);

    const session_status& status() const { return status_; }
    const std::string& current_hash() const { return status_.config_hash; }
    bool delivering() const { return delivering_ != nullptr; }
    bool stopping() const { return stopping_; }
    // A close on the current connection is under way and within its deadline: the driver lets
    // the peer finish it (TLS close_notify, TCP close) until it does or drop_connection comes.
    bool close_pending() const { return close_ == close_phase::closing; }

private:
    void enter(session_state s, steady_time now, dp_action_list& out);
    void schedule_reconnect(steady_time now, dp_action_list& out);
    steady_duration draw_reconnect_delay(steady_time now);
    void ping(steady_time now, dp_action_list& out);
    void healthy(steady_time now, dp_action_list& out);
    void frame_seen(steady_time now, dp_action_list& out);
    void deliver_next(dp_action_list& out);
    enum class loss { failure, close_frame, violation };
    void lost(steady_time now, std::string_view error, loss kind, dp_action_list& out);
    void request_close(steady_time now, std::string reason, dp_action_list& out);
    void connection_ended();
    void begin_close(steady_time now);
    void rearm(dp_action_list& out);
    void config_arrived(dp_action_list& out);
    void check_withheld(steady_time now, dp_action_list& out);
    std::optional<steady_time> config_deadline() const;

    dp_timing timing_;
    jitter& rng_;
    session_status status_;
    bool started_ = false;
    bool stopping_ = false;
    // The close of the current connection: none yet; under way (no more pings on it; it must be
    // over by close_deadline_); or dropped at the deadline (never armed again for it).
    enum class close_phase { none, closing, dropped };
    close_phase close_ = close_phase::none;
    std::optional<steady_time> close_deadline_;

    // connected
    steady_time last_frame_at_{};
    steady_time next_ping_at_{};
    std::deque<steady_time> pings_in_flight_;
    bool exchanged_ = false; // a frame arrived on this connection
    steady_time connected_at_{};
    bool config_seen_ = false;      // a config frame arrived on this connection
    bool config_wait_over_ = false; // its deadline passed (no more wake-ups for it)

    // outage
    std::optional<steady_time> outage_since_;
    unsigned grow_steps_ = 0;

    // configs
    snapshot_ptr delivering_;
    snapshot_ptr pending_;

    std::optional<steady_time> armed_; // the last wait_until emitted
};

} // namespace lifeboat::protocol
