// The leader-election decisions, without I/O: events and the monotonic time go in, actions come
// out. election/elector.hpp drives it over an object_store; tests drive it on a virtual clock.
//
// One round every `interval`:
//   [probe conditional writes, once] -> put this node's registration -> list the election prefix
//   -> (the earliest live registration is this node and it holds no current term)
//        create terms/<highest+1> if absent -> read it back to confirm this node owns it
//   -> (leader) delete terms older than the newest `terms_kept`, and long-dead registrations
//   -> wait for the next round: an interval after this one started, sooner when the leader's
//      lease ends first (an extra round only while the leader stops renewing) or to retry the
//      first failed round after good ones (a quarter interval).
//
// Liveness never compares clocks. A registration is alive while its (ETag, LastModified, size)
// keeps changing as observed on this node's monotonic clock, as client-go does with its
// observedTime; a node's own registration is alive while its own puts succeed. A registration
// seen for the first time counts as alive from that moment, unless the store's own clock (its
// `Date` header) says it has not changed for two leases.
//
// Fencing: a leader holds a term taken with a create-if-absent write. Every upload carries the
// term (election/fenced_write.hpp), and a node that sees a higher term stops exporting at once.
// On a store that ignores conditional writes the election falls back to Kong's scheme
// (registrations only) and says so in the status and the log.
//
// The driver keeps at most one action in flight: every action but `wait` and `stopped` must be
// answered with its on_* event before anything else is fed, except observe_term(), which may come
// at any time. stop() may be called whenever no action is in flight (e.g. instead of on_timer).
#pragma once

#include "backends/object_store.hpp"
#include "base/backoff.hpp"
#include "election/registration.hpp"
#include "election/status.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace lifeboat::election {

using steady_time = std::chrono::steady_clock::time_point;

enum class fencing_mode {
    automatic, // probe the store; fence where it enforces conditional writes
    enforced,  // assume it does (skips the probe)
    off,       // registrations only, as Kong
};

struct fsm_config {
    std::string election_prefix; // backends::election_prefix(prefix, node_version); ends with '/'
    std::string node_id;
    std::string hostname; // informational, written in the registration body
    // Wall-clock seconds (Kong's ngx.now()) at start(); the registration's time is this plus the
    // monotonic time until the first registration, and stays fixed after that.
    double register_time = 0;
    // Defaults: a round every 5 s and a lease of 2 rounds (10 s). A crashed leader is replaced
    // 5-15 s after it died: its lease runs from when a follower last saw its registration change
    // (up to one interval after the real heartbeat), and the follower runs an extra round the
    // moment that lease ends instead of waiting for its next one. A gracefully stopped leader is
    // replaced within one interval. The cost is 2 requests per node per round (PUT + LIST), 24 a
    // minute: about 1 million requests, ~5 USD of S3 requests, per node per month. One failed or
    // timed-out heartbeat does not cost the lease: a failed round is retried after a quarter
    // interval, and a request times out after half an interval (elector.hpp).
    steady_duration interval = std::chrono::seconds(5);
    // A registration unchanged for lease_rounds * interval is dead; the leader itself stops half
    // an interval earlier (renew deadline). At least 2: a live node's change is always observed
    // within one interval plus the jitter of two requests.
    unsigned lease_rounds = 2;
    // Kong exporters re-register every DP_RESILIENCE_ELECTION_INTERVAL (600 s by default) and
    // count a registration fresh for 5 s more; their (empty) registrations get that lease here.
    steady_duration kong_interval = std::chrono::seconds(600);
    steady_duration first_round_max_delay = std::chrono::seconds(5); // capped at interval
    // After a failed round that followed a good one, the next round comes this fraction of an
    // interval later (not a whole interval), so one lost heartbeat does not lapse the lease.
    unsigned retry_divisor = 4;
    fencing_mode fencing = fencing_mode::automatic;
    std::uint64_t terms_kept = 8; // the leader deletes older terms
    // ... and registrations unchanged this long past their lease: a day, far beyond Kong's own
    // 600 s rounds, so a live exporter (lifeboat or Kong) is never touched. Measured on this
    // node's clock, or on the store's own (its Date against the LastModified) for one seen first.
    steady_duration forget_after = std::chrono::hours(24);
    std::size_t max_removals_per_round = 16;
};

namespace act {
struct wait {
    steady_time until;
};
struct probe { // backends::probe_conditional_writes(store, scratch_prefix)
    std::string scratch_prefix;
};
struct put_registration { // plain put, content type application/json
    std::string key;
    std::string body;
};
struct list {
    std::string prefix;
};
struct create_term { // put with write_condition::if_absent
    std::uint64_t term = 0;
    std::string key;
    std::string body;
};
struct read_term { // get, to confirm who owns the term
    std::uint64_t term = 0;
    std::string key;
};
struct remove {
    std::string key;
    std::string expected_version; // version_token() as listed; empty: unconditional
};
struct stopped {};
} // namespace act

using action = std::variant<act::wait, act::probe, act::put_registration, act::list, act::create_term,
                            act::read_term, act::remove, act::stopped>;

const char* action_name(const action& a);

class election_fsm {
public:
    election_fsm(fsm_config config, jitter& random);

