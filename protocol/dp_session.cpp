#include "protocol/dp_session.hpp"

#include "base/log.hpp"
#include "base/offload.hpp"
#include "protocol/cp_connection.hpp"
#include "protocol/envelope.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <deque>
#include <functional>

namespace lifeboat::protocol {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using namespace asio::experimental::awaitable_operators;
using asio::use_awaitable;

namespace {

steady_time now() {
    return std::chrono::steady_clock::now();
}

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

struct outgoing {
    enum kind_t { text_json, ping } kind;
    std::string payload;
};

} // namespace

node_description dp_session::node(const dp_session_options& o) {
    return {.node_id = o.node_id,
            .hostname = o.node_hostname,
            .version = o.node_version,
            .plugins = o.plugins,
            .labels = o.labels,
            .mtls = o.mtls,
            .control_plane = o.control_plane,
            .max_payload = o.max_payload};
}

struct dp_session::impl {
    asio::any_io_executor ex;
    dp_session_options opt;
    dp_session_observer& observer;
    jitter rng;
    dp_session_fsm fsm;
    std::string log_endpoint;

    // The FSM's single wake-up.
    asio::steady_timer wake{ex};
    steady_time wake_at = steady_time::max();
    // "Condition variables": a timer cancelled to wake its waiter.
    asio::steady_timer connect_signal{ex};
    bool connect_requested = false;
    asio::steady_timer delivery_signal{ex};
    snapshot_ptr to_deliver;
    asio::steady_timer outbox_signal{ex};

    // The current connection.
    std::unique_ptr<cp_connection> conn;
    std::deque<outgoing> outbox;
    bool close_requested = false;
    std::string close_reason;

    // Children and shutdown.
    struct child {
        asio::cancellation_signal signal;
        bool done = true;
    };
    std::array<child, 3> children;
    int running = 0;
    asio::steady_timer all_done{ex};
    bool stopping = false;
    bool aborting = false; // terminal: every loop ends at its next step, no close handshake
    bool delivering_now = false;
    bool connected_now = false;
    bool close_frame_seen = false;

    impl(asio::any_io_executor e, dp_session_options o, dp_session_observer& obs)
        : ex(std::move(e))
        , opt(std::move(o))
        , observer(obs)
        , rng(opt.seed ? jitter(*opt.seed) : jitter())
        , fsm(opt.timing, rng,
              opt.initial_config_hash.empty() ? std::string(empty_config_hash) : opt.initial_config_hash)
        , log_endpoint(opt.control_plane) {
        if (opt.plugins.empty())
            opt.plugins = bundled_plugins(opt.node_version);
    }

    static void notify(asio::steady_timer& t) { t.cancel(); }

    void dispatch(dp_action_list actions) {
        bool status = false;
        for (auto& a : actions) {
            switch (a.kind) {
            case dp_action::connect:
                connect_requested = true;
                notify(connect_signal);
                break;
            case dp_action::send_basic_info:
                outbox.push_back({outgoing::text_json, basic_info(dp_session::node(opt))});
                notify(outbox_signal);
                break;
            case dp_action::send_ping:
                outbox.push_back({outgoing::ping, std::move(a.text)});
                notify(outbox_signal);
                break;
            case dp_action::deliver_config:
                to_deliver = std::move(a.snapshot);
                notify(delivery_signal);
                break;
            case dp_action::close_session:
                close_requested = true;
                close_reason = std::move(a.text);
                notify(outbox_signal);
                break;
            case dp_action::drop_connection:
                drop();
                break;
            case dp_action::wait_until:
                wake_at = a.at;
                notify(wake);
                break;
            case dp_action::status_changed:
                status = true;
                break;
            }
        }
        if (status)
            observer.on_status(fsm.status());
    }

    // Closes the TCP connection under whatever is pending on it (a close handshake or teardown
    // the peer does not finish): every operation on it ends at once.
    void drop() {
        if (conn)
            conn->close_socket();
    }

