#include "election/election_fsm.hpp"

#include "base/log.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace lifeboat::election {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

long long ms(steady_duration d) {
    return duration_cast<milliseconds>(d).count();
}

// Kong counts a registration fresh for DEFAULT_MARGIN = 5 s past its interval.
constexpr steady_duration kong_margin = std::chrono::seconds(5);

} // namespace

const char* action_name(const action& a) {
    static constexpr const char* names[] = {"wait",        "probe",     "put_registration", "list",
                                            "create_term", "read_term", "remove",           "stopped"};
    return names[a.index()];
}

election_fsm::election_fsm(fsm_config config, jitter& random) : config_(std::move(config)), random_(random) {
    config_.lease_rounds = std::max(config_.lease_rounds, 2u);
    config_.terms_kept = std::max<std::uint64_t>(config_.terms_kept, 2);
    if (config_.node_id.empty())
        config_.node_id = "unnamed";
    apply_interval(config_.interval);
    switch (config_.fencing) {
    case fencing_mode::automatic:
        fencing_ = fencing_state::unknown;
        break;
    case fencing_mode::enforced:
        fencing_ = fencing_state::enforced;
        break;
    case fencing_mode::off:
        fencing_ = fencing_state::off;
        fencing_note_ = "switched off by configuration";
        break;
    }
    set_registration(config_.register_time);
}

void election_fsm::apply_interval(steady_duration interval) {
    config_.interval = std::max<steady_duration>(interval, milliseconds(1));
    lease_ = config_.interval * config_.lease_rounds;
    // The leader stops half an interval before anyone may take over from it: that margin absorbs
    // clock-rate differences between nodes (client-go's RenewDeadline < LeaseDuration).
    renew_deadline_ = lease_ - config_.interval / 2;
}

void election_fsm::set_interval(steady_duration interval) {
    const auto before = config_.interval;
    apply_interval(interval);
    if (config_.interval != before)
        log::info("election interval changed", "interval_ms", ms(config_.interval), "was_ms", ms(before),
                  "lease_ms", ms(lease_));
}

void election_fsm::set_registration(double register_time) {
    auto name = format_registration(register_time, config_.node_id);
    // Parse our own name back, so that this node orders itself exactly as the others will (the
    // %.14g rounding is part of the key).
    self_ = parse_registration(name).value_or(registration_name{register_time, config_.node_id, name});
    self_key_ = config_.election_prefix + name;
    heartbeat_seq_ = 0;
    ever_put_ = false;
    last_renewal_.reset();
}

// ---------------------------------------------------------------------------------------------
// Rounds

action election_fsm::start(steady_time now) {
    started_at_ = now;
    phase_ = phase::waiting;
    auto max_delay = std::min(config_.first_round_max_delay, config_.interval);
    next_round_at_ = now + random_.uniform(steady_duration::zero(), max_delay);
    log::info("election started", "node_id", config_.node_id, "registration", self_.name, "interval_ms",
              ms(config_.interval), "lease_ms", ms(lease_), "fencing", to_string(fencing_));
    return act::wait{*next_round_at_};
}

action election_fsm::on_timer(steady_time now) {
    if (phase_ != phase::waiting)
        return act::wait{next_round_at_.value_or(now)};
    round_started_ = now;
    next_round_at_.reset();
    removals_.clear();
    forgetting_.clear();
    ++counters_.rounds;

    // Our registration went unrenewed for a whole lease (the process was paused, or the store was
    // out of reach): the others may have replaced us. Come back as a new registration at the
    // back of the queue rather than take the lead back from the node that took over.
    if (last_renewal_ && now - *last_renewal_ >= lease_)
        lapse(now);

    // Kong takes register_time at the first registration, not at process start: of two nodes
    // started together, the one that registered first stays first.
    if (!ever_put_ && heartbeat_seq_ == 0 && old_keys_.empty())
        set_registration(config_.register_time + std::chrono::duration<double>(now - started_at_).count());

    if (fencing_ == fencing_state::unknown) {
        phase_ = phase::probing;
        return act::probe{config_.election_prefix + "probe/" + config_.node_id + "/"};
    }
    if (!old_keys_.empty()) {
        phase_ = phase::removing_old;
        return act::remove{old_keys_.back(), {}};
    }
    return begin_register(now);
}

