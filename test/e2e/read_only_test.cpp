// Read-only credentials against the Ceph RGW fixture: its second user, lifeboat-readonly, may read
// and list the test bucket and nothing else (test/harness/rgw.sh). Importers need no more than
// that; an exporter given such credentials says why it cannot export (the store's 403), keeps
// retrying and keeps serving the gateway.
#include "base/atomic_file.hpp"
#include "fleet.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::value parse(const std::string& s) {
    boost::system::error_code ec;
    auto v = json::parse(s, ec);
    return ec ? json::value(nullptr) : v;
}

std::map<std::string, std::string> read_only_env() {
    const auto p = rgw_read_only();
    return {{"AWS_ACCESS_KEY_ID", p.access_key},
            {"AWS_SECRET_ACCESS_KEY", p.secret_key},
            {"AWS_REGION", p.region},
            {"AWS_CONFIG_STORAGE_ENDPOINT", p.endpoint}};
}

void aws_put(const std::string& key, const std::string& body) {
    const auto in = scratch_dir() / "bucket-write.json";
    ASSERT_TRUE(write_file_atomically(in, body, 0644));
    auto r = aws_s3api({"put-object", "--bucket", rgw().bucket, "--key", key, "--body", in.string(),
                        "--content-type", "application/json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
}

std::size_t count(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

} // namespace

TEST(read_only_credentials, an_importer_provisions_from_the_bucket_with_them) {
    const auto dir = scratch_dir();
    const auto prefix = "read-only-" + unique_suffix();
    const auto certs = make_cluster_certs(dir);
    aws_put(prefix + "/3.9.0.0/config.json", sample_config("backup")); // the test user writes it
    const auto gateway = dir / "gateway" / "kong.json";
    std::filesystem::create_directories(gateway.parent_path());
    agent_process dp(dir, "importer",
                     {{"cluster_control_plane", "127.0.0.1:" + std::to_string(free_port())}, // CP down
                      {"cluster_cert", certs.cert.string()},
                      {"cluster_cert_key", certs.key.string()},
                      {"cluster_fallback_config_import", "on"},
                      {"cluster_fallback_config_storage", rgw_storage_url(prefix)},
                      {"gateway_handoff", "file"},
                      {"gateway_config_path", gateway.string()},
                      {"node_version", "3.9.0.0"}},
                     read_only_env());

    ASSERT_TRUE(eventually([&] { return applied(dp, gateway, sample_config("backup")); }, 30s)) << dp.log();
    ASSERT_TRUE(eventually([&] { return dp.status_field("import", "state") == "imported"; }, 10s))
        << dp.log();
    EXPECT_EQ(dp.status_field("config", "source"), "fallback");
    EXPECT_EQ(dp.log().find("AccessDenied"), std::string::npos) << dp.log(); // nothing it does writes
    (void)aws_s3api({"delete-object", "--bucket", rgw().bucket, "--key", prefix + "/3.9.0.0/config.json"});
}

TEST(read_only_credentials, an_exporter_reports_the_403_retries_and_keeps_serving) {
    const auto dir = scratch_dir();
    const auto prefix = "read-only-" + unique_suffix();
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, sample_config("alpha"));
    const auto gateway = dir / "gateway" / "kong.json";
    std::filesystem::create_directories(gateway.parent_path());
    agent_process exporter(dir, "exporter",
                           {{"cluster_control_plane", cp.address()},
                            {"cluster_cert", certs.cert.string()},
                            {"cluster_cert_key", certs.key.string()},
                            {"cluster_fallback_config_export", "on"},
                            {"cluster_fallback_config_storage", rgw_storage_url(prefix)},
                            {"cluster_fallback_config_export_delay", "0.2"},
                            {"election_interval", "1"},
                            {"gateway_handoff", "file"},
                            {"gateway_config_path", gateway.string()},
                            {"node_version", "3.9.0.0"}},
                           read_only_env());

    // The gateway gets the CP's config whatever the bucket says.
    ASSERT_TRUE(eventually([&] { return applied(exporter, gateway, sample_config("alpha")); }, 30s))
        << exporter.log();
    // Several failed rounds: it retries, and stays up.
    ASSERT_TRUE(eventually(
        [&] { return std::stoi("0" + exporter.status_field("election", "failed_rounds")) >= 4; }, 30s))
        << exporter.log();
    const auto last_error = exporter.status_field("election", "last_error");
    EXPECT_NE(last_error.find("403 AccessDenied"), std::string::npos) << last_error;
    EXPECT_EQ(exporter.status_field("election", "is_leader"), "false");
    const auto status = exporter.status();
    ASSERT_TRUE(status.is_object());
    EXPECT_NE(json::serialize(status.at("degraded_reasons")).find("403"), std::string::npos)
        << json::serialize(status);
    // One clear line says why, once, not once per round: the election's, naming RGW's answer (and
    // the S3 store's first refused request); later rounds add nothing about it.
    const auto log = exporter.log();
    EXPECT_EQ(count(log, "the store refuses this node's writes"), 1u) << log;
    const auto line_at = log.find("the store refuses this node's writes");
    EXPECT_NE(log.substr(line_at, log.find('\n', line_at) - line_at).find("403 AccessDenied"),
              std::string::npos)
        << log;
    const auto refusals = count(log, "AccessDenied");
    EXPECT_LE(refusals, 2u) << log;
    const auto rounds = std::stoi(exporter.status_field("election", "failed_rounds"));
    ASSERT_TRUE(eventually(
        [&] { return std::stoi("0" + exporter.status_field("election", "failed_rounds")) >= rounds + 3; },
        30s));
    EXPECT_EQ(count(exporter.log(), "AccessDenied"), refusals) << exporter.log();
    // Nothing was written with these credentials.
    auto listed = aws_s3api({"list-objects-v2", "--bucket", rgw().bucket, "--prefix", prefix + "/"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_EQ(listed.out.find("\"Key\""), std::string::npos) << listed.out;
    EXPECT_FALSE(exporter.wait(0ms)); // still running
}
