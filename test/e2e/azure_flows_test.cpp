// The resilience flow end to end on Azure: real lifeboat agents, the reference CP, Microsoft's
// Azurite (the `azurite` fixture) and @azure/storage-blob as the independent client. An exporter
// uploads to azure://, the CP dies, a new importer provisions itself from the container, the CP
// returns with a newer config and wins.
#include "base/atomic_file.hpp"
#include "fleet.hpp"
#include "harness/azurite_store.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// What the container holds at `key` as the SDK reads it, with its properties; null when absent.
std::pair<json::value, json::value> container_json(const std::string& key) {
    const auto out = scratch_dir() / "container-read.json";
    auto r = sdk({"get", azurite().container, key, out.string()});
    if (r.exit_code != 0)
        return {nullptr, nullptr};
    auto text = read_whole_file(out);
    return {text ? json_or_null(text.value()) : json::value(nullptr), json_or_null(r.out)};
}

} // namespace

TEST(azure_flows, exporter_uploads_cp_dies_new_importer_provisions_cp_returns_and_wins) {
    const auto dir = scratch_dir();
    const auto prefix = "azure-flows-" + unique_suffix();
    const auto key = prefix + "/3.9.0.0/config.json";
    const auto certs = make_cluster_certs(dir);
    const auto cp_port = free_port();
    auto cp = std::make_unique<reference_cp>(dir, certs, sample_config("alpha"), cp_port);
    {
        agent_process exporter(dir, "exporter",
                               {{"cluster_control_plane", cp->address()},
                                {"cluster_cert", certs.cert.string()},
                                {"cluster_cert_key", certs.key.string()},
                                {"cluster_fallback_config_export", "on"},
                                {"cluster_fallback_config_storage", azurite_storage_url(prefix)},
                                {"cluster_fallback_config_export_delay", "0.2"},
                                {"election_interval", "1"},
                                {"node_version", "3.9.0.0"}},
                               azurite_env());
        ASSERT_TRUE(eventually(
            [&] { return container_json(key).first == json_or_null(sample_config("alpha")); }, 30s))
            << exporter.log();
        const auto props = container_json(key).second;
        EXPECT_EQ(props.at("contentType"), "application/json") << props;
        const auto status = exporter.status();
        ASSERT_TRUE(status.is_object()) << exporter.log();
        EXPECT_EQ(props.at("metadata").at("uploader"), status.at("node_id")) << props;
        EXPECT_EQ(exporter.status_field("election", "is_leader"), "true");
    }
    cp->kill(); // the CP dies

    const auto gateway = dir / "gateway" / "kong.json";
    std::filesystem::create_directories(gateway.parent_path());
    agent_process dp(dir, "importer",
                     {{"cluster_control_plane", "127.0.0.1:" + std::to_string(cp_port)},
                      {"cluster_cert", certs.cert.string()},
                      {"cluster_cert_key", certs.key.string()},
                      {"cluster_fallback_config_import", "on"},
                      {"cluster_fallback_config_storage", azurite_storage_url(prefix)},
                      {"gateway_handoff", "file"},
                      {"gateway_config_path", gateway.string()},
                      {"cluster_reconnect_delay_min", "0.5"},
                      {"cluster_reconnect_delay_max", "1"},
                      {"node_version", "3.9.0.0"}},
                     azurite_env());
    ASSERT_TRUE(eventually(
        [&] {
            // The gateway file is written on the disk pool; the import is booked just after.
            return file_json(gateway) == json_or_null(sample_config("alpha")) &&
                   dp.status_field("import", "state") == "imported";
        },
        30s))
        << dp.log();
    EXPECT_EQ(dp.status_field("config", "source"), "fallback");
    EXPECT_EQ(dp.status_field("import", "state"), "imported");

    cp.reset();
    reference_cp back(dir, certs, sample_config("fresh"), cp_port);
    ASSERT_TRUE(eventually([&] { return applied(dp, gateway, sample_config("fresh")); }, 30s)) << dp.log();
    ASSERT_TRUE(eventually([&] { return dp.status_field("config", "source") == "control_plane"; }, 10s));
    EXPECT_EQ(dp.status_field("control_plane", "state"), "connected");
}