void election_fsm::lapse(steady_time now) {
    log::warn("registration lapsed; re-registering at the back of the queue", "registration", self_.name,
              "unrenewed_ms", ms(now - *last_renewal_), "lease_ms", ms(lease_));
    lose_leadership(now, "registration lapsed");
    old_keys_.push_back(self_key_);
    set_registration(config_.register_time + std::chrono::duration<double>(now - started_at_).count());
}

action election_fsm::on_probe(steady_time now, const backends::store_result<bool>& r) {
    if (phase_ != phase::probing)
        return act::wait{next_round_at_.value_or(now)};
    if (!r) {
        last_error_ = "probe: " + r.error().to_string();
        const bool refused = r.error().code == backends::store_errc::access_denied;
        if (!first_report(r.error()))
            log::debug("the store probe failed again", "error", r.error().to_string());
        else if (refused)
            log::warn(
                "the store refuses this node's writes, and an exporter must write to the bucket; nobody "
                "leads from this node until its credentials may write",
                "error", r.error().to_string());
        else
            log::warn(
                "could not probe the store for conditional writes; nobody leads from this node until it "
                "can",
                "error", r.error().to_string());
    } else if (*r) {
        fencing_ = fencing_state::enforced;
        fencing_note_.clear();
        log::info("the store enforces conditional writes; leader terms fence uploads");
    } else {
        fencing_ = fencing_state::unsupported;
        fencing_note_ = "the store ignores conditional writes";
        log::warn("the store ignores conditional writes; falling back to registration-only election as Kong "
                  "does: a paused leader can overwrite its successor's upload");
    }
    if (!old_keys_.empty()) {
        phase_ = phase::removing_old;
        return act::remove{old_keys_.back(), {}};
    }
    return begin_register(now);
}

action election_fsm::begin_register(steady_time now) {
    phase_ = phase::registering;
    register_sent_at_ = now;
    ever_put_ = true;
    ++heartbeat_seq_;
    return act::put_registration{self_key_, registration_body()};
}

action election_fsm::on_registered(steady_time now, const backends::store_result<backends::object_info>& r) {
    if (phase_ != phase::registering)
        return act::wait{next_round_at_.value_or(now)};
    if (!r)
        return fail_round(now, "register", r.error());
    // This put may have landed a whole lease after the previous one (it hung, or the process
    // stalled while it was in flight): the others may have declared us dead and replaced us
    // meanwhile. It must not bring the old registration, and its place in the queue, back.
    if (last_renewal_ && now - *last_renewal_ >= lease_) {
        lapse(now);
        phase_ = phase::removing_old;
        return act::remove{old_keys_.back(), {}};
    }
    // The lease runs from when the put was sent: the others saw it land at that time or later.
    last_renewal_ = register_sent_at_;
    if (heartbeat_seq_ == 1)
        log::info("registered for election", "key", self_key_);
    phase_ = phase::listing;
    return act::list{config_.election_prefix};
}

action election_fsm::fail_round(steady_time now, std::string_view step, const backends::store_error& e) {
    ++counters_.failed_rounds;
    ++consecutive_failures_;
    last_error_ = fmt::format("{}: {}", step, e.to_string());
    if (first_report(e))
        log::warn("election round failed; keeping the previous view", "step", step, "error", e.to_string());
    else
        log::debug("election round failed again", "step", step, "error", e.to_string());
    return next_removal(now);
}

bool election_fsm::first_report(const backends::store_error& e) {
    return reported_failures_
        .insert(fmt::format("{} {} {}", backends::to_string(e.code), e.http_status, e.provider_code))
        .second;
}

action election_fsm::finish_round(steady_time now) {
    phase_ = phase::waiting;
    // Fixed rate: the heartbeat gap stays one interval however long the round took.
    auto next = round_started_ + config_.interval;
    // The first failure after good rounds is retried soon: a single lost heartbeat must not
    // lapse a 2-round lease. Further failures keep the interval (the store is down; no storm).
    if (consecutive_failures_ == 1)
        next = std::min(next, now + config_.interval / std::max(config_.retry_divisor, 1u));
    // Look again the moment the leader's lease ends rather than up to an interval later: that
    // extra round (only when the leader stopped renewing) takes an interval off the failover.
    if (auto expiry = leader_expiry(now); expiry && *expiry < next)
        next = *expiry;
    next_round_at_ = std::max(next, now);
    return act::wait{*next_round_at_};
}

