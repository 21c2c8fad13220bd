#include "agent/config.hpp"
#include "base/ed25519.hpp"
#include "agent/config_keys.hpp"
#include "agent/config_values.hpp"
#include "base/atomic_file.hpp"
#include "crypto/age.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace lifeboat;
using namespace lifeboat::agent;
using namespace std::chrono_literals;

namespace {

std::filesystem::path write_conf(const std::string& text) {
    const auto path = test::scratch_dir() / "lifeboat.conf";
    std::ofstream(path) << text;
    return path;
}

result<loaded_config, config_error> load(std::optional<std::filesystem::path> file,
                                         std::map<std::string, std::string> env = {},
                                         std::vector<std::pair<std::string, std::string>> sets = {}) {
    return load_config({std::move(file), std::move(env), std::move(sets)});
}

} // namespace

TEST(config, defaults_match_kong_where_kong_has_the_key) {
    auto c = load(std::nullopt);
    ASSERT_TRUE(c) << c.error().to_string();
    const auto& s = c->values;
    EXPECT_EQ(s.cluster_mtls, mtls_mode::shared);
    EXPECT_EQ(s.cluster_max_payload, 16777216u);
    EXPECT_FALSE(s.cluster_fallback_config_import);
    EXPECT_FALSE(s.cluster_fallback_config_export);
    EXPECT_EQ(s.cluster_ping_interval, 30s);
    EXPECT_EQ(s.cluster_dead_after, 45s);
    EXPECT_EQ(s.cluster_reconnect_delay_min, 5s);
    EXPECT_EQ(s.cluster_reconnect_delay_max, 10s);
    EXPECT_EQ(s.status_listen, "127.0.0.1:8470");
    EXPECT_EQ(s.cluster_fallback_config_export_delay, 1s);
    EXPECT_TRUE(c->warnings.empty());
}

TEST(config, file_then_environment_then_flags) {
    const auto file = write_conf("# comment\n"
                                 "node_version = 3.6.0.0   # trailing comment\n"
                                 "prefix = /tmp/from-file\n"
                                 "status_listen = 127.0.0.1:9001\n"
                                 "gateway_reload_command = echo \\# not a comment\n");
    auto c = load(file, {{"KONG_PREFIX", "/tmp/from-env"}, {"KONG_STATUS_LISTEN", "127.0.0.1:9002"}},
                  {{"status_listen", "127.0.0.1:9003"}});
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->values.node_version, "3.6.0.0");
    EXPECT_EQ(c->values.prefix, "/tmp/from-env");
    EXPECT_EQ(c->values.status_listen, "127.0.0.1:9003");
    EXPECT_EQ(c->values.gateway_reload_command, "echo # not a comment");
    EXPECT_EQ(c->origin_of.at("node_version"), "lifeboat.conf:2");
    EXPECT_EQ(c->origin_of.at("prefix"), "KONG_PREFIX");
    EXPECT_EQ(c->origin_of.at("status_listen"), "--set");
}

