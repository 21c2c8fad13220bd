#include "agent/kong_conf_keys.hpp"

#include <algorithm>
#include <array>

namespace lifeboat::agent {
namespace {

using namespace std::string_view_literals;

// Every key of Kong's own kong.conf.default (github.com/Kong/kong, kong.conf.default at commit
// 22246ef28c16842098369b494eef879222e30c7b, 2026-07-01), sorted. Regenerate with:
//   git show <commit>:kong.conf.default | grep -oE '^#?[a-z][A-Za-z0-9_]* *=' |
//     sed 's/^#//; s/ *=$//' | sort -u
// (the pluginserver_XXX_* templates are matched as patterns below, not listed).
constexpr std::array open_source_keys = {
    "admin_access_log"sv,
    "admin_error_log"sv,
    "admin_gui_access_log"sv,
    "admin_gui_api_url"sv,
    "admin_gui_csp_header"sv,
    "admin_gui_error_log"sv,
    "admin_gui_listen"sv,
    "admin_gui_path"sv,
    "admin_gui_ssl_cert"sv,
    "admin_gui_ssl_cert_key"sv,
    "admin_gui_url"sv,
    "admin_listen"sv,
    "admin_ssl_cert"sv,
    "admin_ssl_cert_key"sv,
    "allow_debug_header"sv,
    "anonymous_reports"sv,
    "client_ssl"sv,
    "client_ssl_cert"sv,
    "client_ssl_cert_key"sv,
    "cluster_ca_cert"sv,
    "cluster_cert"sv,
    "cluster_cert_key"sv,
    "cluster_control_plane"sv,
    "cluster_data_plane_purge_delay"sv,
    "cluster_dp_labels"sv,
    "cluster_listen"sv,
    "cluster_max_payload"sv,
    "cluster_mtls"sv,
    "cluster_ocsp"sv,
    "cluster_server_name"sv,
    "cluster_use_proxy"sv,
    "database"sv,
    "db_cache_neg_ttl"sv,
    "db_cache_ttl"sv,
    "db_cache_warmup_entities"sv,
    "db_resurrect_ttl"sv,
    "db_update_frequency"sv,
    "db_update_propagation"sv,
    "debug_ssl_cert"sv,
    "debug_ssl_cert_key"sv,
    "declarative_config"sv,
    "declarative_config_string"sv,
    "dedicated_config_processing"sv,
    "dns_cache_size"sv,
    "dns_error_ttl"sv,
    "dns_hostsfile"sv,
    "dns_no_sync"sv,
    "dns_not_found_ttl"sv,
    "dns_order"sv,
    "dns_resolver"sv,
    "dns_stale_ttl"sv,
    "dns_valid_ttl"sv,
    "error_default_type"sv,
    "error_template_html"sv,
    "error_template_json"sv,
    "error_template_plain"sv,
    "error_template_xml"sv,
    "headers"sv,
    "headers_upstream"sv,
    "lmdb_environment_path"sv,
    "lmdb_map_size"sv,
    "log_level"sv,
    "lua_max_post_args"sv,
    "lua_max_req_headers"sv,
    "lua_max_resp_headers"sv,
    "lua_max_uri_args"sv,
    "lua_package_cpath"sv,
    "lua_package_path"sv,
    "lua_socket_pool_size"sv,
    "lua_ssl_protocols"sv,
    "lua_ssl_trusted_certificate"sv,
    "lua_ssl_verify_depth"sv,
    "mem_cache_size"sv,
    "new_dns_client"sv,
    "nginx_admin_client_body_buffer_size"sv,
    "nginx_admin_client_max_body_size"sv,
    "nginx_daemon"sv,
    "nginx_events_worker_connections"sv,
    "nginx_http_charset"sv,
    "nginx_http_client_body_buffer_size"sv,
    "nginx_http_client_header_buffer_size"sv,
    "nginx_http_client_max_body_size"sv,
    "nginx_http_keepalive_requests"sv,
    "nginx_http_large_client_header_buffers"sv,
    "nginx_http_lua_regex_cache_max_entries"sv,
    "nginx_http_lua_regex_match_limit"sv,
    "nginx_main_worker_rlimit_nofile"sv,
    "nginx_user"sv,
    "nginx_worker_processes"sv,
    "node_id"sv,
    "openresty_path"sv,
    "opentelemetry_tracing"sv,
    "opentelemetry_tracing_sampling_rate"sv,
    "pg_backlog"sv,
    "pg_database"sv,
    "pg_host"sv,
    "pg_keepalive_timeout"sv,
    "pg_max_concurrent_queries"sv,
    "pg_password"sv,
    "pg_pool_size"sv,
    "pg_port"sv,
    "pg_ro_backlog"sv,
    "pg_ro_database"sv,
    "pg_ro_host"sv,
    "pg_ro_keepalive_timeout"sv,
    "pg_ro_max_concurrent_queries"sv,
    "pg_ro_password"sv,
    "pg_ro_pool_size"sv,
    "pg_ro_port"sv,
    "pg_ro_schema"sv,
    "pg_ro_semaphore_timeout"sv,
    "pg_ro_ssl"sv,
    "pg_ro_ssl_verify"sv,
    "pg_ro_timeout"sv,
    "pg_ro_user"sv,
    "pg_schema"sv,
    "pg_semaphore_timeout"sv,
    "pg_ssl"sv,
    "pg_ssl_verify"sv,
    "pg_timeout"sv,
    "pg_user"sv,
    "plugins"sv,
    "pluginserver_names"sv,
    "port_maps"sv,
    "prefix"sv,
    "proxy_access_log"sv,
    "proxy_error_log"sv,
    "proxy_listen"sv,
    "proxy_server"sv,
    "proxy_server_ssl_verify"sv,
    "proxy_stream_access_log"sv,
    "proxy_stream_error_log"sv,
    "real_ip_header"sv,
    "real_ip_recursive"sv,
    "request_debug"sv,
    "request_debug_token"sv,
    "resolver_address"sv,
    "resolver_error_ttl"sv,
    "resolver_family"sv,
    "resolver_hosts_file"sv,
    "resolver_lru_cache_size"sv,
    "resolver_mem_cache_size"sv,
    "resolver_stale_ttl"sv,
    "resolver_valid_ttl"sv,
    "role"sv,
    "router_flavor"sv,
    "ssl_cert"sv,
    "ssl_cert_key"sv,
    "ssl_cipher_suite"sv,
    "ssl_ciphers"sv,
    "ssl_dhparam"sv,
    "ssl_prefer_server_ciphers"sv,
    "ssl_protocols"sv,
    "ssl_session_cache_size"sv,
    "ssl_session_tickets"sv,
    "ssl_session_timeout"sv,
    "status_access_log"sv,
    "status_error_log"sv,
    "status_listen"sv,
    "status_ssl_cert"sv,
    "status_ssl_cert_key"sv,
    "stream_listen"sv,
    "tracing_instrumentations"sv,
    "tracing_sampling_rate"sv,
    "trusted_ips"sv,
    "untrusted_lua"sv,
    "untrusted_lua_sandbox_environment"sv,
    "untrusted_lua_sandbox_requires"sv,
    "upstream_keepalive_idle_timeout"sv,
    "upstream_keepalive_max_requests"sv,
    "upstream_keepalive_pool_size"sv,
    "vault_env_prefix"sv,
    "vaults"sv,
    "wasm"sv,
    "wasm_filters"sv,
    "wasm_filters_path"sv,
    "worker_consistency"sv,
    "worker_state_update_frequency"sv,
};

// Keys of Kong Gateway Enterprise's kong.conf that the open-source file lacks (from its
// configuration reference, docs.konghq.com/gateway/latest/reference/configuration/), so a
// kong.conf of an Enterprise data plane can be given to lifeboat as it is. Sorted.
constexpr std::array enterprise_keys = {
    "admin_api_uri"sv,
    "admin_gui_auth"sv,
    "admin_gui_auth_conf"sv,
    "admin_gui_auth_header"sv,
    "admin_gui_auth_login_attempts"sv,
    "admin_gui_auth_password_complexity"sv,
    "admin_gui_session_conf"sv,
    "audit_log"sv,
    "audit_log_ignore_methods"sv,
    "audit_log_ignore_paths"sv,
    "audit_log_ignore_tables"sv,
    "audit_log_payload_exclude"sv,
    "audit_log_record_ttl"sv,
    "audit_log_signing_key"sv,
    "cluster_allowed_common_names"sv,
    "cluster_telemetry_endpoint"sv,
    "cluster_telemetry_listen"sv,
    "cluster_telemetry_server_name"sv,
    "enforce_rbac"sv,
    "event_hooks_enabled"sv,
    "keyring_enabled"sv,
    "keyring_strategy"sv,
    "konnect_mode"sv,
    "license_path"sv,
    "portal"sv,
    "portal_gui_host"sv,
    "portal_gui_listen"sv,
    "portal_gui_protocol"sv,
    "rbac_auth_header"sv,
    "route_validation_strategy"sv,
    "vitals"sv,
    "vitals_strategy"sv,
};

// Kong turns any key with these prefixes into an Nginx directive (its "injected directives").
constexpr std::array nginx_prefixes = {
    "nginx_main_"sv,     "nginx_events_"sv,   "nginx_http_"sv,      "nginx_proxy_"sv,
    "nginx_stream_"sv,   "nginx_sproxy_"sv,   "nginx_admin_"sv,     "nginx_status_"sv,
    "nginx_upstream_"sv, "nginx_location_"sv, "nginx_supstream_"sv, "nginx_debug_"sv,
};

// pluginserver_<name>_socket / _start_cmd / _query_cmd.
bool is_pluginserver_key(std::string_view key) {
    constexpr auto prefix = "pluginserver_"sv;
    if (!key.starts_with(prefix))
        return false;
    for (auto suffix : {"_socket"sv, "_start_cmd"sv, "_query_cmd"sv})
        if (key.size() > prefix.size() + suffix.size() && key.ends_with(suffix))
            return true;
    return false;
}

} // namespace

bool is_kong_conf_key(std::string_view key) {
    if (std::binary_search(open_source_keys.begin(), open_source_keys.end(), key) ||
        std::binary_search(enterprise_keys.begin(), enterprise_keys.end(), key))
        return true;
    if (is_pluginserver_key(key))
        return true;
    return std::any_of(nginx_prefixes.begin(), nginx_prefixes.end(),
                       [&](std::string_view p) { return key.starts_with(p) && key.size() > p.size(); });
}

std::vector<std::string_view> kong_conf_key_names() {
    std::vector<std::string_view> out(open_source_keys.begin(), open_source_keys.end());
    out.insert(out.end(), enterprise_keys.begin(), enterprise_keys.end());
    return out;
}

} // namespace lifeboat::agent