    static asio::awaitable<bool> cancelled() {
        auto cs = co_await asio::this_coro::cancellation_state;
        co_return cs.cancelled() != asio::cancellation_type::none;
    }

    // Sleeps on one of the driver's own signals until it is notified; false if the task is (or
    // gets) cancelled. A cancellation is an event for the operation pending when it is emitted:
    // emitted while the coroutine has none (its last operation completed and its resumption is
    // queued), it only marks the coroutine's cancellation state. So the state is read before
    // sleeping, not only after: a loop that went back to sleep on a signal nobody will notify
    // never ended (`lifeboat doctor`'s terminal cancel hung it about one run in three).
    // (GCC 12 miscompiles co_await inside conditions and short-circuit expressions: every
    // co_await below is a statement of its own.)
    asio::awaitable<bool> sleep_on(asio::steady_timer& signal, steady_time until = steady_time::max()) {
        const bool cancelled_before = co_await cancelled();
        if (cancelled_before || aborting)
            co_return false;
        signal.expires_at(until);
        co_await signal.async_wait(as_tuple_awaitable);
        const bool cancelled_meanwhile = co_await cancelled();
        co_return !cancelled_meanwhile && !aborting;
    }

    // Waits until `ready` holds (true), or the session stops or the task is cancelled (false).
    asio::awaitable<bool> wait_for(asio::steady_timer& signal, std::function<bool()> ready) {
        while (!ready()) {
            if (stopping)
                co_return false;
            const bool woken = co_await sleep_on(signal);
            if (!woken)
                co_return false;
        }
        co_return true;
    }

    // ---- children ----

    asio::awaitable<void> timer_loop() {
        co_await asio::this_coro::throw_if_cancelled(false); // cancellation is checked, not thrown
        for (;;) {
            const bool woken = co_await sleep_on(wake, wake_at);
            // While stopping, the machine still bounds the close of an open connection.
            if (!woken || (stopping && !connected_now))
                co_return;
            const auto t = now();
            if (t >= wake_at) {
                wake_at = steady_time::max();
                dispatch(fsm.on_timer(t));
            }
        }
    }

    asio::awaitable<void> delivery_loop() {
        co_await asio::this_coro::throw_if_cancelled(false); // cancellation is checked, not thrown
        for (;;) {
            const bool ready = co_await wait_for(delivery_signal, [this] { return to_deliver != nullptr; });
            if (!ready)
                co_return;
            snapshot_ptr snap = std::move(to_deliver);
            to_deliver.reset();
            delivering_now = true;
            bool applied = false;
            try {
                applied = co_await observer.on_config(snap);
            } catch (const std::exception& e) {
                log::error("config hand-off failed", "config_hash", snap->hash, "error", e.what());
            }
            delivering_now = false;
            dispatch(fsm.on_config_applied(now(), snap->hash, applied));
            const bool aborted = co_await cancelled();
            if (stopping || aborted)
                co_return;
        }
    }

    asio::awaitable<void> connection_loop() {
        co_await asio::this_coro::throw_if_cancelled(false); // cancellation is checked, not thrown
        for (;;) {
            const bool go = co_await wait_for(connect_signal, [this] { return connect_requested; });
            if (!go)
                co_return;
            connect_requested = false;
            try {
                co_await one_connection();
            } catch (const std::exception& e) {
                // Never let a bug end the session: report it as a lost connection and go on.
                log::error("control plane connection failed unexpectedly", "error", e.what());
                conn.reset();
                connected_now = false;
                dispatch(fsm.on_connect_failed(now(), e.what()));
                dispatch(fsm.on_connection_lost(now(), e.what()));
            }
            const bool aborted = co_await cancelled();
            if (stopping || aborted)
                co_return;
        }
    }

    // ---- one connection ----