// ---------------------------------------------------------------------------------------------
// The view

steady_duration election_fsm::lease_for(const tracked& t) const {
    // Kong's own margin plus two of our rounds: we see its refresh up to a round late.
    return t.kong ? config_.kong_interval + kong_margin + 2 * config_.interval : lease_;
}

std::optional<steady_time> election_fsm::leader_expiry(steady_time now) const {
    if (!leader_key_ || *leader_key_ == self_key_ || stopping_)
        return std::nullopt;
    auto it = candidates_.find(*leader_key_);
    if (it == candidates_.end() || !alive(it->second, now))
        return std::nullopt;
    return it->second.last_change + lease_for(it->second);
}

bool election_fsm::alive(const tracked& t, steady_time now) const {
    if (t.key == self_key_)
        return self_alive(now);
    return now - t.last_change < lease_for(t);
}

bool election_fsm::self_alive(steady_time now) const {
    return last_renewal_ && now - *last_renewal_ < lease_;
}

action election_fsm::on_listed(steady_time now,
                               const backends::store_result<std::vector<backends::object_info>>& r,
                               std::optional<wall_clock::time_point> store_date) {
    if (phase_ != phase::listing)
        return act::wait{next_round_at_.value_or(now)};
    if (!r)
        return fail_round(now, "list", r.error());
    consecutive_failures_ = 0;
    reported_failures_.clear();

    const auto& prefix = config_.election_prefix;
    std::map<std::string, tracked> view;
    std::uint64_t listed_max = 0;
    term_keys_.clear();
    for (const auto& o : *r) {
        if (!o.key.starts_with(prefix))
            continue;
        std::string_view name = std::string_view(o.key).substr(prefix.size());
        if (auto term = parse_term(name)) {
            term_keys_.emplace_back(*term, o.key);
            listed_max = std::max(listed_max, *term);
            continue;
        }
        auto reg = parse_registration(name);
        if (!reg)
            continue; // Kong skips these too: probe scratch keys, stray files
        tracked t;
        t.reg = std::move(*reg);
        t.key = o.key;
        t.kong = o.size == 0; // Kong registers an empty object; lifeboat writes a small JSON body
        t.version = backends::version_token(o);
        t.token = fmt::format("{}|{}|{}|{}", o.etag, o.generation, o.last_modified.time_since_epoch().count(),
                              o.size);
        if (auto old = candidates_.find(o.key); old != candidates_.end()) {
            t.last_change = old->second.token == t.token ? old->second.last_change : now;
            if (t.last_change == now && t.reg.node_id == config_.node_id && t.key != self_key_ &&
                duplicate_id_tokens_.emplace(t.key, t.token).second)
                log::error("another process registers with this node's id; node ids must be unique",
                           "node_id", config_.node_id, "registration", t.reg.name);
        } else {
            t.last_change = now;
            // First sight: trust only the store's own clock to tell that it has long been dead
            // (its Date header against its LastModified), with a margin of a whole lease. Its
            // age on that clock then counts toward forget_after (capped: a registration older
            // than that is as stale as one just over it).
            if (store_date && o.last_modified != wall_clock::time_point{} &&
                *store_date - o.last_modified > 2 * lease_for(t)) {
                const auto store_age =
                    std::chrono::duration_cast<steady_duration>(*store_date - o.last_modified);
                t.last_change = now - std::min(store_age, config_.forget_after + 2 * lease_for(t));
            }
        }
        view.emplace(o.key, std::move(t));
    }
    candidates_ = std::move(view);
    if (listed_max > term_max_)
        raise_term(listed_max, "listed");
    if (my_term_ != 0 && my_term_ < term_max_)
        lose_leadership(now, fmt::format("term {} was taken by another node", term_max_));

    // A registration with this node's id but another time is left by an earlier run of this
    // node (killed, so it could not delete it). Deleting it lets the others stop waiting for it.
    if (!first_list_done_) {
        for (const auto& [key, t] : candidates_)
            if (t.reg.node_id == config_.node_id && key != self_key_ &&
                std::find(old_keys_.begin(), old_keys_.end(), key) == old_keys_.end()) {
                log::info("deleting a registration left by an earlier run of this node", "registration",
                          t.reg.name);
                removals_.push_back({key, t.version});
            }
        first_list_done_ = true;
    }

    evaluate(now);
    const bool self_leads = leader_key_ && *leader_key_ == self_key_;
    if (!self_leads) {
        lose_leadership(now, "another registration is earlier");
        return next_removal(now);
    }
    switch (fencing_) {
    case fencing_state::enforced:
        if (my_term_ != 0 && my_term_ == term_max_) {
            plan_garbage(now);
            return next_removal(now);
        }
        acquiring_term_ = term_max_ + 1;
        create_reported_ok_ = false;
        phase_ = phase::creating_term;
        return act::create_term{acquiring_term_, prefix + format_term(acquiring_term_),
                                term_body(acquiring_term_)};
    case fencing_state::unsupported:
    case fencing_state::off:
        if (!leading_announced_) {
            leading_announced_ = true;
            log::info("node is chosen as leader; exporting enabled", "term", 0, "fencing",
                      to_string(fencing_));
        }
        plan_garbage(now);
        return next_removal(now);
    case fencing_state::unknown:
        break; // leads by registration, but may not export before the store is probed
    }
    return next_removal(now);
}

