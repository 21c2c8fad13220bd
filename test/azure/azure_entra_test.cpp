// Entra ID bearer tokens against Azurite over HTTPS with `--oauth basic` (the fixture's second
// blob service), from small loopback doubles of the token endpoints that only exist inside Azure
// (login.microsoftonline.com, IMDS, the App Service identity endpoint): client secret, workload
// identity, managed identity. Azurite checks each token's issuer, audience and lifetime (not its
// signature), so the doubles hand out unsigned JWTs with Entra ID's claims.
#include "backends/azure/azure_store.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "harness/azurite_store.hpp"
#include "harness/test_env.hpp"
#include "s3/fake_http_server.hpp"
#include "s3/run_async.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

using namespace lifeboat;
using namespace std::chrono_literals;
using backends::store_errc;
namespace fs = std::filesystem;

namespace {

constexpr const char* tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* client_id = "0d5b1a5e-test-client";
constexpr const char* secret = "s3cr3t-client-secret-value";

// An Entra ID access token's shape: Azurite's basic check reads iss, aud, nbf and exp.
std::string entra_jwt(std::chrono::seconds lifetime) {
    const auto now = static_cast<long long>(to_epoch_seconds(wall_clock::now()));
    const auto header = R"({"alg":"RS256","typ":"JWT"})";
    const auto payload = fmt::format(
        R"({{"aud":"https://storage.azure.com","iss":"https://sts.windows.net/{}/","iat":{},"nbf":{},"exp":{},"oid":"test-oid","tid":"{}"}})",
        tenant, now - 60, now - 60, now + lifetime.count(), tenant);
    return base64url_encode(header) + "." + base64url_encode(payload) + "." + base64url_encode("unsigned");
}

std::string form_value(std::string_view body, std::string_view name) {
    const std::string needle = std::string(name) + "=";
    std::size_t at = 0;
    while ((at = body.find(needle, at)) != std::string_view::npos) {
        if (at == 0 || body[at - 1] == '&') {
            auto end = body.find('&', at);
            return http::percent_decode(body.substr(at + needle.size(), end == std::string_view::npos
                                                                            ? std::string_view::npos
                                                                            : end - at - needle.size()))
                .value_or("");
        }
        at += needle.size();
    }
    return {};
}

struct azure_entra : ::testing::Test {
    boost::asio::io_context ioc;
    fs::path dir = test::scratch_dir();
    std::string prefix = "entra/" + test::unique_suffix() + "/";
    std::chrono::seconds lifetime{3600};
    std::vector<test::fake_request> token_requests;
    bool token_endpoint_fails = false;
    std::unique_ptr<test::fake_http_server> tokens;

    void SetUp() override {
        tokens = std::make_unique<test::fake_http_server>(ioc.get_executor(), [this](const test::fake_request&
                                                                                         r) {
            token_requests.push_back(r);
            test::fake_reply reply;
            reply.headers = {{"Content-Type", "application/json"}};
            if (token_endpoint_fails) {
                reply.status = 500;
                reply.body =
                    R"({"error":"temporarily_unavailable","error_description":"AADSTS50000: the service is down"})";
                return reply;
            }
            const auto token = entra_jwt(lifetime);
            if (r.method == "POST" && r.target == fmt::format("/{}/oauth2/v2.0/token", tenant)) {
                const bool scope_ok = form_value(r.body, "scope") == "https://storage.azure.com/.default" &&
                                      form_value(r.body, "client_id") == client_id &&
                                      form_value(r.body, "grant_type") == "client_credentials";
                const bool secret_ok = form_value(r.body, "client_secret") == secret;
                const bool assertion_ok =
                    form_value(r.body, "client_assertion") == "federated.jwt.from-kubelet" &&
                    form_value(r.body, "client_assertion_type") ==
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
                if (!scope_ok || !(secret_ok || assertion_ok)) {
                    reply.status = 401;
                    reply.body =
                        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"})";
                    return reply;
                }
                reply.body = fmt::format(R"({{"token_type":"Bearer","expires_in":{},"access_token":"{}"}})",
                                         lifetime.count(), token);
                return reply;
            }
            if (r.method == "GET" && r.target.rfind("/metadata/identity/oauth2/token?", 0) == 0) {
                if (r.headers["Metadata"] != "true" ||
                    r.target.find("resource=https%3A%2F%2Fstorage.azure.com%2F") == std::string::npos) {
                    reply.status = 400;
                    reply.body =
                        R"({"error":"invalid_request","error_description":"Required metadata header not specified"})";
                    return reply;
                }
                // IMDS sends its numbers as strings.
                reply.body = fmt::format(R"({{"access_token":"{}","expires_in":"{}","token_type":"Bearer"}})",
                                         token, lifetime.count());
                return reply;
            }
            if (r.method == "GET" && r.target.rfind("/msi/token?api-version=2019-08-01", 0) == 0) {
                if (r.headers["X-IDENTITY-HEADER"] != "identity-header-secret") {
                    reply.status = 401;
                    return reply;
                }
                const auto on =
                    static_cast<long long>(to_epoch_seconds(wall_clock::now())) + lifetime.count();
                reply.body = fmt::format(R"({{"access_token":"{}","expires_on":"{}","token_type":"Bearer"}})",
                                         token, on);
                return reply;
            }
            reply.status = 404;
            return reply;
        });
    }

    backends::store_environment base_env() const {
        backends::store_environment env;
        env.azure_storage_connection_string = "BlobEndpoint=" + test::azurite().tls_endpoint + ";";
        env.azure_authority_host = tokens->origin();
        return env;
    }

