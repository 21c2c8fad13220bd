#include "agent/config.hpp"

#include "agent/backup_trust.hpp"
#include "agent/config_keys.hpp"
#include "agent/config_values.hpp"
#include "agent/kong_conf_keys.hpp"
#include "base/atomic_file.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <unistd.h>

extern char** environ;

namespace lifeboat::agent {
namespace {

struct raw_value {
    std::string value;
    std::string origin;
};

std::string env_name(std::string_view key) {
    std::string out = "KONG_";
    for (char c : key)
        out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    return out;
}

// kong.conf syntax: `key = value`, `#` starts a comment unless escaped as `\#`.
// The known key (lifeboat's or Kong's) closest to `key` by edit distance, when one is close
// enough to be a likely misspelling; empty otherwise.
std::string closest_known_key(std::string_view key) {
    const auto distance = [](std::string_view a, std::string_view b) {
        std::vector<std::size_t> row(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j)
            row[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            std::size_t diagonal = row[0];
            row[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j) {
                const std::size_t above = row[j];
                row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
                diagonal = above;
            }
        }
        return row[b.size()];
    };
    std::string_view best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    const auto consider = [&](std::string_view candidate) {
        const auto d = distance(key, candidate);
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    };
    for (const auto& k : config_keys())
        consider(k.name);
    for (auto k : kong_conf_key_names())
        consider(k);
    if (best_distance > std::max<std::size_t>(3, key.size() / 3))
        return {};
    return std::string(best);
}

// A key that is neither lifeboat's nor Kong's: an error (a misspelt key must not silently leave
// a node without, say, its control plane). Kong's keys are accepted and reported as ignored.
result<void, config_error> check_unknown_key(const std::string& key, std::string_view value,
                                             const std::string& origin, loaded_config& out) {
    if (is_kong_conf_key(key)) {
        out.ignored_kong_keys.push_back(fmt::format("{} ({})", key, origin));
        return ok_v;
    }
    const auto closest = closest_known_key(key);
    return failure{config_error{
        key, std::string(value),
        closest.empty() ? std::string("a known configuration key (see `lifeboat config reference`)")
                        : fmt::format("a known configuration key; did you mean {}?", closest),
        origin}};
}

result<void, config_error> read_conf_file(const std::filesystem::path& path,
                                          std::map<std::string, raw_value>& raw, loaded_config& out) {
    std::ifstream in(path);
    if (!in) {
        return failure{config_error{"--conf", path.string(),
                                    fmt::format("a readable configuration file ({})", std::strerror(errno)),
                                    ""}};
    }
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        // A UTF-8 byte order mark (as some editors write) would otherwise become part of the
        // first key and hide it.
        if (number == 1 && line.starts_with("\xEF\xBB\xBF"))
            line.erase(0, 3);
        std::string text;
        for (std::size_t i = 0; i < line.size(); ++i) {
            if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '#') {
                text.push_back('#');
                ++i;
            } else if (line[i] == '#') {
                break;
            } else {
                text.push_back(line[i]);
            }
        }
        const auto trimmed = trim(text);
        if (trimmed.empty())
            continue;
        const auto origin = fmt::format("{}:{}", path.filename().string(), number);
        const auto eq = trimmed.find('=');
        if (eq == std::string_view::npos) {
            return failure{config_error{std::string(trimmed), "", "a line of the form key = value", origin}};
        }
        std::string key(trim(trimmed.substr(0, eq)));
        std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
        const auto value = trim(trimmed.substr(eq + 1));
        if (!find_key(key)) {
            if (auto r = check_unknown_key(key, value, origin, out); !r)
                return r;
            continue;
        }
        raw[key] = {std::string(value), origin};
    }
    return ok_v;
}

// The backup keys are read at start: a key that cannot be used is a configuration error, never
// a silent "verification off" (docs/security.md).
result<void, config_error> check_backup_keys(const settings& s, const std::map<std::string, raw_value>& raw) {
    const bool trusted_set = raw.at("cluster_fallback_config_trusted_keys").origin != "default";
    auto problem = backup_key_problem(s, trusted_set);
    if (!problem)
        return ok_v;
    const auto& rv = raw.at(problem->key);
    return failure{config_error{problem->key, display_value(*find_key(problem->key), rv.value),
                                problem->expected, rv.origin}};
}

