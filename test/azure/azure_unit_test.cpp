// The Azure store's pure parts (connection strings, the credential order, URLs, the Shared Key
// string-to-sign, error and list parsing) and what Azurite cannot do: a throttled service
// (503 ServerBusy, 500 OperationTimedOut with Retry-After), played by a loopback double.
#include "backends/azure/azure_credentials.hpp"
#include "backends/azure/azure_protocol.hpp"
#include "backends/azure/azure_store.hpp"
#include "backends/azure/shared_key.hpp"
#include "backends/store_factory.hpp"
#include "base/digest.hpp"
#include "harness/test_env.hpp"
#include "s3/fake_http_server.hpp"
#include "s3/run_async.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace std::chrono_literals;
using backends::store_errc;

TEST(azure_url, parses_account_container_and_prefix) {
    auto u = backends::parse_storage_url("azure://myaccount/backups/kong/prod");
    ASSERT_TRUE(u.ok()) << u.error();
    EXPECT_EQ(u->kind, backends::store_kind::azure);
    EXPECT_EQ(u->account, "myaccount");
    EXPECT_EQ(u->bucket, "backups");
    EXPECT_EQ(u->prefix, "kong/prod");
    EXPECT_EQ(u->to_string(), "azure://myaccount/backups/kong/prod");
    EXPECT_EQ(backends::parse_storage_url("azure://myaccount/backups").value().prefix, "");

    auto object = backends::parse_object_url("azure://myaccount/backups/kong/3.9.0.0/config.json");
    ASSERT_TRUE(object.ok());
    EXPECT_EQ(object->key, "kong/3.9.0.0/config.json");

    for (const auto& [url, expected] : std::vector<std::pair<std::string, std::string>>{
             {"azure://myaccount", "has no container"},
             {"azure:///backups/x", "has no storage account"},
             {"azure://My_Account/backups", "storage account \"My_Account\" has the character 'M'"},
             {"azure://myaccount/Backups", "container \"Backups\" has the character 'B'"},
             {"azure://myaccount/-bad/x", "must not start or end with '-'"},
             {"azure://key@myaccount/c/x", "never in the URL"},
         }) {
        auto bad = backends::parse_storage_url(url);
        ASSERT_FALSE(bad.ok()) << url;
        EXPECT_NE(bad.error().find(expected), std::string::npos) << bad.error();
    }
}

TEST(azure_credentials, connection_strings_as_the_portal_and_azurite_write_them) {
    auto cs = azure::parse_connection_string("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey="
                                             "a2V5PT0=;EndpointSuffix=core.chinacloudapi.cn");
    ASSERT_TRUE(cs.ok()) << cs.error();
    EXPECT_EQ(cs->account_name, "acct");
    EXPECT_EQ(cs->account_key, "a2V5PT0=");
    EXPECT_EQ(cs->endpoint_suffix, "core.chinacloudapi.cn");
    auto dev = azure::parse_connection_string("UseDevelopmentStorage=true");
    ASSERT_TRUE(dev.ok());
    EXPECT_EQ(dev->account_name, "devstoreaccount1");
    EXPECT_EQ(dev->blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
    EXPECT_FALSE(azure::parse_connection_string("just a string").ok());
    auto bad_proto = azure::parse_connection_string("DefaultEndpointsProtocol=ftp;AccountName=a");
    ASSERT_FALSE(bad_proto.ok());
    EXPECT_NE(bad_proto.error().find("ftp"), std::string::npos);
}

TEST(azure_credentials, the_chain_is_tried_in_default_azure_credential_order) {
    backends::store_environment env;
    // Nothing set: managed identity at IMDS, on the public cloud endpoint.
    auto mi = azure::locate("acct", env);
    ASSERT_TRUE(mi.ok());
    EXPECT_EQ(mi->endpoint, "https://acct.blob.core.windows.net");
    ASSERT_TRUE(std::holds_alternative<azure::managed_identity>(mi->creds));
    EXPECT_EQ(std::get<azure::managed_identity>(mi->creds).endpoint, "http://169.254.169.254");

    env.identity_endpoint = "http://127.0.0.1:41000/msi/token";
    env.identity_header = "h";
    EXPECT_EQ(std::get<azure::managed_identity>(azure::locate("acct", env)->creds).identity_header, "h");
    env.azure_tenant_id = "t";
    env.azure_client_id = "c";
    env.azure_federated_token_file = "/var/run/secrets/azure/tokens/azure-identity-token";
    EXPECT_TRUE(std::holds_alternative<azure::workload_identity>(azure::locate("acct", env)->creds));
    env.azure_client_secret = "secret";
    EXPECT_TRUE(std::holds_alternative<azure::client_secret>(azure::locate("acct", env)->creds));
    env.azure_storage_sas_token = "?sv=2021-08-06&sig=abc";
    auto sas = azure::locate("acct", env);
    ASSERT_TRUE(std::holds_alternative<azure::sas_token>(sas->creds));
    EXPECT_EQ(std::get<azure::sas_token>(sas->creds).query, "sv=2021-08-06&sig=abc");
    env.azure_storage_key = base64_encode("account key");
    auto key = azure::locate("acct", env);
    ASSERT_TRUE(std::holds_alternative<azure::shared_key>(key->creds));
    EXPECT_EQ(std::get<azure::shared_key>(key->creds).key, "account key");
    env.azure_storage_connection_string = "AccountName=acct;AccountKey=" + base64_encode("other key") +
                                          ";BlobEndpoint=http://127.0.0.1:17500/acct/";
    auto conn = azure::locate("acct", env);
    ASSERT_TRUE(conn.ok()) << conn.error();
    EXPECT_EQ(conn->endpoint, "http://127.0.0.1:17500/acct");
    EXPECT_EQ(std::get<azure::shared_key>(conn->creds).key, "other key");

    // A connection string for another account is a mistake, said in one line.
    auto other = azure::locate("someoneelse", env);
    ASSERT_FALSE(other.ok());
    EXPECT_NE(other.error().find("\"acct\""), std::string::npos) << other.error();
    // A client secret without its tenant is named, and the secret is not.
    backends::store_environment half;
    half.azure_client_secret = "do-not-show";
    auto missing = azure::locate("acct", half);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().find("do-not-show"), std::string::npos);
    EXPECT_NE(missing.error().find("AZURE_TENANT_ID"), std::string::npos);
    // A key that is not base64.
    backends::store_environment bad_key;
    bad_key.azure_storage_key = "not base64!!";
    ASSERT_FALSE(azure::locate("acct", bad_key).ok());
    EXPECT_EQ(azure::locate("acct", bad_key).error().find("not base64!!"), std::string::npos);
}

