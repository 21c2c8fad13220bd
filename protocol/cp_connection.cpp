#include "protocol/cp_connection.hpp"

#include "base/digest.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace lifeboat::protocol {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

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

} // namespace

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

namespace {

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

} // namespace

// A protocol violation that the websocket layer reports (the CP broke RFC 6455), as opposed to
// an I/O failure.
bool is_protocol_violation(const boost::system::error_code& ec) {
    return ec.category() == make_error_code(websocket::error::bad_opcode).category() &&
           ec != websocket::error::closed && ec != websocket::error::message_too_big;
}

asio::awaitable<void> cp_connection::close_transport() {
    auto& stream = static_cast<cp_tls_base&>(ws.next_layer());
    co_await asio::async_initiate<decltype(as_tuple_awaitable), void(boost::system::error_code)>(
        [&stream](auto handler) {
            beast::async_teardown(beast::role_type::client, stream, std::move(handler));
        },
        as_tuple_awaitable);
}

void cp_connection::close_socket() {
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
}

namespace {

result<client_tls, std::string> make_tls_context(const dp_session_options& opt) {
    tls_client_settings s;
    s.cert = opt.cert;
    s.key = opt.key;
    s.ca = opt.mtls == cluster_mtls::shared ? opt.cert : opt.ca_cert;
    s.pin_peer_to_own_cert = opt.mtls == cluster_mtls::shared;
    if (opt.mtls == cluster_mtls::pki && opt.ca_cert.empty())
        return failure(std::string("cluster_mtls = pki needs cluster_ca_cert"));
    return make_client_tls_context(s);
}

asio::awaitable<result<void, std::string>> proxy_connect(cp_tls_base& stream, const host_port& target,
                                                         const proxy_settings& proxy,
                                                         std::chrono::milliseconds io_timeout) {
    auto& tcp_layer = beast::get_lowest_layer(stream);
    http::request<http::empty_body> req{http::verb::connect, target.host + ":" + target.port, 11};
    req.set(http::field::host, target.host + ":" + target.port);
    if (!proxy.authorization.empty())
        req.set(http::field::proxy_authorization, proxy.authorization);
    tcp_layer.expires_after(io_timeout);
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
        co_return failure(
            fmt::format("proxy refused CONNECT: HTTP {} {}", res.result_int(), std::string(res.reason())));
    co_return ok_v;
}

} // namespace

asio::awaitable<result<std::unique_ptr<cp_connection>, std::string>>
connect_to_control_plane(asio::any_io_executor ex, const dp_session_options& opt, const bool& aborting) {
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
    auto tls = make_tls_context(opt);
    if (!tls)
        co_return failure(std::move(tls.error()));
    auto c = std::make_unique<cp_connection>(ex, std::move(tls.value()));
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
        auto [ec] = co_await tcp_layer.async_connect(tcp::endpoint(address, static_cast<unsigned short>(p)),
                                                     as_tuple_awaitable);
        if (ec)
            co_return failure(fmt::format("cannot connect to {}: {}", proxy ? "the proxy" : opt.control_plane,
                                          describe(ec)));
    } else {
        tcp::resolver resolver(ex);
        auto [rec, endpoints] = co_await resolver.async_resolve(host, port, as_tuple_awaitable);
        if (rec)
            co_return failure(fmt::format("cannot resolve {}: {}", host, describe(rec)));
        auto [ec, ep] = co_await tcp_layer.async_connect(endpoints, as_tuple_awaitable);
        if (ec)
            co_return failure(fmt::format("cannot connect to {}: {}", proxy ? "the proxy" : opt.control_plane,
                                          describe(ec)));
    }
    boost::system::error_code nec;
    tcp_layer.socket().set_option(tcp::no_delay(true), nec);
    // A terminal cancel that came between two steps reached no operation: stop here rather
    // than start the next step (each is bounded, but only by io_timeout).
    if (aborting)
        co_return failure(std::string("stopped"));

    if (proxy) {
        auto tunnel = co_await proxy_connect(c->ws.next_layer(), *target, *proxy, opt.io_timeout);
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
    auto [hec] = co_await c->ws.next_layer().async_handshake(ssl::stream_base::client, as_tuple_awaitable);
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
                                                outlet_target(dp_session::node(opt)), as_tuple_awaitable);
    if (wec) {
        if (wec == websocket::error::upgrade_declined)
            co_return failure(fmt::format("websocket upgrade refused: HTTP {} {}", response.result_int(),
                                          std::string(response.reason())));
        std::string why = "websocket handshake failed: " + describe_tls_failure(wec, ssl_handle, opt.mtls);
        if (opt.mtls == cluster_mtls::shared &&
            (wec == ssl::error::stream_truncated || wec == asio::error::eof))
            why += " (in cluster_mtls = shared the CP drops a node whose cluster_cert differs from its own)";
        co_return failure(std::move(why));
    }
    co_return std::move(c);
}

} // namespace lifeboat::protocol
