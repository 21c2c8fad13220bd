#include "agent/status_server.hpp"

#include "agent/json_text.hpp"
#include "base/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

namespace lifeboat::agent {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace asio::experimental::awaitable_operators;

namespace {

asio::generic::stream_protocol::endpoint parse_listen(const std::string& listen, std::string& unix_path) {
    if (listen.starts_with("unix:")) {
        unix_path = listen.substr(5);
        return asio::local::stream_protocol::endpoint(unix_path);
    }
    std::string host, port;
    if (listen.starts_with('[')) {
        const auto close = listen.find(']');
        host = listen.substr(1, close - 1);
        port = listen.substr(close + 2);
    } else {
        const auto colon = listen.rfind(':');
        host = listen.substr(0, colon);
        port = listen.substr(colon + 1);
    }
    if (host == "localhost")
        host = "127.0.0.1";
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec)
        throw std::runtime_error(fmt::format("status_listen {}: '{}' is not an IP address", listen, host));
    return asio::ip::tcp::endpoint(address, static_cast<unsigned short>(std::stoi(port)));
}

} // namespace

status_response route_status_request(const agent_status& status, std::string_view method,
                                     std::string_view target) {
    const auto path = target.substr(0, target.find('?'));
    if (method != "GET" && method != "HEAD")
        return {405, "text/plain", "only GET is served here\n"};
    if (path == "/status")
        return {200, "application/json", serialize_valid(to_json(status)) + "\n"};
    if (path == "/healthz")
        return {200, "text/plain", "ok\n"};
    if (path == "/readyz") {
        std::string why;
        const bool ready = status.ready(why);
        boost::json::object body{{"ready", ready}, {"reason", why}, {"source", status.config.source}};
        return {ready ? 200u : 503u, "application/json", serialize_valid(std::move(body)) + "\n"};
    }
    if (path == "/metrics")
        return {200, "text/plain; version=0.0.4", to_prometheus(status)};
    return {404, "text/plain", "not found: try /status, /healthz, /readyz or /metrics\n"};
}

status_server::status_server(asio::any_io_executor executor, const std::string& listen,
                             const agent_status& status)
    : acceptor_(executor)
    , status_(status) {
    const auto endpoint = parse_listen(listen, unix_path_);
    boost::system::error_code ec;
    if (!unix_path_.empty())
        ::unlink(unix_path_.c_str()); // a stale socket from a killed agent would block bind()
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec && unix_path_.empty())
        acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec)
        acceptor_.bind(endpoint, ec);
    if (!ec)
        acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error(fmt::format("status_listen {}: {}", listen, ec.message()));
    if (!unix_path_.empty())
        ::chmod(unix_path_.c_str(), 0660); // owner and group only: status is for local operators
}

status_server::~status_server() {
    if (!unix_path_.empty())
        ::unlink(unix_path_.c_str());
}

std::string status_server::local_address() const {
    if (!unix_path_.empty())
        return "unix:" + unix_path_;
    boost::system::error_code ec;
    const auto ep = acceptor_.local_endpoint(ec);
    asio::ip::tcp::endpoint tcp_ep;
    tcp_ep.resize(ep.size());
    std::memcpy(tcp_ep.data(), ep.data(), ep.size());
    return fmt::format("{}:{}", tcp_ep.address().to_string(), tcp_ep.port());
}

asio::awaitable<void> status_server::run() {
    struct closer {
        status_server* self;
        ~closer() {
            boost::system::error_code ignored;
            self->acceptor_.close(ignored);
            for (const auto& c : self->connections_)
                c->close(ignored);
        }
    } close_all{this};
    for (;;) {
        auto socket = std::make_shared<socket_type>(co_await asio::this_coro::executor);
        co_await acceptor_.async_accept(*socket, asio::use_awaitable);
        connections_.insert(socket);
        asio::co_spawn(acceptor_.get_executor(), serve(socket), asio::detached);
    }
}

asio::awaitable<void> status_server::serve(std::shared_ptr<socket_type> socket) {
    boost::beast::flat_buffer buffer;
    try {
        for (;;) {
            http::request_parser<http::empty_body> parser;
            parser.header_limit(8 * 1024);
            // An idle or slow client is dropped after 5 s so it cannot hold a slot. The read
            // completes through as_tuple because `||` waits for the first *success*: a failed
            // read (EOF, the socket closed at shutdown) must end the race too.
            asio::steady_timer deadline(socket->get_executor(), std::chrono::seconds(5));
            auto read =
                co_await (http::async_read(*socket, buffer, parser, asio::as_tuple(asio::use_awaitable)) ||
                          deadline.async_wait(asio::use_awaitable));
            if (read.index() == 1)
                break;
            if (auto [ec, n] = std::get<0>(read); ec)
                throw boost::system::system_error(ec);
            const auto& req = parser.get();
            if (before_answer)
                before_answer();
            auto answer = route_status_request(status_, std::string_view(req.method_string()),
                                               std::string_view(req.target()));
            http::response<http::string_body> res{static_cast<http::status>(answer.status), req.version()};
            res.set(http::field::server, "lifeboat/" LIFEBOAT_VERSION);
            res.set(http::field::content_type, answer.content_type);
            res.set(http::field::cache_control, "no-store");
            res.keep_alive(req.keep_alive());
            if (req.method() != http::verb::head)
                res.body() = std::move(answer.body);
            res.prepare_payload();
            co_await http::async_write(*socket, res, asio::use_awaitable);
            if (!res.keep_alive())
                break;
        }
    } catch (const boost::system::system_error& e) {
        if (e.code() != http::error::end_of_stream && e.code() != asio::error::operation_aborted &&
            e.code() != asio::error::connection_reset && e.code() != asio::error::bad_descriptor)
            log::debug("status connection ended", "error", e.code().message());
    }
    boost::system::error_code ignored;
    socket->shutdown(asio::socket_base::shutdown_send, ignored);
    socket->close(ignored);
    connections_.erase(socket);
}

} // namespace lifeboat::agent
