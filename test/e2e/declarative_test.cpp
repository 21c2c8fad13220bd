// The local declarative_config file end to end, with real `lifeboat run` and `lifeboat cp`
// processes and a file:// bucket: a node with no cache, its CP down and an empty bucket serves the
// file once cluster_fallback_config_import_timeout has passed; a backup that then appears replaces
// it, and the CP, once back, wins. A broken file is one error line with its position, and nothing
// reaches the gateway.
#include "base/atomic_file.hpp"
#include "fleet.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <thread>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const char* local_yaml = R"(_format_version: "3.0"
services:
  - name: local-last-resort
    url: http://127.0.0.1:9/
    routes:
      - name: local-route
        paths: [/local]
)";

struct setup {
    std::filesystem::path dir = scratch_dir();
    cluster_certs certs = make_cluster_certs(dir);
    std::filesystem::path bucket = dir / "bucket";
    std::filesystem::path gateway = dir / "gateway" / "kong.json";
    unsigned short cp_port = free_port(); // nothing listens: the CP is down

    setup() {
        std::filesystem::create_directories(bucket);
        std::filesystem::create_directories(gateway.parent_path());
    }
    // A backup as an exporter leaves it in a file:// bucket.
    void put_backup(const std::string& config) const {
        std::filesystem::create_directories(bucket / "3.9.0.0");
        ASSERT_TRUE(write_file_atomically(bucket / "3.9.0.0" / "config.json", config, 0644));
    }
    std::map<std::string, std::string> settings(const std::filesystem::path& declarative) const {
        return {{"cluster_control_plane", "127.0.0.1:" + std::to_string(cp_port)},
                {"cluster_cert", certs.cert.string()},
                {"cluster_cert_key", certs.key.string()},
                {"cluster_fallback_config_import", "on"},
                {"cluster_fallback_config_storage", "file://" + bucket.string()},
                {"cluster_fallback_config_import_timeout", "3"},
                {"declarative_config", declarative.string()},
                {"gateway_handoff", "file"},
                {"gateway_config_path", gateway.string()},
                {"cluster_reconnect_delay_min", "0.5"},
                {"cluster_reconnect_delay_max", "1"},
                {"node_version", "3.9.0.0"}};
    }
};

} // namespace

TEST(declarative_config, served_after_the_timeout_then_the_backup_then_the_cp_replace_it) {
    setup s;
    const auto file = s.dir / "kong.yml";
    ASSERT_TRUE(write_file_atomically(file, local_yaml, 0644));
    const auto started = std::chrono::steady_clock::now();
    agent_process dp(s.dir, "dp", s.settings(file));

    // Not before the bucket's time is up: the node waits (and says until when).
    ASSERT_TRUE(eventually(
        [&] { return dp.status_field("declarative_config", "state") == "waiting_for_bucket"; }, 10s))
        << dp.log();
    EXPECT_FALSE(std::filesystem::exists(s.gateway));
    EXPECT_EQ(dp.status_field("config", "source"), "none");

    // The gateway file is written on the disk pool; the delivery is booked just after.
    ASSERT_TRUE(eventually(
        [&] { return std::filesystem::exists(s.gateway) && dp.status().at("ready") == true; }, 20s))
        << dp.log();
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_GE(took, 3s); // the timeout, counted from the CP's first failure
    const auto served = file_json(s.gateway);
    ASSERT_TRUE(served.is_object());
    EXPECT_EQ(served.at("services").at(0).at("name"), "local-last-resort");
    EXPECT_EQ(served.at("services").at(0).at("routes").at(0).at("paths").at(0), "/local");
    auto st = dp.status();
    EXPECT_EQ(st.at("config").at("source"), "declarative_config");
    EXPECT_EQ(st.at("declarative_config").at("state"), "applied");
    EXPECT_EQ(st.at("ready"), true);
    EXPECT_EQ(st.at("health"), "degraded");
    EXPECT_EQ(st.at("import").at("state"), "fetching"); // the import carries on
    const auto [code, metrics] = dp.get("/metrics");
    EXPECT_EQ(code, 200u);
    EXPECT_NE(metrics.find("lifeboat_declarative_config_applied 1"), std::string::npos) << metrics;
    // The local file is not cached: a restart imports again.
    EXPECT_FALSE(std::filesystem::exists(dp.prefix() / "cache.json"));
    EXPECT_EQ(st.at("cache").at("state"), "empty");

    // A backup appears: it replaces the local file.
    s.put_backup(sample_config("backup"));
    ASSERT_TRUE(eventually(
        [&] {
            // The gateway file is written on the disk pool; the import is booked just after.
            return file_json(s.gateway) == json_or_null(sample_config("backup")) &&
                   dp.status_field("import", "state") == "imported";
        },
        30s))
        << dp.log();
    ASSERT_TRUE(eventually([&] { return dp.status_field("config", "source") == "fallback"; }, 5s));
    EXPECT_EQ(dp.status_field("declarative_config", "state"), "replaced");
    EXPECT_EQ(dp.status_field("import", "state"), "imported");

    // The CP returns: it wins.
    reference_cp cp(s.dir, s.certs, sample_config("fresh"), s.cp_port);
    ASSERT_TRUE(eventually([&] { return applied(dp, s.gateway, sample_config("fresh")); }, 30s)) << dp.log();
    ASSERT_TRUE(eventually([&] { return dp.status_field("config", "source") == "control_plane"; }, 10s));
    EXPECT_EQ(dp.status_field("declarative_config", "state"), "replaced");
}