    std::unique_ptr<backends::object_store> store(const backends::store_environment& env,
                                                  std::optional<azure::credentials> creds = std::nullopt) {
        auto o =
            azure::azure_options::from_environment(test::azurite().account, test::azurite().container, env);
        EXPECT_TRUE(o.ok()) << o.error();
        o->ca_bundle = test::azurite_ca_bundle().string();
        o->retry.max_attempts = 2;
        if (creds)
            o->creds = *creds;
        return azure::make_azure_store(ioc.get_executor(), std::move(o).value()).value();
    }
    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }

    void round_trip(backends::object_store& s, const std::string& name) {
        backends::put_options po;
        po.metadata = {{"uploader", name}};
        auto put = run(s.put(prefix + name, backends::body_source::from_string("body of " + name), po));
        ASSERT_TRUE(put.ok()) << put.error().to_string();
        auto got = run(s.get(prefix + name));
        ASSERT_TRUE(got.ok()) << got.error().to_string();
        EXPECT_EQ(got->bytes, "body of " + name);
        EXPECT_EQ(got->info.metadata.at("uploader"), name);
        auto listed = run(s.list(prefix));
        ASSERT_TRUE(listed.ok()) << listed.error().to_string();
    }
};

} // namespace

TEST_F(azure_entra, without_a_token_azurite_refuses) {
    // The double's token is what opens the door: no credentials, no access.
    backends::store_environment env;
    env.azure_storage_connection_string = "BlobEndpoint=" + test::azurite().tls_endpoint + ";";
    auto s = store(env, azure::sas_token{"sv=2021-08-06&sig=bogus"});
    auto put = run(s->put(prefix + "x", backends::body_source::from_string("x"), {}));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().http_status, 403) << put.error().to_string();
}

TEST_F(azure_entra, client_secret_token_is_fetched_once_and_reused) {
    auto env = base_env();
    env.azure_tenant_id = tenant;
    env.azure_client_id = client_id;
    env.azure_client_secret = secret;
    auto s = store(env);
    round_trip(*s, "client-secret");
    EXPECT_EQ(token_requests.size(), 1u) << "one token for put, get and list";
    EXPECT_EQ(token_requests.at(0).headers["Content-Type"], "application/x-www-form-urlencoded");
}

TEST_F(azure_entra, a_wrong_client_secret_fails_in_one_line_without_the_secret) {
    auto env = base_env();
    env.azure_tenant_id = tenant;
    env.azure_client_id = client_id;
    env.azure_client_secret = "the-wrong-secret";
    auto s = store(env);
    auto put = run(s->put(prefix + "x", backends::body_source::from_string("x"), {}));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, store_errc::bad_credentials);
    const auto line = put.error().to_string();
    EXPECT_NE(line.find("AADSTS7000215: Invalid client secret provided."), std::string::npos) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_EQ(line.find("the-wrong-secret"), std::string::npos) << line;
}

TEST_F(azure_entra, a_failing_token_endpoint_is_reported_not_retried_forever) {
    token_endpoint_fails = true;
    auto env = base_env();
    env.azure_tenant_id = tenant;
    env.azure_client_id = client_id;
    env.azure_client_secret = secret;
    auto s = store(env);
    auto put = run(s->put(prefix + "x", backends::body_source::from_string("x"), {}));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, store_errc::server_error) << put.error().to_string();
    EXPECT_NE(put.error().to_string().find("AADSTS50000"), std::string::npos) << put.error().to_string();
    EXPECT_EQ(put.error().to_string().find('\n'), std::string::npos) << put.error().to_string();
    EXPECT_EQ(token_requests.size(), 2u) << "the client's retry budget (2 attempts), then the error";
}

TEST_F(azure_entra, workload_identity_sends_the_federated_token) {
    ASSERT_TRUE(write_file_atomically(dir / "token", "federated.jwt.from-kubelet\n").ok());
    auto env = base_env();
    env.azure_tenant_id = tenant;
    env.azure_client_id = client_id;
    env.azure_federated_token_file = (dir / "token").string();
    auto s = store(env);
    round_trip(*s, "workload-identity");
    ASSERT_EQ(token_requests.size(), 1u);
    EXPECT_EQ(form_value(token_requests[0].body, "client_secret"), "");
}

TEST_F(azure_entra, managed_identity_from_imds_with_metadata_header) {
    auto s = store(base_env(), azure::managed_identity{tokens->origin(), "", ""});
    round_trip(*s, "imds");
    ASSERT_EQ(token_requests.size(), 1u);
    EXPECT_EQ(token_requests[0].headers["Metadata"], "true");
    EXPECT_NE(token_requests[0].target.find("api-version=2018-02-01"), std::string::npos);
}

TEST_F(azure_entra, managed_identity_from_identity_endpoint) {
    auto env = base_env();
    env.identity_endpoint = tokens->origin() + "/msi/token";
    env.identity_header = "identity-header-secret";
    auto s = store(env);
    round_trip(*s, "app-service");
    ASSERT_EQ(token_requests.size(), 1u);
}

TEST_F(azure_entra, a_short_lived_token_is_refreshed_before_it_expires) {
    lifetime = 4s; // refreshed at half its lifetime
    auto env = base_env();
    env.azure_tenant_id = tenant;
    env.azure_client_id = client_id;
    env.azure_client_secret = secret;
    auto s = store(env);
    round_trip(*s, "first");
    EXPECT_EQ(token_requests.size(), 1u);
    std::this_thread::sleep_for(2500ms);
    round_trip(*s, "second");
    EXPECT_EQ(token_requests.size(), 2u);
}
