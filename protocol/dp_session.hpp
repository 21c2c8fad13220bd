// The data-plane session with a Kong control plane: the thin coroutine driver of
// dp_session_fsm. It connects to wss://<cluster_control_plane>/v1/outlet with the cluster
// certificate (mTLS shared or pki, optionally through an HTTP CONNECT proxy), sends basic_info,
// pings with the current config hash, decodes reconfigure frames and hands each new config to
// its observer, reconnecting for ever with jittered delays.
//
// Cancellation (as Beast's advanced_server_flex_awaitable): `total` stops politely (a websocket
// close frame, a config hand-off in progress is allowed to finish); `terminal` aborts at once.
#pragma once

#include "protocol/config_snapshot.hpp"
#include "protocol/dp_session_fsm.hpp"
#include "protocol/kong_node.hpp"
#include "protocol/kong_plugins.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lifeboat::protocol {

struct dp_session_options {
    std::string control_plane; // host:port (cluster_control_plane)
    cluster_mtls mtls = cluster_mtls::shared;
    std::filesystem::path cert, key; // cluster_cert, cluster_cert_key
    std::filesystem::path ca_cert;   // cluster_ca_cert (pki)
    std::string server_name;         // cluster_server_name (pki SNI); default: the host
    std::string proxy;               // http://[user:pass@]host[:port]; empty: direct

    std::string node_id;
    std::string node_hostname;
    std::string node_version = "3.9.0.0";
    std::vector<plugin_info> plugins;          // empty: bundled_plugins(node_version)
    std::map<std::string, std::string> labels; // cluster_dp_labels

    std::size_t max_payload = std::size_t(16) << 20;      // cluster_max_payload (compressed frame)
    std::size_t max_config_size = std::size_t(256) << 20; // inflated config
    dp_timing timing;
    std::chrono::milliseconds io_timeout{5000};                       // each connect/handshake/write step
    std::string initial_config_hash = std::string(empty_config_hash); // from the cache
    std::optional<std::uint64_t> seed;                                // jitter seed (tests)
};

// Implemented by the agent. Called on the io_context thread.
class dp_session_observer {
public:
    virtual void on_status(const session_status& status) = 0;
    // A validated config whose hash differs from the current one. Cache it, hand it to the
    // gateway, then return whether it was applied; the session then pings with its hash. While
    // this runs the session keeps reading (pongs) and keeps only the newest further config.
    virtual boost::asio::awaitable<bool> on_config(snapshot_ptr snapshot) = 0;

protected:
    virtual ~dp_session_observer() = default;
};

class dp_session {
public:
    dp_session(boost::asio::any_io_executor executor, dp_session_options options,
               dp_session_observer& observer);
    ~dp_session();
    dp_session(const dp_session&) = delete;
    dp_session& operator=(const dp_session&) = delete;

    // Runs until cancelled (see above). Returns normally after cancellation.
    boost::asio::awaitable<void> run();

    const session_status& status() const;
    // A config the agent applied from elsewhere (the fallback bucket): pings carry its hash now.
    void set_current_hash(const std::string& hash);

    // The gateway next to the node changed (dp_plugins = auto, node_version = auto): advertise this
    // from the next connection on; an open session is closed and dialled again.
    void readvertise(std::string node_version, std::vector<plugin_info> plugins);
    const dp_session_options& options() const;
    // What the node tells the CP about itself (see kong_node.hpp).
    static node_description node(const dp_session_options& options);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace lifeboat::protocol