void election_fsm::evaluate(steady_time now) {
    const registration_name* best = nullptr;
    const std::string* best_key = nullptr;
    for (const auto& [key, t] : candidates_) {
        if (key == self_key_ || !alive(t, now))
            continue;
        if (!best || earlier(t.reg, *best)) {
            best = &t.reg;
            best_key = &key;
        }
    }
    if (self_alive(now) && (!best || earlier(self_, *best))) {
        best = &self_;
        best_key = &self_key_;
    }
    evaluated_ = true;
    std::optional<std::string> next = best_key ? std::optional<std::string>(*best_key) : std::nullopt;
    if (next != leader_key_) {
        ++counters_.leader_changes;
        leader_key_ = std::move(next);
        log::info("election leader changed", "leader", best ? best->node_id : std::string("none"),
                  "registration", best ? best->name : std::string(), "self", best == &self_, "term",
                  term_max_);
    }
}

void election_fsm::raise_term(std::uint64_t term, std::string_view how) {
    if (term <= term_max_)
        return;
    ++counters_.term_changes;
    log::info("election term changed", "term", term, "previous", term_max_, "seen", how);
    term_max_ = term;
}

void election_fsm::lose_leadership(steady_time, std::string_view reason) {
    if (leading_announced_) {
        ++counters_.step_downs;
        log::info("stepping down; exporting disabled", "reason", reason, "term", my_term_);
        leading_announced_ = false;
    }
    my_term_ = 0;
}

// ---------------------------------------------------------------------------------------------
// Terms

action election_fsm::on_term_created(steady_time now,
                                     const backends::store_result<backends::object_info>& r) {
    if (phase_ != phase::creating_term)
        return act::wait{next_round_at_.value_or(now)};
    const auto key = config_.election_prefix + format_term(acquiring_term_);
    if (r) {
        create_reported_ok_ = true;
        phase_ = phase::reading_term;
        return act::read_term{acquiring_term_, key};
    }
    const auto& e = r.error();
    if (e.code == backends::store_errc::precondition_failed) {
        log::info("another node took the term first", "term", acquiring_term_);
        raise_term(acquiring_term_, "lost the race");
        return next_removal(now);
    }
    if (e.code == backends::store_errc::conflict || e.retryable()) {
        // The create may or may not have landed (RGW answers some losers with a 500): read it.
        phase_ = phase::reading_term;
        return act::read_term{acquiring_term_, key};
    }
    return fail_round(now, "create term", e);
}