TEST(azure_credentials, token_endpoints_must_be_https_except_on_loopback) {
    azure::client_secret cs{"tenant", "client", "secret", "http://login.example.com"};
    auto refused = azure::make_token_request(cs);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().find("must be https"), std::string::npos);
    cs.authority_host = "https://login.microsoftonline.us";
    auto req = azure::make_token_request(cs);
    ASSERT_TRUE(req.ok());
    EXPECT_EQ(req->url, "https://login.microsoftonline.us/tenant/oauth2/v2.0/token");
    EXPECT_NE(req->body.find("scope=https%3A%2F%2Fstorage.azure.com%2F.default"), std::string::npos);
    EXPECT_EQ(azure::describe(azure::credentials{cs}), "Entra ID client secret (client client)");
}

TEST(azure_credentials, token_responses_of_entra_id_and_managed_identity) {
    const auto now = wall_clock::now();
    auto entra =
        azure::parse_token_response(R"({"token_type":"Bearer","expires_in":3599,"access_token":"t1"})", now);
    ASSERT_TRUE(entra.ok()) << entra.error();
    EXPECT_EQ(entra->token, "t1");
    EXPECT_EQ(entra->expires_in, 3599s);
    auto imds = azure::parse_token_response(R"({"access_token":"t2","expires_in":"86399"})", now);
    ASSERT_TRUE(imds.ok());
    EXPECT_EQ(imds->expires_in, 86399s);
    const auto on = static_cast<long long>(to_epoch_seconds(now)) + 600;
    auto app =
        azure::parse_token_response(fmt::format(R"({{"access_token":"t3","expires_on":"{}"}})", on), now);
    ASSERT_TRUE(app.ok());
    EXPECT_NEAR(static_cast<double>(app->expires_in.count()), 600, 2);
    EXPECT_FALSE(azure::parse_token_response(R"({"expires_in":1})", now).ok());
    EXPECT_FALSE(azure::parse_token_response(R"({"access_token":"x"})", now).ok());
}

