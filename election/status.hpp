// What the election looks like from one node, for `lifeboat status`, /status and /metrics.
#pragma once

#include "base/backoff.hpp"

#include <boost/json/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lifeboat::election {

enum class role {
    candidate, // may lead soon: no view of the others yet, or leads by registration but holds no term
    follower,  // another node leads
    leader,    // this node exports
    disabled,  // the election is not running (export off, or stopped)
};
const char* to_string(role r);

// How the leader is protected against a paused or partitioned predecessor.
enum class fencing_state {
    unknown,     // not probed yet (or the probe failed): nobody leads until it is known
    enforced,    // the store refuses a create-if-absent over an existing object: terms fence
    unsupported, // the store ignores conditional writes: registration-only election, as Kong
    off,         // switched off by configuration
};
const char* to_string(fencing_state f);

struct candidate_status {
    std::string node_id;
    double register_time = 0;
    std::string registration; // the key's name under the election prefix
    bool alive = false;
    bool kong = false; // a Kong exporter's registration (empty object)
    bool self = false;
    steady_duration since_change{}; // on this node's monotonic clock
};

struct election_counters {
    std::uint64_t rounds = 0;
    std::uint64_t failed_rounds = 0;           // a register, list or probe failed; the previous view was kept
    std::uint64_t elections_won = 0;           // terms this node took
    std::uint64_t term_changes = 0;            // times the highest term seen went up
    std::uint64_t leader_changes = 0;          // times the leader in this node's view changed
    std::uint64_t step_downs = 0;              // times this node stopped leading
    std::uint64_t fenced_uploads = 0;          // fenced_put that wrote
    std::uint64_t fenced_refusals = 0;         // fenced_put refused (not leader, superseded)
    std::uint64_t forgotten_registrations = 0; // stale registrations this node deleted as leader
};

struct election_status {
    role my_role = role::disabled;
    std::string node_id;
    std::string registration;               // this node's registration name
    std::optional<candidate_status> leader; // the leader in this node's view
    std::uint64_t term = 0;                 // the highest term seen
    std::uint64_t my_term = 0;              // the term this node holds, 0 for none
    fencing_state fencing = fencing_state::unknown;
    std::string fencing_note; // why fencing is not enforced
    std::vector<candidate_status> candidates;
    std::optional<steady_duration> next_round_in;
    steady_duration interval{};
    steady_duration lease{};
    election_counters counters;
    std::uint64_t failing_rounds = 0; // failed rounds in a row, 0 after a good one
    std::string last_error;
};

// {"role":"leader","leader":{"node_id":...},"term":4,"fencing":"enforced",...}; durations in ms.
boost::json::value to_json(const election_status& s);

} // namespace lifeboat::election