result<void, config_error> check_combinations(const settings& s,
                                              const std::map<std::string, raw_value>& raw) {
    auto origin = [&](const char* key) { return raw.at(key).origin; };
    auto err = [&](const char* key, std::string value, std::string expected) {
        return failure{config_error{key, std::move(value), std::move(expected), origin(key)}};
    };
    const bool fallback = s.cluster_fallback_config_import || s.cluster_fallback_config_export;
    if (fallback && s.cluster_fallback_config_storage.empty())
        return err("cluster_fallback_config_storage", "",
                   "a storage URL, because cluster_fallback_config_import or _export is on");
    if (!s.cluster_fallback_export_s3_config.empty() &&
        !s.cluster_fallback_config_storage.starts_with("s3://"))
        return err("cluster_fallback_export_s3_config", raw.at("cluster_fallback_export_s3_config").value,
                   "to be set only with an s3:// cluster_fallback_config_storage");
    if (s.cluster_dead_after <= s.cluster_ping_interval)
        return err("cluster_dead_after", raw.at("cluster_dead_after").value,
                   "a duration longer than cluster_ping_interval");
    if (s.cluster_reconnect_delay_max < s.cluster_reconnect_delay_min)
        return err("cluster_reconnect_delay_max", raw.at("cluster_reconnect_delay_max").value,
                   "a duration at least cluster_reconnect_delay_min");
    if (s.cluster_reconnect_delay_ceiling.count() != 0 &&
        s.cluster_reconnect_delay_ceiling < s.cluster_reconnect_delay_max)
        return err("cluster_reconnect_delay_ceiling", raw.at("cluster_reconnect_delay_ceiling").value,
                   "0 or a duration at least cluster_reconnect_delay_max");
    if (!s.cluster_control_plane.empty()) {
        if (s.cluster_cert.empty())
            return err("cluster_cert", "", "a certificate file, because cluster_control_plane is set");
        if (s.cluster_cert_key.empty())
            return err("cluster_cert_key", "", "a private key file, because cluster_control_plane is set");
        if (s.cluster_mtls == mtls_mode::pki && s.cluster_ca_cert.empty())
            return err("cluster_ca_cert", "", "a CA certificate file, because cluster_mtls = pki");
    }
    if (s.cluster_use_proxy && s.proxy_server.empty())
        return err("proxy_server", "", "a proxy URL, because cluster_use_proxy is on");
    if (auto r = check_backup_keys(s, raw); !r)
        return r;
    if (s.gateway_handoff == handoff_kind::file && s.gateway_config_path.empty())
        return err("gateway_config_path", "", "a file path, because gateway_handoff = file");
    return ok_v;
}

std::string new_uuid_v4() {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        throw std::runtime_error("RAND_bytes failed");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:"
                       "02x}{:02x}{:02x}",
                       b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                       b[14], b[15]);
}

} // namespace

std::string config_error::to_string() const {
    std::string out = key;
    if (value.empty() && expected.find("because") != std::string::npos)
        out += " is not set";
    else
        out += fmt::format(" = '{}'", value);
    if (!origin.empty() && origin != "default")
        out += fmt::format(" (from {})", origin);
    out += ": expected " + expected;
    return out;
}

std::map<std::string, std::string> process_environment() {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string_view kv = *e;
        const auto eq = kv.find('=');
        if (eq != std::string_view::npos)
            env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    return env;
}

result<loaded_config, config_error> load_config(const config_sources& sources) {
    loaded_config out;
    std::map<std::string, raw_value> raw;
    for (const auto& k : config_keys())
        raw[std::string(k.name)] = {std::string(k.default_value), "default"};

    if (sources.conf_file) {
        if (auto r = read_conf_file(*sources.conf_file, raw, out); !r)
            return failure{r.error()};
    }
    for (const auto& k : config_keys()) {
        const auto name = env_name(k.name);
        if (auto it = sources.environment.find(name); it != sources.environment.end())
            raw[std::string(k.name)] = {std::string(trim(it->second)), name};
    }
    for (const auto& [key, value] : sources.overrides) {
        if (!find_key(key)) {
            if (auto r = check_unknown_key(key, value, "--set", out); !r)
                return failure{r.error()};
            continue;
        }
        raw[key] = {std::string(trim(value)), "--set"};
    }

    for (const auto& k : config_keys()) {
        const auto& rv = raw.at(std::string(k.name));
        if (auto expected = k.apply(out.values, rv.value))
            return failure{
                config_error{std::string(k.name), display_value(k, rv.value), *expected, rv.origin}};
        out.origin_of[std::string(k.name)] = rv.origin;
    }
    if (auto r = check_combinations(out.values, raw); !r)
        return failure{r.error()};

    if (out.values.node_hostname.empty()) {
        char host[256] = {};
        if (::gethostname(host, sizeof host - 1) == 0)
            out.values.node_hostname = host;
    }
    out.values.storage_env = backends::store_environment::from(sources.environment);
    out.values.storage_env.s3_unsigned_payload_over_tls = out.values.s3_unsigned_payload_over_tls;
    if (out.values.s3_unsigned_payload_over_tls &&
        out.values.cluster_fallback_config_storage.starts_with("s3://") &&
        out.values.storage_env.aws_endpoint.starts_with("http://"))
        out.warnings.push_back(
            fmt::format("s3_unsigned_payload_over_tls = on has no effect: "
                        "AWS_CONFIG_STORAGE_ENDPOINT {} is plain http, where every body is signed",
                        out.values.storage_env.aws_endpoint));
    if (!out.values.status_listen.starts_with("unix:") && !out.values.status_listen.starts_with("127.") &&
        !out.values.status_listen.starts_with("[::1]") && !out.values.status_listen.starts_with("localhost:"))
        out.warnings.push_back(fmt::format("status_listen = {} is not a loopback address: anyone who can "
                                           "reach it can read this node's status",
                                           out.values.status_listen));
    return out;
}

