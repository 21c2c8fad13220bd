// The `azure://<account>/<container>/<prefix>` object store: Azure Blob Storage (block blobs)
// through its REST API, over the shared HTTP client (backends/http/client.hpp).
//
//   auto options = azure::azure_options::from_environment("acct", "container", env);
//   auto store = azure::make_azure_store(executor, std::move(*options));
//
// Authentication (azure_credentials.hpp): Shared Key signing, a SAS token appended to every
// request, or an Entra ID bearer token. Every request pins x-ms-version (azure_protocol.hpp).
//
// Writes. A body up to single_put_limit goes up in one Put Blob with its Content-MD5, which the
// service checks. A larger file goes up in blocks of block_size (Put Block, each with its
// Content-MD5, read from the file range by range: never the whole body in memory), committed by
// one Put Block List that carries the content type, metadata and condition. Block ids carry a
// random tag per upload, so two writers of one blob never mix their uncommitted blocks.
//
// Conditional writes. If-None-Match: * creates only if absent (409 BlobAlreadyExists when the
// blob exists), If-Match: "<ETag>" compares and swaps (412 ConditionNotMet): both are
// store_errc::precondition_failed. A conditional write is never re-sent once it may have reached
// the service, and a 5xx (or a failure after sending) is reported as conflict ("outcome unknown:
// re-read"), as on S3. Deletes honour If-Match too.
//
// Throttling: 503 ServerBusy, 500 OperationTimedOut and 429 are retried by the HTTP client with
// full-jitter back-off, honouring Retry-After.
#pragma once

#include "backends/azure/azure_credentials.hpp"
#include "backends/http/client.hpp"
#include "backends/object_store.hpp"
#include "backends/store_environment.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace lifeboat::azure {

struct azure_options {
    std::string account;
    std::string container;
    std::string endpoint; // origin, optionally with a path (Azurite: http://127.0.0.1:10000/devstoreaccount1)
    credentials creds = managed_identity{};
    std::string ca_bundle; // PEM of trusted CAs; empty: the system store (OpenSSL honours SSL_CERT_FILE)
    std::uint64_t single_put_limit = std::uint64_t(256) << 20; // larger files go up in blocks
    std::uint64_t block_size = std::uint64_t(8) << 20;         // at most 50,000 blocks: grown for huge files
    unsigned block_concurrency = 2;                            // blocks in flight (1 or 2)
    std::size_t list_page_size = 5000;                         // maxresults (5,000 is Azure's maximum)
    std::chrono::seconds token_refresh_margin{300};
    http::timeouts timeout{};
    http::retry_policy retry{};
    std::optional<std::uint64_t> jitter_seed; // deterministic retries, for tests

    static result<azure_options, std::string> from_environment(std::string account, std::string container,
                                                               const backends::store_environment& env);
    result<void, std::string> validate() const;
};

// Azure's naming rules: accounts 3-24 lower-case letters and digits; containers 3-63 of
// lower-case letters, digits and '-' (no leading, trailing or doubled '-'). Empty: fine.
std::string account_name_problem(std::string_view account);
std::string container_name_problem(std::string_view container);

result<std::unique_ptr<backends::object_store>, std::string>
make_azure_store(boost::asio::any_io_executor executor, azure_options options);

} // namespace lifeboat::azure
