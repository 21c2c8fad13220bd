#include "protocol/dp_session.hpp"

#include "base/digest.hpp"
#include "base/log.hpp"
#include "base/offload.hpp"
#include "base/percent_encoding.hpp"
#include "protocol/envelope.hpp"
#include "protocol/tls_util.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <deque>
#include <functional>
#include <map>

namespace lifeboat::protocol {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using asio::use_awaitable;

namespace {

steady_time now() {
    return std::chrono::steady_clock::now();
}

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

struct host_port {
    std::string host; // without brackets
    std::string port;
};
std::optional<host_port> split_host_port(std::string_view s) {
    if (s.empty())
        return std::nullopt;
    if (s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 2 > s.size() || s[close + 1] != ':')
            return std::nullopt;
        return host_port{std::string(s.substr(1, close - 1)), std::string(s.substr(close + 2))};
    }
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 >= s.size())
        return std::nullopt;
    return host_port{std::string(s.substr(0, colon)), std::string(s.substr(colon + 1))};
}

struct proxy_settings {
    std::string host, port;
    std::string authorization; // "Basic ..." or empty; a secret, never logged
};

result<proxy_settings, std::string> parse_proxy(const std::string& url) {
    auto u = boost::urls::parse_uri(url);
    if (!u)
        return failure(std::string("proxy_server is not a URL"));
    if (u->scheme() != "http")
        return failure(fmt::format("proxy_server scheme {} is not supported (only http:// proxies)",
                                   std::string(u->scheme())));
    proxy_settings p;
    p.host = std::string(u->encoded_host().decode());
    if (p.host.size() > 2 && p.host.front() == '[' && p.host.back() == ']')
        p.host = p.host.substr(1, p.host.size() - 2);
    // Kong's parse_proxy_url defaults the port to 443 even for http://.
    p.port = u->has_port() ? std::string(u->port()) : "443";
    if (u->has_userinfo() && u->has_password())
        p.authorization = "Basic " + base64_encode(std::string(u->encoded_user().decode()) + ":" +
                                                   std::string(u->encoded_password().decode()));
    return p;
}

std::string describe(const boost::system::error_code& ec) {
    if (ec == websocket::error::message_too_big)
        return "the control plane sent a frame over the cluster_max_payload limit";
    if (ec == asio::error::eof || ec == ssl::error::stream_truncated || ec == asio::error::connection_reset ||
        ec == beast::http::error::end_of_stream)
        return "the control plane closed the connection";
    if (ec == beast::error::timeout)
        return "timed out";
    if (ec == asio::error::connection_refused)
        return "connection refused";
    return ec.message();
}

// A reason for a failed TLS handshake, with what it usually means in a hybrid cluster.
std::string describe_tls_failure(const boost::system::error_code& ec, SSL* ssl, cluster_mtls mode) {
    std::string what = describe(ec);
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
        what = fmt::format("the control plane's certificate is not trusted: {}",
                           X509_verify_cert_error_string(verify));
        if (mode == cluster_mtls::shared)
            what += " (cluster_mtls = shared: the CP must present this node's cluster_cert)";
        else
            what += " (cluster_mtls = pki: it must chain to cluster_ca_cert and match the server name)";
        return what;
    }
    if (what.find("alert") != std::string::npos)
        what += " (the control plane refused this node's client certificate)";
    return what;
}

struct outgoing {
    enum kind_t { text_json, ping } kind;
    std::string payload;
};

// A protocol violation that the websocket layer reports (the CP broke RFC 6455), as opposed to
// an I/O failure.
bool is_protocol_violation(const boost::system::error_code& ec) {
    return ec.category() == make_error_code(websocket::error::bad_opcode).category() &&
           ec != websocket::error::closed && ec != websocket::error::message_too_big;
}

using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// The TLS stream under the websocket, with a hook into Beast's teardown (the TLS and TCP close
// after a close handshake, or after Beast answered a protocol violation with its own close).
// Beast would wait there for the peer, without a bound, before it reports how the websocket
// ended; a hostile CP never hangs up. So the teardown is left to the driver: the hook tells the
// session machine (which bounds the close by close_timeout), and Beast's operation completes at
// once with the real cause (a close frame, the violation), which ends the session at once. The
// driver then closes TLS and TCP itself (finish_close) until the peer hangs up or the machine
// drops the connection.
class cp_tls_stream : public tls_stream {
public:
    using tls_stream::tls_stream;
    std::function<void()> on_teardown;
    bool teardown_requested = false; // the websocket close is done: TLS and TCP are to be closed
};

template <class TeardownHandler>
void async_teardown(beast::role_type, cp_tls_stream& stream, TeardownHandler&& handler) {
    stream.teardown_requested = true;
    if (stream.on_teardown)
        stream.on_teardown();
    auto ex = asio::get_associated_executor(handler, stream.get_executor());
    asio::post(ex, [h = std::forward<TeardownHandler>(handler)]() mutable {
        std::move(h)(boost::system::error_code{});
    });
}

