#include "election/elector.hpp"

#include "backends/probe.hpp"
#include "base/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

namespace lifeboat::election {
namespace {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

fsm_config make_fsm_config(const elector_options& o) {
    fsm_config c;
    c.election_prefix = o.election_prefix;
    c.node_id = o.node_id;
    c.hostname = o.hostname;
    c.register_time = o.register_time.value_or(to_epoch_seconds(wall_clock::now()));
    c.interval = o.interval;
    c.lease_rounds = o.lease_rounds;
    c.fencing = o.fencing;
    c.kong_interval = o.kong_interval;
    c.forget_after = o.forget_after;
    return c;
}

backends::store_error make_error(backends::store_errc code, std::string message, std::string what) {
    backends::store_error e;
    e.code = code;
    e.message = std::move(message);
    e.operation = std::move(what);
    return e;
}

} // namespace

elector::elector(backends::object_store& store, elector_options options)
    : store_(store)
    , options_(std::move(options))
    , random_(options_.seed ? jitter(*options_.seed) : jitter())
    , fsm_(make_fsm_config(options_), random_) {
    op_timeout_from_interval_ = options_.op_timeout <= std::chrono::milliseconds::zero();
    if (op_timeout_from_interval_)
        options_.op_timeout = std::max(options_.interval / 2, std::chrono::milliseconds(1000));
}

void elector::set_interval(std::chrono::milliseconds interval) {
    options_.interval = interval;
    if (op_timeout_from_interval_)
        options_.op_timeout = std::max(options_.interval / 2, std::chrono::milliseconds(1000));
    fsm_.set_interval(interval);
    if (on_step)
        on_step(); // the status shows the new interval and lease
}

// Every store request gets a deadline, so a hung connection delays a round but never stalls
// the election (the FSM then keeps its previous view, and a leader's renew deadline runs out).
template <class T>
asio::awaitable<backends::store_result<T>> elector::bounded(asio::awaitable<backends::store_result<T>> op,
                                                            std::chrono::milliseconds limit,
                                                            std::string what) {
    using namespace asio::experimental::awaitable_operators;
    try {
        asio::steady_timer deadline(co_await asio::this_coro::executor, limit);
        auto r = co_await (std::move(op) || deadline.async_wait(asio::use_awaitable));
        if (r.index() == 0)
            co_return std::get<0>(std::move(r));
        co_return lifeboat::failure{make_error(backends::store_errc::timeout,
                                               fmt::format("no answer within {} ms", limit.count()), what)};
    } catch (const boost::system::system_error& e) {
        auto code = e.code() == asio::error::operation_aborted ? backends::store_errc::cancelled
                                                               : backends::store_errc::network;
        co_return lifeboat::failure{make_error(code, e.what(), what)};
    } catch (const std::exception& e) {
        co_return lifeboat::failure{make_error(backends::store_errc::protocol, e.what(), what)};
    }
}

asio::awaitable<action> elector::perform(const action& a) {
    const bool stopping = fsm_.stopping();
    const auto limit = stopping ? std::min(options_.stop_timeout, options_.op_timeout) : options_.op_timeout;
    if (auto* p = std::get_if<act::probe>(&a)) {
        auto r = co_await bounded(backends::probe_conditional_writes(store_, p->scratch_prefix), limit * 4,
                                  "probe");
        co_return fsm_.on_probe(steady::now(), r);
    }
    if (auto* p = std::get_if<act::put_registration>(&a)) {
        backends::put_options o;
        o.content_type = "application/json";
        auto r = co_await bounded(store_.put(p->key, backends::body_source::from_string(p->body), o), limit,
                                  "PUT " + p->key);
        co_return fsm_.on_registered(steady::now(), r);
    }
    if (auto* p = std::get_if<act::list>(&a)) {
        auto r = co_await bounded(store_.list(p->prefix), limit, "LIST " + p->prefix);
        // A file store's clock is this machine's, the one that stamps its files' mtimes.
        const auto store_date = store_.kind() == backends::store_kind::file ? std::optional(wall_clock::now())
                                                                            : store_.last_server_date();
        co_return fsm_.on_listed(steady::now(), r, store_date);
    }
    if (auto* p = std::get_if<act::create_term>(&a)) {
        backends::put_options o;
        o.content_type = "application/json";
        o.condition = backends::write_condition::if_absent;
        o.metadata[metadata::term] = fmt::format("{}", p->term);
        auto r = co_await bounded(store_.put(p->key, backends::body_source::from_string(p->body), o), limit,
                                  "PUT " + p->key);
        co_return fsm_.on_term_created(steady::now(), r);
    }
    if (auto* p = std::get_if<act::read_term>(&a)) {
        auto r = co_await bounded(store_.get(p->key, 64 * 1024), limit, "GET " + p->key);
        co_return fsm_.on_term_read(steady::now(), r);
    }
    if (auto* p = std::get_if<act::remove>(&a)) {
        auto r = co_await bounded(store_.remove(p->key, p->expected_version), limit, "DELETE " + p->key);
        co_return fsm_.on_removed(steady::now(), r);
    }
    co_return a; // wait and stopped are handled by run()
}

asio::awaitable<void> elector::run() {
    if (running_)
        co_return;
    running_ = true;
    timer_.emplace(co_await asio::this_coro::executor);
    // Cancellation (e.g. the agent shutting down) must still let us delete the registration.
    co_await asio::this_coro::throw_if_cancelled(false);

    action a = fsm_.start(steady::now());
    for (;;) {
        auto cs = co_await asio::this_coro::cancellation_state;
        if ((stop_requested_ || cancel_seen_ || cs.cancelled() != asio::cancellation_type::none) &&
            !fsm_.stopping()) {
            if (cs.cancelled() != asio::cancellation_type::none)
                co_await asio::this_coro::reset_cancellation_state();
            a = fsm_.stop(steady::now());
        }
        if (std::holds_alternative<act::stopped>(a))
            break;
        if (auto* w = std::get_if<act::wait>(&a)) {
            timer_->expires_at(w->until);
            co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
            if (stop_requested_ ||
                (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
                continue; // handled at the top
            a = fsm_.on_timer(steady::now());
            if (on_step)
                on_step();
            continue;
        }
        // A store request in flight is not cut short by cancellation (its deadline bounds it): a
        // registration PUT aborted on our side may still land at the store after the DELETE that
        // follows, and leave the registration behind for a whole lease. The cancellation is
        // recorded meanwhile and handled at the top of the loop.
        co_await asio::this_coro::reset_cancellation_state(asio::enable_terminal_cancellation(),
                                                           asio::disable_cancellation());
        a = co_await perform(a);
        if (on_step)
            on_step();
        if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
            cancel_seen_ = true;
        co_await asio::this_coro::reset_cancellation_state();
    }
    timer_.reset();
    running_ = false;
}

void elector::stop() {
    stop_requested_ = true;
    if (timer_)
        timer_->cancel();
}

bool elector::is_leader() const {
    return !stop_requested_ && !cancel_seen_ && running_ && fsm_.may_export(steady::now());
}

election_status elector::status() const {
    auto s = fsm_.status(steady::now());
    if (!running_ || stop_requested_ || cancel_seen_)
        s.my_role = role::disabled;
    return s;
}

asio::awaitable<fenced_put_result> elector::fenced_put(std::string key, backends::body_source body,
                                                       backends::put_options options, config_version version,
                                                       term_scope scope) {
    const std::uint64_t term = fsm_.my_term();
    const bool conditional = fsm_.fencing() == fencing_state::enforced;
    fenced_write write(key, std::move(options), scope == term_scope::own_election ? term : 0,
                       options_.node_id, std::move(version), conditional);

    auto still_leading = [&] { return is_leader() && fsm_.my_term() == term; };
    fenced_action a = still_leading() ? write.start()
                                      : write.abandon(fenced_outcome::not_leader, "this node does not lead");
    for (;;) {
        if (auto* d = std::get_if<fw::done>(&a)) {
            auto& r = d->result;
            if (r.outcome == fenced_outcome::not_leader && r.bucket_term > term)
                fsm_.observe_term(steady::now(), r.bucket_term);
            if (r.outcome != fenced_outcome::error)
                fsm_.count_upload(r.outcome == fenced_outcome::uploaded ||
                                  r.outcome == fenced_outcome::unchanged);
            if (r.outcome == fenced_outcome::uploaded)
                log::info("config uploaded", "key", key, "term", term, "fenced", r.conditional);
            else if (r.outcome != fenced_outcome::unchanged)
                log::info("config not uploaded", "key", key, "outcome", to_string(r.outcome), "detail",
                          r.detail);
            co_return std::move(r);
        }
        if (auto* h = std::get_if<fw::head>(&a)) {
            auto r = co_await bounded(store_.head(h->key), options_.op_timeout, "HEAD " + h->key);
            a = write.on_head(r);
            // The lead may have been lost while we waited; a pause right here is what the
            // conditional PUT itself guards against.
            if (std::holds_alternative<fw::put>(a) && !still_leading())
                a = write.abandon(fenced_outcome::not_leader, "lost the lead before uploading");
            continue;
        }
        auto& p = std::get<fw::put>(a);
        // Uploads may be large: allow a generous deadline (the store's own timeouts apply too), at
        // least the 5 minutes it was with the former 10 s interval. A leader that loses its term
        // meanwhile is fenced by the conditional PUT itself.
        const auto upload_limit =
            std::max<std::chrono::milliseconds>(options_.op_timeout * 30, std::chrono::minutes(5));
        auto r = co_await bounded(store_.put(p.key, body, p.options), upload_limit, "PUT " + p.key);
        a = write.on_put(r);
    }
}

} // namespace lifeboat::election