action election_fsm::on_term_read(steady_time now, const backends::store_result<backends::object_data>& r) {
    if (phase_ != phase::reading_term)
        return act::wait{next_round_at_.value_or(now)};
    if (!r) {
        if (r.error().code == backends::store_errc::not_found) {
            log::info("term not taken; will try again next round", "term", acquiring_term_);
            return next_removal(now);
        }
        return fail_round(now, "read term", r.error());
    }
    std::string owner;
    boost::system::error_code ec;
    auto body = boost::json::parse(r->bytes, ec);
    if (!ec && body.is_object())
        if (auto* o = body.as_object().if_contains("owner"); o && o->is_string())
            owner = std::string(o->as_string());

    raise_term(acquiring_term_, "read back");
    if (owner == self_.name) {
        if (acquiring_term_ < term_max_) // a higher term appeared meanwhile (observe_term)
            return next_removal(now);
        my_term_ = acquiring_term_;
        ++counters_.elections_won;
        leading_announced_ = true;
        log::info("node is chosen as leader; exporting enabled", "term", my_term_, "fencing",
                  to_string(fencing_));
        plan_garbage(now);
        return next_removal(now);
    }
    if (create_reported_ok_) {
        // The store said our create-if-absent succeeded, yet another node's term object is
        // there: it ignores If-None-Match. Terms cannot fence on it.
        fencing_ = fencing_state::unsupported;
        fencing_note_ = "the store accepted a create-if-absent write over an existing object";
        log::warn("the store ignores conditional writes (a create-if-absent overwrote another node's term); "
                  "falling back to registration-only election as Kong does",
                  "term", acquiring_term_, "owner", owner);
        leading_announced_ = true;
        log::info("node is chosen as leader; exporting enabled", "term", 0, "fencing", to_string(fencing_));
        plan_garbage(now);
        return next_removal(now);
    }
    log::info("another node holds the term", "term", acquiring_term_, "owner", owner);
    return next_removal(now);
}

void election_fsm::observe_term(steady_time now, std::uint64_t term) {
    if (term <= term_max_)
        return;
    raise_term(term, "on an upload");
    if (my_term_ != 0 && my_term_ < term)
        lose_leadership(now, fmt::format("an upload carries the higher term {}", term));
}

void election_fsm::count_upload(bool written) {
    if (written)
        ++counters_.fenced_uploads;
    else
        ++counters_.fenced_refusals;
}

// ---------------------------------------------------------------------------------------------
// Clean-up: only the leader deletes, a few keys per round.

void election_fsm::plan_garbage(steady_time now) {
    if (my_term_ > config_.terms_kept)
        for (const auto& [term, key] : term_keys_)
            if (term + config_.terms_kept <= my_term_)
                removals_.push_back({key, {}});
    for (const auto& [key, t] : candidates_) {
        if (key == self_key_ || alive(t, now))
            continue;
        auto dead_for = now - t.last_change - lease_for(t);
        if (dead_for >= config_.forget_after) {
            log::info("forgetting a dead registration", "registration", t.reg.name, "dead_ms", ms(dead_for));
            removals_.push_back({key, t.version});
            forgetting_.insert(key);
        }
    }
    if (removals_.size() > config_.max_removals_per_round)
        removals_.resize(config_.max_removals_per_round);
}

action election_fsm::next_removal(steady_time now) {
    if (removals_.empty())
        return finish_round(now);
    phase_ = phase::collecting;
    auto next = removals_.front();
    removals_.erase(removals_.begin());
    current_removal_ = next.key;
    return next;
}

action election_fsm::on_removed(steady_time now, const backends::store_result<void>& r) {
    switch (phase_) {
    case phase::removing_old:
        if (!r)
            log::warn("could not delete a lapsed registration; it will expire", "key", old_keys_.back(),
                      "error", r.error().to_string());
        old_keys_.pop_back();
        if (!old_keys_.empty())
            return act::remove{old_keys_.back(), {}};
        return begin_register(now);
    case phase::collecting:
        if (r) {
            if (forgetting_.erase(current_removal_))
                ++counters_.forgotten_registrations;
            candidates_.erase(current_removal_);
            std::erase_if(term_keys_, [&](const auto& t) { return t.second == current_removal_; });
            if (leader_key_ && *leader_key_ == current_removal_)
                evaluate(now); // a stale registration of ours was the leader in our view
        } else {
            log::debug("clean-up delete failed", "key", current_removal_, "error", r.error().to_string());
        }
        return next_removal(now);
    case phase::stopping:
        if (r)
            log::info("election registration deleted; a successor takes over at its next round", "key",
                      self_key_);
        else
            log::warn("could not delete the election registration; it expires after the lease", "key",
                      self_key_, "lease_ms", ms(lease_), "error", r.error().to_string());
        phase_ = phase::stopped;
        return act::stopped{};
    default:
        return act::wait{next_round_at_.value_or(now)};
    }
}