    // The first round starts after a random delay in [0, min(first_round_max_delay, interval)].
    action start(steady_time now);
    action on_timer(steady_time now);
    action on_probe(steady_time now, const backends::store_result<bool>& r);
    action on_registered(steady_time now, const backends::store_result<backends::object_info>& r);
    // store_date: the store's clock at the time of the answer (object_store::last_server_date()).
    action on_listed(steady_time now, const backends::store_result<std::vector<backends::object_info>>& r,
                     std::optional<wall_clock::time_point> store_date = std::nullopt);
    action on_term_created(steady_time now, const backends::store_result<backends::object_info>& r);
    action on_term_read(steady_time now, const backends::store_result<backends::object_data>& r);
    action on_removed(steady_time now, const backends::store_result<void>& r);

    // Graceful stop: delete this node's registration (so a successor takes over at its next
    // round), then act::stopped. Exporting is refused from this call on.
    action stop(steady_time now);

    // An upload found `term` on the object it was about to replace (fenced_write). A higher term
    // than this node's ends its leadership at once.
    void observe_term(steady_time now, std::uint64_t term);
    void count_upload(bool written);

    // True while this node leads: it is the earliest live registration, holds the highest term
    // (when fencing), and renewed its registration within the renew deadline.
    bool may_export(steady_time now) const;
    role current_role(steady_time now) const;
    std::uint64_t my_term() const { return my_term_; }
    std::uint64_t highest_term() const { return term_max_; }
    fencing_state fencing() const { return fencing_; }
    bool stopping() const { return stopping_; }
    const std::string& registration_key() const { return self_key_; }
    // A new interval, from a configuration re-read (SIGHUP): the lease and the renew deadline
    // follow it at once; the round already scheduled keeps its time and the ones after it use the
    // new interval. Nodes judge each other's registrations by their own interval, so a fleet
    // changes it on every exporter together (docs/election.md).
    void set_interval(steady_duration interval);
    steady_duration interval() const { return config_.interval; }
    steady_duration lease() const { return lease_; }
    steady_duration renew_deadline() const { return renew_deadline_; }
    election_status status(steady_time now) const;

private:
    struct tracked {
        registration_name reg;
        std::string key;
        std::string token;   // what must change for the registration to count as renewed
        std::string version; // for a conditional delete
        bool kong = false;
        steady_time last_change{};
    };

    enum class phase {
        idle,
        waiting,
        probing,
        removing_old,
        registering,
        listing,
        creating_term,
        reading_term,
        collecting,
        stopping,
        stopped
    };

    void lapse(steady_time now); // come back as a new registration at the back of the queue
    action begin_register(steady_time now);
    action finish_round(steady_time now);
    action next_removal(steady_time now);
    action fail_round(steady_time now, std::string_view step, const backends::store_error& e);
    void evaluate(steady_time now);
    std::optional<steady_time> leader_expiry(steady_time now) const;
    void raise_term(std::uint64_t term, std::string_view how);
    void lose_leadership(steady_time now, std::string_view reason);
    void plan_garbage(steady_time now);
    bool self_alive(steady_time now) const;
    bool alive(const tracked& t, steady_time now) const;
    steady_duration lease_for(const tracked& t) const;
    void apply_interval(steady_duration interval);
    void set_registration(double register_time);
    std::string registration_body();
    std::string term_body(std::uint64_t term) const;
    candidate_status describe(const tracked& t, steady_time now) const;

    fsm_config config_;
    jitter& random_;
    steady_duration lease_;
    steady_duration renew_deadline_;
    steady_time started_at_{};

    phase phase_ = phase::idle;
    bool stopping_ = false;
    fencing_state fencing_ = fencing_state::unknown;
    std::string fencing_note_;

    // This node's registration.
    registration_name self_;
    std::string self_key_;
    std::uint64_t heartbeat_seq_ = 0;
    bool ever_put_ = false;                   // a put was sent for self_key_ (so stop deletes it)
    std::optional<steady_time> last_renewal_; // when the last successful put was *sent*
    steady_time register_sent_at_{};
    std::vector<std::string> old_keys_; // this node's lapsed registrations, to delete

    // The view from the last successful list.
    std::map<std::string, tracked> candidates_; // by key
    bool evaluated_ = false;
    bool first_list_done_ = false;
    std::optional<std::string> leader_key_;
    std::uint64_t term_max_ = 0;
    std::vector<std::pair<std::uint64_t, std::string>> term_keys_; // as listed
    std::map<std::string, std::string> duplicate_id_tokens_; // another process using our id (warned once)

    // Term acquisition.
    std::uint64_t my_term_ = 0;
    std::uint64_t acquiring_term_ = 0;
    bool create_reported_ok_ = false;

    bool leading_announced_ = false; // "chosen as leader" was logged and not yet taken back

    // Removals planned for this round.
    std::vector<act::remove> removals_;
    std::set<std::string> forgetting_; // stale registrations among the removals
    std::string current_removal_;

    steady_time round_started_{};
    std::optional<steady_time> next_round_at_;
    election_counters counters_;
    std::string last_error_;
    unsigned consecutive_failures_ = 0;
    // The store's answers already logged since the last good round (code, HTTP status, provider
    // code): a store refusing this node's credentials, or down, fails every round the same way,
    // and one line says so; /status counts the rounds and keeps the last error.
    std::set<std::string> reported_failures_;
    bool first_report(const backends::store_error& e);
};

} // namespace lifeboat::election
