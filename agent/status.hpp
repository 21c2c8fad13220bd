// What the agent is doing now, as served by /status, /readyz and /metrics and read by
// `lifeboat status`. Each task owns its section and updates it in place; everything runs on the
// one io_context thread, so there is no locking. docs/operations.md explains every field.
#pragma once

#include "agent/loop_monitor.hpp"
#include "base/time_format.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lifeboat::agent {

using wall_time = wall_clock::time_point;

struct control_plane_status {
    std::string state = "disabled"; // disabled | connecting | connected | disconnected
    std::string endpoint;
    std::optional<wall_time> since;
    std::optional<wall_time> last_pong;
    std::optional<double> rtt_ms;
    std::uint64_t reconnects = 0; // sessions that ended and were dialled again
    std::uint64_t attempts = 0;   // failed connection attempts since the last healthy session
    std::optional<wall_time> next_attempt_at;
    std::optional<double> next_attempt_delay_s;
    std::string last_error;
    // What basic_info advertises (agent/gateway_mirror.hpp) and what the CP made of it.
    std::string node_version; // as sent to the CP
    std::uint64_t advertised_plugins = 0;
    std::string plugins_source; // catalogue | gateway | list
    std::string advertised;     // "83 plugins for 3.9.0.0 (Kong's catalogue)"
    bool refused = false;       // closed right after basic_info: Kong's version check failed
    std::uint64_t refusals = 0;
    bool config_withheld = false; // admitted and answered, yet no config (Kong's plugin gate)
    std::uint64_t withheld_total = 0;
    unsigned config_wait_pings = 3; // ping intervals waited before config_withheld
};

struct config_status {
    std::string hash;            // 32 hex, empty before any config
    std::string source = "none"; // none | cache | control_plane | fallback
    std::optional<wall_time> applied_at;
    double cp_timestamp = 0;
    std::uint64_t size_bytes = 0;
    std::uint64_t rejected = 0; // invalid configs dropped (the last good one stayed)
    std::string last_rejection;
};

struct cache_status {
    std::string state = "empty"; // loading | empty | loaded | written | corrupt | error
    std::string path;
    std::string hash;
    std::optional<wall_time> written_at;
    std::string last_error;
};

struct handoff_status {
    std::string kind = "none";  // none | file | admin_api
    std::string state = "idle"; // idle | ok | failed | pending
    std::string hash;           // the config the gateway has
    std::optional<wall_time> last_at;
    std::uint64_t failures = 0;
    std::string last_error;
};

struct import_refusal {
    std::string reason; // refusal_reason's name: unsigned, bad_signature, too_old, ...
    std::string detail;
    wall_time at;
};

struct import_status {
    bool enabled = false;
    std::string state = "idle"; // idle | waiting | fetching | imported | failed | not_needed
    std::uint64_t attempts = 0;
    std::optional<wall_time> last_at;
    std::string last_error;
    bool verification = false;                     // cluster_fallback_config_trusted_keys is set
    std::optional<import_refusal> last_refusal;    // the last backup refused by verification
    std::map<std::string, std::uint64_t> refusals; // by reason
    std::string signed_by;                         // the key id of the imported backup's signer
    std::optional<wall_time> signed_at;
    std::optional<wall_time> backup_written_at; // the imported object's Last-Modified
    std::string versions = "exact";             // cluster_fallback_config_import_versions
    std::string version;                        // the version folder the imported backup came from
    std::string key;                            // its key in the bucket
};

// The local declarative_config file, the last resort (last_resort.hpp).
struct declarative_status {
    bool enabled = false;
    std::string path;
    // off | waiting_for_control_plane | waiting_for_bucket | due | invalid | applied | replaced | not_needed
    std::string state = "off";
    std::optional<wall_time> due_at; // when the file is applied if nothing else came by then
    std::optional<wall_time> applied_at;
    std::string last_error;
};

struct election_candidate {
    std::string node_id;
    std::string registration; // <register_time>-<node_id> under the election prefix
    bool alive = false;       // its registration changed within the lease (this node's clock)
    bool self = false;
    bool kong = false;         // a Kong Enterprise exporter's registration
    double since_change_s = 0; // since this node saw it change
};

// At most this many candidates are listed in /status (this node and the live ones first); the
// rest are counted in "candidates_not_shown".
inline constexpr std::size_t max_status_candidates = 64;

