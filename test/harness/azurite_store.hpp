// Where the Azurite fixture is (harness/azurite.sh, started once per ctest run) and the storage
// environment of a node that reaches it, as the agent would read it from AZURE_* variables;
// `sdk()` runs Microsoft's @azure/storage-blob (test/azure/peer/sdk.mjs) against it.
#pragma once

#include "backends/azure/azure_credentials.hpp"
#include "backends/store_environment.hpp"
#include "harness/process.hpp"
#include "harness/test_env.hpp"
#include "lifeboat_test_paths.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace lifeboat::test {

struct azure_peer {
    std::string account = azure::azurite_account;
    std::string key = azure::azurite_key; // the emulator's published key, not a secret
    std::string container = "lifeboat-test";
    std::string endpoint = "http://127.0.0.1:17500/devstoreaccount1";
    std::string tls_endpoint = "https://127.0.0.1:17501/devstoreaccount1"; // --oauth basic

    std::string connection_string() const {
        return "DefaultEndpointsProtocol=http;AccountName=" + account + ";AccountKey=" + key +
               ";BlobEndpoint=" + endpoint + ";";
    }
};
inline azure_peer azurite() {
    return {};
}

// The CA of the fixture's HTTPS endpoint.
inline std::filesystem::path azurite_ca_bundle() {
    return std::filesystem::path(test_paths::work_dir) / "azurite" / "tls" / "ca.crt";
}

inline backends::store_environment azurite_store_environment() {
    backends::store_environment env;
    env.azure_storage_connection_string = azurite().connection_string();
    return env;
}

// node test/azure/peer/sdk.mjs <args...> with the fixture's connection string.
inline run_result sdk(std::vector<std::string> args,
                      std::string connection_string = azurite().connection_string()) {
    process_options o;
    o.args = {"node", (source_dir() / "test" / "azure" / "peer" / "sdk.mjs").string()};
    o.args.insert(o.args.end(), args.begin(), args.end());
    o.env["AZURE_STORAGE_CONNECTION_STRING"] = std::move(connection_string);
    o.name = "sdk";
    return run(std::move(o), std::chrono::seconds(60));
}

} // namespace lifeboat::test
