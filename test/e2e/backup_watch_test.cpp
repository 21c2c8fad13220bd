// The backup as every node sees it (issue #16 item 3), with real processes: an exporter that
// leads, a node that follows the CP without exporting and an importer whose CP is down all read
// the backup's metadata on their own timer. Its age grows, resets after each upload, and the
// nodes that follow the CP see the bucket fall behind once the exporter stops.
#include "fleet.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <thread>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

double age_of(const agent_process& a) {
    const auto v = a.status_field("backup", "age_s");
    return v.empty() || v.front() == '<' ? -1 : std::atof(v.c_str());
}

} // namespace

TEST(backup_watch, every_node_sees_the_backups_age_grow_reset_on_upload_and_fall_behind_the_cp) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    const auto bucket = dir / "bucket";
    std::filesystem::create_directories(bucket);
    const auto storage = "file://" + bucket.string();
    reference_cp cp(dir, certs, sample_config("watch-alpha"));
    const std::map<std::string, std::string> common{
        {"cluster_cert", certs.cert.string()},        {"cluster_cert_key", certs.key.string()},
        {"cluster_fallback_config_storage", storage}, {"cluster_fallback_config_watch_interval", "0.3"},
        {"cluster_reconnect_delay_min", "0.5"},       {"cluster_reconnect_delay_max", "1"}};
    auto with = [&](std::map<std::string, std::string> more) {
        more.insert(common.begin(), common.end());
        return more;
    };
    agent_process exporter(dir, "exporter",
                           with({{"cluster_control_plane", cp.address()},
                                 {"cluster_fallback_config_export", "on"},
                                 {"cluster_fallback_config_export_delay", "0.2"},
                                 {"election_interval", "1"}}));
    ASSERT_TRUE(eventually([&] { return exporter.status_field("export", "current") == "true"; }, 30s))
        << exporter.log();
    // Follows the CP, exports nothing: the bucket is watched all the same.
    agent_process follower(
        dir, "follower",
        with({{"cluster_control_plane", cp.address()}, {"cluster_fallback_config_import", "on"}}));
    agent_process importer(dir, "importer",
                           with({{"cluster_control_plane", "127.0.0.1:" + std::to_string(free_port())},
                                 {"cluster_fallback_config_import", "on"}}));
    for (auto* node : {&exporter, &follower, &importer})
        ASSERT_TRUE(eventually([&] { return node->status_field("backup", "holds_current") == "true"; }, 30s))
            << node->name() << ": " << json::serialize(node->status()) << "\n"
            << node->log();
    EXPECT_EQ(importer.status_field("config", "source"), "fallback");
    EXPECT_EQ(follower.status_field("config", "source"), "control_plane");

    // The age grows on every node (Last-Modified has a resolution of one second).
    std::map<const agent_process*, double> before;
    for (auto* node : {&exporter, &follower, &importer})
        before[node] = age_of(*node);
    std::this_thread::sleep_for(2500ms);
    for (auto* node : {&exporter, &follower, &importer}) {
        EXPECT_GE(before[node], 0) << node->name();
        EXPECT_GE(age_of(*node), before[node] + 2) << node->name();
        const auto [code, metrics] = node->get("/metrics");
        EXPECT_NE(metrics.find("lifeboat_backup_age_seconds "), std::string::npos) << metrics;
        EXPECT_NE(metrics.find("lifeboat_backup_holds_current_config 1"), std::string::npos) << metrics;
    }

    // The CP changes: the exporter uploads, and every node's figure resets. The importer runs the
    // old config: the bucket no longer holds what it serves.
    const auto written_before = follower.status_field("backup", "written_at");
    const auto aged = age_of(follower);
    cp.set_config(sample_config("watch-beta"));
    ASSERT_TRUE(eventually(
        [&] {
            return follower.status_field("backup", "written_at") != written_before &&
                   follower.status_field("backup", "holds_current") == "true";
        },
        30s))
        << follower.log() << exporter.log();
    EXPECT_LT(age_of(follower), aged);
    ASSERT_TRUE(eventually([&] { return importer.status_field("backup", "holds_current") == "false"; }, 10s))
        << json::serialize(importer.status());
    EXPECT_LT(age_of(importer), aged);
    EXPECT_EQ(exporter.status_field("backup", "holds_current"), "true");

    // The exporter stops; the CP changes again: the follower sees the bucket behind the CP, and
    // the backup's age keeps growing.
    exporter.kill9();
    const auto stale_from = age_of(follower);
    cp.set_config(sample_config("watch-gamma"));
    ASSERT_TRUE(eventually([&] { return follower.status_field("backup", "holds_current") == "false"; }, 30s))
        << json::serialize(follower.status());
    std::this_thread::sleep_for(1500ms);
    EXPECT_GE(age_of(follower), stale_from + 1);
    const auto [code, metrics] = follower.get("/metrics");
    EXPECT_NE(metrics.find("lifeboat_backup_holds_current_config 0"), std::string::npos) << metrics;
    EXPECT_EQ(follower.status_field("backup", "state"), "present");
    // `lifeboat status` shows it.
    auto human = run({.args = {lifeboat_bin().string(), "status", "--addr", follower.status_address()},
                      .name = "lifeboat status"},
                     30s);
    EXPECT_NE(human.exit_code, 2) << human.err;
    EXPECT_NE(human.out.find("backup         "), std::string::npos) << human.out;
    EXPECT_NE(human.out.find("s ago), NOT this node's config"), std::string::npos) << human.out;
}