    asio::awaitable<void> one_connection() {
        auto established = co_await connect_to_control_plane(ex, opt, aborting);
        const bool aborted = co_await cancelled();
        if (stopping || aborted)
            co_return;
        if (!established) {
            dispatch(fsm.on_connect_failed(now(), established.error()));
            co_return;
        }
        conn = std::move(established.value());
        conn->ws.next_layer().on_teardown = [this] { dispatch(fsm.on_closing(now())); };
        outbox.clear();
        close_requested = false;
        close_reason.clear();
        connected_now = true;
        close_frame_seen = false;
        conn->ws.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind == websocket::frame_type::pong)
                dispatch(fsm.on_pong(now()));
            else if (kind == websocket::frame_type::ping)
                dispatch(fsm.on_other_frame(now())); // Beast answers it; it proves the CP alive
            else if (kind == websocket::frame_type::close) {
                // Beast answers it and then waits for the TCP close: the session is over now.
                close_frame_seen = true;
                dispatch(fsm.on_close_received(now(), close_frame_text()));
            }
        });
        dispatch(fsm.on_connected(now()));

        std::string reason;
        end_kind kind = end_kind::failure;
        co_await (read_loop(reason, kind) || write_loop(reason));
        if (reason.empty())
            reason = "connection ended";
        // A close frame or a violation ends the session now, while TLS and TCP still close.
        if (!stopping && kind == end_kind::close_frame)
            dispatch(fsm.on_close_received(now(), reason));
        else if (!stopping && kind == end_kind::violation)
            dispatch(fsm.on_protocol_violation(now(), reason));
        if (conn->ws.next_layer().teardown_requested && fsm.close_pending())
            co_await finish_close();
        connected_now = false;
        conn.reset();
        if (stopping) {
            notify(wake); // the timer loop ends with the connection
            co_return;
        }
        if (kind == end_kind::failure)
            dispatch(fsm.on_connection_lost(now(), reason));
        else
            dispatch(fsm.on_connection_closed(now()));
    }

    // After the websocket close: TLS close_notify both ways, then the TCP close, as Beast's own
    // teardown does, for as long as the machine allows (its drop_connection closes the socket
    // under this wait; so does a terminal stop).
    asio::awaitable<void> finish_close() {
        const bool aborted = co_await cancelled();
        if (aborted || aborting)
            co_return;
        co_await conn->close_transport();
    }

    enum class end_kind { failure, close_frame, violation };

    std::string close_frame_text() const {
        const auto& cr = conn->ws.reason();
        return fmt::format("close frame (code {}{}{})", static_cast<unsigned>(cr.code),
                           cr.reason.empty() ? "" : ": ", std::string(cr.reason.data(), cr.reason.size()));
    }

    // Reads messages piece by piece and enforces cluster_max_payload itself: Beast's own limit
    // would fail the connection but report the error of its TLS teardown, not the cause.
    asio::awaitable<void> read_loop(std::string& reason, end_kind& kind) {
        co_await asio::this_coro::throw_if_cancelled(false); // cancellation is checked, not thrown
        constexpr std::size_t piece = std::size_t(1) << 20;
        beast::flat_buffer buffer;
        for (;;) {
            if (aborting)
                co_return; // the socket is closed: nothing more to read
            boost::system::error_code ec;
            bool too_big = false;
            do {
                // One allocation for a large frame: once its header is in, Beast knows how much of
                // the payload is still to come. Grown by doubling instead, the buffer would copy a
                // 12 MiB frame's first 8 MiB into fresh pages on the loop (about 100 ms here). Never
                // past cluster_max_payload, whatever length a frame announces.
                const std::size_t remaining = conn->ws.read_size_hint(piece);
                if (remaining <= opt.max_payload - std::min(buffer.size(), opt.max_payload) &&
                    buffer.capacity() < buffer.size() + remaining)
                    buffer.reserve(buffer.size() + remaining);
                auto [rec, n] = co_await conn->ws.async_read_some(buffer, piece, as_tuple_awaitable);
                ec = rec;
                too_big = !ec && buffer.size() > opt.max_payload;
            } while (!ec && !too_big && !conn->ws.is_message_done());
            if (too_big) {
                reason = fmt::format("the control plane sent a frame over cluster_max_payload ({} bytes)",
                                     opt.max_payload);
                // Counted as a rejected config (the FSM logs it), then the connection is dropped:
                // the rest of the frame cannot be skipped.
                dispatch(fsm.on_config_frame(now(), failure{reason}));
                co_return;
            }
            if (ec) {
                if (ec == websocket::error::closed || close_frame_seen) {
                    kind = end_kind::close_frame;
                    reason = close_frame_text();
                } else if (is_protocol_violation(ec)) {
                    kind = end_kind::violation;
                    reason = "the control plane broke the websocket protocol: " + describe(ec);
                } else if (reason.empty()) {
                    reason = describe(ec);
                }
                co_return;
            }
            if (conn->ws.got_binary()) {
                const auto data = buffer.cdata();
                const std::string_view frame(static_cast<const char*>(data.data()), data.size());
                // Inflating, validating and hashing a large config takes seconds of CPU: on the
                // disk pool, so pings and the election go on meanwhile. `buffer` is left alone
                // until it returns (nothing is read while this loop waits).
                auto decoded = co_await offload(
                    [&] { return decode_reconfigure_frame(frame, decode_options{opt.max_config_size}); });
                dispatch(fsm.on_config_frame(now(), decoded));
            } else {
                log::info("ignored a text frame from the control plane", "bytes", buffer.size());
                dispatch(fsm.on_other_frame(now()));
            }
            buffer.consume(buffer.size());
            if (buffer.capacity() > piece)
                buffer.shrink_to_fit(); // an idle session does not keep a config-sized buffer
        }
    }

    asio::awaitable<void> write_loop(std::string& reason) {
        co_await asio::this_coro::throw_if_cancelled(false); // cancellation is checked, not thrown
        for (;;) {
            while (outbox.empty() && !close_requested) {
                const bool woken = co_await sleep_on(outbox_signal);
                if (!woken)
                    co_return;
            }
            if (aborting)
                co_return;
            if (close_requested) {
                // A close frame's reason fits in 123 bytes (RFC 6455 5.5).
                websocket::close_reason cr(websocket::close_code::going_away,
                                           std::string_view(close_reason).substr(0, 123));
                if (!stopping)
                    reason = close_reason;
                co_await conn->ws.async_close(cr, as_tuple_awaitable);
                co_return;
            }
            outgoing item = std::move(outbox.front());
            outbox.pop_front();
            boost::system::error_code ec;
            if (item.kind == outgoing::ping) {
                websocket::ping_data payload(item.payload.data(), item.payload.size());
                auto [pec] = co_await conn->ws.async_ping(payload, as_tuple_awaitable);
                ec = pec;
            } else {
                auto [wec, wn] =
                    co_await conn->ws.async_write(asio::buffer(item.payload), as_tuple_awaitable);
                ec = wec;
            }
            if (ec) {
                if (reason.empty())
                    reason = fmt::format("cannot send {} to the control plane: {}",
                                         item.kind == outgoing::ping ? "a ping" : "basic_info", describe(ec));
                co_return;
            }
        }
    }

    // ---- run / stop ----

    void spawn_child(std::size_t i, asio::awaitable<void> task) {
        ++running;
        children[i].done = false;
        asio::co_spawn(
            ex, std::move(task),
            asio::bind_cancellation_slot(children[i].signal.slot(), [this, i](std::exception_ptr e) {
                children[i].done = true;
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& x) {
                        log::error("control plane session task failed", "error", x.what());
                    }
                }
                if (--running == 0)
                    all_done.cancel();
            }));
    }

    void emit(std::size_t i, asio::cancellation_type type) {
        if (!children[i].done)
            children[i].signal.emit(type);
    }

    // Polite stop: close the websocket, let a hand-off in progress finish, stop the rest.
    void begin_stop() {
        if (stopping)
            return;
        stopping = true;
        log::info("stopping the control plane session", "endpoint", log_endpoint);
        if (!delivering_now)
            emit(2, asio::cancellation_type::terminal);
        // With a connection open, the machine asks the writer for a close frame and bounds the
        // close; the timer loop then ends with the connection.
        dispatch(fsm.on_stop(now()));
        if (!connected_now) {
            emit(1, asio::cancellation_type::terminal); // timer loop
            emit(0, asio::cancellation_type::terminal); // connecting or waiting: nothing to be polite about
            notify(connect_signal);
        }
    }

    // Terminal: each child ends at its next step. The cancellation reaches the operation each one
    // has pending; a child that had none sees `aborting` (and its cancellation state) before it
    // sleeps again, and one asleep on a signal of ours is woken; the socket is closed under
    // whatever Beast has pending on it (a close handshake, a teardown waiting for the peer).
    void abort_all() {
        stopping = true;
        aborting = true;
        for (std::size_t i = 0; i < children.size(); ++i)
            emit(i, asio::cancellation_type::terminal);
        for (auto* signal : {&wake, &connect_signal, &delivery_signal, &outbox_signal})
            notify(*signal);
        if (conn)
            conn->close_socket();
    }
};

