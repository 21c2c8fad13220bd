// Where an azure:// store is and how lifeboat authenticates to it, from the environment, in the
// order Azure's own tools try them (DefaultAzureCredential, after the storage-specific ones):
//   1. AZURE_STORAGE_CONNECTION_STRING: AccountKey or SharedAccessSignature, and the endpoint
//      (BlobEndpoint, or DefaultEndpointsProtocol + EndpointSuffix; UseDevelopmentStorage=true is
//      Azurite). A connection string with an endpoint and no secret sets only the endpoint: the
//      credentials then come from the rest of the chain;
//   2. AZURE_STORAGE_KEY with the account from the URL (Shared Key signing);
//   3. AZURE_STORAGE_SAS_TOKEN;
//   4. Entra ID client secret: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET
//      (AZURE_AUTHORITY_HOST for sovereign clouds);
//   5. workload identity as AKS injects it: AZURE_FEDERATED_TOKEN_FILE with the tenant and client id;
//   6. managed identity: IDENTITY_ENDPOINT + IDENTITY_HEADER (App Service, Container Apps), else
//      IMDS at 169.254.169.254 (AZURE_CLIENT_ID picks a user-assigned identity).
// Entra ID tokens (4-6) are OAuth2 bearer tokens for https://storage.azure.com, cached and
// refreshed before they expire (gcs::token_cache). Errors are one line and never hold a secret.
#pragma once

#include "backends/gcs/gcs_auth.hpp"
#include "backends/http/client.hpp"
#include "backends/store_environment.hpp"
#include "base/result.hpp"

#include <string>
#include <string_view>
#include <variant>

namespace lifeboat::azure {

inline constexpr const char* storage_scope = "https://storage.azure.com/.default";
inline constexpr const char* storage_resource = "https://storage.azure.com/";
inline constexpr const char* default_authority_host = "https://login.microsoftonline.com";
inline constexpr const char* imds_endpoint = "http://169.254.169.254";
// The well-known Azurite account (public, from Microsoft's documentation; not a secret).
inline constexpr const char* azurite_account = "devstoreaccount1";
inline constexpr const char* azurite_key =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

struct shared_key {
    std::string account;
    std::string key; // decoded account key (secret)
};
struct sas_token {
    std::string query; // "sv=...&sig=...", no leading '?' (secret)
};
struct client_secret {
    std::string tenant_id, client_id;
    std::string secret; // secret
    std::string authority_host = default_authority_host;
};
struct workload_identity {
    std::string tenant_id, client_id;
    std::string token_file; // re-read for every token: the kubelet rotates it
    std::string authority_host = default_authority_host;
};
struct managed_identity {
    std::string endpoint = imds_endpoint; // IMDS origin, or IDENTITY_ENDPOINT (a full URL)
    std::string identity_header;          // App Service / Container Apps (secret); empty: IMDS
    std::string client_id;                // a user-assigned identity; empty: the system-assigned one
};
using credentials = std::variant<shared_key, sas_token, client_secret, workload_identity, managed_identity>;

bool uses_bearer_token(const credentials& c);
// "Shared Key (AZURE_STORAGE_KEY)", "managed identity (IMDS)": for logs and the doctor, no secret.
std::string describe(const credentials& c);

struct connection_string {
    std::string account_name;
    std::string account_key; // base64 (secret)
    std::string sas;         // secret
    std::string blob_endpoint;
    std::string protocol;             // DefaultEndpointsProtocol
    std::string endpoint_suffix;      // EndpointSuffix
    bool development_storage = false; // UseDevelopmentStorage=true
};
// "Key=Value;Key=Value": values may hold '=' (base64); unknown keys (QueueEndpoint...) are ignored.
result<connection_string, std::string> parse_connection_string(std::string_view text);

struct store_location {
    std::string endpoint; // "https://acct.blob.core.windows.net", "http://127.0.0.1:10000/devstoreaccount1"
    credentials creds;
};

// The endpoint and credentials for `account` (the azure:// URL's), from the chain above.
result<store_location, std::string> locate(std::string_view account, const backends::store_environment& env);

// One bearer-token request to the token endpoint (sans-io): what to send.
struct token_request {
    http::verb method = http::verb::post;
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;   // form-encoded, may hold a secret
    std::string source; // "client secret for <client id>", for errors
};
// Fails when a file cannot be read (the federated token) or a URL is not allowed (a token
// endpoint must be https, except on a loopback address, where tests run their doubles).
result<token_request, std::string> make_token_request(const credentials& c);

// {"access_token":"...","expires_in":3599} (Entra ID) or the managed identity form, where
// expires_in is a string or missing and expires_on is epoch seconds.
result<backends::gcs::access_token, std::string> parse_token_response(std::string_view body,
                                                                      wall_clock::time_point now);

} // namespace lifeboat::azure