TEST(config, every_key_accepts_a_good_value_and_refuses_a_bad_one) {
    // The backup keys are read at load: real key files.
    const auto key_dir = test::scratch_dir();
    const auto signing = ed25519::private_key::generate();
    std::ofstream(key_dir / "signing.key.pem") << signing.pem();
    std::ofstream(key_dir / "signing.pub.pem") << signing.public_part().pem();
    const auto identity = crypto::age_identity::generate();
    std::ofstream(key_dir / "encryption.key") << identity.to_identity_file("2026-12-06T00:00:00Z");
    // key, good value, bad value (empty bad: the key takes any text)
    const std::vector<std::tuple<std::string, std::string, std::string>> cases{
        {"cluster_control_plane", "cp.example.com:8005", "no-port"},
        {"cluster_mtls", "pki", "tls"},
        {"cluster_cert", "/etc/kong/cluster.crt", ""},
        {"cluster_cert_key", "/etc/kong/cluster.key", ""},
        {"cluster_ca_cert", "/etc/kong/ca.crt", ""},
        {"cluster_server_name", "cp.internal", ""},
        {"cluster_max_payload", "32m", "1m"},
        {"cluster_dp_labels", "region:eu,tier:gold", "region"},
        {"cluster_use_proxy", "on", "maybe"},
        {"proxy_server", "http://proxy:3128", "ftp://proxy"},
        {"cluster_fallback_config_import", "off", "sometimes"},
        {"cluster_fallback_config_export", "off", "2"},
        {"cluster_fallback_config_storage", "s3://bucket/prefix", "ftp://bucket"},
        {"cluster_fallback_config_export_delay", "60", "soon"},
        {"cluster_fallback_export_s3_config", "", "[1,2]"},
        {"prefix", "/tmp/x", ""},
        {"declarative_config", "/etc/kong/kong.yml", ""},
        {"cluster_fallback_config_import_timeout", "10", "soon"},
        {"node_id", "3f1c0a52-9d4e-4a8e-8f0b-2b1e6c0d9a71", "node-1"},
        {"node_version", "3.6.0.0", "3.6"},
        {"node_hostname", "dp-1", ""},
        {"status_listen", "unix:/run/lifeboat.sock", "8470"},
        {"dp_plugins", "key-auth,rate-limiting:3.6.0", ""},
        {"cluster_ping_interval", "10", "0"},
        {"cluster_dead_after", "60", "-1"},
        {"cluster_reconnect_delay_min", "1", "fast"},
        {"cluster_reconnect_delay_max", "20", "0"},
        {"cluster_reconnect_delay_ceiling", "300", "x"},
        {"cluster_max_config_size", "512m", "big"},
        {"gateway_handoff", "admin_api", "ftp"},
        {"gateway_config_path", "/etc/kong/declarative.json", ""},
        {"gateway_reload_command", "kong reload", ""},
        {"gateway_reload_timeout", "10", "0"},
        {"gateway_admin_url", "http://127.0.0.1:8001", "localhost:8001"},
        {"gateway_admin_token", "t0k3n", ""},
        {"gateway_admin_timeout", "30", "0"},
        {"election_interval", "5", "0"},
        {"s3_unsigned_payload_over_tls", "on", "yes please"},
        {"cluster_fallback_config_signing_key", (key_dir / "signing.key.pem").string(), "/nonexistent/signing.key.pem"},
        {"cluster_fallback_config_trusted_keys", (key_dir / "signing.pub.pem").string(), ","},
        {"cluster_fallback_config_max_age", "3600", "soon"},
        {"cluster_fallback_config_export_empty", "on", "maybe"},
        {"cluster_fallback_config_encryption_recipients", identity.recipient().to_string(), "age1nope"},
        {"cluster_fallback_config_decryption_identity", (key_dir / "encryption.key").string(),
         (key_dir / "signing.pub.pem").string()},
        {"cluster_fallback_config_import_versions", "patch", "major"},
        {"cluster_fallback_config_export_versions", "3.9.0.1,3.10.0.0", "3.9.x"},
        {"cluster_fallback_config_watch_interval", "30", "often"},
        {"log_level", "debug", "loud"},
        {"log_format", "json", "xml"},
    };
    // Keys whose good value needs another key set too.
    const std::map<std::string, std::vector<std::pair<std::string, std::string>>> companions{
        {"cluster_control_plane", {{"cluster_cert", "/c.crt"}, {"cluster_cert_key", "/c.key"}}},
        {"cluster_use_proxy", {{"proxy_server", "http://proxy:3128"}}},
    };
    ASSERT_EQ(cases.size(), config_keys().size()) << "a key was added without a case here";
    for (const auto& [key, good, bad] : cases) {
        auto sets = companions.contains(key) ? companions.at(key)
                                             : std::vector<std::pair<std::string, std::string>>{};
        sets.emplace_back(key, good);
        auto ok = load(std::nullopt, {}, sets);
        EXPECT_TRUE(ok) << key << "=" << good << ": " << (ok ? "" : ok.error().to_string());
        if (bad.empty())
            continue;
        auto refused = load(std::nullopt, {}, {{key, bad}});
        ASSERT_FALSE(refused) << key << "=" << bad << " was accepted";
        EXPECT_EQ(refused.error().key, key);
        const auto line = refused.error().to_string();
        EXPECT_NE(line.find(key), std::string::npos) << line;
        EXPECT_NE(line.find("expected"), std::string::npos) << line;
        EXPECT_EQ(line.find('\n'), std::string::npos) << "one line: " << line;
    }
}

TEST(config, error_line_names_key_value_origin_and_expectation) {
    const auto file = write_conf("cluster_max_payload = 12kb\n");
    auto c = load(file);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().to_string(), "cluster_max_payload = '12kb' (from lifeboat.conf:1): expected a size "
                                     "of at least 4194304 bytes (4m)");
}

