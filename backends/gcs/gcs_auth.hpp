// Google credentials for the GCS store, as Kong and Google's client libraries find them:
//   1. GCP_SERVICE_ACCOUNT: the service-account key JSON itself (Kong's variable);
//   2. GOOGLE_APPLICATION_CREDENTIALS: a file holding a service-account key, or the
//      "authorized_user" JSON that `gcloud auth application-default login` writes;
//   3. otherwise the GCE metadata server (workload identity on GKE, the VM's service account).
// A service account signs an RS256 JWT and exchanges it at the key's token_uri for an OAuth2
// access token (RFC 7523); token_cache decides when to fetch a new one (sans-io).
#pragma once

#include "base/result.hpp"
#include "base/time_format.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace lifeboat::backends::gcs {

inline constexpr const char* storage_scope = "https://www.googleapis.com/auth/devstorage.read_write";
inline constexpr const char* default_token_uri = "https://oauth2.googleapis.com/token";
inline constexpr const char* default_metadata_endpoint = "http://metadata.google.internal";

// An RSA private key, parsed once (PEM, PKCS#8 or PKCS#1).
class rsa_key {
public:
    static result<rsa_key, std::string> from_pem(std::string_view pem);
    // RS256: RSASSA-PKCS1-v1_5 over SHA-256; the raw signature bytes.
    result<std::string, std::string> sign_sha256(std::string_view data) const;

private:
    std::shared_ptr<void> pkey_; // EVP_PKEY
};

struct service_account {
    std::string client_email;
    std::string private_key_id;
    std::string token_uri = default_token_uri;
    std::string project_id;
    rsa_key key;
};

struct authorized_user {
    std::string client_id;
    std::string client_secret; // secret
    std::string refresh_token; // secret
    std::string token_uri = default_token_uri;
};

struct metadata_server {
    std::string endpoint = default_metadata_endpoint; // origin only
};

struct anonymous {}; // the emulator, when no credentials are given

using credentials = std::variant<anonymous, service_account, authorized_user, metadata_server>;

// Parses a credentials JSON document. `origin` names where it came from in errors
// ("GCP_SERVICE_ACCOUNT", "GOOGLE_APPLICATION_CREDENTIALS /path"); secrets never appear in them.
// A token_uri must be https, except on a loopback address (tests).
result<credentials, std::string> parse_credentials_json(std::string_view json, std::string_view origin);

std::string describe(const credentials& c); // "service account x@y.iam...", for logs

// The signed JWT assertion a service account exchanges for an access token.
result<std::string, std::string>
make_jwt_assertion(const service_account& account, wall_clock::time_point now,
                   std::string_view scope = storage_scope,
                   std::chrono::seconds lifetime = std::chrono::seconds(3600));

// The token endpoint's form body for each grant.
std::string jwt_grant_body(std::string_view assertion);
std::string refresh_grant_body(const authorized_user& user);

struct access_token {
    std::string token; // secret
    std::chrono::seconds expires_in{0};
};
// {"access_token":"...","expires_in":3599,"token_type":"Bearer"}
result<access_token, std::string> parse_token_response(std::string_view body);

// Decides, on a steady clock, whether a caller can use the cached token, must fetch one, or
// must wait for the fetch another caller started. A token is refreshed `refresh_margin` before
// it expires (half its lifetime for short-lived tokens), and while that refresh runs, other
// callers keep using the old token as long as it is valid.
class token_cache {
public:
    using clock = std::chrono::steady_clock;
    enum class action { use, fetch, wait };
    struct decision {
        action what;
        std::string token; // for use
    };

    explicit token_cache(std::chrono::seconds refresh_margin = std::chrono::seconds(300))
        : refresh_margin_(refresh_margin) {}

    decision need(clock::time_point now);
    void fetched(access_token token, clock::time_point now);
    void fetch_failed();
    // The store got a 401 with `token`: forget it so that the next caller fetches a new one.
    void invalidate(std::string_view token);

    // The cached token if it has not expired (a failed refresh can fall back on it).
    std::optional<std::string> valid_token(clock::time_point now) const;

    bool fetching() const { return fetching_; }
    bool has_token() const { return !token_.empty(); }

private:
    std::chrono::seconds refresh_margin_;
    std::string token_;
    clock::time_point refresh_at_{};
    clock::time_point expires_at_{};
    bool fetching_ = false;
};

} // namespace lifeboat::backends::gcs
