// lifeboat's configuration, compatible with Kong's: a kong.conf-style file (`key = value`, `#`
// comments), overridden by KONG_<KEY> environment variables, overridden by command-line
// `--set key=value`. docs/configuration.md lists every key; config_keys.cpp is the source of truth.
#pragma once

#include "agent/backup_versions.hpp"
#include "backends/store_environment.hpp"
#include "base/result.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lifeboat::agent {

enum class mtls_mode { shared, pki };
enum class handoff_kind { none, file, admin_api };

struct settings {
    // --- Kong-compatible keys ---
    std::string cluster_control_plane; // host:port; empty: no CP session
    mtls_mode cluster_mtls = mtls_mode::shared;
    std::filesystem::path cluster_cert;
    std::filesystem::path cluster_cert_key;
    std::filesystem::path cluster_ca_cert;
    std::string cluster_server_name;
    std::uint64_t cluster_max_payload = 16u << 20; // bytes, compressed frame; min 4 MiB as Kong
    std::map<std::string, std::string> cluster_dp_labels;
    bool cluster_use_proxy = false;
    std::string proxy_server; // http://[user:pass@]host:port (secret: password)
    bool cluster_fallback_config_import = false;
    bool cluster_fallback_config_export = false;
    std::string cluster_fallback_config_storage; // s3://bucket/prefix, gcs://bucket/prefix, file:///dir
    std::chrono::milliseconds cluster_fallback_config_export_delay{1000};
    std::map<std::string, std::string> cluster_fallback_export_s3_config; // PutObject fields
    std::filesystem::path prefix = "/var/lib/lifeboat";
    // The last resort of a node with no cache, no CP and no usable backup (declarative_file.hpp).
    std::filesystem::path declarative_config;
    std::chrono::milliseconds cluster_fallback_config_import_timeout{30'000};

    // --- lifeboat's own keys ---
    std::string node_id;                          // UUID; generated once and kept in <prefix>/node_id
    std::string node_version = "3.9.0.0";         // reported to the CP; keys the backup
    bool node_version_auto = false;               // "auto": the gateway's (agent/gateway_mirror.hpp)
    std::string node_hostname;                    // default: gethostname()
    std::string status_listen = "127.0.0.1:8470"; // host:port or unix:/path
    std::vector<std::string> dp_plugins; // protocol::parse_plugin_selection; empty = Kong's catalogue
    std::chrono::milliseconds cluster_ping_interval{30'000};
    std::chrono::milliseconds cluster_dead_after{45'000};
    std::chrono::milliseconds cluster_reconnect_delay_min{5'000};
    std::chrono::milliseconds cluster_reconnect_delay_max{10'000};
    std::chrono::milliseconds cluster_reconnect_delay_ceiling{
        0};                                             // 0: no growth; else the window grows to this
    std::uint64_t cluster_max_config_size = 256u << 20; // inflated bytes
    handoff_kind gateway_handoff = handoff_kind::none;
    std::filesystem::path gateway_config_path; // file hand-off target
    std::string gateway_reload_command;        // run after the file is written (sh -c)
    std::chrono::milliseconds gateway_reload_timeout{30'000};
    std::string gateway_admin_url = "http://127.0.0.1:8001";
    std::string gateway_admin_token;                         // secret: sent as Kong-Admin-Token
    std::chrono::milliseconds gateway_admin_timeout{60'000}; // one POST /config, its quick retries included
    std::chrono::milliseconds election_interval{5'000};
    bool s3_unsigned_payload_over_tls = false;                 // https S3 endpoints: UNSIGNED-PAYLOAD bodies
    std::filesystem::path cluster_fallback_config_signing_key; // secret; empty: exports unsigned
    std::vector<std::filesystem::path> cluster_fallback_config_trusted_keys; // empty: imports unverified
    std::chrono::seconds cluster_fallback_config_max_age{0};                 // 0: no limit
    bool cluster_fallback_config_export_empty = false;
    std::string cluster_fallback_config_encryption_recipients; // age1..., comma-separated; empty: plain
    std::filesystem::path cluster_fallback_config_decryption_identity; // secret; an age identity file
    // Version skew on import (agent/backup_versions.hpp) and the extra version folders an exporter
    // also writes (a rolling upgrade); how often every node HEADs the backup for its age.
    version_skew cluster_fallback_config_import_versions = version_skew::exact;
    std::vector<std::string> cluster_fallback_config_export_versions;
    std::chrono::milliseconds cluster_fallback_config_watch_interval{60'000}; // 0: never
    std::string log_level = "info";
    std::string log_format = "logfmt";

    backends::store_environment storage_env; // from AWS_*, GCP_SERVICE_ACCOUNT, ...
};

// "cluster_max_payload: '12kb' is not a size (expected bytes, or a number with k, m or g)"
struct config_error {
    std::string key;
    std::string value; // already redacted for secrets
    std::string expected;
    std::string origin; // "lifeboat.conf:12", "KONG_PREFIX", "--set"
    std::string to_string() const;
};

struct config_sources {
    std::optional<std::filesystem::path> conf_file;
    std::map<std::string, std::string> environment;             // the process environment
    std::vector<std::pair<std::string, std::string>> overrides; // from --set, in order
};

struct loaded_config {
    settings values;
    std::vector<std::string> warnings;            // settings that have no effect, and the like
    std::vector<std::string> ignored_kong_keys;   // "role (kong.conf:3)": Kong's keys lifeboat does not use
    std::map<std::string, std::string> origin_of; // key -> where its value came from
};

result<loaded_config, config_error> load_config(const config_sources& sources);

// The process environment as a map (for config_sources::environment).
std::map<std::string, std::string> process_environment();

// The effective configuration, one `key = value` per line with its origin, secrets redacted.
std::string render_effective(const loaded_config& config);

// Reads <prefix>/node_id, or makes a new UUID and stores it there (as Kong does), unless the
// config names one. Fails with a clear message when the prefix is not writable.
result<std::string, std::string> ensure_node_id(const settings& s);

} // namespace lifeboat::agent
