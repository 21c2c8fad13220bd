// The `gcs://bucket/prefix` object store: Google Cloud Storage through its JSON API
// (gcs_api.hpp), authenticated with an OAuth2 bearer token (gcs_auth.hpp), over the shared HTTP
// client (backends/http/client.hpp). Conditional writes use object generations:
// ifGenerationMatch=0 to create only, ifGenerationMatch=<generation> to compare-and-swap.
//
// STORAGE_EMULATOR_HOST ("host:port" or "http://host:port") sends every request to a local
// endpoint instead of storage.googleapis.com, as Google's client libraries do; without explicit
// credentials the emulator is used anonymously.
#pragma once

#include "backends/gcs/gcs_auth.hpp"
#include "backends/object_store.hpp"
#include "backends/store_environment.hpp"
#include "base/result.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace lifeboat::backends {

struct gcs_options {
    std::string bucket;
    std::string endpoint = "https://storage.googleapis.com"; // origin only
    gcs::credentials credentials = gcs::metadata_server{};
    // GOOGLE_APPLICATION_CREDENTIALS when the credentials came from it: read again on SIGHUP.
    std::string credentials_file;
    std::string ca_bundle;             // PEM of trusted CAs; empty: the system store
    std::size_t list_page_size = 1000; // maxResults per list request
    std::chrono::seconds token_refresh_margin{300};
    std::optional<std::uint64_t> jitter_seed; // deterministic retries, for tests

    // Credentials from GCP_SERVICE_ACCOUNT, else GOOGLE_APPLICATION_CREDENTIALS, else the metadata
    // server (anonymous with STORAGE_EMULATOR_HOST). One-line errors that never contain a secret.
    static result<gcs_options, std::string> from_environment(std::string bucket,
                                                             const store_environment& env);
};

// Fails (one line) on an endpoint that is not an origin or an empty bucket; nothing is sent yet.
result<std::unique_ptr<object_store>, std::string> make_gcs_store(boost::asio::any_io_executor executor,
                                                                  gcs_options options);

} // namespace lifeboat::backends