TEST(config, combinations_are_checked) {
    auto no_storage = load(std::nullopt, {{"KONG_CLUSTER_FALLBACK_CONFIG_IMPORT", "on"}});
    ASSERT_FALSE(no_storage);
    EXPECT_EQ(no_storage.error().key, "cluster_fallback_config_storage");
    auto no_cert = load(std::nullopt, {}, {{"cluster_control_plane", "cp:8005"}});
    ASSERT_FALSE(no_cert);
    EXPECT_EQ(no_cert.error().to_string(),
              "cluster_cert is not set: expected a certificate file, because cluster_control_plane is set");
    auto s3cfg_on_gcs = load(std::nullopt, {},
                             {{"cluster_fallback_config_storage", "gcs://b/p"},
                              {"cluster_fallback_export_s3_config", R"({"ServerSideEncryption":"AES256"})"}});
    ASSERT_FALSE(s3cfg_on_gcs);
    EXPECT_EQ(s3cfg_on_gcs.error().key, "cluster_fallback_export_s3_config");
    auto window = load(std::nullopt, {}, {{"cluster_reconnect_delay_min", "20"}});
    ASSERT_FALSE(window);
    EXPECT_EQ(window.error().key, "cluster_reconnect_delay_max");
}

TEST(config, unsigned_payload_over_tls_reaches_the_store_and_is_called_useless_over_plain_http) {
    auto defaults = load(std::nullopt);
    ASSERT_TRUE(defaults);
    EXPECT_FALSE(defaults->values.storage_env.s3_unsigned_payload_over_tls);

    const std::vector<std::pair<std::string, std::string>> sets{
        {"s3_unsigned_payload_over_tls", "on"}, {"cluster_fallback_config_storage", "s3://bucket/kong"}};
    auto https = load(std::nullopt, {{"AWS_CONFIG_STORAGE_ENDPOINT", "https://rgw.internal"}}, sets);
    ASSERT_TRUE(https) << https.error().to_string();
    EXPECT_TRUE(https->values.storage_env.s3_unsigned_payload_over_tls);
    EXPECT_TRUE(https->warnings.empty());
    EXPECT_NE(render_effective(*https).find("s3_unsigned_payload_over_tls = on    # from --set"),
              std::string::npos);

    auto plain = load(std::nullopt, {{"AWS_CONFIG_STORAGE_ENDPOINT", "http://127.0.0.1:9000"}}, sets);
    ASSERT_TRUE(plain) << plain.error().to_string();
    ASSERT_EQ(plain->warnings.size(), 1u);
    EXPECT_EQ(plain->warnings[0],
              "s3_unsigned_payload_over_tls = on has no effect: AWS_CONFIG_STORAGE_ENDPOINT "
              "http://127.0.0.1:9000 is plain http, where every body is signed");
}

// Issue #19 changed this: an unknown key used to be a warning, so a misspelt key left a node
// without, say, its control plane while it said "healthy". Kong's own keys (open source and
// Enterprise, and its nginx_* / pluginserver_* families) are accepted and listed as ignored;
// anything else is an error naming the closest known key.
TEST(config, kong_keys_are_ignored_and_listed_other_unknown_keys_are_errors) {
    const auto file =
        write_conf("cluster_telemetry_endpoint = x:1\nnode_version = 3.6.0.0\nrole = data_plane\n"
                   "nginx_http_client_body_buffer_size = 8k\npluginserver_go_socket = /x\n");
    auto c = load(file, {}, {{"database", "off"}});
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_TRUE(c->warnings.empty());
    EXPECT_EQ(
        c->ignored_kong_keys,
        (std::vector<std::string>{"cluster_telemetry_endpoint (lifeboat.conf:1)", "role (lifeboat.conf:3)",
                                  "nginx_http_client_body_buffer_size (lifeboat.conf:4)",
                                  "pluginserver_go_socket (lifeboat.conf:5)", "database (--set)"}));

    auto misspelt = load(write_conf("node_version = 3.6.0.0\ncluster_contol_plane = cp:8005\n"));
    ASSERT_FALSE(misspelt);
    EXPECT_EQ(misspelt.error().to_string(),
              "cluster_contol_plane = 'cp:8005' (from lifeboat.conf:2): expected a known configuration key; "
              "did you mean cluster_control_plane?");
    auto set = load(std::nullopt, {}, {{"no_such_key", "1"}});
    ASSERT_FALSE(set);
    EXPECT_EQ(set.error().origin, "--set");
    EXPECT_NE(set.error().to_string().find("expected a known configuration key"), std::string::npos);
    auto far = load(write_conf("zzzzzzzzzzzzzzzzzzzz = 1\n"));
    ASSERT_FALSE(far);
    EXPECT_NE(far.error().to_string().find("see `lifeboat config reference`"), std::string::npos)
        << far.error().to_string();
}