std::string render_effective(const loaded_config& config) {
    // Re-derive each key's text from the origin map is not possible for typed values, so show the
    // values as parsed, formatted back to text.
    const auto& s = config.values;
    auto ms = [](std::chrono::milliseconds d) {
        if (d.count() % 1000 == 0)
            return fmt::format("{}", d.count() / 1000);
        return fmt::format("{}ms", d.count());
    };
    auto join = [](const auto& items) {
        std::string out;
        for (const auto& i : items)
            out += (out.empty() ? "" : ",") + std::string(i);
        return out;
    };
    auto labels = [](const std::map<std::string, std::string>& m) {
        std::string out;
        for (const auto& [k, v] : m)
            out += (out.empty() ? "" : ",") + k + ":" + v;
        return out;
    };
    auto json_obj = [](const std::map<std::string, std::string>& m) {
        if (m.empty())
            return std::string();
        std::string out = "{";
        for (const auto& [k, v] : m)
            out += (out.size() > 1 ? "," : "") + fmt::format("\"{}\":\"{}\"", k, v);
        return out + "}";
    };
    const std::map<std::string, std::string> values{
        {"cluster_control_plane", s.cluster_control_plane},
        {"cluster_mtls", s.cluster_mtls == mtls_mode::pki ? "pki" : "shared"},
        {"cluster_cert", s.cluster_cert.string()},
        {"cluster_cert_key", s.cluster_cert_key.string()},
        {"cluster_ca_cert", s.cluster_ca_cert.string()},
        {"cluster_server_name", s.cluster_server_name},
        {"cluster_max_payload", std::to_string(s.cluster_max_payload)},
        {"cluster_dp_labels", labels(s.cluster_dp_labels)},
        {"cluster_use_proxy", s.cluster_use_proxy ? "on" : "off"},
        {"proxy_server", s.proxy_server},
        {"cluster_fallback_config_import", s.cluster_fallback_config_import ? "on" : "off"},
        {"cluster_fallback_config_export", s.cluster_fallback_config_export ? "on" : "off"},
        {"cluster_fallback_config_storage", s.cluster_fallback_config_storage},
        {"cluster_fallback_config_export_delay", ms(s.cluster_fallback_config_export_delay)},
        {"cluster_fallback_export_s3_config", json_obj(s.cluster_fallback_export_s3_config)},
        {"prefix", s.prefix.string()},
        {"declarative_config", s.declarative_config.string()},
        {"cluster_fallback_config_import_timeout", ms(s.cluster_fallback_config_import_timeout)},
        {"node_id", s.node_id},
        {"node_version", s.node_version_auto ? std::string("auto") : s.node_version},
        {"node_hostname", s.node_hostname},
        {"status_listen", s.status_listen},
        {"dp_plugins", join(s.dp_plugins)},
        {"cluster_ping_interval", ms(s.cluster_ping_interval)},
        {"cluster_dead_after", ms(s.cluster_dead_after)},
        {"cluster_reconnect_delay_min", ms(s.cluster_reconnect_delay_min)},
        {"cluster_reconnect_delay_max", ms(s.cluster_reconnect_delay_max)},
        {"cluster_reconnect_delay_ceiling", ms(s.cluster_reconnect_delay_ceiling)},
        {"cluster_max_config_size", std::to_string(s.cluster_max_config_size)},
        {"gateway_handoff", s.gateway_handoff == handoff_kind::file        ? "file"
                            : s.gateway_handoff == handoff_kind::admin_api ? "admin_api"
                                                                           : "none"},
        {"gateway_config_path", s.gateway_config_path.string()},
        {"gateway_reload_command", s.gateway_reload_command},
        {"gateway_reload_timeout", ms(s.gateway_reload_timeout)},
        {"gateway_admin_url", s.gateway_admin_url},
        {"gateway_admin_token", s.gateway_admin_token},
        {"gateway_admin_timeout", ms(s.gateway_admin_timeout)},
        {"election_interval", ms(s.election_interval)},
        {"s3_unsigned_payload_over_tls", s.s3_unsigned_payload_over_tls ? "on" : "off"},
        {"cluster_fallback_config_signing_key", s.cluster_fallback_config_signing_key.string()},
        {"cluster_fallback_config_trusted_keys", join(s.cluster_fallback_config_trusted_keys)},
        {"cluster_fallback_config_max_age", std::to_string(s.cluster_fallback_config_max_age.count())},
        {"cluster_fallback_config_export_empty", s.cluster_fallback_config_export_empty ? "on" : "off"},
        {"cluster_fallback_config_encryption_recipients", s.cluster_fallback_config_encryption_recipients},
        {"cluster_fallback_config_decryption_identity",
         s.cluster_fallback_config_decryption_identity.string()},
        {"cluster_fallback_config_import_versions", to_string(s.cluster_fallback_config_import_versions)},
        {"cluster_fallback_config_export_versions", join(s.cluster_fallback_config_export_versions)},
        {"cluster_fallback_config_watch_interval", ms(s.cluster_fallback_config_watch_interval)},
        {"log_level", s.log_level},
        {"log_format", s.log_format},
    };
    std::string out;
    for (const auto& k : config_keys()) {
        auto it = values.find(std::string(k.name));
        const std::string& v = it == values.end() ? std::string() : it->second;
        auto origin = config.origin_of.find(std::string(k.name));
        out += fmt::format("{} = {}", k.name, display_value(k, v));
        if (origin != config.origin_of.end() && origin->second != "default")
            out += fmt::format("    # from {}", origin->second);
        out += '\n';
    }
    const auto& e = s.storage_env;
    auto secret = [](const std::string& v) {
        return v.empty() ? std::string("(unset)") : std::string("<redacted>");
    };
    auto plain = [](const std::string& v) { return v.empty() ? std::string("(unset)") : v; };
    out += "\n# storage environment\n";
    out += fmt::format("AWS_ACCESS_KEY_ID = {}\n", plain(e.aws_access_key_id));
    out += fmt::format("AWS_SECRET_ACCESS_KEY = {}\n", secret(e.aws_secret_access_key));
    out += fmt::format("AWS_SESSION_TOKEN = {}\n", secret(e.aws_session_token));
    out += fmt::format("AWS_REGION = {}\n", plain(e.aws_region));
    out += fmt::format("AWS_CONFIG_STORAGE_ENDPOINT = {}\n", plain(e.aws_endpoint));
    out += fmt::format("AWS_PROFILE = {}\n", plain(e.aws_profile));
    out += fmt::format("AWS_WEB_IDENTITY_TOKEN_FILE = {}\n", plain(e.aws_web_identity_token_file));
    out += fmt::format("AWS_ROLE_ARN = {}\n", plain(e.aws_role_arn));
    out += fmt::format("GCP_SERVICE_ACCOUNT = {}\n", secret(e.gcp_service_account));
    out += fmt::format("GOOGLE_APPLICATION_CREDENTIALS = {}\n", plain(e.google_application_credentials));
    out += fmt::format("STORAGE_EMULATOR_HOST = {}\n", plain(e.storage_emulator_host));
    out += fmt::format("AZURE_STORAGE_CONNECTION_STRING = {}\n", secret(e.azure_storage_connection_string));
    out += fmt::format("AZURE_STORAGE_KEY = {}\n", secret(e.azure_storage_key));
    out += fmt::format("AZURE_STORAGE_SAS_TOKEN = {}\n", secret(e.azure_storage_sas_token));
    out += fmt::format("AZURE_TENANT_ID = {}\n", plain(e.azure_tenant_id));
    out += fmt::format("AZURE_CLIENT_ID = {}\n", plain(e.azure_client_id));
    out += fmt::format("AZURE_CLIENT_SECRET = {}\n", secret(e.azure_client_secret));
    out += fmt::format("AZURE_FEDERATED_TOKEN_FILE = {}\n", plain(e.azure_federated_token_file));
    out += fmt::format("IDENTITY_ENDPOINT = {}\n", plain(e.identity_endpoint));
    return out;
}

result<std::string, std::string> ensure_node_id(const settings& s) {
    if (!s.node_id.empty())
        return s.node_id;
    std::error_code ec;
    std::filesystem::create_directories(s.prefix, ec);
    if (ec)
        return failure{fmt::format("prefix {}: cannot create: {}", s.prefix.string(), ec.message())};
    const auto file = s.prefix / "node_id";
    if (auto existing = read_whole_file(file, 4096)) {
        const auto id = std::string(trim(existing.value()));
        if (is_uuid(id))
            return id;
        return failure{
            fmt::format("{} holds '{}', which is not a UUID: fix or remove it", file.string(), id)};
    }
    auto id = new_uuid_v4();
    if (auto w = write_file_atomically(file, id + "\n", 0644); !w)
        return failure{fmt::format("prefix {} is not writable: {}", s.prefix.string(), w.error())};
    return id;
}

} // namespace lifeboat::agent
