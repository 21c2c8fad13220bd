// Fallback import (cluster_fallback_config_import = on): a node with no config whose first
// control-plane connection fails provisions itself from <prefix>/<node_version>/config.json.
// Unlike Kong (one try) the fetch is retried with back-off until it succeeds or the CP delivers a
// config; once the node has a config, the storage is not read again. The object is streamed
// into the pipeline (config_pipeline::receive()) while it downloads, not read whole first.
#pragma once

#include "agent/backup_verifier.hpp"
#include "agent/backup_versions.hpp"
#include "agent/config_pipeline.hpp"
#include "agent/status.hpp"
#include "agent/wakeup_timer.hpp"
#include "backends/object_store.hpp"
#include "base/backoff.hpp"

#include <boost/asio/awaitable.hpp>

#include <string>

namespace lifeboat::agent {

class importer {
public:
    importer(boost::asio::any_io_executor executor, backends::object_store& store, std::string key,
             std::size_t max_config_size, config_pipeline& pipeline, import_status& status,
             trust_policy trust = {});

    // Version skew (cluster_fallback_config_import_versions): with patch or minor, an attempt lists
    // `prefix` and takes this node's own version's backup or else the newest compatible one.
    void allow_versions(std::string prefix, std::string own_version, version_skew skew);

    // SIGHUP (agent::reload): cluster_fallback_config_trusted_keys and _decryption_identity read
    // again; the next attempt checks and decrypts with them.
    void replace_keys(std::vector<ed25519::public_key> trusted_keys,
                      std::vector<crypto::age_identity> identities) {
        verifier_.replace_keys(std::move(trusted_keys), std::move(identities));
    }
    const trust_policy& trust() const { return verifier_.policy(); }

    // The CP could not be reached (or none is configured): start fetching.
    void control_plane_unreachable();
    // Something else gave the node a config: stop.
    void config_arrived();

    // Waits for control_plane_unreachable(), then fetches until the node has a config.
    boost::asio::awaitable<void> run();

private:
    struct attempt_target {
        std::string key;
        std::string version;
    };
    // Where this attempt reads: the own key, or the version choose_backup() picks from a listing.
    boost::asio::awaitable<attempt_target> pick_target();
    // Why nothing was found: what the prefix holds, and the setting that would take it.
    boost::asio::awaitable<std::string> explain_missing(const std::string& key);

    backends::object_store& store_;
    std::string prefix_;
    std::string own_version_;
    version_skew skew_ = version_skew::exact;
    bool list_warned_ = false;
    std::string key_;
    std::size_t max_config_size_;
    config_pipeline& pipeline_;
    import_status& status_;
    backup_verifier verifier_; // with no trusted keys: only measures
    wakeup_timer wakeup_;
    bool go_ = false;
    backoff_policy backoff_{std::chrono::milliseconds(500), std::chrono::seconds(30),
                            std::chrono::milliseconds(200)};
    jitter jitter_;
};

} // namespace lifeboat::agent
