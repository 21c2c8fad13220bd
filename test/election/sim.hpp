// A fleet of election FSMs on a virtual clock, sharing one memory_bucket. Every store request
// takes `latency` of virtual time and is applied to the bucket when it completes. Nodes can be
// killed (kill -9), paused (SIGSTOP/SIGCONT), stopped gracefully, and given skewed clocks.
#pragma once

#include "election/election_fsm.hpp"
#include "election/fenced_write.hpp"
#include "election/memory_bucket.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lifeboat::test {

using namespace std::chrono_literals;
using election::steady_time;

struct sim_node {
    std::string id;
    std::unique_ptr<jitter> random;
    std::unique_ptr<election::election_fsm> fsm;
    election::action pending = election::act::stopped{};
    steady_time due{};                       // when `pending` runs (wait) or completes (a request)
    std::optional<steady_time> paused_until; // SIGSTOP until then
    bool dead = false;                       // killed or stopped
    bool stop_requested = false;
    std::size_t requests = 0;
};

class sim {
public:
    inline static const std::string prefix = "bkt-prefix/3.9.0.0/election/";

    explicit sim(election::fsm_config base = {}) : base_(std::move(base)) {
        base_.election_prefix = prefix;
        bucket = std::make_shared<memory_bucket>();
        bucket->clock = [this] { return wall_now() + store_skew; };
    }

    std::shared_ptr<memory_bucket> bucket;
    steady_duration latency = 20ms;
    steady_duration store_skew{}; // the store's clock against true time
    steady_time now = steady_time(std::chrono::hours(1000));

    // True wall time: 2026-01-01 plus the virtual time elapsed.
    wall_clock::time_point wall_now() const {
        return wall_clock::time_point(std::chrono::seconds(1767225600)) +
               std::chrono::duration_cast<wall_clock::duration>(now - steady_time(std::chrono::hours(1000)));
    }

    // Starts a node whose wall clock is `clock_skew` off true time.
    std::size_t add(std::string id, steady_duration clock_skew = {}, std::optional<double> register_time = {},
                    std::function<void(election::fsm_config&)> tweak = {}) {
        auto n = std::make_unique<sim_node>();
        n->id = id;
        n->random = std::make_unique<jitter>(std::hash<std::string>{}(id) + nodes.size());
        auto config = base_;
        config.node_id = id;
        config.hostname = id + ".local";
        config.register_time = register_time.value_or(
            to_epoch_seconds(wall_now() + std::chrono::duration_cast<wall_clock::duration>(clock_skew)));
        if (tweak)
            tweak(config);
        n->fsm = std::make_unique<election::election_fsm>(config, *n->random);
        n->pending = n->fsm->start(now);
        n->due = std::get<election::act::wait>(n->pending).until;
        nodes.push_back(std::move(n));
        return nodes.size() - 1;
    }

    sim_node& node(std::size_t i) { return *nodes[i]; }
    election::election_fsm& fsm(std::size_t i) { return *nodes[i]->fsm; }

    void kill(std::size_t i) { nodes[i]->dead = true; }
    void pause(std::size_t i, steady_duration d) { nodes[i]->paused_until = now + d; }
    void stop(std::size_t i) { nodes[i]->stop_requested = true; }

    // Runs every event up to `until`; `each` is called after every event.
    void run_until(steady_time until, const std::function<void()>& each = {}) {
        for (;;) {
            sim_node* next = nullptr;
            steady_time at{};
            for (auto& n : nodes) {
                if (n->dead)
                    continue;
                auto t = n->due;
                if (n->stop_requested && std::holds_alternative<election::act::wait>(n->pending))
                    t = now; // stop() interrupts the wait at once
                if (n->paused_until && *n->paused_until > t)
                    t = *n->paused_until;
                if (!next || t < at) {
                    next = n.get();
                    at = t;
                }
            }
            if (!next || at > until)
                break;
            now = std::max(now, at);
            if (next->paused_until && *next->paused_until <= now)
                next->paused_until.reset();
            step(*next);
            if (each)
                each();
        }
        now = std::max(now, until);
    }
    void run_for(steady_duration d, const std::function<void()>& each = {}) { run_until(now + d, each); }

