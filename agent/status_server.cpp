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

#include <malloc.h>
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

struct status_server::connection {
    explicit connection(const asio::any_io_executor& executor) : socket(executor) {}
    socket_type socket;
    connection_list::iterator position;
    bool listed = false;
};

status_server::status_server(asio::any_io_executor executor, const std::string& listen,
                             const agent_status& status, status_endpoint_status& counters,
                             status_server_limits limits)
    : acceptor_(executor)
    , status_(status)
    , endpoint_(counters)
    , limits_(limits) {
    if (limits_.max_connections == 0)
        limits_.max_connections = 1;
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
            while (!self->connections_.empty()) {
                auto conn = self->connections_.front();
                self->forget(*conn);
                conn->socket.close(ignored);
            }
        }
    } close_all{this};
    bool told_out_of_descriptors = false;
    for (;;) {
        auto conn = std::make_shared<connection>(co_await asio::this_coro::executor);
        auto [ec] = co_await acceptor_.async_accept(conn->socket, asio::as_tuple(asio::use_awaitable));
        if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
            ec == asio::error::no_memory) {
            // Out of file descriptors (the cap keeps the endpoint's own share small, but the
            // process's limit is shared): wait a moment instead of spinning on accept().
            if (!std::exchange(told_out_of_descriptors, true))
                log::warn("status endpoint cannot accept a connection", "error", ec.message());
            asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::use_awaitable);
            continue;
        }
        if (ec == asio::error::connection_aborted)
            continue;
        if (ec)
            throw boost::system::system_error(ec);
        told_out_of_descriptors = false;
        make_room();
        conn->position = connections_.insert(connections_.end(), conn);
        conn->listed = true;
        ++endpoint_.accepted_total;
        endpoint_.open_connections = connections_.size();
        peak_since_trim_ = std::max(peak_since_trim_, connections_.size());
        asio::co_spawn(acceptor_.get_executor(), serve(conn), asio::detached);
    }
}

void status_server::make_room() {
    while (connections_.size() >= limits_.max_connections) {
        auto oldest = connections_.front();
        forget(*oldest);
        boost::system::error_code ignored;
        // A reset, not a FIN: a flood must not leave thousands of TIME_WAIT entries behind.
        oldest->socket.set_option(asio::socket_base::linger(true, 0), ignored);
        oldest->socket.close(ignored); // its serve() ends with operation_aborted
        ++endpoint_.shed_total;
    }
}

void status_server::forget(connection& conn) {
    if (!conn.listed)
        return;
    connections_.erase(conn.position);
    conn.listed = false;
    endpoint_.open_connections = connections_.size();
    // A flood leaves the allocator holding the memory of every connection it served (RSS went
    // from 11 to 108 MB after 22,000 connections and stayed): once it is over, hand it back.
    if (connections_.empty() && peak_since_trim_ > 32) {
        peak_since_trim_ = 0;
        ::malloc_trim(0);
    }
}

asio::awaitable<void> status_server::serve(std::shared_ptr<connection> conn) {
    auto& socket = conn->socket;
    // Bounded: a request is one header (no body), so the buffer never needs more than that.
    boost::beast::flat_buffer buffer(limits_.header_limit + 1024);
    try {
        for (;;) {
            http::request_parser<http::empty_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(limits_.header_limit));
            // An idle or slow client is dropped after idle_timeout so it cannot hold a slot. The
            // read completes through as_tuple because `||` waits for the first *success*: a
            // failed read (EOF, the socket closed at shutdown) must end the race too.
            asio::steady_timer deadline(socket.get_executor(), limits_.idle_timeout);
            auto read =
                co_await (http::async_read(socket, buffer, parser, asio::as_tuple(asio::use_awaitable)) ||
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
            if (req.method() == http::verb::head) {
                // HEAD: the length GET would have, and no body (RFC 9110 9.3.2).
                res.content_length(answer.body.size());
            } else {
                res.body() = std::move(answer.body);
                res.prepare_payload();
            }
            co_await http::async_write(socket, res, asio::use_awaitable);
            if (!res.keep_alive())
                break;
        }
    } catch (const boost::system::system_error& e) {
        if (e.code() != http::error::end_of_stream && e.code() != asio::error::operation_aborted &&
            e.code() != asio::error::connection_reset && e.code() != asio::error::bad_descriptor)
            log::debug("status connection ended", "error", e.code().message());
    }
    boost::system::error_code ignored;
    if (conn->listed) {
        socket.shutdown(asio::socket_base::shutdown_send, ignored);
        socket.close(ignored);
    }
    forget(*conn);
}

} // namespace lifeboat::agent
