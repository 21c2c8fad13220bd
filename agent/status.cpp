#include "agent/status.hpp"

#include "agent/loop_monitor.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

namespace lifeboat::agent {
namespace {

boost::json::value time_or_null(const std::optional<wall_time>& t) {
    if (!t)
        return nullptr;
    return boost::json::value(format_iso8601(*t));
}

template <class T>
boost::json::value or_null(const std::optional<T>& v) {
    if (!v)
        return nullptr;
    return boost::json::value(*v);
}

boost::json::value text_or_null(const std::string& s) {
    if (s.empty())
        return nullptr;
    return boost::json::value(s);
}

boost::json::value refusal_or_null(const std::optional<import_refusal>& r) {
    if (!r)
        return nullptr;
    return boost::json::object{{"reason", r->reason}, {"detail", r->detail}, {"at", format_iso8601(r->at)}};
}

// Whether the bucket's backup is the config this node runs: unknown (nullopt) until both hashes
// are known (a Kong exporter's object carries none).
std::optional<bool> backup_holds_current(const agent_status& s) {
    if (s.backup.state != "present" || s.backup.hash.empty() || s.config.hash.empty())
        return std::nullopt;
    return s.backup.hash == s.config.hash;
}

double seconds_since(wall_time t) {
    return std::chrono::duration<double>(wall_clock::now() - t).count();
}

} // namespace

std::string agent_status::refused_reason() const {
    return fmt::format("the control plane refused this node: it closed the session right after basic_info, "
                       "as Kong's CP does when the node's version fails its check (node_version {} must have "
                       "the CP's major version and a minor no newer than the CP's; its log says \"data plane "
                       "version ... is incompatible\")",
                       control_plane.node_version.empty() ? node_version : control_plane.node_version);
}

std::string agent_status::withheld_reason() const {
    return fmt::format("no config from the control plane within {} ping intervals although it answers pings: "
                       "the CP withholds "
                       "configs from data planes that lack a plugin the config uses or run another plugin "
                       "version; this node "
                       "advertises {}. Add the missing plugins to dp_plugins (+name:x.y.z, or auto to mirror "
                       "the gateway) or "
                       "set allow_inconsistent_data_plane_plugins on the CP (Kong Enterprise); the CP's log "
                       "names the plugin "
                       "(\"unable to send updated configuration to data plane\")",
                       control_plane.config_wait_pings,
                       control_plane.advertised.empty() ? std::string("its plugins")
                                                        : control_plane.advertised);
}

std::vector<std::string> agent_status::degraded_reasons() const {
    std::vector<std::string> r;
    if (control_plane.refused)
        r.push_back(refused_reason());
    if (control_plane.config_withheld)
        r.push_back(withheld_reason());
    if (control_plane.state != "disabled" && control_plane.state != "connected")
        r.push_back("control plane " + control_plane.state +
                    (control_plane.last_error.empty() ? "" : ": " + control_plane.last_error));
    if (config.source == "fallback")
        r.push_back("serving the fallback config from the bucket, not the control plane's");
    if (config.source == "declarative_config")
        r.push_back("serving the local declarative_config file " + declarative.path +
                    ": no cache, no control plane and no usable backup");
    if (declarative.state == "invalid")
        r.push_back("declarative_config cannot be applied: " + declarative.last_error);
    if (cache.state == "corrupt" || cache.state == "error")
        r.push_back("cache " + cache.state + (cache.last_error.empty() ? "" : ": " + cache.last_error));
    if (handoff.state == "failed")
        r.push_back("gateway hand-off failed: " + handoff.last_error);
    if (import.state == "failed" || (import.state == "fetching" && import.attempts > 1))
        r.push_back("fallback import not done: " + import.last_error);
    // A follower whose rounds fail cannot take over when the leader dies; one failure is retried
    // within a quarter interval, so two in a row mean the store is out of reach.
    if (election.enabled && election.failing_rounds >= 2)
        r.push_back("election rounds failing (" + std::to_string(election.failing_rounds) +
                    " in a row): " + election.last_error);
    else if (election.enabled && election.fencing_state == "unknown" && election.rounds >= 2)
        r.push_back("election: the store could not be probed for conditional writes, so this node cannot "
                    "lead: " +
                    election.last_error);
    if (exporter.enabled && exporter.failures > 0)
        r.push_back("export failing: " + exporter.last_error);
    return r;
}

bool agent_status::ready(std::string& why) const {
    if (config.source == "none") {
        why = control_plane.config_withheld ? withheld_reason()
              : control_plane.refused       ? refused_reason()
                                            : std::string("no config yet");
        return false;
    }
    if (handoff.kind != "none" && handoff.state != "ok") {
        why = "the gateway does not have the config yet (hand-off " + handoff.state + ")";
        return false;
    }
    why = config.source == "fallback"             ? "serving the fallback config from the bucket"
          : config.source == "declarative_config" ? "serving the local declarative_config file"
                                                  : "serving the config from " + config.source;
    return true;
}

boost::json::object to_json(const agent_status& s) {
    const auto& loop = s.loop;
    namespace json = boost::json;
    const auto reasons = s.degraded_reasons();
    std::string ready_why;
    const bool is_ready = s.ready(ready_why);
    json::array reasons_json;
    for (const auto& r : reasons)
        reasons_json.emplace_back(r);
    // A bucket may hold any number of registrations (stale ones, or a flood): /status shows this
    // node, the live ones and then the others up to max_status_candidates, and counts the rest.
    json::array candidates;
    std::vector<const election_candidate*> shown;
    for (const auto& c : s.election.candidates)
        if ((c.self || c.alive) && shown.size() < max_status_candidates)
            shown.push_back(&c);
    for (const auto& c : s.election.candidates)
        if (!(c.self || c.alive) && shown.size() < max_status_candidates)
            shown.push_back(&c);
    const auto not_shown = s.election.candidates.size() - shown.size();
    for (const auto* c : shown)
        candidates.emplace_back(json::object{{"node_id", c->node_id},
                                             {"registration", c->registration},
                                             {"alive", c->alive},
                                             {"self", c->self},
                                             {"kong", c->kong},
                                             {"since_change_s", c->since_change_s}});

    return json::object{
        {"node_id", s.node_id},
        {"version", LIFEBOAT_VERSION},
        {"node_version", s.node_version},
        {"hostname", s.hostname},
        {"started_at", format_iso8601(s.started_at)},
        {"uptime_s", seconds_since(s.started_at)},
        {"health", reasons.empty() ? "healthy" : "degraded"},
        {"degraded_reasons", std::move(reasons_json)},
        {"ready", is_ready},
        {"ready_reason", ready_why},
        {"roles", json::object{{"import", s.import.enabled}, {"export", s.exporter.enabled}}},
        {"storage", text_or_null(s.storage)},
        {"control_plane",
         json::object{
             {"state", s.control_plane.state},
             {"endpoint", text_or_null(s.control_plane.endpoint)},
             {"since", time_or_null(s.control_plane.since)},
             {"last_pong", time_or_null(s.control_plane.last_pong)},
             {"rtt_ms", or_null(s.control_plane.rtt_ms)},
             {"reconnects", s.control_plane.reconnects},
             {"attempts", s.control_plane.attempts},
             {"next_attempt_at", time_or_null(s.control_plane.next_attempt_at)},
             {"next_attempt_delay_s", or_null(s.control_plane.next_attempt_delay_s)},
             {"last_error", text_or_null(s.control_plane.last_error)},
             {"node_version", text_or_null(s.control_plane.node_version)},
             {"advertised_plugins", s.control_plane.advertised_plugins},
             {"plugins_source", text_or_null(s.control_plane.plugins_source)},
             {"advertised", text_or_null(s.control_plane.advertised)},
             {"refused", s.control_plane.refused},
             {"refusals", s.control_plane.refusals},
             {"config_withheld", s.control_plane.config_withheld},
             {"config_withheld_total", s.control_plane.withheld_total},
         }},
        {"config",
         json::object{
             {"hash", text_or_null(s.config.hash)},
             {"source", s.config.source},
             {"applied_at", time_or_null(s.config.applied_at)},
             {"cp_timestamp",
              s.config.cp_timestamp == 0 ? json::value(nullptr) : json::value(s.config.cp_timestamp)},
             {"size_bytes", s.config.size_bytes},
             {"rejected", s.config.rejected},
             {"last_rejection", text_or_null(s.config.last_rejection)},
         }},
        {"cache",
         json::object{
             {"state", s.cache.state},
             {"path", text_or_null(s.cache.path)},
             {"hash", text_or_null(s.cache.hash)},
             {"written_at", time_or_null(s.cache.written_at)},
             {"last_error", text_or_null(s.cache.last_error)},
         }},
        {"handoff",
         json::object{
             {"kind", s.handoff.kind},
             {"state", s.handoff.state},
             {"hash", text_or_null(s.handoff.hash)},
             {"last_at", time_or_null(s.handoff.last_at)},
             {"failures", s.handoff.failures},
             {"last_error", text_or_null(s.handoff.last_error)},
         }},
        {"import",
         json::object{
             {"enabled", s.import.enabled},
             {"state", s.import.state},
             {"attempts", s.import.attempts},
             {"last_at", time_or_null(s.import.last_at)},
             {"last_error", text_or_null(s.import.last_error)},
             {"backup_written_at", time_or_null(s.import.backup_written_at)},
             {"backup_age_s", s.import.backup_written_at
                                  ? json::value(seconds_since(*s.import.backup_written_at))
                                  : json::value(nullptr)},
             {"verification", s.import.verification},
             {"last_refusal", refusal_or_null(s.import.last_refusal)},
             {"signed_by", text_or_null(s.import.signed_by)},
             {"signed_at", time_or_null(s.import.signed_at)},
             {"versions", s.import.versions},
             {"version", text_or_null(s.import.version)},
             {"key", text_or_null(s.import.key)},
         }},
        {"election",
         json::object{
             {"enabled", s.election.enabled},
             {"role", s.election.role},
             {"leader", text_or_null(s.election.leader)},
             {"is_leader", s.election.is_leader},
             {"term", s.election.term},
             {"my_term", s.election.my_term},
             {"fencing", s.election.fencing},
             {"fencing_state", s.election.fencing_state},
             {"candidates", std::move(candidates)},
             {"candidates_not_shown", not_shown},
             {"next_round_in_s", or_null(s.election.next_round_in_s)},
             {"interval_s", s.election.interval_s},
             {"lease_s", s.election.lease_s},
             {"rounds", s.election.rounds},
             {"failed_rounds", s.election.failed_rounds},
             {"elections_won", s.election.elections_won},
             {"leader_changes", s.election.leader_changes},
             {"term_changes", s.election.term_changes},
             {"step_downs", s.election.step_downs},
             {"forgotten_registrations", s.election.forgotten_registrations},
             {"failing_rounds", s.election.failing_rounds},
             {"note", text_or_null(s.election.note)},
             {"last_error", text_or_null(s.election.last_error)},
         }},
        {"export",
         json::object{
             {"enabled", s.exporter.enabled},
             {"last_hash", text_or_null(s.exporter.last_hash)},
             {"last_at", time_or_null(s.exporter.last_at)},
             {"pending_hash", text_or_null(s.exporter.pending_hash)},
             {"uploads", s.exporter.uploads},
             {"skipped", s.exporter.skipped},
             {"failures", s.exporter.failures},
             {"failures_total", s.exporter.failures_total},
             {"current", s.config.source == "control_plane" && !s.exporter.last_hash.empty() &&
                             s.exporter.last_hash == s.config.hash},
             {"last_success_age_s",
              s.exporter.last_at ? json::value(seconds_since(*s.exporter.last_at)) : json::value(nullptr)},
             {"last_error", text_or_null(s.exporter.last_error)},
             {"signing", s.exporter.signing},
             {"signing_key_id", text_or_null(s.exporter.signing_key_id)},
             {"signed_at", time_or_null(s.exporter.signed_at)},
             {"resigns", s.exporter.resigns},
             {"signatures_pruned", s.exporter.signatures_pruned},
             {"empty_skipped", s.exporter.empty_skipped},
             {"encryption_recipients", s.exporter.encryption_recipients},
             {"extra_versions",
              [&] {
                  json::array versions;
                  for (const auto& v : s.exporter.extra_versions)
                      versions.emplace_back(v);
                  return versions;
              }()},
         }},
        {"declarative_config",
         json::object{
             {"enabled", s.declarative.enabled},
             {"path", text_or_null(s.declarative.path)},
             {"state", s.declarative.state},
             {"due_at", time_or_null(s.declarative.due_at)},
             {"applied_at", time_or_null(s.declarative.applied_at)},
             {"last_error", text_or_null(s.declarative.last_error)},
         }},
        {"backup",
         json::object{
             {"enabled", s.backup.enabled},
             {"key", text_or_null(s.backup.key)},
             {"state", s.backup.state},
             {"written_at", time_or_null(s.backup.written_at)},
             {"age_s", s.backup.written_at ? json::value(seconds_since(*s.backup.written_at))
                                           : json::value(nullptr)},
             {"hash", text_or_null(s.backup.hash)},
             {"holds_current", backup_holds_current(s) ? json::value(*backup_holds_current(s))
                                                       : json::value(nullptr)},
             {"uploader", text_or_null(s.backup.uploader)},
             {"size_bytes", s.backup.size_bytes},
             {"checked_at", time_or_null(s.backup.checked_at)},
             {"checks", s.backup.checks},
             {"check_failures", s.backup.check_failures},
             {"interval_s", s.backup.interval_s},
             {"last_error", text_or_null(s.backup.last_error)},
         }},
        {"task_restarts", s.task_restarts},
        {"loop", // this agent's event loop, by its own monitor (agent/loop_monitor.hpp)
         {
             {"max_late_ms", loop.max_late_ms},
             {"max_busy_ms", loop.max_busy_ms},
             {"long_turns", loop.long_turns},
             {"ticks", loop.ticks},
         }},
    };
}

std::string to_prometheus(const agent_status& s) {
    const auto& loop = s.loop;
    std::string out;
    auto metric = [&](std::string_view name, std::string_view type, std::string_view help, double value,
                      std::string_view labels = {}) {
        out += fmt::format("# HELP lifeboat_{} {}\n# TYPE lifeboat_{} {}\n", name, help, name, type);
        out += fmt::format("lifeboat_{}{}{}{} {}\n", name, labels.empty() ? "" : "{", labels,
                           labels.empty() ? "" : "}", value);
    };
    const auto reasons = s.degraded_reasons();
    std::string why;
    metric("up", "gauge", "1 while the agent runs.", 1);
    metric("healthy", "gauge", "1 when nothing needs attention (see /status degraded_reasons).",
           reasons.empty());
    metric("ready", "gauge", "1 when a config is applied and handed to the gateway.", s.ready(why));
    metric("control_plane_connected", "gauge", "1 while the control-plane session is up.",
           s.control_plane.state == "connected");
    metric("control_plane_reconnects_total", "counter", "Control-plane sessions dialled again after ending.",
           static_cast<double>(s.control_plane.reconnects));
    metric("control_plane_config_withheld", "gauge",
           "1 while the control plane answers pings but withholds configs from this node (its plugin gate).",
           s.control_plane.config_withheld);
    metric("control_plane_config_withheld_total", "counter",
           "Times the control plane was found withholding configs (no config within the ping intervals).",
           static_cast<double>(s.control_plane.withheld_total));
    metric("control_plane_refused", "gauge",
           "1 while the control plane refuses this node (closed right after basic_info: its version check).",
           s.control_plane.refused);
    metric("control_plane_refusals_total", "counter",
           "Sessions the control plane closed right after basic_info.",
           static_cast<double>(s.control_plane.refusals));
    metric("control_plane_advertised_plugins", "gauge", "Plugins this node advertises to the control plane.",
           static_cast<double>(s.control_plane.advertised_plugins));
    if (s.control_plane.rtt_ms)
        metric("control_plane_rtt_seconds", "gauge", "Round trip of the last heartbeat.",
               *s.control_plane.rtt_ms / 1000);
    metric("config_info", "gauge", "The applied config (labels: hash, source).", 1,
           fmt::format("hash=\"{}\",source=\"{}\"", s.config.hash, s.config.source));
    if (s.config.applied_at)
        metric("config_applied_timestamp_seconds", "gauge", "When the current config was applied.",
               to_epoch_seconds(*s.config.applied_at));
    metric("config_rejected_total", "counter", "Invalid configs dropped.",
           static_cast<double>(s.config.rejected));
    metric("handoff_failures_total", "counter", "Failed hand-offs to the gateway.",
           static_cast<double>(s.handoff.failures));
    metric("import_attempts_total", "counter", "Fallback fetch attempts.",
           static_cast<double>(s.import.attempts));
    if (s.import.verification || !s.import.refusals.empty()) {
        // Every reason, also at 0, so that an alert on rate() sees the first refusal.
        out += "# HELP lifeboat_import_refusals_total Backups refused by verification or decryption (label: "
               "reason).\n"
               "# TYPE lifeboat_import_refusals_total counter\n";
        for (const auto& [reason, count] : s.import.refusals)
            out += fmt::format("lifeboat_import_refusals_total{{reason=\"{}\"}} {}\n", reason, count);
    }
    metric("export_uploads_total", "counter", "Configs uploaded to the fallback storage.",
           static_cast<double>(s.exporter.uploads));
    metric("export_skipped_total", "counter",
           "Exports skipped: the bucket already held that config or a newer one.",
           static_cast<double>(s.exporter.skipped));
    metric("export_failures_total", "counter", "Failed export attempts.",
           static_cast<double>(s.exporter.failures_total));
    metric("export_resigns_total", "counter",
           "Backup signatures refreshed (cluster_fallback_config_max_age).",
           static_cast<double>(s.exporter.resigns));
    metric("export_signatures_pruned_total", "counter",
           "Superseded backup signature objects deleted from the bucket.",
           static_cast<double>(s.exporter.signatures_pruned));
    metric("export_empty_skipped_total", "counter",
           "Empty configs not exported over a backup that has services, routes or plugins.",
           static_cast<double>(s.exporter.empty_skipped));
    if (s.election.enabled) {
        metric("election_is_leader", "gauge", "1 while this node leads the exporters.", s.election.is_leader);
        metric("election_term", "gauge", "The highest leader term seen.",
               static_cast<double>(s.election.term));
        metric("election_fencing_enforced", "gauge",
               "1 when the store enforces conditional writes (terms fence uploads); 0 when it ignores "
               "them (registration-only election) or before the probe.",
               s.election.fencing);
        std::size_t alive = 0;
        for (const auto& c : s.election.candidates)
            alive += c.alive;
        metric("election_candidates", "gauge",
               "Live registrations seen at the last list (this node included).", static_cast<double>(alive));
        if (s.election.next_round_in_s)
            metric("election_next_round_seconds", "gauge", "Time to this node's next election round.",
                   *s.election.next_round_in_s);
        metric("election_rounds_total", "counter", "Election rounds run.",
               static_cast<double>(s.election.rounds));
        metric("election_failed_rounds_total", "counter",
               "Election rounds that failed (register, list or probe); the previous view was kept.",
               static_cast<double>(s.election.failed_rounds));
        metric("election_elections_won_total", "counter", "Leader terms this node took.",
               static_cast<double>(s.election.elections_won));
        metric("election_leader_changes_total", "counter", "Times the leader in this node's view changed.",
               static_cast<double>(s.election.leader_changes));
        metric("election_term_changes_total", "counter", "Times the highest leader term seen went up.",
               static_cast<double>(s.election.term_changes));
    }
    if (s.import.backup_written_at)
        metric("import_backup_timestamp_seconds", "gauge",
               "When the imported backup was written to the bucket (its Last-Modified).",
               to_epoch_seconds(*s.import.backup_written_at));
    if (s.exporter.enabled) {
        // The leader's view: the bucket holds the config this node has from the CP (uploaded, or
        // found there already). Followers do not upload: 0 there means nothing.
        metric("export_current", "gauge",
               "1 when this node's last successful export is the control plane's current config.",
               s.config.source == "control_plane" && !s.exporter.last_hash.empty() &&
                   s.exporter.last_hash == s.config.hash);
        if (s.exporter.last_at)
            metric("export_last_success_timestamp_seconds", "gauge",
                   "When this node last exported successfully (or found the bucket already current).",
                   to_epoch_seconds(*s.exporter.last_at));
    }
    if (s.backup.enabled) {
        // The backup as this node last read it (every importer and exporter, not only the leader).
        metric("backup_present", "gauge", "1 when the last read of the backup found it in the bucket.",
               s.backup.state == "present");
        metric("backup_checks_total", "counter", "Reads of the backup's metadata (HEAD).",
               static_cast<double>(s.backup.checks));
        metric("backup_check_failures_total", "counter", "Reads of the backup's metadata that failed.",
               static_cast<double>(s.backup.check_failures));
        if (s.backup.checked_at)
            metric("backup_checked_timestamp_seconds", "gauge", "When the backup's metadata was last read.",
                   to_epoch_seconds(*s.backup.checked_at));
        if (s.backup.written_at) {
            metric("backup_last_modified_timestamp_seconds", "gauge",
                   "When the backup in the bucket was written (its Last-Modified, as last read).",
                   to_epoch_seconds(*s.backup.written_at));
            metric("backup_age_seconds", "gauge",
                   "How old the backup in the bucket is (from its Last-Modified).",
                   seconds_since(*s.backup.written_at));
        }
        if (auto current = backup_holds_current(s))
            metric("backup_holds_current_config", "gauge",
                   "1 when the backup in the bucket is the config this node runs (config hashes compared).",
                   *current);
    }
    if (s.declarative.enabled)
        metric("declarative_config_applied", "gauge",
               "1 while the node serves its local declarative_config file (the last resort).",
               s.config.source == "declarative_config");
    metric("task_restarts_total", "counter", "Agent tasks restarted after a failure.",
           static_cast<double>(s.task_restarts));
    metric("status_connections", "gauge", "Connections open to the status endpoint.",
           static_cast<double>(s.endpoint.open_connections));
    metric("status_connections_shed_total", "counter",
           "Status connections closed to make room for newer ones (the connection cap was reached).",
           static_cast<double>(s.endpoint.shed_total));
    metric("loop_max_late_seconds", "gauge",
           "The latest the event loop's monitor tick ran past its due time since the start (wall clock).",
           loop.max_late_ms / 1000);
    metric("loop_max_busy_seconds", "gauge",
           "The most CPU time the event loop spent past a monitor tick's due time before running it, "
           "since the start (one long stretch of work on the loop; machine load does not count).",
           loop.max_busy_ms / 1000);
    metric("loop_long_turns_total", "counter",
           "Monitor ticks held up by at least 50 ms of CPU work on the event loop.",
           static_cast<double>(loop.long_turns));
    return out;
}

} // namespace lifeboat::agent