TEST(azure_shared_key, string_to_sign_follows_the_documented_layout) {
    azure::shared_key_request r;
    r.method = "PUT";
    r.account = "myaccount";
    r.encoded_path = "/mycontainer/a%20b";
    r.query = {{"comp", "block"}, {"blockid", "AAA="}};
    r.headers = {{"Content-Length", "5"},
                 {"Content-MD5", "md5=="},
                 {"If-None-Match", "*"},
                 {"x-ms-version", "2021-08-06"},
                 {"X-MS-Date", "Sat, 05 Dec 2026 22:00:00 GMT"},
                 {"x-ms-meta-uploader", "  node "},
                 {"User-Agent", "lifeboat"}};
    EXPECT_EQ(azure::string_to_sign(r), "PUT\n\n\n5\nmd5==\n\n\n\n\n*\n\n\n"
                                        "x-ms-date:Sat, 05 Dec 2026 22:00:00 GMT\n"
                                        "x-ms-meta-uploader:node\n"
                                        "x-ms-version:2021-08-06\n"
                                        "/myaccount/mycontainer/a%20b\nblockid:AAA=\ncomp:block");
    r.headers = {{"Content-Length", "0"}};
    r.query = {};
    EXPECT_EQ(azure::string_to_sign(r), "PUT\n\n\n\n\n\n\n\n\n\n\n\n/myaccount/mycontainer/a%20b");
    // The signature is HMAC-SHA256 of that string with the decoded key, base64.
    EXPECT_EQ(azure::shared_key_authorization(r, "key"),
              "SharedKey myaccount:" + base64_encode(hmac_sha256("key", azure::string_to_sign(r))));
}

TEST(azure_protocol, list_pages_and_metadata_names) {
    const auto page = azure::parse_list_page(
        R"(<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="x" ContainerName="c">)"
        R"(<Prefix>p/</Prefix><MaxResults>2</MaxResults><Blobs><Blob><Name>p/a &amp; b</Name><Properties>)"
        R"(<Last-Modified>Sat, 05 Dec 2026 21:00:00 GMT</Last-Modified><Etag>"0x8DC1"</Etag>)"
        R"(<Content-Length>12</Content-Length><Content-Type>application/json</Content-Type></Properties>)"
        R"(<Metadata><uploader>n1</uploader><lifeboat_term>3</lifeboat_term><empty/></Metadata></Blob>)"
        R"(<Blob><Name>p/z</Name><Properties><Content-Length>0</Content-Length></Properties></Blob></Blobs>)"
        R"(<NextMarker>2!12!abc</NextMarker></EnumerationResults>)");
    ASSERT_TRUE(page.ok()) << page.error();
    ASSERT_EQ(page->blobs.size(), 2u);
    EXPECT_EQ(page->blobs[0].key, "p/a & b");
    EXPECT_EQ(page->blobs[0].etag, "0x8DC1");
    EXPECT_EQ(page->blobs[0].size, 12u);
    EXPECT_EQ(page->blobs[0].metadata.at("lifeboat-term"), "3");
    EXPECT_EQ(page->blobs[0].metadata.at("uploader"), "n1");
    EXPECT_EQ(page->blobs[0].metadata.at("empty"), "");
    EXPECT_EQ(page->next_marker, "2!12!abc");
    EXPECT_FALSE(azure::parse_list_page("<Error/>").ok());

    EXPECT_EQ(azure::metadata_name_to_azure("lifeboat-config-hash").value(), "lifeboat_config_hash");
    EXPECT_EQ(azure::metadata_name_from_azure("Lifeboat_Config_Hash"), "lifeboat-config-hash");
    EXPECT_FALSE(azure::metadata_name_to_azure("a_b").ok());
    EXPECT_FALSE(azure::metadata_name_to_azure("1st").ok());
    EXPECT_FALSE(azure::metadata_name_to_azure("a.b").ok());
    EXPECT_EQ(azure::block_id("tag", 7).size(), azure::block_id("tag", 123456).size());
}

TEST(azure_protocol, a_head_answer_is_classed_by_its_header_and_reason_phrase_as_a_body_would_be) {
    // Azurite refuses a wrong key with 403 AuthorizationFailure "Server failed to authenticate"; a
    // HEAD carries that message only in its reason phrase, and must be classed as PUT is.
    const std::string refused = "Server failed to authenticate the request. Make sure the value of the "
                                "Authorization header is formed correctly including the signature.";
    http::response put;
    put.status = 403;
    put.reason = refused;
    put.headers.set("x-ms-error-code", "AuthorizationFailure");
    put.body = "<?xml version=\"1.0\"?><Error><Code>AuthorizationFailure</Code><Message>" + refused +
               "\nRequestId:1\nTime:x</Message></Error>";
    http::response head = put;
    head.body.clear();
    for (const auto* res : {&put, &head}) {
        const auto e = azure::to_store_error(*res, "op");
        EXPECT_EQ(e.code, store_errc::bad_credentials) << e.to_string();
        EXPECT_EQ(e.provider_code, "AuthorizationFailure");
        EXPECT_NE(e.message.find("wrong AZURE_STORAGE_KEY"), std::string::npos) << e.message;
    }
    // Azure itself says AuthenticationFailed in the header of a HEAD.
    http::response azure_head;
    azure_head.status = 403;
    azure_head.reason = refused;
    azure_head.headers.set("x-ms-error-code", "AuthenticationFailed");
    EXPECT_EQ(azure::to_store_error(azure_head, "op").code, store_errc::bad_credentials);
    // A permission refusal is access denied, with a body or without.
    http::response denied;
    denied.status = 403;
    denied.reason = "This request is not authorized to perform this operation using this permission.";
    denied.headers.set("x-ms-error-code", "AuthorizationPermissionMismatch");
    EXPECT_EQ(azure::to_store_error(denied, "op").code, store_errc::access_denied);
    EXPECT_EQ(azure::to_store_error(denied, "op").message, denied.reason);
    // A bare reason phrase ("Forbidden") says nothing: the code's explanation stands.
    http::response bare;
    bare.status = 404;
    bare.reason = "Not Found";
    bare.headers.set("x-ms-error-code", "BlobNotFound");
    EXPECT_EQ(azure::to_store_error(bare, "op").code, store_errc::not_found);
    EXPECT_EQ(azure::to_store_error(bare, "op").message, "the blob does not exist");
}