// ---------------------------------------------------------------------------------------------
// Stop

action election_fsm::stop(steady_time now) {
    if (phase_ == phase::stopped)
        return act::stopped{};
    if (phase_ == phase::stopping)
        return act::remove{self_key_, {}};
    stopping_ = true;
    lose_leadership(now, "stopping");
    next_round_at_.reset();
    if (ever_put_) {
        phase_ = phase::stopping;
        return act::remove{self_key_, {}};
    }
    phase_ = phase::stopped;
    log::info("election stopped");
    return act::stopped{};
}

// ---------------------------------------------------------------------------------------------
// Queries

role election_fsm::current_role(steady_time now) const {
    if (stopping_ || phase_ == phase::stopped || phase_ == phase::idle)
        return role::disabled;
    if (!evaluated_ || !leader_key_)
        return role::candidate;
    if (*leader_key_ != self_key_)
        return role::follower;
    if (!last_renewal_ || now - *last_renewal_ >= renew_deadline_)
        return role::candidate;
    switch (fencing_) {
    case fencing_state::enforced:
        return my_term_ != 0 && my_term_ == term_max_ ? role::leader : role::candidate;
    case fencing_state::unsupported:
    case fencing_state::off:
        return role::leader;
    case fencing_state::unknown:
        return role::candidate;
    }
    return role::candidate;
}

bool election_fsm::may_export(steady_time now) const {
    return current_role(now) == role::leader;
}

candidate_status election_fsm::describe(const tracked& t, steady_time now) const {
    candidate_status c;
    c.node_id = t.reg.node_id;
    c.register_time = t.reg.register_time;
    c.registration = t.reg.name;
    c.alive = alive(t, now);
    c.kong = t.kong;
    c.self = t.key == self_key_;
    c.since_change = c.self && last_renewal_ ? now - *last_renewal_ : now - t.last_change;
    return c;
}

election_status election_fsm::status(steady_time now) const {
    election_status s;
    s.my_role = current_role(now);
    s.node_id = config_.node_id;
    s.registration = self_.name;
    s.term = term_max_;
    s.my_term = my_term_;
    s.fencing = fencing_;
    s.fencing_note = fencing_note_;
    s.interval = config_.interval;
    s.lease = lease_;
    s.counters = counters_;
    s.failing_rounds = consecutive_failures_;
    s.last_error = last_error_;
    if (next_round_at_ && phase_ == phase::waiting)
        s.next_round_in = std::max(steady_duration::zero(), *next_round_at_ - now);
    bool self_listed = false;
    for (const auto& [key, t] : candidates_) {
        s.candidates.push_back(describe(t, now));
        self_listed = self_listed || key == self_key_;
        if (leader_key_ && key == *leader_key_)
            s.leader = s.candidates.back();
    }
    if (!self_listed && ever_put_) {
        candidate_status me;
        me.node_id = self_.node_id;
        me.register_time = self_.register_time;
        me.registration = self_.name;
        me.alive = self_alive(now);
        me.self = true;
        if (last_renewal_)
            me.since_change = now - *last_renewal_;
        s.candidates.push_back(me);
        if (leader_key_ && *leader_key_ == self_key_)
            s.leader = me;
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
// Bodies

std::string election_fsm::registration_body() {
    // The sequence number makes every heartbeat change the ETag as well as LastModified, so a
    // store with coarse timestamps still shows each renewal.
    boost::json::object o;
    o["node_id"] = config_.node_id;
    o["hostname"] = config_.hostname;
    o["agent"] = "lifeboat/" LIFEBOAT_VERSION;
    o["interval_ms"] = ms(config_.interval);
    o["lease_ms"] = ms(lease_);
    o["seq"] = heartbeat_seq_;
    return boost::json::serialize(o);
}

std::string election_fsm::term_body(std::uint64_t term) const {
    boost::json::object o;
    o["term"] = term;
    o["owner"] = self_.name;
    o["node_id"] = config_.node_id;
    o["hostname"] = config_.hostname;
    return boost::json::serialize(o);
}

} // namespace lifeboat::election