    // Indices of the nodes that may export now.
    std::vector<std::size_t> exporters() const {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < nodes.size(); ++i)
            if (!nodes[i]->dead && !nodes[i]->paused_until && nodes[i]->fsm->may_export(now))
                out.push_back(i);
        return out;
    }

    std::optional<std::size_t> only_exporter() const {
        auto e = exporters();
        if (e.size() != 1)
            return std::nullopt;
        return e.front();
    }

    // A fenced upload run synchronously on the bucket (zero latency), as the exporter would.
    election::fenced_put_result upload(std::size_t i, double cp_timestamp, std::string hash = {},
                                       const std::string& key = "bkt-prefix/3.9.0.0/config.json") {
        auto& f = fsm(i);
        election::fenced_write w(key, {}, f.my_term(), nodes[i]->id, {cp_timestamp, std::move(hash)},
                                 f.fencing() == election::fencing_state::enforced);
        election::fenced_action a =
            f.may_export(now) ? w.start() : w.abandon(election::fenced_outcome::not_leader, "not leader");
        for (;;) {
            if (auto* d = std::get_if<election::fw::done>(&a)) {
                if (d->result.outcome == election::fenced_outcome::not_leader)
                    f.observe_term(now, d->result.bucket_term);
                return d->result;
            }
            if (auto* h = std::get_if<election::fw::head>(&a)) {
                a = w.on_head(bucket->head(h->key));
                continue;
            }
            auto& p = std::get<election::fw::put>(a);
            a = w.on_put(bucket->put(p.key, fmt::format("{{\"cp\":{}}}", cp_timestamp), p.options));
        }
    }

    std::vector<std::unique_ptr<sim_node>> nodes;

private:
    void step(sim_node& n) {
        using namespace election;
        auto& f = *n.fsm;
        if (n.stop_requested && !f.stopping() && std::holds_alternative<act::wait>(n.pending)) {
            set(n, f.stop(now));
            return;
        }
        if (std::holds_alternative<act::stopped>(n.pending)) {
            n.dead = true;
            return;
        }
        if (std::holds_alternative<act::wait>(n.pending)) {
            set(n, f.on_timer(now));
            return;
        }
        // A request completes now: apply it to the bucket and feed the result.
        ++n.requests;
        action next;
        if (auto* p = std::get_if<act::probe>(&n.pending))
            next = f.on_probe(now, probe(p->scratch_prefix));
        else if (auto* r = std::get_if<act::put_registration>(&n.pending)) {
            backends::put_options o;
            o.content_type = "application/json";
            next = f.on_registered(now, bucket->put(r->key, r->body, o));
        } else if (auto* l = std::get_if<act::list>(&n.pending))
            next = f.on_listed(now, bucket->list(l->prefix), bucket->clock());
        else if (auto* c = std::get_if<act::create_term>(&n.pending)) {
            backends::put_options o;
            o.condition = backends::write_condition::if_absent;
            next = f.on_term_created(now, bucket->put(c->key, c->body, o));
        } else if (auto* t = std::get_if<act::read_term>(&n.pending))
            next = f.on_term_read(now, bucket->get(t->key));
        else if (auto* d = std::get_if<act::remove>(&n.pending))
            next = f.on_removed(now, bucket->remove(d->key, d->expected_version));
        if (n.stop_requested && !f.stopping() && !std::holds_alternative<act::stopped>(next))
            next = f.stop(now);
        set(n, std::move(next));
    }

    void set(sim_node& n, election::action a) {
        n.pending = std::move(a);
        if (auto* w = std::get_if<election::act::wait>(&n.pending))
            n.due = w->until;
        else
            n.due = now + latency;
    }

    // The conditional-write probe, synchronously: a second create-if-absent must be refused.
    backends::store_result<bool> probe(const std::string& scratch) {
        backends::put_options create;
        create.condition = backends::write_condition::if_absent;
        auto key = scratch + "probe";
        auto first = bucket->put(key, "1", create);
        if (!first)
            return lifeboat::failure{first.error()};
        auto second = bucket->put(key, "2", create);
        (void)bucket->remove(key);
        if (second)
            return false;
        if (second.error().code == backends::store_errc::precondition_failed)
            return true;
        return lifeboat::failure{second.error()};
    }

    election::fsm_config base_;
};

} // namespace lifeboat::test