dp_session::dp_session(asio::any_io_executor executor, dp_session_options options,
                       dp_session_observer& observer)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(options), observer)) {}

dp_session::~dp_session() = default;

const session_status& dp_session::status() const {
    return impl_->fsm.status();
}

void dp_session::readvertise(std::string node_version, std::vector<plugin_info> plugins) {
    auto& s = *impl_;
    if (node_version == s.opt.node_version && plugins.size() == s.opt.plugins.size() &&
        std::equal(plugins.begin(), plugins.end(), s.opt.plugins.begin(),
                   [](const auto& a, const auto& b) { return a.name == b.name && a.version == b.version; }))
        return;
    s.opt.node_version = std::move(node_version);
    s.opt.plugins = plugins.empty() ? bundled_plugins(s.opt.node_version) : std::move(plugins);
    log::info("advertising a new version or plugin set to the control plane", "node_version",
              s.opt.node_version, "plugins", s.opt.plugins.size());
    s.dispatch(s.fsm.on_advertisement_changed(now()));
}

const dp_session_options& dp_session::options() const {
    return impl_->opt;
}

void dp_session::set_current_hash(const std::string& hash) {
    impl_->dispatch(impl_->fsm.on_external_config(now(), hash));
}

asio::awaitable<void> dp_session::run() {
    auto& s = *impl_;
    // The supervisor's polite (total) cancellation must reach us; so must terminal.
    co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
    co_await asio::this_coro::throw_if_cancelled(false);

    s.stopping = false;
    s.spawn_child(0, s.connection_loop());
    s.spawn_child(1, s.timer_loop());
    s.spawn_child(2, s.delivery_loop());
    s.dispatch(s.fsm.start(now()));

    while (s.running > 0) {
        s.all_done.expires_at(steady_time::max());
        co_await s.all_done.async_wait(as_tuple_awaitable);
        auto cs = co_await asio::this_coro::cancellation_state;
        const auto type = cs.cancelled();
        if (type == asio::cancellation_type::none)
            continue; // a child ended
        // Only terminal may interrupt us from now on.
        co_await asio::this_coro::reset_cancellation_state(asio::enable_terminal_cancellation());
        if ((type & asio::cancellation_type::terminal) != asio::cancellation_type::none)
            s.abort_all();
        else
            s.begin_stop();
    }
    log::info("control plane session stopped", "endpoint", s.log_endpoint);
}

} // namespace lifeboat::protocol
