// The lifeboat agent: one io_context, one thread, every activity a task under the supervisor.
// This is the composition root: it builds the parts from the settings and wires them together.
#pragma once

#include "agent/config.hpp"
#include "agent/status.hpp"
#include "agent/status_server.hpp"
#include "agent/supervisor.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace lifeboat::agent {

class agent {
public:
    // Binds the status endpoint at once (throws std::runtime_error with one clear line).
    agent(boost::asio::any_io_executor executor, settings config, std::string node_id);
    ~agent();

    void start();
    boost::asio::awaitable<void> shutdown(steady_duration grace) { return supervisor_.shutdown(grace); }
    void stop_now() { supervisor_.stop_now(); }

    const agent_status& status() const { return status_; }
    std::string status_address() const { return status_server_->local_address(); }

private:
    boost::asio::any_io_executor executor_;
    settings config_;
    agent_status status_;
    supervisor supervisor_;
    std::unique_ptr<status_server> status_server_;
};

} // namespace lifeboat::agent