struct election_status {
    bool enabled = false;
    std::string role = "disabled"; // disabled | candidate | follower | leader
    std::string leader;            // node id of the leader, empty when unknown
    bool is_leader = false;
    std::uint64_t term = 0;                     // the highest term seen
    std::uint64_t my_term = 0;                  // the term this node holds, 0 for none
    bool fencing = false;                       // the store enforces conditional writes: terms fence uploads
    std::string fencing_state = "unknown";      // unknown | enforced | unsupported | off
    std::vector<election_candidate> candidates; // every registration seen at the last list
    std::optional<double> next_round_in_s;
    double interval_s = 0;
    double lease_s = 0;
    std::uint64_t rounds = 0;
    std::uint64_t failed_rounds = 0;
    std::uint64_t elections_won = 0;  // terms this node took
    std::uint64_t leader_changes = 0; // times the leader in this node's view changed
    std::uint64_t term_changes = 0;   // times the highest term seen went up
    std::uint64_t step_downs = 0;
    std::uint64_t forgotten_registrations = 0; // stale registrations deleted as leader
    std::uint64_t failing_rounds = 0; // failed rounds in a row (degraded from 2 on)
    std::string note;                 // why fencing is not enforced
    std::string last_error;           // the last failed round
};

struct export_status {
    bool enabled = false;
    std::string last_hash;
    std::optional<wall_time> last_at;
    std::string pending_hash;
    std::uint64_t uploads = 0;
    std::uint64_t skipped = 0;  // the bucket already held that hash, or a newer config
    std::uint64_t failures = 0; // consecutive failures (0 after a success)
    std::uint64_t failures_total = 0;
    std::string last_error;
    bool signing = false;               // cluster_fallback_config_signing_key is set
    std::string signing_key_id;         // its public key's id (not a secret)
    std::optional<wall_time> signed_at; // the last signature written (upload or re-sign)
    std::uint64_t resigns = 0;
    std::uint64_t signatures_pruned = 0; // superseded signature objects deleted
    std::uint64_t empty_skipped = 0; // empty configs not exported over a non-empty backup
    // cluster_fallback_config_encryption_recipients: how many (0: uploads are not encrypted).
    std::uint64_t encryption_recipients = 0;
    std::vector<std::string> extra_versions; // cluster_fallback_config_export_versions
};

// The backup object as this node last read it (agent/backup_watch.hpp): every importer and
// exporter, not only the leader that wrote it.
struct backup_status {
    bool enabled = false; // cluster_fallback_config_watch_interval > 0 and storage configured
    std::string key;
    std::string state = "unknown";       // unknown | present | absent | error
    std::optional<wall_time> written_at; // its Last-Modified
    std::string hash;                    // lifeboat-config-hash metadata (empty: not a lifeboat upload)
    std::string uploader;                // the writing node's id (Kong's `uploader` metadata)
    std::uint64_t size_bytes = 0;
    std::optional<wall_time> checked_at;
    std::uint64_t checks = 0;
    std::uint64_t check_failures = 0;
    double interval_s = 0;
    std::string last_error;
};

// The status endpoint's own load: a flood of clients is shed, never allowed to grow the agent.
struct status_endpoint_status {
    std::uint64_t open_connections = 0;
    std::uint64_t accepted_total = 0;
    std::uint64_t shed_total = 0; // connections closed to make room for newer ones (the cap was reached)
};

struct agent_status {
    std::string node_id;
    std::string node_version;
    std::string hostname;
    std::string storage; // the fallback storage URL (no secrets in it)
    wall_time started_at = wall_clock::now();
    control_plane_status control_plane;
    config_status config;
    cache_status cache;
    handoff_status handoff;
    import_status import;
    election_status election;
    export_status exporter;
    declarative_status declarative;
    backup_status backup;
    std::uint64_t task_restarts = 0;
    status_endpoint_status endpoint;
    loop_status loop; // the event loop this agent runs on, as its own monitor measures it

    // healthy: nothing needs attention. degraded: something does; the reasons say what.
    std::vector<std::string> degraded_reasons() const;
    // Why the CP refuses this node or withholds its config, in words an operator can act on.
    std::string refused_reason() const;
    std::string withheld_reason() const;
    // ready: a config is applied and the gateway has it (or there is no gateway to hand to).
    bool ready(std::string& why) const;
};

boost::json::object to_json(const agent_status& s);
std::string to_prometheus(const agent_status& s);

} // namespace lifeboat::agent
