#include "agent/config_keys.hpp"

#include "agent/config_values.hpp"
#include "crypto/age.hpp"
#include "protocol/kong_plugins.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <fmt/format.h>

#include <array>

namespace lifeboat::agent {
namespace {

using opt_error = std::optional<std::string>;
constexpr opt_error ok = std::nullopt;

opt_error set_bool(bool& field, std::string_view v) {
    if (auto b = parse_bool(v)) {
        field = *b;
        return ok;
    }
    return "on or off";
}

opt_error set_duration(std::chrono::milliseconds& field, std::string_view v) {
    if (auto d = parse_duration(v)) {
        field = *d;
        return ok;
    }
    return "a duration: seconds (\"30\", \"0.5\") or a number with ms, s, m or h";
}

opt_error set_positive_duration(std::chrono::milliseconds& field, std::string_view v) {
    if (auto d = parse_duration(v); d && d->count() > 0) {
        field = *d;
        return ok;
    }
    return "a positive duration: seconds (\"30\", \"0.5\") or a number with ms, s, m or h";
}

opt_error set_size(std::uint64_t& field, std::string_view v) {
    if (auto n = parse_size(v)) {
        field = *n;
        return ok;
    }
    return "a size in bytes, or a number with k, m or g";
}

opt_error set_storage_url(std::string& field, std::string_view v) {
    if (v.empty()) {
        field.clear();
        return ok;
    }
    const bool known = v.starts_with("s3://") || v.starts_with("gcs://") || v.starts_with("azure://") ||
                       v.starts_with("file:///");
    const auto rest = v.substr(v.find("://") == std::string_view::npos ? 0 : v.find("://") + 3);
    if (!known || rest.empty() || (rest.front() == '/' && !v.starts_with("file:")))
        return "s3://bucket/prefix, gcs://bucket/prefix, azure://account/container/prefix or "
               "file:///absolute/path";
    field = std::string(v);
    return ok;
}

constexpr std::string_view mtls_choices = "shared or pki";

const std::array keys{
    // --- Kong-compatible keys -----------------------------------------------------------------
    key_spec{
        "cluster_control_plane", "", key_kind::address, false, true,
        "The control plane to follow, host:port. Empty: no CP session (the node only serves its cache or "
        "the fallback).",
        [](settings& s, std::string_view v) -> opt_error {
            if (!v.empty() && !is_host_port(v))
                return "host:port";
            s.cluster_control_plane = std::string(v);
            return ok;
        }},
    key_spec{"cluster_mtls", "shared", key_kind::choice, false, true,
             "shared: CP and DP hold the same certificate (SNI kong_clustering). pki: certificates signed by "
             "cluster_ca_cert.",
             [](settings& s, std::string_view v) -> opt_error {
                 if (v == "shared")
                     s.cluster_mtls = mtls_mode::shared;
                 else if (v == "pki")
                     s.cluster_mtls = mtls_mode::pki;
                 else
                     return std::string(mtls_choices);
                 return ok;
             }},
    key_spec{"cluster_cert", "", key_kind::path, false, true, "The DP's client certificate (PEM).",
             [](settings& s, std::string_view v) -> opt_error {
                 s.cluster_cert = std::string(v);
                 return ok;
             }},
    key_spec{"cluster_cert_key", "", key_kind::path, false, true, "The private key of cluster_cert (PEM).",
             [](settings& s, std::string_view v) -> opt_error {
                 s.cluster_cert_key = std::string(v);
                 return ok;
             }},
    key_spec{"cluster_ca_cert", "", key_kind::path, false, true,
             "CA that signed the CP's certificate (pki mode).",
             [](settings& s, std::string_view v) -> opt_error {
                 s.cluster_ca_cert = std::string(v);
                 return ok;
             }},
    key_spec{"cluster_server_name", "", key_kind::text, false, true,
             "SNI and name to verify in pki mode; default: the host of cluster_control_plane.",
             [](settings& s, std::string_view v) -> opt_error {
                 s.cluster_server_name = std::string(v);
                 return ok;
             }},
    key_spec{"cluster_max_payload", "16777216", key_kind::size, false, true,
             "Largest compressed config frame accepted from the CP (at least 4 MiB, as Kong).",
             [](settings& s, std::string_view v) -> opt_error {
                 auto n = parse_size(v);
                 if (!n || *n < (4u << 20))
                     return "a size of at least 4194304 bytes (4m)";
                 s.cluster_max_payload = *n;
                 return ok;
             }},
    key_spec{"cluster_dp_labels", "", key_kind::labels, false, true,
             "Labels sent to the CP in basic_info: key:value pairs separated by commas.",
             [](settings& s, std::string_view v) -> opt_error {
                 auto l = parse_labels(v);
                 if (!l)
                     return "key:value pairs separated by commas";
                 s.cluster_dp_labels = std::move(*l);
                 return ok;
             }},
    key_spec{"cluster_use_proxy", "off", key_kind::boolean, false, true,
             "Reach the CP through the HTTP CONNECT proxy in proxy_server.",
             [](settings& s, std::string_view v) { return set_bool(s.cluster_use_proxy, v); }},
    key_spec{"proxy_server", "", key_kind::url, true, true,
             "HTTP CONNECT proxy, http://[user:password@]host:port (the password is a secret).",
             [](settings& s, std::string_view v) -> opt_error {
                 if (!v.empty()) {
                     auto u = boost::urls::parse_absolute_uri(v);
                     if (!u || u->scheme() != "http" || u->host().empty())
                         return "http://[user:password@]host:port";
                 }
                 s.proxy_server = std::string(v);
                 return ok;
             }},
    key_spec{"cluster_fallback_config_import", "off", key_kind::boolean, false, true,
             "A node with no config that cannot reach the CP provisions itself from the fallback storage.",
             [](settings& s, std::string_view v) { return set_bool(s.cluster_fallback_config_import, v); }},
    key_spec{"cluster_fallback_config_export", "off", key_kind::boolean, false, true,
             "Upload every new config to the fallback storage (the elected leader among exporters).",
             [](settings& s, std::string_view v) { return set_bool(s.cluster_fallback_config_export, v); }},
    key_spec{
        "cluster_fallback_config_storage", "", key_kind::url, false, true,
        "Where backups live: s3://bucket/prefix, gcs://bucket/prefix, azure://account/container/prefix or "
        "file:///path.",
        [](settings& s, std::string_view v) {
            return set_storage_url(s.cluster_fallback_config_storage, v);
        }},
    key_spec{"cluster_fallback_config_export_delay", "1", key_kind::duration, false, true,
             "Coalescing window for exports: the newest config within it is uploaded (Kong's default: 60).",
             [](settings& s, std::string_view v) {
                 return set_duration(s.cluster_fallback_config_export_delay, v);
             }},
    key_spec{"cluster_fallback_export_s3_config", "", key_kind::json_object, false, true,
             "A JSON object of extra S3 PutObject fields, e.g. {\"ServerSideEncryption\":\"aws:kms\"}.",
             [](settings& s, std::string_view v) -> opt_error {
                 s.cluster_fallback_export_s3_config.clear();
                 if (v.empty())
                     return ok;
                 boost::system::error_code ec;
                 auto j = boost::json::parse(v, ec);
                 if (ec || !j.is_object())
                     return "a JSON object of PutObject fields";
                 for (const auto& [k, val] : j.as_object()) {
                     if (val.is_string())
                         s.cluster_fallback_export_s3_config[std::string(k)] = std::string(val.as_string());
                     else if (val.is_bool() || val.is_number())
                         s.cluster_fallback_export_s3_config[std::string(k)] = boost::json::serialize(val);
                     else
                         return "a JSON object whose values are strings, numbers or booleans";
                 }
                 return ok;
             }},
    key_spec{"prefix", "/var/lib/lifeboat", key_kind::path, false, true,
             "Working directory: the node id, the config cache. Must be writable.",
             [](settings& s, std::string_view v) -> opt_error {
                 if (v.empty())
                     return "a directory path";
                 s.prefix = std::string(v);
                 return ok;
             }},

    key_spec{
        "declarative_config", "", key_kind::path, false, true,
        "Kong's declarative config file (YAML or JSON, _format_version 1.1 to 3.0), the last resort: "
        "served only by a node with no cache whose CP is unreachable and whose bucket gave nothing usable "
        "within cluster_fallback_config_import_timeout. The backup and the CP replace it. Not cached.",
        [](settings& s, std::string_view v) -> opt_error {
            s.declarative_config = std::string(v);
            return ok;
        }},

    // --- lifeboat's own keys -----------------------------------------------------------------
    key_spec{"cluster_fallback_config_import_timeout", "30", key_kind::duration, false, false,
             "How long the bucket has, from the CP's first failed connection, to give a usable backup "
             "before declarative_config is served (at once when import is off).",
             [](settings& s, std::string_view v) {
                 return set_duration(s.cluster_fallback_config_import_timeout, v);
             }},
    key_spec{"node_id", "", key_kind::uuid, false, false,
             "This node's UUID. Default: generated once and kept in <prefix>/node_id.",
             [](settings& s, std::string_view v) -> opt_error {
                 if (!v.empty() && !is_uuid(v))
                     return "a UUID such as 3f1c0a52-9d4e-4a8e-8f0b-2b1e6c0d9a71";
                 s.node_id = std::string(v);
                 return ok;
             }},
    key_spec{"node_version", "3.9.0.0", key_kind::version, false, false,
             "The gateway version reported to the CP; backups are kept under it (<prefix>/<version>/). "
             "auto: the `version` of the gateway's Admin API root (GET / on gateway_admin_url), read at "
             "start (3.9.0.0 while the gateway cannot be read).",
             [](settings& s, std::string_view v) -> opt_error {
                 if (v == "auto") {
                     s.node_version_auto = true;
                     s.node_version = "3.9.0.0";
                     return ok;
                 }
                 if (!is_gateway_version(v))
                     return "a gateway version such as 3.6.0.0 or 3.9.1, or auto";
                 s.node_version_auto = false;
                 s.node_version = std::string(v);
                 return ok;
             }},
    key_spec{"node_hostname", "", key_kind::text, false, false, "Reported to the CP. Default: the host name.",
             [](settings& s, std::string_view v) -> opt_error {
                 s.node_hostname = std::string(v);
                 return ok;
             }},
    key_spec{"status_listen", "127.0.0.1:8470", key_kind::address, false, false,
             "Where the status API listens: host:port (loopback by default) or unix:/path.",
             [](settings& s, std::string_view v) -> opt_error {
                 if (!is_listen_address(v))
                     return "host:port or unix:/absolute/path";
                 s.status_listen = std::string(v);
                 return ok;
             }},
    key_spec{"dp_plugins", "", key_kind::list, false, false,
             "Plugins advertised to the CP in basic_info, comma-separated. Empty: Kong's bundled plugins "
             "(open source and Enterprise) for node_version. auto: exactly the gateway's "
             "plugins.available_on_server from its Admin API root (GET / on gateway_admin_url), re-read "
             "when it changes; Kong's catalogue while it cannot be read. +name:x.y.z adds a custom plugin to "
             "either. A list of name or name:x.y.z entries replaces them (bundled: the catalogue).",
             [](settings& s, std::string_view v) -> opt_error {
                 auto entries = parse_list(v);
                 if (auto checked = protocol::parse_plugin_selection(entries); !checked)
                     return checked.error().substr(checked.error().find(": ") + 2) +
                            ": expected auto, bundled, name, name:x.y.z or +name:x.y.z entries";
                 s.dp_plugins = std::move(entries);
                 return ok;
             }},
    key_spec{
        "cluster_ping_interval", "30", key_kind::duration, false, false,
        "Heartbeat: a ping carrying the config hash this often.",
        [](settings& s, std::string_view v) { return set_positive_duration(s.cluster_ping_interval, v); }},
    key_spec{"cluster_dead_after", "45", key_kind::duration, false, false,
             "The CP counts as dead after this long without a frame.",
             [](settings& s, std::string_view v) { return set_positive_duration(s.cluster_dead_after, v); }},
    key_spec{"cluster_reconnect_delay_min", "5", key_kind::duration, false, false,
             "Reconnect after a uniformly random delay between min and max.",
             [](settings& s, std::string_view v) {
                 return set_positive_duration(s.cluster_reconnect_delay_min, v);
             }},
    key_spec{"cluster_reconnect_delay_max", "10", key_kind::duration, false, false,
             "Upper end of the reconnect window.",
             [](settings& s, std::string_view v) {
                 return set_positive_duration(s.cluster_reconnect_delay_max, v);
             }},
    key_spec{
        "cluster_reconnect_delay_ceiling", "0", key_kind::duration, false, false,
        "0: the window stays fixed. Otherwise, during a long outage the window's upper end doubles per "
        "failed attempt up to this ceiling.",
        [](settings& s, std::string_view v) { return set_duration(s.cluster_reconnect_delay_ceiling, v); }},
    key_spec{"cluster_max_config_size", "256m", key_kind::size, false, false,
             "Largest inflated config accepted (guards against decompression bombs).",
             [](settings& s, std::string_view v) { return set_size(s.cluster_max_config_size, v); }},
    key_spec{"gateway_handoff", "none", key_kind::choice, false, false,
             "How a new config reaches the gateway: none, file (write gateway_config_path, then run "
             "gateway_reload_command) or admin_api (POST /config to a DB-less Kong).",
             [](settings& s, std::string_view v) -> opt_error {
                 if (v == "none")
                     s.gateway_handoff = handoff_kind::none;
                 else if (v == "file")
                     s.gateway_handoff = handoff_kind::file;
                 else if (v == "admin_api")
                     s.gateway_handoff = handoff_kind::admin_api;
                 else
                     return "none, file or admin_api";
                 return ok;
             }},
    key_spec{"gateway_config_path", "", key_kind::path, false, false,
             "File hand-off: the declarative config is written here atomically.",
             [](settings& s, std::string_view v) -> opt_error {
                 s.gateway_config_path = std::string(v);
                 return ok;
             }},
    key_spec{
        "gateway_reload_command", "", key_kind::text, false, false,
        "File hand-off: run with sh -c after each write, e.g. \"kong reload\" or \"kill -HUP $(cat pid)\".",
        [](settings& s, std::string_view v) -> opt_error {
            s.gateway_reload_command = std::string(v);
            return ok;
        }},
    key_spec{
        "gateway_reload_timeout", "30", key_kind::duration, false, false,
        "The reload command is killed after this long and the hand-off counts as failed.",
        [](settings& s, std::string_view v) { return set_positive_duration(s.gateway_reload_timeout, v); }},
    key_spec{"gateway_admin_url", "http://127.0.0.1:8001", key_kind::url, false, false,
             "Admin API hand-off: the DB-less Kong's Admin API.",
             [](settings& s, std::string_view v) -> opt_error {
                 auto u = boost::urls::parse_absolute_uri(v);
                 if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->host().empty())
                     return "http(s)://host:port";
                 s.gateway_admin_url = std::string(v);
                 return ok;
             }},
    key_spec{"gateway_admin_token", "", key_kind::text, true, false,
             "Admin API hand-off: sent as Kong-Admin-Token when set (a secret).",
             [](settings& s, std::string_view v) -> opt_error {
                 s.gateway_admin_token = std::string(v);
                 return ok;
             }},
    key_spec{
        "gateway_admin_timeout", "60", key_kind::duration, false, false,
        "Admin API hand-off: one POST /config (its quick retries on 5xx and refused connections "
        "included) fails after this long; the hand-off is then retried with a slower back-off.",
        [](settings& s, std::string_view v) { return set_positive_duration(s.gateway_admin_timeout, v); }},
    key_spec{"election_interval", "5", key_kind::duration, false, false,
             "Leader election round among exporters: each re-registers (PUT) and lists (LIST) the "
             "election prefix every interval, 24 requests a minute at 5 s. A registration unchanged "
             "for 2 intervals is dead: a crashed leader is replaced 1-3 intervals after it died "
             "(5-15 s), a stopped one (it deletes its registration) within an interval.",
             [](settings& s, std::string_view v) { return set_positive_duration(s.election_interval, v); }},
    key_spec{"s3_unsigned_payload_over_tls", "off", key_kind::boolean, false, false,
             "S3 over https only: send bodies as UNSIGNED-PAYLOAD instead of signing their SHA-256 (TLS "
             "already protects them in transit; neither lifeboat nor the store hashes the body for the "
             "signature). Over plain http every body is signed, whatever this says.",
             [](settings& s, std::string_view v) { return set_bool(s.s3_unsigned_payload_over_tls, v); }},
    // --- trusted backups (docs/security.md) ---------------------------------------------------
    key_spec{"cluster_fallback_config_signing_key", "", key_kind::path, true, false,
             "Exporters: a PEM Ed25519 private key (`lifeboat keys generate signing`). Every upload is "
             "signed with it, together with a manifest (hashes, length, version, term, signing time), in "
             "<prefix>/<version>/signatures/<sha256>.sig; config.json stays Kong's. SIGHUP reads the file "
             "again (rotation); a key that does not load keeps the running one.",
             [](settings& s, std::string_view v) -> opt_error {
                 s.cluster_fallback_config_signing_key = std::string(v);
                 return ok;
             }},
    key_spec{"cluster_fallback_config_trusted_keys", "", key_kind::list, false, false,
             "Importers: PEM Ed25519 public keys (comma-separated paths; two during a rotation). When set, a "
             "backup that is unsigned, signed by another key, altered, cut short, for another version or "
             "too old is refused before any byte reaches the cache or the gateway. A set but empty or "
             "unreadable list stops the agent at start; SIGHUP reads the files again.",
             [](settings& s, std::string_view v) -> opt_error {
                 s.cluster_fallback_config_trusted_keys.clear();
                 for (auto& item : parse_list(v))
                     s.cluster_fallback_config_trusted_keys.emplace_back(item);
                 return ok;
             }},
    key_spec{"cluster_fallback_config_max_age", "0", key_kind::duration, false, false,
             "Importers refuse a backup signed longer ago than this (0: no limit). The leading exporter "
             "re-signs the backup every quarter of it while its CP session is up.",
             [](settings& s, std::string_view v) -> opt_error {
                 std::chrono::milliseconds d{};
                 if (auto e = set_duration(d, v))
                     return e;
                 s.cluster_fallback_config_max_age = std::chrono::duration_cast<std::chrono::seconds>(d);
                 return ok;
             }},
    key_spec{
        "cluster_fallback_config_export_empty", "off", key_kind::boolean, false, false,
        "Exporters: upload a config with no services, routes or plugins over a backup that has some. "
        "Off: such a config (a CP with pending migrations pushes one, Kong/kong#12861) is not "
        "exported; logged once and counted.",
        [](settings& s, std::string_view v) { return set_bool(s.cluster_fallback_config_export_empty, v); }},
    key_spec{"cluster_fallback_config_encryption_recipients", "", key_kind::list, false, false,
             "Exporters: age X25519 recipients (age1..., comma-separated; `lifeboat keys generate "
             "encryption` prints one). Set: config.json is an age v1 file encrypted to every one of them "
             "(Kong's importers cannot read it; `age -d` can), and its signature covers the encrypted "
             "bytes. A malformed recipient stops the agent at start.",
             [](settings& s, std::string_view v) -> opt_error {
                 if (!v.empty())
                     if (auto r = crypto::age_recipient::parse_list(v); !r)
                         return "age recipients, age1... comma-separated (" + r.error() + ")";
                 s.cluster_fallback_config_encryption_recipients = std::string(v);
                 return ok;
             }},
    key_spec{"cluster_fallback_config_decryption_identity", "", key_kind::path, true, false,
             "Importers: an age identity file (AGE-SECRET-KEY-1..., `lifeboat keys generate encryption` or "
             "age-keygen). An encrypted backup is verified over its encrypted bytes, then decrypted with it "
             "on the way to the cache; one for other recipients, damaged or cut short is refused. Not set: "
             "an encrypted backup is refused. An unreadable file stops the agent at start.",
             [](settings& s, std::string_view v) -> opt_error {
                 s.cluster_fallback_config_decryption_identity = std::string(v);
                 return ok;
             }},
    key_spec{"cluster_fallback_config_import_versions", "exact", key_kind::choice, false, false,
             "Importers with no backup under their own node_version: exact: wait for one (Kong's "
             "behaviour). patch: take the newest backup of the same major.minor (listing the prefix). "
             "minor: the newest of the same major at or below this node's minor. /status and the log "
             "name the version taken.",
             [](settings& s, std::string_view v) -> opt_error {
                 auto skew = parse_version_skew(v);
                 if (!skew)
                     return "exact, patch or minor";
                 s.cluster_fallback_config_import_versions = *skew;
                 return ok;
             }},
    key_spec{"cluster_fallback_config_export_versions", "", key_kind::list, false, false,
             "Exporters: more node versions (comma-separated, e.g. 3.9.0.1) under which each backup is also "
             "written, fenced like the main key: new nodes of a rolling upgrade find one under their own "
             "version.",
             [](settings& s, std::string_view v) -> opt_error {
                 auto versions = parse_list(v);
                 for (const auto& version : versions)
                     if (!is_gateway_version(version))
                         return "gateway versions such as 3.9.0.1, comma-separated";
                 s.cluster_fallback_config_export_versions = std::move(versions);
                 return ok;
             }},
    key_spec{"cluster_fallback_config_watch_interval", "60", key_kind::duration, false, false,
             "How often every importer and exporter reads the backup's metadata (one HEAD) to report its "
             "age and whether it holds the CP's current config (/status backup, lifeboat_backup_*). "
             "0: never.",
             [](settings& s, std::string_view v) {
                 return set_duration(s.cluster_fallback_config_watch_interval, v);
             }},
    key_spec{"log_level", "info", key_kind::choice, false, false, "debug, info, warn or error.",
             [](settings& s, std::string_view v) -> opt_error {
                 if (v != "debug" && v != "info" && v != "warn" && v != "error")
                     return "debug, info, warn or error";
                 s.log_level = std::string(v);
                 return ok;
             }},
    key_spec{"log_format", "logfmt", key_kind::choice, false, false,
             "logfmt or json (one JSON object per line).",
             [](settings& s, std::string_view v) -> opt_error {
                 if (v != "logfmt" && v != "json")
                     return "logfmt or json";
                 s.log_format = std::string(v);
                 return ok;
             }},
};

} // namespace

