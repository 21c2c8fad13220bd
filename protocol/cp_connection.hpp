// Establishing the data plane's connection to a Kong control plane: TCP (to the CP, or to an HTTP
// CONNECT proxy and through it), TLS with Kong's names and checks (cluster_mtls shared or pki),
// then the websocket upgrade to /v1/outlet. Each step is bounded by io_timeout and fails with a
// one-line reason that says what usually causes it in a hybrid cluster. Used by the session's
// driver (dp_session.cpp), which owns what happens on the connection afterwards.
#pragma once

#include "base/result.hpp"
#include "protocol/dp_session.hpp"
#include "protocol/tls_util.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <functional>
#include <memory>
#include <string>

namespace lifeboat::protocol {

using cp_tls_base = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// The TLS stream under the websocket, with a hook into Beast's teardown (the TLS and TCP close
// after a close handshake, or after Beast answered a protocol violation with its own close).
// Beast would wait there for the peer, without a bound, before it reports how the websocket
// ended; a hostile CP never hangs up. So the teardown is left to the driver: the hook tells the
// session machine (which bounds the close by close_timeout), and Beast's operation completes at
// once with the real cause (a close frame, the violation), which ends the session at once. The
// driver then closes TLS and TCP itself (close_transport) until the peer hangs up or the machine
// drops the connection.
class cp_tls_stream : public cp_tls_base {
public:
    using cp_tls_base::cp_tls_base;
    std::function<void()> on_teardown;
    bool teardown_requested = false; // the websocket close is done: TLS and TCP are to be closed
};

// Found by Beast through argument-dependent lookup.
template <class TeardownHandler>
void async_teardown(boost::beast::role_type, cp_tls_stream& stream, TeardownHandler&& handler) {
    stream.teardown_requested = true;
    if (stream.on_teardown)
        stream.on_teardown();
    auto ex = boost::asio::get_associated_executor(handler, stream.get_executor());
    boost::asio::post(ex, [h = std::forward<TeardownHandler>(handler)]() mutable {
        std::move(h)(boost::system::error_code{});
    });
}

struct cp_connection {
    client_tls tls; // outlives the stream that uses it
    boost::beast::websocket::stream<cp_tls_stream> ws;
    cp_connection(boost::asio::any_io_executor ex, client_tls t) : tls(std::move(t)), ws(ex, *tls.context) {}

    // After the websocket close: TLS close_notify both ways, then the TCP close, as Beast's own
    // teardown does. Unbounded here: the caller closes the socket to end it.
    boost::asio::awaitable<void> close_transport();
    // Closes the TCP connection under whatever is pending on it: every operation ends at once.
    void close_socket();
};

// Opens the connection and upgrades it; `aborting` is read between steps (a terminal stop that
// came between two steps reached no operation).
boost::asio::awaitable<result<std::unique_ptr<cp_connection>, std::string>>
connect_to_control_plane(boost::asio::any_io_executor ex, const dp_session_options& options,
                         const bool& aborting);

// A one-line reason for an I/O error on the CP connection.
std::string describe(const boost::system::error_code& ec);
// A protocol violation that the websocket layer reports (the CP broke RFC 6455), as opposed to an
// I/O failure.
bool is_protocol_violation(const boost::system::error_code& ec);

} // namespace lifeboat::protocol
