// The local status endpoint: /status (JSON), /healthz, /readyz, /metrics (Prometheus text).
// Listens on loopback by default, or on a unix socket (`unix:/run/lifeboat/status.sock`).
#pragma once

#include "agent/status.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include <functional>
#include <memory>
#include <set>
#include <string>

namespace lifeboat::agent {

class status_server {
public:
    // Binds at once so that a taken port is a start-up error (one clear line), not a task that
    // keeps failing. Throws std::runtime_error naming the address.
    status_server(boost::asio::any_io_executor executor, const std::string& listen,
                  const agent_status& status);
    ~status_server();

    // Accepts until cancelled; then closes every open connection.
    boost::asio::awaitable<void> run();

    std::string local_address() const;

    // Called before each request is answered, so parts of the status that are cheap to read but
    // change with time (the election's next round) are fresh without a task polling them.
    std::function<void()> before_answer;

private:
    using socket_type = boost::asio::generic::stream_protocol::socket;
    boost::asio::awaitable<void> serve(std::shared_ptr<socket_type> socket);

    boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol> acceptor_;
    const agent_status& status_;
    std::string unix_path_;
    std::set<std::shared_ptr<socket_type>> connections_;
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
