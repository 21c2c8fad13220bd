// A stand-in for Google Cloud Storage, its OAuth2 token endpoint and the GCE metadata server,
// for tests only: no GCS can run here. It implements just what the GCS store uses, checks the
// request shapes the JSON API documents (paths, query parameters, headers, multipart bodies),
// verifies the RS256 signature of JWT assertions with the test key's public half, expires the
// tokens it issues after token_lifetime (a request with an expired one gets GCS's 401), can answer
// requests with scripted failures (fail_next), and records every request so that tests can assert
// on them.
#pragma once

#include "stores/http_test_server.hpp"

#include <openssl/evp.h>

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace lifeboat::test {

// An RSA key made for one test, with the service-account JSON that carries it.
struct test_service_account {
    std::shared_ptr<EVP_PKEY> key;
    std::string private_pem;
    std::string client_email = "lifeboat-test@example-project.iam.gserviceaccount.com";
    std::string key_id = "0123456789abcdef";
    std::string json(const std::string& token_uri) const;
};
test_service_account make_test_service_account(unsigned bits = 2048);

// Verifies an RS256 JWT with `key`; on success fills header and claims (JSON text).
bool verify_jwt(const std::string& jwt, EVP_PKEY* key, std::string* header_json, std::string* claims_json);

struct recorded_request {
    std::string method;
    std::string target;                         // as sent (percent-encoded)
    std::string path;                           // decoded
    std::map<std::string, std::string> query;   // decoded
    std::map<std::string, std::string> headers; // lower-case names
    std::string body;
};

class fake_gcs {
public:
    struct object {
        std::string data;
        std::int64_t generation = 0;
        std::string content_type;
        std::map<std::string, std::string> metadata;
    };

    explicit fake_gcs(std::string bucket);

    std::string origin() const { return server_.origin(); }
    std::string token_uri() const { return origin() + "/token"; }

    // Configuration (set before requests are made).
    EVP_PKEY* trusted_key = nullptr; // JWTs must verify with this key
    std::string trusted_email;       // ... and be issued by this account
    std::string refresh_token = "1//refresh-secret";
    std::chrono::seconds token_lifetime{3600};
    bool require_auth = true;
    std::chrono::system_clock::time_point date = std::chrono::system_clock::now() + std::chrono::seconds(42);

    // State and observations (lock() while reading them from the test thread).
    std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mutex_); }
    std::map<std::string, object> objects;
    std::vector<recorded_request> requests;
    std::vector<std::string> jwt_claims; // claims of every accepted assertion
    int token_requests = 0;
    int metadata_token_requests = 0;
    void revoke_tokens() { valid_tokens_.clear(); }
    // The next storage requests (after authentication) are answered with these statuses, one
    // each, in order (429 throttling, 5xx), as GCS does under load.
    std::vector<unsigned> fail_next;
    // The next storage requests get broken answers instead, one each: "reset" (the connection is
    // reset, no answer) or "truncate" (the real answer, its body cut in half).
    std::vector<std::string> break_next;
    int failed_requests = 0;

    std::vector<recorded_request> storage_requests(); // without token requests

private:
    http_response handle(const http_request& req);
    http_response token(const recorded_request& r);
    http_response metadata_token(const recorded_request& r);
    http_response storage(const recorded_request& r);
    std::string issue_token();

    std::string bucket_;
    std::mutex mutex_;
    std::map<std::string, std::chrono::steady_clock::time_point> valid_tokens_; // -> expiry
    int issued_ = 0;
    std::int64_t next_generation_ = 1700000000000001;
    http_test_server server_; // last: stops before the state above goes away
};

} // namespace lifeboat::test