std::span<const key_spec> config_keys() {
    return keys;
}

const key_spec* find_key(std::string_view name) {
    for (const auto& k : keys)
        if (k.name == name)
            return &k;
    return nullptr;
}

std::string display_value(const key_spec& spec, std::string_view value) {
    if (!spec.secret || value.empty())
        return std::string(value);
    if (spec.kind == key_kind::url) {
        // Keep the URL readable, drop only the password.
        auto u = boost::urls::parse_absolute_uri(value);
        if (u && u->has_password()) {
            boost::urls::url copy(*u);
            copy.set_password("****");
            return std::string(copy.buffer());
        }
        return std::string(value);
    }
    return "<redacted>";
}

std::string configuration_reference_markdown() {
    auto env = [](std::string_view key) {
        std::string out = "KONG_";
        for (char c : key)
            out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        return out;
    };
    std::string out =
        "# Configuration reference\n\n"
        "<!-- Generated by `lifeboat config reference` from agent/config_keys.cpp; a test keeps it in sync. "
        "-->\n\n"
        "Lifeboat reads a kong.conf-style file (`lifeboat run --conf FILE`: `key = value` lines, `#` starts "
        "a "
        "comment, `\\#` is a literal `#`). Each key can be overridden by the environment variable "
        "`KONG_<KEY>` "
        "(upper case), which is overridden in turn by `--set key=value` on the command line. Durations are "
        "seconds (`30`, `0.5`) or a number with `ms`, `s`, `m` or `h`; sizes are bytes or a number with `k`, "
        "`m` "
        "or `g`; booleans are `on`/`off`. A bad value stops the agent at start with one line naming the key, "
        "the "
        "value, where it came from and what was expected. A key that is neither lifeboat's nor one of Kong's "
        "own kong.conf keys stops it too, naming the closest known key; Kong's keys that lifeboat does not "
        "use are accepted, and `lifeboat config check` lists them as ignored. A UTF-8 byte order mark at "
        "the start of the file is skipped. "
        "`lifeboat config check` prints the effective configuration with secrets redacted.\n\n"
        "Keys marked Kong have the same name and meaning as in Kong Gateway (Enterprise for the "
        "`cluster_fallback_*` keys), so a Kong data plane's configuration carries over.\n\n"
        "| key | default | environment | Kong | meaning |\n| --- | --- | --- | --- | --- |\n";
    for (const auto& k : keys) {
        std::string help(k.help);
        for (std::size_t pos = 0; (pos = help.find('|', pos)) != std::string::npos; pos += 2)
            help.replace(pos, 1, "\\|");
        out += fmt::format(
            "| `{}` | {} | `{}` | {} | {}{} |\n", k.name,
            k.default_value.empty() ? std::string("(empty)") : fmt::format("`{}`", k.default_value),
            env(k.name), k.kong ? "yes" : "", help, k.secret ? " **Secret**: never logged or shown." : "");
    }
    out +=
        "\n## Storage credentials (environment only)\n\n"
        "As Kong documents them, object-store credentials come from the environment, never from the file:\n\n"
        "| variable | meaning |\n| --- | --- |\n"
        "| `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | static S3 credentials (the "
        "secret "
        "and token are never shown) |\n"
        "| `AWS_REGION` / `AWS_DEFAULT_REGION` | the S3 region (required for S3) |\n"
        "| `AWS_CONFIG_STORAGE_ENDPOINT` | an S3-compatible endpoint (MinIO, Ceph RGW): path-style "
        "addressing, as "
        "Kong does |\n"
        "| `AWS_PROFILE`, `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE` | shared credentials and config "
        "files |\n"
        "| `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME` | web identity (EKS) "
        "through STS |\n"
        "| `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, `AWS_CONTAINER_CREDENTIALS_FULL_URI`, "
        "`AWS_CONTAINER_AUTHORIZATION_TOKEN` | ECS container credentials |\n"
        "| `AWS_EC2_METADATA_DISABLED` | `true` skips EC2 IMDSv2 |\n"
        "| `AWS_CA_BUNDLE` | a PEM bundle of CAs trusted for the store |\n"
        "| `GCP_SERVICE_ACCOUNT` | the GCS service-account JSON itself (secret) |\n"
        "| `GOOGLE_APPLICATION_CREDENTIALS` | a GCS service-account file |\n"
        "| `STORAGE_EMULATOR_HOST` | a local GCS endpoint, as Google's client libraries read it |\n"
        "| `AZURE_STORAGE_CONNECTION_STRING` | Azure: the account key or SAS and the endpoint "
        "(`BlobEndpoint`, "
        "`EndpointSuffix`; how Azurite and sovereign clouds are reached); tried first (secret) |\n"
        "| `AZURE_STORAGE_KEY` | Azure: the account key for the account in the `azure://` URL, Shared Key "
        "signing (secret) |\n"
        "| `AZURE_STORAGE_SAS_TOKEN` | Azure: a SAS token appended to every request (secret) |\n"
        "| `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `AZURE_AUTHORITY_HOST` | Azure: an "
        "Entra "
        "ID client secret (the secret is never shown) |\n"
        "| `AZURE_FEDERATED_TOKEN_FILE` | Azure: workload identity as AKS injects it (with the tenant and "
        "client "
        "id) |\n"
        "| `IDENTITY_ENDPOINT`, `IDENTITY_HEADER` | Azure: the managed identity of App Service and Container "
        "Apps; without them IMDS (169.254.169.254), `AZURE_CLIENT_ID` picking a user-assigned identity |\n";
    return out;
}

} // namespace lifeboat::agent
