// The local status endpoint: /status (JSON), /healthz, /readyz, /metrics (Prometheus text).
// Listens on loopback by default, or on a unix socket (`unix:/run/lifeboat/status.sock`).
#pragma once

#include "agent/status.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>

namespace lifeboat::agent {

// What one client may cost the agent. A flood of clients (22,000 connections measured) must not
// grow the agent: past max_connections the oldest connection is closed to make room, so a new
// probe (a kubelet's /healthz) is always served and memory stays bounded (about 10 KiB each).
struct status_server_limits {
    std::size_t max_connections = 256;
    // A client that has not sent a whole request by then is dropped (slow headers included).
    std::chrono::milliseconds idle_timeout{5000};
    std::size_t header_limit = 8 * 1024; // requests carry no body: one is refused
};

class status_server {
public:
    // Binds at once so that a taken port is a start-up error (one clear line), not a task that
    // keeps failing. Throws std::runtime_error naming the address. `counters` receives the
    // server's own counters (open connections, shed ones) for /metrics.
    status_server(boost::asio::any_io_executor executor, const std::string& listen,
                  const agent_status& status, status_endpoint_status& counters,
                  status_server_limits limits = {});
    ~status_server();

    // Accepts until cancelled; then closes every open connection.
    boost::asio::awaitable<void> run();

    std::string local_address() const;

    // Called before each request is answered, so parts of the status that are cheap to read but
    // change with time (the election's next round) are fresh without a task polling them.
    std::function<void()> before_answer;

private:
    using socket_type = boost::asio::generic::stream_protocol::socket;
    struct connection;
    using connection_list = std::list<std::shared_ptr<connection>>;
    boost::asio::awaitable<void> serve(std::shared_ptr<connection> conn);
    void make_room();
    void forget(connection& conn);

    boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol> acceptor_;
    const agent_status& status_;
    status_endpoint_status& endpoint_;
    status_server_limits limits_;
    std::string unix_path_;
    connection_list connections_; // oldest first: the first to go when the cap is reached
    std::size_t peak_since_trim_ = 0;
};

// Answers one request (exposed for tests): status code, content type, body.
struct status_response {
    unsigned status = 200;
    std::string content_type;
    std::string body;
};
status_response route_status_request(const agent_status& status, std::string_view method,
                                     std::string_view target);

} // namespace lifeboat::agent