namespace {

struct azure_throttled : ::testing::Test {
    boost::asio::io_context ioc;
    std::vector<test::fake_request> seen;
    std::function<test::fake_reply(std::size_t)> script;
    test::fake_http_server server{ioc.get_executor(), [this](const test::fake_request& r) {
                                      seen.push_back(r);
                                      return script(seen.size());
                                  }};

    std::unique_ptr<backends::object_store> store() {
        azure::azure_options o;
        o.account = "devstoreaccount1";
        o.container = "lifeboat-test";
        o.endpoint = server.origin() + "/devstoreaccount1";
        o.creds = azure::shared_key{"devstoreaccount1", "key"};
        o.jitter_seed = 1;
        o.retry.max_attempts = 4;
        o.retry.backoff = {10ms, 100ms, 1ms};
        return azure::make_azure_store(ioc.get_executor(), std::move(o)).value();
    }
    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }
};

test::fake_reply busy(unsigned status, const char* code) {
    test::fake_reply r;
    r.status = status;
    r.headers = {{"x-ms-error-code", code}, {"Retry-After", "1"}, {"Content-Type", "application/xml"}};
    r.body = fmt::format(
        "<?xml version=\"1.0\"?><Error><Code>{}</Code><Message>Busy.\nRequestId:1\nTime:x</Message>"
        "</Error>",
        code);
    return r;
}

} // namespace

TEST_F(azure_throttled, server_busy_and_operation_timed_out_are_retried_after_retry_after) {
    script = [](std::size_t n) {
        if (n == 1)
            return busy(503, "ServerBusy");
        if (n == 2)
            return busy(500, "OperationTimedOut");
        test::fake_reply ok;
        ok.status = 201;
        ok.headers = {{"ETag", "\"0x8D1\""}};
        return ok;
    };
    auto s = store();
    const auto start = std::chrono::steady_clock::now();
    auto put = run(s->put("k", backends::body_source::from_string("body"), {}));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_EQ(put->etag, "0x8D1");
    EXPECT_EQ(seen.size(), 3u);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 1900ms) << "Retry-After: 1, twice";
    for (const auto& r : seen) {
        EXPECT_EQ(r.headers["x-ms-version"], azure::api_version);
        EXPECT_EQ(r.headers["Content-MD5"], base64_encode(md5("body")));
        EXPECT_EQ(r.headers["x-ms-blob-type"], "BlockBlob");
        EXPECT_EQ(r.headers["Authorization"].substr(0, 27), "SharedKey devstoreaccount1:");
    }
}

TEST_F(azure_throttled, a_service_that_stays_busy_fails_as_throttled_in_one_line) {
    script = [](std::size_t) { return busy(503, "ServerBusy"); };
    auto s = store();
    auto got = run(s->get("k"));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, store_errc::throttled);
    EXPECT_EQ(got.error().provider_code, "ServerBusy");
    EXPECT_EQ(got.error().to_string().find('\n'), std::string::npos) << got.error().to_string();
    EXPECT_EQ(seen.size(), 4u);
}

TEST_F(azure_throttled, a_conditional_write_is_never_resent_and_a_5xx_means_re_read) {
    script = [](std::size_t) { return busy(503, "ServerBusy"); };
    auto s = store();
    backends::put_options po;
    po.condition = backends::write_condition::if_absent;
    auto put = run(s->put("election/term", backends::body_source::from_string("1"), po));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, store_errc::conflict) << put.error().to_string();
    EXPECT_NE(put.error().message.find("outcome unknown"), std::string::npos);
    EXPECT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].headers["If-None-Match"], "*");
}
