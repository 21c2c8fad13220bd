// The lifeboat agent: one io_context, one thread, every activity a task under the supervisor.
// This is the composition root: it builds the parts from the settings and wires them together:
//
//   CP session ──┐
//   cache ───────┼─> config_pipeline ─> cache, gateway hand-off ─> exporter ─> elector.fenced_put
//   importer ────┘
#pragma once

#include "agent/config.hpp"
#include "agent/config_pipeline.hpp"
#include "agent/gateway_mirror.hpp"
#include "agent/reload.hpp"
#include "agent/status.hpp"
#include "agent/status_server.hpp"
#include "agent/supervisor.hpp"
#include "protocol/dp_session.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <vector>

namespace lifeboat::backends {
class object_store;
}
namespace lifeboat::election {
class elector;
}

namespace lifeboat::agent {

class importer;
class exporter;
class declarative_fallback;
class backup_watcher;

class agent final : private protocol::dp_session_observer {
public:
    // Builds every part and binds the status endpoint. Throws std::runtime_error with one clear
    // line when the settings cannot work (a taken port, a bad storage URL, unreadable certs).
    agent(boost::asio::any_io_executor executor, settings config, std::string node_id);
    ~agent();

    void start();
    boost::asio::awaitable<void> shutdown(steady_duration grace);
    void stop_now() { supervisor_.stop_now(); }

    // A configuration re-read (SIGHUP): applies the changed keys that can change live (see
    // agent/reload.hpp), runs the on_reload hooks with the settings now in force, and returns
    // what changed, so the caller can log what waits for a restart. Never stops anything.
    reload_plan reload(const settings& fresh);
    // Part of reload(): the backup keys read again (exporter_->reload_keys, importer_->replace_keys).
    void reload_backup_keys(const settings& fresh, reload_plan& plan);
    // Parts that re-read something of their own on SIGHUP (the gateway's plugin list, say) hook
    // in here; each runs on the agent's executor after the live keys were applied.
    std::vector<std::function<void(const settings&)>> on_reload;

    const agent_status& status() const { return status_; }
    std::string status_address() const { return status_server_->local_address(); }

    // With dp_plugins = auto or node_version = auto: reads the gateway's Admin API root again and,
    // when its answer changed, advertises it to the CP (the session reconnects to send a new
    // basic_info). Runs every 30 s; a SIGHUP handler may call it too. A no-op otherwise.
    boost::asio::awaitable<void> reread_gateway();

private:
    void on_status(const protocol::session_status& s) override;
    boost::asio::awaitable<bool> on_config(protocol::snapshot_ptr snapshot) override;
    void refresh_election_status();
    // Once the cache is loaded (on the disk pool): the session, the importer and the local file
    // settled by what it holds, and started.
    void start_after_cache();
    void show_advertisement();

    boost::asio::any_io_executor executor_;
    settings config_;
    agent_status status_;
    supervisor supervisor_;
    std::unique_ptr<status_server> status_server_;
    std::unique_ptr<backends::object_store> store_;
    std::unique_ptr<config_pipeline> pipeline_;
    std::unique_ptr<protocol::dp_session> session_;
    std::unique_ptr<importer> importer_;
    std::unique_ptr<declarative_fallback> last_resort_; // the local declarative_config file
    std::unique_ptr<election::elector> elector_;
    std::unique_ptr<exporter> exporter_;
    std::unique_ptr<backup_watcher> backup_watcher_; // the backup's age as this node sees it
    protocol::snapshot_ptr cached_;
    advertisement advertised_;
    std::unique_ptr<http::client> gateway_client_;
    bool gateway_unreachable_ = false;
};

} // namespace lifeboat::agent