using wss_stream = websocket::stream<cp_tls_stream>;

struct connection {
    client_tls tls; // outlives the stream that uses it
    wss_stream ws;
    connection(asio::any_io_executor ex, client_tls t) : tls(std::move(t)), ws(ex, *tls.context) {}
};

} // namespace

std::string dp_session::outlet_target(const dp_session_options& o) {
    return "/v1/outlet?node_id=" + percent_encode(o.node_id) +
           "&node_hostname=" + percent_encode(o.node_hostname) +
           "&node_version=" + percent_encode(o.node_version);
}

std::string dp_session::basic_info(const dp_session_options& o) {
    namespace json = boost::json;
    json::array plugins;
    const auto list = o.plugins.empty() ? bundled_plugins(o.node_version) : o.plugins;
    for (const auto& p : list) {
        json::object entry{{"name", p.name}};
        if (!p.version.empty())
            entry["version"] = p.version;
        plugins.push_back(std::move(entry));
    }
    // process_conf is Kong's remove_sensitive() configuration; the CPs read nothing from it that
    // matters to config delivery, so a few non-secret facts suffice.
    json::object process_conf{{"role", "data_plane"},
                              {"database", "off"},
                              {"cluster_mtls", o.mtls == cluster_mtls::shared ? "shared" : "pki"},
                              {"cluster_control_plane", o.control_plane},
                              {"cluster_max_payload", o.max_payload},
                              {"router_flavor", "traditional_compatible"}};
    json::object info{
        {"type", "basic_info"}, {"plugins", std::move(plugins)}, {"process_conf", std::move(process_conf)}};
    if (!o.labels.empty()) {
        json::object labels;
        for (const auto& [k, v] : o.labels)
            labels[k] = v;
        info["labels"] = std::move(labels);
    }
    return json::serialize(info);
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
    std::unique_ptr<connection> conn;
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
                outbox.push_back({outgoing::text_json, dp_session::basic_info(opt)});
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
        if (!conn)
            return;
        boost::system::error_code ignored;
        beast::get_lowest_layer(conn->ws).socket().close(ignored);
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

    result<client_tls, std::string> make_tls_context() const {
        tls_client_settings s;
        s.cert = opt.cert;
        s.key = opt.key;
        s.ca = opt.mtls == cluster_mtls::shared ? opt.cert : opt.ca_cert;
        s.pin_peer_to_own_cert = opt.mtls == cluster_mtls::shared;
        if (opt.mtls == cluster_mtls::pki && opt.ca_cert.empty())
            return failure(std::string("cluster_mtls = pki needs cluster_ca_cert"));
        return make_client_tls_context(s);
    }

    asio::awaitable<result<void, std::string>> proxy_connect(tls_stream& stream, const host_port& target,
                                                             const proxy_settings& proxy) {
        auto& tcp_layer = beast::get_lowest_layer(stream);
        http::request<http::empty_body> req{http::verb::connect, target.host + ":" + target.port, 11};
        req.set(http::field::host, target.host + ":" + target.port);
        if (!proxy.authorization.empty())
            req.set(http::field::proxy_authorization, proxy.authorization);
        tcp_layer.expires_after(opt.io_timeout);
        auto [wec, wn] = co_await http::async_write(tcp_layer, req, as_tuple_awaitable);
        if (wec)
            co_return failure("proxy CONNECT failed: " + describe(wec));
        beast::flat_buffer buffer;
        http::response_parser<http::empty_body> parser;
        parser.skip(true); // a 2xx answer to CONNECT has no body: the tunnel follows
        auto [rec, rn] = co_await http::async_read_header(tcp_layer, buffer, parser, as_tuple_awaitable);
        if (rec)
            co_return failure("proxy CONNECT failed: " + describe(rec));
        const auto& res = parser.get();
        if (res.result_int() != 200)
            co_return failure(fmt::format("proxy refused CONNECT: HTTP {} {}", res.result_int(),
                                          std::string(res.reason())));
        co_return ok_v;
    }

    asio::awaitable<result<std::unique_ptr<connection>, std::string>> establish() {
        const auto target = split_host_port(opt.control_plane);
        if (!target)
            co_return failure(fmt::format("cluster_control_plane {:?} is not host:port", opt.control_plane));
        std::optional<proxy_settings> proxy;
        if (!opt.proxy.empty()) {
            auto p = parse_proxy(opt.proxy);
            if (!p)
                co_return failure(std::move(p.error()));
            proxy = std::move(p.value());
        }
        auto tls = make_tls_context();
        if (!tls)
            co_return failure(std::move(tls.error()));
        auto c = std::make_unique<connection>(ex, std::move(tls.value()));
        auto& tcp_layer = beast::get_lowest_layer(c->ws);

        // TCP, to the CP or to the proxy.
        const std::string& host = proxy ? proxy->host : target->host;
        const std::string& port = proxy ? proxy->port : target->port;
        boost::system::error_code aec;
        const auto address = asio::ip::make_address(host, aec);
        tcp_layer.expires_after(opt.io_timeout);
        if (!aec) {
            unsigned long p = 0;
            try {
                p = std::stoul(port);
            } catch (...) {
            }
            if (p == 0 || p > 65535)
                co_return failure(fmt::format("port {:?} is not a number", port));
            auto [ec] = co_await tcp_layer.async_connect(
                tcp::endpoint(address, static_cast<unsigned short>(p)), as_tuple_awaitable);
            if (ec)
                co_return failure(fmt::format("cannot connect to {}: {}",
                                              proxy ? "the proxy" : opt.control_plane, describe(ec)));
        } else {
            tcp::resolver resolver(ex);
            auto [rec, endpoints] = co_await resolver.async_resolve(host, port, as_tuple_awaitable);
            if (rec)
                co_return failure(fmt::format("cannot resolve {}: {}", host, describe(rec)));
            auto [ec, ep] = co_await tcp_layer.async_connect(endpoints, as_tuple_awaitable);
            if (ec)
                co_return failure(fmt::format("cannot connect to {}: {}",
                                              proxy ? "the proxy" : opt.control_plane, describe(ec)));
        }
        boost::system::error_code nec;
        tcp_layer.socket().set_option(tcp::no_delay(true), nec);
        // A terminal cancel that came between two steps reached no operation: stop here rather
        // than start the next step (each is bounded, but only by io_timeout).
        if (aborting)
            co_return failure(std::string("stopped"));

        if (proxy) {
            auto tunnel = co_await proxy_connect(c->ws.next_layer(), *target, *proxy);
            if (!tunnel)
                co_return failure(std::move(tunnel.error()));
        }

        // TLS: SNI and the name checked are Kong's (kong_clustering in shared mode).
        std::string sni = opt.mtls == cluster_mtls::shared
                              ? std::string("kong_clustering")
                              : (opt.server_name.empty() ? target->host : opt.server_name);
        SSL* ssl_handle = c->ws.next_layer().native_handle();
        boost::system::error_code ipec;
        asio::ip::make_address(sni, ipec);
        if (ipec) // RFC 6066: no SNI for an IP literal
            SSL_set_tlsext_host_name(ssl_handle, sni.c_str());
        c->ws.next_layer().set_verify_callback(make_peer_verifier(sni, c->tls.pinned_der));
        tcp_layer.expires_after(opt.io_timeout);
        auto [hec] =
            co_await c->ws.next_layer().async_handshake(ssl::stream_base::client, as_tuple_awaitable);
        if (hec)
            co_return failure("TLS handshake failed: " + describe_tls_failure(hec, ssl_handle, opt.mtls));
        if (aborting)
            co_return failure(std::string("stopped"));

        // WebSocket upgrade, as lua-resty-websocket sends it (Host is cluster_control_plane).
        tcp_layer.expires_never();
        websocket::stream_base::timeout to{};
        to.handshake_timeout = opt.io_timeout;
        to.idle_timeout = websocket::stream_base::none(); // liveness is the FSM's 45 s rule
        to.keep_alive_pings = false;
        c->ws.set_option(to);
        c->ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
            req.set(http::field::user_agent, "lifeboat/" LIFEBOAT_VERSION);
        }));
        c->ws.read_message_max(0); // read_loop enforces max_payload (see there)
        c->ws.auto_fragment(false);
        c->ws.binary(true);
        websocket::response_type response;
        auto [wec] = co_await c->ws.async_handshake(response, opt.control_plane,
                                                    dp_session::outlet_target(opt), as_tuple_awaitable);
        if (wec) {
            if (wec == websocket::error::upgrade_declined)
                co_return failure(fmt::format("websocket upgrade refused: HTTP {} {}", response.result_int(),
                                              std::string(response.reason())));
            std::string why =
                "websocket handshake failed: " + describe_tls_failure(wec, ssl_handle, opt.mtls);
            if (opt.mtls == cluster_mtls::shared &&
                (wec == ssl::error::stream_truncated || wec == asio::error::eof))
                why +=
                    " (in cluster_mtls = shared the CP drops a node whose cluster_cert differs from its own)";
            co_return failure(std::move(why));
        }
        co_return std::move(c);
    }

    asio::awaitable<void> one_connection() {
        auto established = co_await establish();
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
        auto& stream = static_cast<tls_stream&>(conn->ws.next_layer());
        co_await asio::async_initiate<decltype(as_tuple_awaitable), void(boost::system::error_code)>(
            [&stream](auto handler) {
                beast::async_teardown(beast::role_type::client, stream, std::move(handler));
            },
            as_tuple_awaitable);
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
        if (conn) {
            boost::system::error_code ignored;
            beast::get_lowest_layer(conn->ws).socket().close(ignored);
        }
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
