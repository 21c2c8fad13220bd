#include "agent/agent.hpp"

#include "base/log.hpp"

namespace lifeboat::agent {

agent::agent(boost::asio::any_io_executor executor, settings config, std::string node_id)
    : executor_(executor)
    , config_(std::move(config))
    , supervisor_(executor) {
    status_.node_id = std::move(node_id);
    status_.node_version = config_.node_version;
    status_.hostname = config_.node_hostname;
    status_.storage = config_.cluster_fallback_config_storage;
    status_.import.enabled = config_.cluster_fallback_config_import;
    status_.exporter.enabled = config_.cluster_fallback_config_export;
    status_.election.enabled = config_.cluster_fallback_config_export;
    status_.control_plane.endpoint = config_.cluster_control_plane;
    status_.control_plane.state = config_.cluster_control_plane.empty() ? "disabled" : "connecting";
    status_.handoff.kind = config_.gateway_handoff == handoff_kind::file        ? "file"
                           : config_.gateway_handoff == handoff_kind::admin_api ? "admin_api"
                                                                                : "none";
    supervisor_.on_restart = [this](const std::string&) { status_.task_restarts = supervisor_.restarts(); };
    status_server_ = std::make_unique<status_server>(executor_, config_.status_listen, status_);
}

agent::~agent() = default;

void agent::start() {
    supervisor_.spawn("status_server", [this] { return status_server_->run(); });
    log::info("lifeboat agent started", "node_id", status_.node_id, "node_version", status_.node_version,
              "status", status_server_->local_address(), "control_plane",
              config_.cluster_control_plane.empty() ? "(none)" : config_.cluster_control_plane, "import",
              config_.cluster_fallback_config_import ? "on" : "off", "export",
              config_.cluster_fallback_config_export ? "on" : "off");
}

} // namespace lifeboat::agent