TEST(declarative_config, the_cp_replaces_it_directly_and_it_is_not_needed_with_a_backup) {
    setup s;
    const auto file = s.dir / "kong.yml";
    ASSERT_TRUE(write_file_atomically(file, local_yaml, 0644));
    {
        // A backup is there: it is imported, the file is never served.
        s.put_backup(sample_config("backup"));
        agent_process dp(s.dir, "with-backup", s.settings(file));
        ASSERT_TRUE(eventually([&] { return dp.status_field("config", "source") == "fallback"; }, 20s))
            << dp.log();
        std::this_thread::sleep_for(4s); // past the timeout
        EXPECT_EQ(dp.status_field("config", "source"), "fallback");
        EXPECT_EQ(dp.status_field("declarative_config", "state"), "not_needed");
        EXPECT_EQ(dp.log().find("serving the local declarative_config"), std::string::npos);
    }
    // Import off: the file is served as soon as the CP fails, then the CP replaces it.
    std::filesystem::remove(s.gateway);
    auto settings = s.settings(file);
    settings["cluster_fallback_config_import"] = "off";
    settings.erase("cluster_fallback_config_storage");
    agent_process dp(s.dir, "no-bucket", settings);
    ASSERT_TRUE(eventually([&] { return dp.status_field("config", "source") == "declarative_config"; }, 10s))
        << dp.log();
    reference_cp cp(s.dir, s.certs, sample_config("fresh"), s.cp_port);
    ASSERT_TRUE(eventually([&] { return applied(dp, s.gateway, sample_config("fresh")); }, 30s)) << dp.log();
    EXPECT_EQ(dp.status_field("config", "source"), "control_plane");
    EXPECT_EQ(dp.status_field("cache", "state"), "written");
}

TEST(declarative_config, a_broken_yaml_file_is_one_line_with_its_position_and_nothing_is_applied) {
    setup s;
    const auto file = s.dir / "kong.yml";
    ASSERT_TRUE(
        write_file_atomically(file, "_format_version: \"3.0\"\nservices:\n  - name: [broken\n", 0644));
    agent_process dp(s.dir, "dp", s.settings(file));
    ASSERT_TRUE(eventually([&] { return dp.status_field("declarative_config", "state") == "invalid"; }, 20s))
        << dp.log();
    std::this_thread::sleep_for(6s); // the file is read again: the same error is not logged again
    const auto log = dp.log();
    std::size_t lines = 0;
    std::string line;
    for (std::size_t at = log.find("declarative_config cannot be applied"); at != std::string::npos;
         at = log.find("declarative_config cannot be applied", at + 1)) {
        ++lines;
        line = log.substr(log.rfind('\n', at) + 1, log.find('\n', at) - log.rfind('\n', at) - 1);
    }
    EXPECT_EQ(lines, 1u) << log;
    EXPECT_NE(line.find(file.string() + ":4:1: "), std::string::npos) << line;
    EXPECT_FALSE(std::filesystem::exists(s.gateway));
    auto st = dp.status();
    EXPECT_EQ(st.at("config").at("source"), "none");
    EXPECT_EQ(st.at("ready"), false);
    EXPECT_NE(st.at("declarative_config").at("last_error").as_string().find(":4:1: "), std::string::npos);
    EXPECT_NE(json::serialize(st.at("degraded_reasons")).find("declarative_config cannot be applied"),
              std::string::npos);
    // Fixed by the operator: taken at the next read.
    ASSERT_TRUE(write_file_atomically(file, local_yaml, 0644));
    ASSERT_TRUE(eventually([&] { return dp.status_field("config", "source") == "declarative_config"; }, 15s))
        << dp.log();
    // The hand-off runs on the disk pool: the file lands just after the config is accepted.
    EXPECT_TRUE(eventually([&] { return std::filesystem::exists(s.gateway); }, 10s)) << dp.log();
}
