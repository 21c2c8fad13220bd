#include "election/status.hpp"

#include <boost/json.hpp>

namespace lifeboat::election {
namespace {

std::int64_t ms(steady_duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

boost::json::object candidate_json(const candidate_status& c) {
    return {{"node_id", c.node_id},
            {"register_time", c.register_time},
            {"registration", c.registration},
            {"alive", c.alive},
            {"kong", c.kong},
            {"self", c.self},
            {"since_change_ms", ms(c.since_change)}};
}

} // namespace

const char* to_string(role r) {
    switch (r) {
    case role::candidate:
        return "candidate";
    case role::follower:
        return "follower";
    case role::leader:
        return "leader";
    case role::disabled:
        return "disabled";
    }
    return "disabled";
}

const char* to_string(fencing_state f) {
    switch (f) {
    case fencing_state::unknown:
        return "unknown";
    case fencing_state::enforced:
        return "enforced";
    case fencing_state::unsupported:
        return "unsupported";
    case fencing_state::off:
        return "off";
    }
    return "unknown";
}

boost::json::value to_json(const election_status& s) {
    boost::json::object o;
    o["role"] = to_string(s.my_role);
    o["node_id"] = s.node_id;
    o["registration"] = s.registration;
    o["leader"] = s.leader ? boost::json::value(candidate_json(*s.leader)) : boost::json::value(nullptr);
    o["term"] = s.term;
    o["my_term"] = s.my_term;
    o["fencing"] = to_string(s.fencing);
    o["fencing_enforced"] = s.fencing == fencing_state::enforced;
    if (!s.fencing_note.empty())
        o["fencing_note"] = s.fencing_note;
    boost::json::array candidates;
    for (const auto& c : s.candidates)
        candidates.push_back(candidate_json(c));
    o["candidates"] = std::move(candidates);
    o["next_round_in_ms"] =
        s.next_round_in ? boost::json::value(ms(*s.next_round_in)) : boost::json::value(nullptr);
    o["interval_ms"] = ms(s.interval);
    o["lease_ms"] = ms(s.lease);
    o["counters"] = {{"rounds", s.counters.rounds},
                     {"failed_rounds", s.counters.failed_rounds},
                     {"elections_won", s.counters.elections_won},
                     {"term_changes", s.counters.term_changes},
                     {"leader_changes", s.counters.leader_changes},
                     {"step_downs", s.counters.step_downs},
                     {"fenced_uploads", s.counters.fenced_uploads},
                     {"fenced_refusals", s.counters.fenced_refusals},
                     {"forgotten_registrations", s.counters.forgotten_registrations}};
    o["failing_rounds"] = s.failing_rounds;
    if (!s.last_error.empty())
        o["last_error"] = s.last_error;
    return o;
}

} // namespace lifeboat::election
