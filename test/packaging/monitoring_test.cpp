// The monitoring that ships (packaging/prometheus, packaging/grafana) against live agents: an
// exporter following the reference CP, a node serving its local declarative_config file and one
// that imported the exporter's backup: between them every metric the agent has. promtool accepts their
// /metrics, and every metric name the alert rules and the dashboard use is one they export.
#include "base/atomic_file.hpp"
#include "e2e/fleet.hpp"
#include "lifeboat_test_paths.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;

namespace {

std::set<std::string> metric_names_in(const std::string& text) {
    static const std::regex name{R"(\blifeboat_[a-z_]+)"};
    std::set<std::string> out;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it)
        out.insert(it->str());
    return out;
}

// The names in /metrics samples (not HELP text).
std::set<std::string> exported(const std::string& metrics) {
    std::set<std::string> out;
    std::size_t at = 0;
    while (at < metrics.size()) {
        auto end = metrics.find('\n', at);
        if (end == std::string::npos)
            end = metrics.size();
        const auto line = metrics.substr(at, end - at);
        if (!line.empty() && line[0] != '#')
            out.insert(line.substr(0, line.find_first_of("{ ")));
        at = end + 1;
    }
    return out;
}

std::string source_file(const std::string& relative) {
    auto text = read_whole_file(std::filesystem::path(test_paths::source_dir) / relative);
    EXPECT_TRUE(text) << relative;
    return text ? text.value() : std::string();
}

} // namespace

TEST(monitoring, promtool_accepts_live_metrics_and_rules_and_dashboard_use_only_exported_names) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    const auto bucket = dir / "bucket";
    std::filesystem::create_directories(bucket);
    reference_cp cp(dir, certs, sample_config("monitoring"));
    agent_process exporter(dir, "exporter",
                           {{"cluster_control_plane", cp.address()},
                            {"cluster_cert", certs.cert.string()},
                            {"cluster_cert_key", certs.key.string()},
                            {"cluster_fallback_config_export", "on"},
                            {"cluster_fallback_config_storage", "file://" + bucket.string()},
                            {"cluster_fallback_config_export_delay", "0.2"},
                            {"election_interval", "1"}});
    const auto local = dir / "kong.yml";
    ASSERT_TRUE(write_file_atomically(local, "_format_version: \"3.0\"\nservices: []\n", 0644));
    agent_process last_resort(dir, "last-resort",
                              {{"cluster_control_plane", "127.0.0.1:" + std::to_string(free_port())},
                               {"cluster_cert", certs.cert.string()},
                               {"cluster_cert_key", certs.key.string()},
                               {"declarative_config", local.string()},
                               {"cluster_reconnect_delay_min", "0.5"},
                               {"cluster_reconnect_delay_max", "1"}});
    ASSERT_TRUE(eventually([&] { return exporter.status_field("export", "current") == "true"; }, 30s))
        << exporter.log();
    ASSERT_TRUE(
        eventually([&] { return last_resort.status_field("config", "source") == "declarative_config"; }, 20s))
        << last_resort.log();

    // A new node, its CP down, imports what the exporter uploaded.
    agent_process importer(dir, "importer",
                           {{"cluster_control_plane", "127.0.0.1:" + std::to_string(free_port())},
                            {"cluster_cert", certs.cert.string()},
                            {"cluster_cert_key", certs.key.string()},
                            {"cluster_fallback_config_import", "on"},
                            {"cluster_fallback_config_storage", "file://" + bucket.string()}});
    ASSERT_TRUE(eventually([&] { return importer.status_field("import", "state") == "imported"; }, 30s))
        << importer.log();
    EXPECT_FALSE(importer.status_field("import", "backup_written_at").empty());

    std::set<std::string> names;
    for (auto* agent : {&exporter, &last_resort, &importer}) {
        const auto [code, metrics] = agent->get("/metrics");
        ASSERT_EQ(code, 200u) << metrics;
        auto check =
            run({.args = {"promtool", "check", "metrics"}, .name = "promtool", .stdin_data = metrics});
        EXPECT_EQ(check.exit_code, 0) << agent->name() << ":\n" << check.out << check.err << "\n" << metrics;
        names.merge(exported(metrics));
    }
    EXPECT_TRUE(names.contains("lifeboat_export_current"));
    EXPECT_TRUE(names.contains("lifeboat_declarative_config_applied"));
    EXPECT_TRUE(names.contains("lifeboat_import_backup_timestamp_seconds"));
    // The backup as every node reads it (its age from Last-Modified, whether it holds the node's config).
    EXPECT_TRUE(names.contains("lifeboat_backup_age_seconds"));
    EXPECT_TRUE(names.contains("lifeboat_backup_holds_current_config"));
    EXPECT_TRUE(names.contains("lifeboat_backup_checked_timestamp_seconds"));

    const auto rules = metric_names_in(source_file("packaging/prometheus/lifeboat-alerts.yml"));
    const auto dashboard = metric_names_in(source_file("packaging/grafana/lifeboat-dashboard.json"));
    EXPECT_GE(rules.size(), 8u);
    EXPECT_GE(dashboard.size(), 20u);
    for (const auto& used : {rules, dashboard})
        for (const auto& name : used)
            EXPECT_TRUE(names.contains(name)) << name << " is used but not exported";
}
