// The reference control plane (`lifeboat cp`): a small Kong hybrid-mode CP that serves one
// declarative config file to data planes over /v1/outlet, as Kong 3.x's control_plane.lua does.
// It is the peer for lifeboat's tests, demos and benchmarks.
//
// What it does like Kong: TLS with cluster_mtls shared (the DP certificate's SHA-256 must equal
// the CP's own; mismatches are dropped without an HTTP answer, nginx's 444) or pki (verified
// against the CA); HTTP 400 without node_id or node_version; basic_info first, else an empty
// close frame; the version check (same major, CP minor >= DP minor: otherwise an empty close
// frame); the plugin gate (kong_plugins.hpp: every plugin the config uses must be in the DP's
// list, with the CP plugin's major and a minor no newer than the CP's, the CP's plugins being
// Kong's bundled set for --version plus --plugin entries: otherwise the DP gets no config but
// stays connected and its pings are answered); a reconfigure frame (gzip JSON with config_hash
// and hashes computed with Kong's algorithm) on admission and whenever the file changes;
// empty pongs for 32-byte pings; any other frame, or 45 s without a ping, drops the DP.
#pragma once

#include "base/result.hpp"
#include "protocol/dp_session.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace lifeboat::protocol {

struct reference_cp_options {
    std::string listen = "127.0.0.1:8005";
    cluster_mtls mtls = cluster_mtls::shared;
    std::filesystem::path cert, key, ca;
    std::filesystem::path config_file;
    std::string version = "3.9.0.0";         // the Kong version this CP claims; its bundled plugins follow it
    std::vector<std::string> plugins;        // custom plugins this CP has loaded, "name:x.y.z" (or "name")
    bool allow_inconsistent_plugins = false; // EE's allow_inconsistent_data_plane_plugins: no gate
    std::chrono::milliseconds poll_interval{1000};
    std::chrono::milliseconds dead_after{45000};
    std::chrono::milliseconds handshake_timeout{10000};
    std::size_t max_payload = std::size_t(16) << 20;
};

// The frame a CP sends for a config file: validated, hashed with Kong's algorithm, gzipped.
struct served_config {
    config_hashes hashes;
    std::shared_ptr<const std::string> frame; // gzip(reconfigure envelope)
    std::vector<std::string> plugin_names;    // plugins the config uses (for the plugin gate)
    std::size_t json_bytes = 0;
};
result<served_config, std::string> prepare_config(std::string config_json, double timestamp);

class reference_cp {
public:
    reference_cp(boost::asio::any_io_executor executor, reference_cp_options options);
    ~reference_cp();
    reference_cp(const reference_cp&) = delete;
    reference_cp& operator=(const reference_cp&) = delete;

    // Loads the TLS identity and the config file and binds the listener; one-line error.
    result<void, std::string> open();
    std::string local_address() const;
    // Accepts data planes and watches the config file until cancelled.
    boost::asio::awaitable<void> run();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace lifeboat::protocol
