// `lifeboat storage`, `lifeboat fetch` and `lifeboat doctor` against Microsoft's Azurite (the
// shared fixture) through azure:// URLs, with @azure/storage-blob as the independent client to
// cross-check what lifeboat wrote and read; a read-only SAS as an importer's credentials.
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "harness/azurite_store.hpp"
#include "stores/cli_helpers.hpp"

#include <gtest/gtest.h>

namespace lifeboat {
namespace {

using test::expect_one_line_error;
using test::lifeboat;

std::map<std::string, std::string> azurite_env() {
    return {{"AZURE_STORAGE_CONNECTION_STRING", test::azurite().connection_string()}};
}

// An importer's credentials: a container SAS with only read and list.
std::map<std::string, std::string> read_only_sas_env() {
    auto sas = test::sdk({"sas", test::azurite().container, "rl"});
    EXPECT_EQ(sas.exit_code, 0) << sas.err;
    std::string token = sas.out;
    while (!token.empty() && token.back() == '\n')
        token.pop_back();
    return {{"AZURE_STORAGE_CONNECTION_STRING", "BlobEndpoint=" + test::azurite().endpoint + ";"},
            {"AZURE_STORAGE_SAS_TOKEN", token}};
}

std::string container_url(const std::string& prefix) {
    return "azure://" + test::azurite().account + "/" + test::azurite().container + "/" + prefix;
}

TEST(storage_cli_azurite, put_get_ls_rm_interoperate_with_the_sdk) {
    const auto dir = test::scratch_dir();
    const std::string prefix = "stores-cli-" + test::unique_suffix();
    const std::string base = container_url(prefix);
    ASSERT_TRUE(write_file_atomically(dir / "config.json", R"({"from":"lifeboat"})"));

    auto put = lifeboat({"storage", "put", base + "/3.9.0.0/config.json", (dir / "config.json").string()},
                        azurite_env());
    ASSERT_EQ(put.exit_code, 0) << put.err;

    // The SDK reads what lifeboat wrote, and writes what lifeboat reads.
    auto got = test::sdk(
        {"get", test::azurite().container, prefix + "/3.9.0.0/config.json", (dir / "sdk.json").string()});
    ASSERT_EQ(got.exit_code, 0) << got.err;
    EXPECT_EQ(*read_whole_file(dir / "sdk.json"), R"({"from":"lifeboat"})");
    EXPECT_NE(got.out.find(R"("contentType":"application/json")"), std::string::npos) << got.out;
    ASSERT_TRUE(write_file_atomically(dir / "other.json", R"({"from":"sdk"})"));
    ASSERT_EQ(test::sdk({"put", test::azurite().container, prefix + "/3.8.0.0/config.json",
                         (dir / "other.json").string()})
                  .exit_code,
              0);

    auto get = lifeboat({"storage", "get", base + "/3.8.0.0/config.json", "-"}, azurite_env());
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(get.out, R"({"from":"sdk"})");

    auto ls = lifeboat({"storage", "ls", base + "/"}, azurite_env());
    ASSERT_EQ(ls.exit_code, 0) << ls.err;
    EXPECT_EQ(ls.out, prefix + "/3.8.0.0/config.json\n" + prefix + "/3.9.0.0/config.json\n");

    // Create-if-absent on an existing blob: Azure's 409 BlobAlreadyExists, in one line.
    expect_one_line_error(lifeboat({"storage", "put", "--if-absent", base + "/3.9.0.0/config.json",
                                    (dir / "config.json").string()},
                                   azurite_env()),
                          "409");

    ASSERT_EQ(lifeboat({"storage", "rm", base + "/3.9.0.0/config.json"}, azurite_env()).exit_code, 0);
    ASSERT_EQ(lifeboat({"storage", "rm", base + "/3.8.0.0/config.json"}, azurite_env()).exit_code, 0);
    EXPECT_EQ(lifeboat({"storage", "ls", base + "/"}, azurite_env()).out, "");
    expect_one_line_error(lifeboat({"storage", "get", base + "/3.9.0.0/config.json", "-"}, azurite_env()),
                          "BlobNotFound");

    // A wrong key: one line with Azure's code, never the key.
    const std::string wrong_key = base64_encode("not the emulator's key");
    auto denied =
        lifeboat({"storage", "ls", base + "/"},
                 {{"AZURE_STORAGE_CONNECTION_STRING",
                   "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + wrong_key +
                       ";BlobEndpoint=" + test::azurite().endpoint + ";"}});
    EXPECT_EQ(denied.exit_code, 1) << denied.err;
    // The command's error is its own line (the store's warning is logged above it).
    const auto at = denied.err.find("lifeboat storage ls: ");
    ASSERT_NE(at, std::string::npos) << denied.err;
    const auto line = denied.err.substr(at, denied.err.find('\n', at) - at);
    EXPECT_TRUE(line.find("403 AuthorizationFailure") != std::string::npos ||
                line.find("403 AuthenticationFailed") != std::string::npos)
        << line;
    EXPECT_EQ(denied.err.find(wrong_key), std::string::npos) << denied.err;
}

TEST(fetch_cli_azurite, downloads_the_backup_from_the_container_with_a_read_only_sas) {
    const auto dir = test::scratch_dir();
    const std::string storage = container_url("stores-fetch-" + test::unique_suffix());
    ASSERT_EQ(lifeboat({"storage", "put", storage + "/3.9.0.0/config.json", "-"}, azurite_env(),
                       R"({"azure":true})")
                  .exit_code,
              0);
    auto out = lifeboat({"fetch", "--set", "cluster_fallback_config_storage=" + storage, "--set",
                         "node_version=3.9.0.0", "-o", (dir / "fetched.json").string()},
                        read_only_sas_env());
    ASSERT_EQ(out.exit_code, 0) << out.err;
    EXPECT_EQ(*read_whole_file(dir / "fetched.json"), R"({"azure":true})");
    EXPECT_EQ(lifeboat({"storage", "rm", storage + "/3.9.0.0/config.json"}, azurite_env()).exit_code, 0);
}

TEST(doctor_cli_azurite, checks_the_container_from_an_exporter_and_a_read_only_importer) {
    const std::string prefix = "stores-doctor-" + test::unique_suffix();
    const std::string storage = container_url(prefix);
    ASSERT_EQ(
        lifeboat({"storage", "put", storage + "/3.9.0.0/config.json", "-"}, azurite_env(), "{}").exit_code,
        0);
    auto doctor = [&](std::vector<std::string> extra, std::map<std::string, std::string> env) {
        std::vector<std::string> a{"doctor", "--set", "cluster_fallback_config_storage=" + storage, "--set",
                                   "node_version=3.9.0.0"};
        a.insert(a.end(), extra.begin(), extra.end());
        return lifeboat(a, std::move(env));
    };
    auto exporter = doctor({"--set", "cluster_fallback_config_export=on"}, azurite_env());
    EXPECT_EQ(exporter.exit_code, 0) << exporter.out << exporter.err;
    EXPECT_NE(exporter.out.find("ok    read backup  " + prefix + "/3.9.0.0/config.json: 2 bytes of JSON"),
              std::string::npos)
        << exporter.out;
    EXPECT_NE(exporter.out.find("ok    write"), std::string::npos) << exporter.out;
    EXPECT_NE(exporter.out.find("ok    conditional  the store enforces"), std::string::npos) << exporter.out;
    EXPECT_NE(exporter.out.find("ok    clock"), std::string::npos) << exporter.out;

    // The account key can write, which an import-only node should not; a read-only SAS is right.
    auto with_key = doctor({"--set", "cluster_fallback_config_import=on"}, azurite_env());
    EXPECT_EQ(with_key.exit_code, 0) << with_key.out << with_key.err;
    EXPECT_NE(with_key.out.find("warn  write        this node only imports, yet its credentials can write"),
              std::string::npos)
        << with_key.out;
    auto with_sas = doctor({"--set", "cluster_fallback_config_import=on"}, read_only_sas_env());
    EXPECT_EQ(with_sas.exit_code, 0) << with_sas.out << with_sas.err;
    EXPECT_NE(with_sas.out.find("ok    read backup"), std::string::npos) << with_sas.out;
    EXPECT_EQ(with_sas.out.find("warn  write"), std::string::npos) << with_sas.out;
    EXPECT_EQ(with_sas.out.find("sig="), with_sas.out.find("sig=***")) << "never the SAS: " << with_sas.out;

    // Only the backup is left: the doctor's scratch blobs are gone.
    EXPECT_EQ(lifeboat({"storage", "ls", storage + "/"}, azurite_env()).out,
              prefix + "/3.9.0.0/config.json\n");
    EXPECT_EQ(lifeboat({"storage", "rm", storage + "/3.9.0.0/config.json"}, azurite_env()).exit_code, 0);
}

} // namespace
} // namespace lifeboat
