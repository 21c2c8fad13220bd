// Where S3 credentials come from: the standard AWS provider chain, resolved once and then
// refreshed before expiry.
//
//   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN -> STS AssumeRoleWithWebIdentity
//      (EKS IRSA); the token file is re-read on every refresh, as Kubernetes rotates it
//   3. shared files: AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) and AWS_CONFIG_FILE
//      (~/.aws/config), profile AWS_PROFILE or "default"; a config profile with role_arn and
//      web_identity_token_file uses web identity too
//   4. ECS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (169.254.170.2) or
//      AWS_CONTAINER_CREDENTIALS_FULL_URI (+ AWS_CONTAINER_AUTHORIZATION_TOKEN)
//   5. EC2 instance metadata, IMDSv2 only (token first), unless AWS_EC2_METADATA_DISABLED=true
//
// The refresh decisions live in credential_cache (sans-io: time in, decision out); the chain
// does the I/O. Secrets never reach the log: only the provider's name and the expiry do.
#pragma once

#include "backends/http/client.hpp"
#include "backends/s3/sigv4.hpp"
#include "backends/store_environment.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace lifeboat::s3 {

struct credential_settings {
    backends::store_environment env;
    std::string region;                                // for the regional STS endpoint
    std::string sts_endpoint;                          // default https://sts.<region>.amazonaws.com
    std::string ecs_endpoint = "http://169.254.170.2"; // base of the relative container URI
    std::string imds_endpoint = "http://169.254.169.254";
    std::chrono::seconds refresh_before_expiry{300}; // refresh this long before expiry
    std::chrono::seconds retry_failed_refresh{30};   // while the old credentials still work
};

// Sans-io: decides when to fetch, and what to hand out when a fetch fails.
class credential_cache {
public:
    enum class action { use_cached, fetch };
    explicit credential_cache(std::chrono::seconds refresh_before = std::chrono::seconds(300),
                              std::chrono::seconds retry_after_failure = std::chrono::seconds(30));

    action next(wall_clock::time_point now) const;
    void on_fetched(credentials fresh, wall_clock::time_point now);
    // A failed fetch: the cached credentials stay in use while they are still valid (the next
    // fetch is tried after retry_after_failure); nullopt when nothing valid is left.
    std::optional<credentials> on_failed(wall_clock::time_point now);
    // The store said the credentials are expired or invalid: fetch on next use.
    void invalidate();
    // A configuration re-read (SIGHUP): fetch on next use, as a refresh: if that fetch fails, the
    // cached credentials stay in use while they are valid.
    void refresh_soon() { refresh_requested_ = true; }
    const std::optional<credentials>& current() const { return current_; }

private:
    std::optional<credentials> current_;
    std::chrono::seconds refresh_before_;
    std::chrono::seconds retry_after_failure_;
    std::optional<wall_clock::time_point> not_before_; // no fetch before this after a failure
    bool invalidated_ = false;
    bool refresh_requested_ = false;
};

// A parsed AWS ini file: section -> key -> value. Config-file sections are named as written
// ("profile prod", "default").
using ini_sections = std::map<std::string, std::map<std::string, std::string>>;
ini_sections parse_aws_ini(std::string_view text);

// Parses the JSON ECS and IMDS answer {"AccessKeyId","SecretAccessKey","Token","Expiration"}.
result<credentials, std::string> parse_credentials_json(std::string_view body, std::string source);
// Parses an STS AssumeRoleWithWebIdentity response document.
result<credentials, std::string> parse_sts_response(std::string_view body);

class credential_chain {
public:
    credential_chain(http::client& web, credential_settings settings);
    ~credential_chain();

    // Valid credentials, fetched or refreshed as needed. The error names every place looked at.
    boost::asio::awaitable<result<credentials, std::string>> get();
    void invalidate();
    // SIGHUP: resolve the chain again at the next request (a rotated credentials file or token
    // file under the same path); the current credentials stay if that fails.
    void reread();
    // "environment", "web identity (arn:aws:iam::1:role/x)", "profile prod (/root/.aws/credentials)", ...
    std::string source() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace lifeboat::s3
