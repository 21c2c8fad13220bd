// Leader election among backup exporters, through files in the bucket, and the fenced upload
// the leader's exporter calls. The decisions live in election_fsm (rounds) and fenced_write
// (one upload); this is the thin coroutine that carries their actions out on an object_store.
//
// Use (one io_context; call everything from its thread):
//
//   election::elector elector(store, {
//       .election_prefix = backends::election_prefix(prefix, settings.node_version),
//       .node_id = settings.node_id,
//       .hostname = settings.node_hostname,
//       .interval = settings.election_interval,
//   });
//   co_spawn(ex, elector.run(), detached);        // rounds until stop()
//
//   // in the exporter, for every config to back up:
//   auto r = co_await elector.fenced_put(backends::config_key(prefix, version),
//                                        backends::body_source::from_shared(bytes),
//                                        {.content_type = "application/json", .s3_fields = ...},
//                                        {.cp_timestamp = snap.cp_timestamp, .hash = snap.hash});
//   switch (r.outcome) {
//   case fenced_outcome::uploaded: case fenced_outcome::unchanged: ...   // done
//   case fenced_outcome::not_leader: ...   // another node exports: drop this config, wait
//   case fenced_outcome::superseded: ...   // the bucket holds a newer config: drop this one
//   case fenced_outcome::error: ...        // retry later if r.error->retryable()
//   }
//
//   elector.stop();   // on shutdown: deletes the registration, so a successor takes over at
//                     // its next round; run() then returns
//
// Guarantees: at most one node's fenced_put writes at a time where the store enforces
// conditional writes (fencing "enforced" in status()), even across clock skew, process pauses
// and delayed requests; an upload never replaces a config with a higher term or a newer CP
// timestamp. Without conditional writes (fencing "unsupported") it is Kong's registration-only
// election: one leader in steady state, and the same ordering checks without the atomicity.
//
// Cost per node: two requests per interval (PUT registration, LIST election prefix), i.e. 24 per
// minute with the default 5 s; a leadership change adds a PUT and a GET, the first round the
// conditional-write probe (6 requests). A dead leader is replaced 5-15 s after it died (lease -
// interval .. lease + interval, plus one round's requests; 2 rounds of 5 s by default, see
// election_fsm.hpp), a stopped one within an interval plus one round.
#pragma once

#include "backends/object_store.hpp"
#include "base/backoff.hpp"
#include "election/election_fsm.hpp"
#include "election/fenced_write.hpp"
#include "election/status.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace lifeboat::election {

struct elector_options {
    std::string election_prefix; // backends::election_prefix(prefix, node_version); ends with '/'
    std::string node_id;
    std::string hostname;
    std::chrono::milliseconds interval{5'000}; // settings.election_interval (as fsm_config)
    unsigned lease_rounds = 2;                 // a registration unchanged this many intervals is dead
    fencing_mode fencing = fencing_mode::automatic;
    std::optional<double> register_time; // default: the wall clock at construction
    std::optional<std::uint64_t> seed;   // for the first-round jitter (tests)
    // Per store request; 0: half an interval (at least 1 s), so that a hung heartbeat is retried
    // (after a quarter interval) before the 2-round lease runs out.
    std::chrono::milliseconds op_timeout{0};
    std::chrono::milliseconds stop_timeout{3'000}; // for the delete on the way out
    std::chrono::seconds kong_interval{600};       // Kong exporters' DP_RESILIENCE_ELECTION_INTERVAL
    // The leader deletes registrations stale this long past their lease (fsm_config::forget_after).
    std::chrono::milliseconds forget_after{std::chrono::hours(24)};
};

class elector {
public:
    // `store` must outlive the elector; it may be shared with other tasks (the exporter).
    elector(backends::object_store& store, elector_options options);
    elector(const elector&) = delete;
    elector& operator=(const elector&) = delete;

    // Runs election rounds until stop() is called or the awaitable is cancelled; either way it
    // deletes this node's registration (within stop_timeout) before returning. Call once.
    boost::asio::awaitable<void> run();

    // Asks run() to finish; exporting is refused from now on.
    void stop();

    // This node leads now: the exporter may call fenced_put (which checks again anyway).
    bool is_leader() const;

    // Called after every step of the election (a round's request answered, a timer fired), so
    // the agent can refresh its status and wake the exporter when this node starts leading,
    // instead of polling.
    std::function<void()> on_step;

    // Uploads `body` to `key` only while this node leads, carrying its term, and only over an
    // older config (see fenced_write.hpp). Safe to call at any time, also before run().
    // `scope` other_version: a key in another version's folder (see term_scope).
    boost::asio::awaitable<fenced_put_result> fenced_put(std::string key, backends::body_source body,
                                                         backends::put_options options,
                                                         config_version version,
                                                         term_scope scope = term_scope::own_election);

    election_status status() const;
    const std::string& registration_key() const { return fsm_.registration_key(); }

    // A new election interval (SIGHUP): see election_fsm::set_interval. A request timeout that
    // was derived from the interval (op_timeout 0) follows it.
    void set_interval(std::chrono::milliseconds interval);

private:
    template <class T>
    boost::asio::awaitable<backends::store_result<T>>
    bounded(boost::asio::awaitable<backends::store_result<T>> op, std::chrono::milliseconds limit,
            std::string what);
    boost::asio::awaitable<action> perform(const action& a);

    backends::object_store& store_;
    elector_options options_;
    jitter random_;
    election_fsm fsm_;
    std::optional<boost::asio::steady_timer> timer_;
    bool stop_requested_ = false;
    bool cancel_seen_ = false; // run() was cancelled while a store request was in flight
    bool running_ = false;
    bool op_timeout_from_interval_ = false;
};

} // namespace lifeboat::election