TEST(config, a_byte_order_mark_does_not_hide_the_first_key) {
    auto c = load(write_conf("\xEF\xBB\xBFnode_version = 3.6.0.0\nlog_level = debug\n"));
    ASSERT_TRUE(c) << c.error().to_string();
    EXPECT_EQ(c->values.node_version, "3.6.0.0");
    EXPECT_EQ(c->origin_of.at("node_version"), "lifeboat.conf:1");
}

TEST(config, secrets_never_appear_in_output_or_errors) {
    auto c = load(std::nullopt,
                  {{"AWS_SECRET_ACCESS_KEY", "s3cr3t-key"},
                   {"AWS_SESSION_TOKEN", "s3ssion"},
                   {"GCP_SERVICE_ACCOUNT", R"({"private_key":"pk-123"})"},
                   {"KONG_PROXY_SERVER", "http://user:pr0xy-pass@proxy:3128"}},
                  {{"gateway_admin_token", "adm1n-token"}});
    ASSERT_TRUE(c);
    EXPECT_EQ(c->values.storage_env.aws_secret_access_key, "s3cr3t-key");
    const auto text = render_effective(*c);
    for (const char* secret : {"s3cr3t-key", "s3ssion", "pk-123", "pr0xy-pass", "adm1n-token"})
        EXPECT_EQ(text.find(secret), std::string::npos) << secret << " leaked:\n" << text;
    EXPECT_NE(text.find("proxy_server = http://user:****@proxy:3128"), std::string::npos) << text;
    auto bad = load(std::nullopt, {{"KONG_PROXY_SERVER", "ftp://user:pr0xy-pass@proxy"}});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().to_string().find("pr0xy-pass"), std::string::npos) << bad.error().to_string();
}

TEST(config, value_parsers) {
    EXPECT_EQ(parse_duration("0.5"), 500ms);
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("2m"), 120s);
    EXPECT_FALSE(parse_duration("-3"));
    EXPECT_EQ(parse_size("16m"), 16u << 20);
    EXPECT_EQ(parse_size("16mb"), 16u << 20);
    EXPECT_FALSE(parse_size("99999999999999999999g"));
    EXPECT_TRUE(is_host_port("[::1]:8005"));
    EXPECT_FALSE(is_host_port("host:0"));
    EXPECT_TRUE(is_gateway_version("3.9.1"));
    EXPECT_FALSE(is_gateway_version("3.9."));
    EXPECT_EQ(parse_list(" a, ,b "), (std::vector<std::string>{"a", "b"}));
}

TEST(config, node_id_persists_in_the_prefix) {
    settings s;
    s.prefix = test::scratch_dir() / "prefix";
    auto first = ensure_node_id(s);
    ASSERT_TRUE(first) << first.error();
    EXPECT_TRUE(is_uuid(first.value()));
    auto second = ensure_node_id(s);
    ASSERT_TRUE(second);
    EXPECT_EQ(first.value(), second.value());
    s.node_id = "3f1c0a52-9d4e-4a8e-8f0b-2b1e6c0d9a71";
    EXPECT_EQ(ensure_node_id(s).value(), s.node_id);
    s.node_id.clear();
    s.prefix = "/proc/no-such-dir";
    auto refused = ensure_node_id(s);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("/proc/no-such-dir"), std::string::npos) << refused.error();
}

TEST(config, docs_configuration_md_is_generated_from_the_key_table) {
    auto committed = read_whole_file(test::source_dir() / "docs" / "configuration.md");
    ASSERT_TRUE(committed) << committed.error();
    EXPECT_EQ(committed.value(), configuration_reference_markdown())
        << "docs/configuration.md is stale: regenerate it with `lifeboat config reference > "
           "docs/configuration.md`";
}
