// The GCS store. No GCS can run here, so these tests use fake_gcs (a local Beast server on
// 127.0.0.1 that implements the few JSON API calls, the OAuth2 token endpoint and the metadata
// server): they check the JWT (RS256, verified with the public half of a key made in the test),
// token caching and refresh, and the request shapes the JSON API documents.
#include "backends/gcs/gcs_api.hpp"
#include "backends/gcs/gcs_auth.hpp"
#include "backends/gcs/gcs_store.hpp"
#include "base/atomic_file.hpp"
#include "harness/recording_sink.hpp"
#include "harness/test_env.hpp"
#include "stores/fake_gcs.hpp"
#include "stores/sync.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

namespace lifeboat::backends {
namespace {

namespace json = boost::json;
using test::run_sync;
using clock_type = gcs::token_cache::clock;

const test::test_service_account& account() {
    static const auto a = test::make_test_service_account();
    return a;
}

gcs::service_account parsed_account(const std::string& token_uri = "https://oauth2.googleapis.com/token") {
    auto c = gcs::parse_credentials_json(account().json(token_uri), "test");
    EXPECT_TRUE(c) << c.error();
    return std::get<gcs::service_account>(c.value());
}

// ---- JWT and credentials -------------------------------------------------------------------

TEST(gcs_auth, jwt_assertion_is_rs256_signed_with_the_account_key) {
    const auto sa = parsed_account();
    const auto now = wall_clock::time_point(std::chrono::seconds(1'800'000'000));
    auto jwt = gcs::make_jwt_assertion(sa, now);
    ASSERT_TRUE(jwt) << jwt.error();
    std::string header, claims;
    ASSERT_TRUE(test::verify_jwt(*jwt, account().key.get(), &header, &claims));
    EXPECT_EQ(json::parse(header), json::parse(R"({"alg":"RS256","typ":"JWT","kid":"0123456789abcdef"})"));
    EXPECT_EQ(json::parse(claims),
              json::parse(R"({"iss":"lifeboat-test@example-project.iam.gserviceaccount.com",
        "scope":"https://www.googleapis.com/auth/devstorage.read_write","aud":"https://oauth2.googleapis.com/token",
        "iat":1800000000,"exp":1800003600})"));

    // Any change to the signed part breaks the signature; another key does not verify it.
    auto tampered = *jwt;
    tampered[tampered.find('.') + 3] ^= 1;
    EXPECT_FALSE(test::verify_jwt(tampered, account().key.get(), nullptr, nullptr));
    const auto other = test::make_test_service_account();
    EXPECT_FALSE(test::verify_jwt(*jwt, other.key.get(), nullptr, nullptr));
    // base64url without padding, as JWT wants.
    EXPECT_EQ(jwt->find_first_of("+/="), std::string::npos);
}

TEST(gcs_auth, credential_errors_are_one_line_and_never_show_the_key) {
    auto check = [](const std::string& text, const std::string& expected) {
        auto c = gcs::parse_credentials_json(text, "GCP_SERVICE_ACCOUNT");
        ASSERT_FALSE(c) << text;
        EXPECT_NE(c.error().find(expected), std::string::npos) << c.error();
        EXPECT_EQ(c.error().find("PRIVATE KEY"), std::string::npos) << c.error();
        EXPECT_EQ(c.error().find('\n'), std::string::npos) << c.error();
    };
    check("not json", "GCP_SERVICE_ACCOUNT: not a JSON object");
    check(R"({"client_email":"x"})", "no \"type\"");
    check(R"({"type":"external_account"})", "\"external_account\" are not supported");
    auto sa = json::parse(account().json("https://oauth2.googleapis.com/token")).as_object();
    auto without = [&](const char* field) {
        auto copy = sa;
        copy.erase(field);
        return json::serialize(copy);
    };
    check(without("client_email"), "no client_email");
    check(without("private_key"), "no private_key");
    auto bad_key = sa;
    bad_key["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    check(json::serialize(bad_key), "private_key is not a PEM private key");
    // An EC key cannot sign RS256.
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> ec(EVP_EC_gen("P-256"), &EVP_PKEY_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    PEM_write_bio_PrivateKey(bio.get(), ec.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    auto ec_key = sa;
    ec_key["private_key"] = std::string(data, static_cast<std::size_t>(n));
    check(json::serialize(ec_key), "not an RSA key");
    auto plain_http = sa;
    plain_http["token_uri"] = "http://oauth2.example.com/token";
    check(json::serialize(plain_http), "must use https");
    // Loopback http is allowed (test servers), as is an authorized_user file.
    EXPECT_TRUE(gcs::parse_credentials_json(account().json("http://127.0.0.1:1/token"), "t"));
    auto user = gcs::parse_credentials_json(
        R"({"type":"authorized_user","client_id":"cid","client_secret":"cs","refresh_token":"rt"})", "t");
    ASSERT_TRUE(user);
    EXPECT_EQ(std::get<gcs::authorized_user>(*user).token_uri, "https://oauth2.googleapis.com/token");
    check(R"({"type":"authorized_user","client_id":"cid"})",
          "needs client_id, client_secret and refresh_token");
}

TEST(gcs_auth, token_responses) {
    auto ok =
        gcs::parse_token_response(R"({"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"})");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->token, "ya29.x");
    EXPECT_EQ(ok->expires_in, std::chrono::seconds(3599));
    EXPECT_FALSE(gcs::parse_token_response(R"({"expires_in":3599})"));
    EXPECT_FALSE(gcs::parse_token_response(R"({"access_token":"a","expires_in":0})"));
    EXPECT_FALSE(gcs::parse_token_response(R"({"access_token":"a","expires_in":"soon"})"));
    EXPECT_FALSE(gcs::parse_token_response(R"({"access_token":"a","expires_in":60,"token_type":"MAC"})"));
    EXPECT_FALSE(gcs::parse_token_response("<html>"));
    EXPECT_EQ(gcs::jwt_grant_body("a.b-c_d"),
              "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b-c_d");
}

// ---- the token cache, on a virtual clock ---------------------------------------------------

TEST(gcs_token_cache, fetches_once_shares_the_token_and_refreshes_before_expiry) {
    gcs::token_cache cache(std::chrono::seconds(300));
    const auto t0 = clock_type::time_point(std::chrono::hours(1000));
    using action = gcs::token_cache::action;

    EXPECT_EQ(cache.need(t0).what, action::fetch);
    EXPECT_EQ(cache.need(t0).what, action::wait); // a second caller waits for that fetch
    cache.fetched({"tok1", std::chrono::seconds(3600)}, t0);
    EXPECT_EQ(cache.need(t0).token, "tok1");
    EXPECT_EQ(cache.need(t0 + std::chrono::seconds(3299)).what, action::use);

    // Inside the refresh margin: one caller refreshes, the others keep the still-valid token.
    const auto t1 = t0 + std::chrono::seconds(3301);
    EXPECT_EQ(cache.need(t1).what, action::fetch);
    auto meanwhile = cache.need(t1);
    EXPECT_EQ(meanwhile.what, action::use);
    EXPECT_EQ(meanwhile.token, "tok1");
    // The refresh failed: the old token still serves until it expires, then callers wait.
    cache.fetch_failed();
    EXPECT_EQ(cache.valid_token(t1), std::optional<std::string>("tok1"));
    EXPECT_EQ(cache.need(t1).what, action::fetch);
    EXPECT_EQ(cache.need(t0 + std::chrono::seconds(3600)).what, action::wait);
    EXPECT_FALSE(cache.valid_token(t0 + std::chrono::seconds(3600)));
    cache.fetched({"tok2", std::chrono::seconds(3600)}, t1);
    EXPECT_EQ(cache.need(t1).token, "tok2");
}

TEST(gcs_token_cache, short_lived_tokens_refresh_at_half_life_and_401_invalidates) {
    gcs::token_cache cache(std::chrono::seconds(300));
    const auto t0 = clock_type::time_point(std::chrono::hours(5));
    using action = gcs::token_cache::action;
    ASSERT_EQ(cache.need(t0).what, action::fetch);
    cache.fetched({"short", std::chrono::seconds(60)}, t0);
    EXPECT_EQ(cache.need(t0 + std::chrono::seconds(29)).what, action::use);
    EXPECT_EQ(cache.need(t0 + std::chrono::seconds(30)).what, action::fetch);
    cache.fetched({"next", std::chrono::seconds(60)}, t0 + std::chrono::seconds(30));

    cache.invalidate("short"); // a stale 401 must not drop the newer token
    EXPECT_EQ(cache.need(t0 + std::chrono::seconds(31)).token, "next");
    cache.invalidate("next");
    EXPECT_FALSE(cache.has_token());
    EXPECT_EQ(cache.need(t0 + std::chrono::seconds(31)).what, action::fetch);
}

// ---- request shapes without a server --------------------------------------------------------

TEST(gcs_api, targets_encode_names_whole) {
    EXPECT_EQ(gcs::metadata_target("bkt", "p/3.9.0.0/config.json"),
              "/storage/v1/b/bkt/o/p%2F3.9.0.0%2Fconfig.json");
    EXPECT_EQ(gcs::media_target("bkt", "a b", "17"), "/storage/v1/b/bkt/o/a%20b?alt=media&generation=17");
    EXPECT_EQ(gcs::delete_target("bkt", "k", "17"), "/storage/v1/b/bkt/o/k?ifGenerationMatch=17");
    EXPECT_EQ(gcs::delete_target("bkt", "k", ""), "/storage/v1/b/bkt/o/k");
    EXPECT_EQ(gcs::list_target("bkt", "p/e/", 1000, ""),
              "/storage/v1/b/bkt/o?maxResults=1000&prefix=p%2Fe%2F");
    EXPECT_EQ(gcs::list_target("bkt", "", 5, "tok/1"), "/storage/v1/b/bkt/o?maxResults=5&pageToken=tok%2F1");
    EXPECT_EQ(gcs::upload_target("bkt", "p/k", false, std::nullopt),
              "/upload/storage/v1/b/bkt/o?uploadType=media&name=p%2Fk");
    EXPECT_EQ(gcs::upload_target("bkt", "p/k", false, "0"),
              "/upload/storage/v1/b/bkt/o?uploadType=media&name=p%2Fk&ifGenerationMatch=0");
    EXPECT_EQ(gcs::upload_target("bkt", "p/k", true, "42"),
              "/upload/storage/v1/b/bkt/o?uploadType=multipart&ifGenerationMatch=42");
    EXPECT_EQ(gcs::object_name_problem(""), "is empty");
    EXPECT_EQ(gcs::object_name_problem("a\nb"), "contains a line break");
    EXPECT_EQ(gcs::object_name_problem(std::string(1025, 'a')), "is longer than 1024 bytes");
}

TEST(gcs_api, multipart_body_is_framed_as_rfc_2387) {
    auto body = gcs::make_multipart("p/k", "application/json", {{"node_id", "n1"}}, "BOUNDARY");
    EXPECT_EQ(body.content_type, "multipart/related; boundary=BOUNDARY");
    EXPECT_EQ(body.head, "--BOUNDARY\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
                         R"({"name":"p/k","contentType":"application/json","metadata":{"node_id":"n1"}})"
                         "\r\n--BOUNDARY\r\nContent-Type: application/json\r\n\r\n");
    EXPECT_EQ(body.tail, "\r\n--BOUNDARY--\r\n");
    EXPECT_NE(gcs::random_boundary(), gcs::random_boundary());
}

TEST(gcs_api, errors_map_to_store_codes) {
    auto e = gcs::error_from_response(
        412,
        R"({"error":{"code":412,"message":"At least one of the pre-conditions you specified did not hold.","errors":[{"reason":"conditionNotMet"}]}})",
        "PUT gcs://b/k");
    EXPECT_EQ(e.code, store_errc::precondition_failed);
    EXPECT_EQ(e.provider_code, "conditionNotMet");
    EXPECT_EQ(
        e.to_string(),
        "PUT gcs://b/k: 412 conditionNotMet: At least one of the pre-conditions you specified did not hold.");
    EXPECT_EQ(gcs::error_from_response(401, "", "x").code, store_errc::bad_credentials);
    EXPECT_EQ(gcs::error_from_response(403, "", "x").code, store_errc::access_denied);
    EXPECT_EQ(gcs::error_from_response(404, "", "x").code, store_errc::not_found);
    EXPECT_EQ(gcs::error_from_response(409, "", "x").code, store_errc::conflict);
    EXPECT_EQ(gcs::error_from_response(429, "", "x").code, store_errc::throttled);
    EXPECT_EQ(gcs::error_from_response(503, "<html>busy\nmore", "x").message, "<html>busy");
    EXPECT_EQ(gcs::error_from_response(400, "", "x").code, store_errc::protocol);
}

TEST(gcs_api, object_resources_and_list_pages) {
    auto info = gcs::parse_object_resource(
        R"({"name":"p/k","size":"12","etag":"CKih","generation":"1700000000000001","contentType":"application/json",
            "updated":"2026-11-22T03:42:00.123Z","metadata":{"node_id":"n1"}})");
    ASSERT_TRUE(info) << info.error();
    EXPECT_EQ(info->key, "p/k");
    EXPECT_EQ(info->size, 12u);
    EXPECT_EQ(version_token(*info), "1700000000000001");
    EXPECT_EQ(info->metadata.at("node_id"), "n1");
    EXPECT_EQ(format_iso8601(info->last_modified), "2026-11-22T03:42:00.123Z");
    EXPECT_FALSE(gcs::parse_object_resource(R"({"name":"k","size":"12x","generation":"1"})"));
    EXPECT_FALSE(gcs::parse_object_resource(R"({"name":"k","size":"1"})"));
    auto page = gcs::parse_list_page(R"({"kind":"storage#objects","nextPageToken":"t"})");
    ASSERT_TRUE(page);
    EXPECT_TRUE(page->items.empty());
    EXPECT_EQ(page->next_page_token, "t");
}

// ---- options from the environment ----------------------------------------------------------

TEST(gcs_options, credentials_come_from_kong_variable_then_file_then_metadata_server) {
    const auto dir = test::scratch_dir();
    store_environment env;
    auto none = gcs_options::from_environment("bkt", env);
    ASSERT_TRUE(none);
    EXPECT_TRUE(std::holds_alternative<gcs::metadata_server>(none->credentials));
    EXPECT_EQ(none->endpoint, "https://storage.googleapis.com");

    ASSERT_TRUE(
        write_file_atomically(dir / "key.json", account().json("https://oauth2.googleapis.com/token")));
    env.google_application_credentials = (dir / "key.json").string();
    auto from_file = gcs_options::from_environment("bkt", env);
    ASSERT_TRUE(from_file) << from_file.error();
    EXPECT_EQ(std::get<gcs::service_account>(from_file->credentials).client_email, account().client_email);

    env.gcp_service_account =
        R"({"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"})";
    auto from_kong = gcs_options::from_environment("bkt", env);
    ASSERT_TRUE(from_kong);
    EXPECT_TRUE(std::holds_alternative<gcs::authorized_user>(from_kong->credentials));

    env.gcp_service_account.clear();
    env.google_application_credentials = (dir / "missing.json").string();
    auto missing = gcs_options::from_environment("bkt", env);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().find("GOOGLE_APPLICATION_CREDENTIALS: open"), std::string::npos)
        << missing.error();

    env.google_application_credentials.clear();
    env.storage_emulator_host = "localhost:4443";
    auto emulator = gcs_options::from_environment("bkt", env);
    ASSERT_TRUE(emulator);
    EXPECT_EQ(emulator->endpoint, "http://localhost:4443");
    EXPECT_TRUE(std::holds_alternative<gcs::anonymous>(emulator->credentials));
    env.storage_emulator_host = "http://127.0.0.1:9023/";
    EXPECT_EQ(gcs_options::from_environment("bkt", env)->endpoint, "http://127.0.0.1:9023");
    env.storage_emulator_host = "ftp://x";
    EXPECT_FALSE(gcs_options::from_environment("bkt", env));
    EXPECT_FALSE(gcs_options::from_environment("", store_environment{}));
}

// ---- the store against the local fake ------------------------------------------------------

struct gcs_fixture : ::testing::Test {
    test::fake_gcs fake{"bkt"};
    boost::asio::io_context io;
    std::unique_ptr<object_store> store;

    void SetUp() override {
        fake.trusted_key = account().key.get();
        fake.trusted_email = account().client_email;
    }

    void open(gcs::credentials creds) {
        gcs_options o;
        o.bucket = "bkt";
        o.endpoint = fake.origin();
        o.credentials = std::move(creds);
        o.list_page_size = 2;
        o.jitter_seed = 1;
        auto s = make_gcs_store(io.get_executor(), std::move(o));
        ASSERT_TRUE(s) << s.error();
        store = std::move(s).value();
    }
    void open_with_service_account() {
        auto c = gcs::parse_credentials_json(account().json(fake.token_uri()), "test");
        ASSERT_TRUE(c) << c.error();
        open(std::move(c).value());
    }

    template <class T>
    T run(boost::asio::awaitable<T> task) {
        return run_sync(io, std::move(task));
    }
    store_result<object_info> put(std::string key, std::string text, put_options options = {}) {
        return run(store->put(std::move(key), body_source::from_string(std::move(text)), std::move(options)));
    }
};

TEST_F(gcs_fixture, media_upload_download_and_one_token_for_many_requests) {
    open_with_service_account();
    EXPECT_EQ(store->kind(), store_kind::gcs);
    EXPECT_EQ(store->describe(), "gcs://bkt");
    EXPECT_FALSE(store->last_server_date());

    put_options json_type;
    json_type.content_type = "application/json";
    auto put_result = put("p/3.9.0.0/config.json", R"({"_format_version":"3.0"})", json_type);
    ASSERT_TRUE(put_result) << put_result.error().to_string();
    EXPECT_EQ(put_result->key, "p/3.9.0.0/config.json");
    EXPECT_EQ(put_result->generation, "1700000000000001");
    EXPECT_EQ(put_result->size, 25u);

    auto got = run(store->get("p/3.9.0.0/config.json"));
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->bytes, R"({"_format_version":"3.0"})");
    EXPECT_EQ(got->info.content_type, "application/json");
    EXPECT_EQ(version_token(got->info), "1700000000000001");

    auto requests = fake.storage_requests();
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].target,
              "/upload/storage/v1/b/bkt/o?uploadType=media&name=p%2F3.9.0.0%2Fconfig.json");
    EXPECT_EQ(requests[0].headers["content-type"], "application/json");
    EXPECT_EQ(requests[0].body, R"({"_format_version":"3.0"})");
    EXPECT_EQ(requests[0].headers["authorization"], "Bearer ya29.test-token-1");
    EXPECT_EQ(requests[1].method, "GET");
    EXPECT_EQ(requests[1].target, "/storage/v1/b/bkt/o/p%2F3.9.0.0%2Fconfig.json");
    EXPECT_EQ(requests[2].target,
              "/storage/v1/b/bkt/o/p%2F3.9.0.0%2Fconfig.json?alt=media&generation=1700000000000001");
    EXPECT_EQ(requests[2].headers["authorization"], "Bearer ya29.test-token-1");

    auto guard = fake.lock();
    EXPECT_EQ(fake.token_requests, 1); // cached across requests
    ASSERT_EQ(fake.jwt_claims.size(), 1u);
    const auto date = store->last_server_date();
    ASSERT_TRUE(date);
    EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(*date - fake.date).count(), 0);
}

TEST_F(gcs_fixture, metadata_needs_a_multipart_upload) {
    open_with_service_account();
    put_options options;
    options.content_type = "application/json";
    options.metadata = {{"Node_Id", "n1"}, {"term", "3"}};
    auto r = put("p/election/n1", "{}", options);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->metadata, (std::map<std::string, std::string>{{"node_id", "n1"}, {"term", "3"}}));

    auto requests = fake.storage_requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].target, "/upload/storage/v1/b/bkt/o?uploadType=multipart");
    const auto& ct = requests[0].headers["content-type"];
    ASSERT_EQ(ct.rfind("multipart/related; boundary=", 0), 0u) << ct;
    const auto boundary = ct.substr(std::string("multipart/related; boundary=").size());
    EXPECT_EQ(
        requests[0].body,
        "--" + boundary + "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n" +
            R"({"name":"p/election/n1","contentType":"application/json","metadata":{"node_id":"n1","term":"3"}})" +
            "\r\n--" + boundary + "\r\nContent-Type: application/json\r\n\r\n{}\r\n--" + boundary + "--\r\n");

    auto head = run(store->head("p/election/n1"));
    ASSERT_TRUE(head);
    EXPECT_EQ(head->metadata.at("term"), "3");
}

TEST_F(gcs_fixture, file_bodies_stream_inside_the_multipart_frame_and_downloads_go_to_files) {
    open_with_service_account();
    const auto dir = test::scratch_dir();
    std::string big(300 * 1024 + 7, 'x');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>('a' + i % 26);
    ASSERT_TRUE(write_file_atomically(dir / "in.json", big));
    put_options options;
    options.metadata = {{"k", "v"}};
    auto r = run(store->put("big", body_source::from_file(dir / "in.json"), options));
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->size, big.size());
    {
        auto guard = fake.lock();
        EXPECT_EQ(fake.objects.at("big").data, big);
    }
    auto plain = run(store->put("plain", body_source::from_file(dir / "in.json"), {}));
    ASSERT_TRUE(plain);
    auto got = run(store->get_to_file("plain", dir / "out.json"));
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(*read_whole_file(dir / "out.json"), big);
    auto too_small = run(store->get("plain", 1000));
    ASSERT_FALSE(too_small);
    EXPECT_EQ(too_small.error().code, store_errc::too_large);
    auto missing = run(store->get_to_file("nope", dir / "out.json"));
    EXPECT_EQ(missing.error().code, store_errc::not_found);
    EXPECT_EQ(*read_whole_file(dir / "out.json"), big);
}

TEST_F(gcs_fixture, get_streamed_reads_the_generation_it_saw_in_pieces) {
    open_with_service_account();
    std::string big(700 * 1024 + 3, 'x');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>('a' + i % 26);
    put_options options;
    options.metadata = {{"lifeboat-config-hash", "0123456789abcdef0123456789abcdef"}};
    ASSERT_TRUE(put("p/config.json", big, options));

    test::recording_sink received;
    const auto sink = received.sink();
    auto got = run(store->get_streamed("p/config.json", big.size(), sink));
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->metadata.at("lifeboat-config-hash"), "0123456789abcdef0123456789abcdef");
    ASSERT_EQ(received.starts.size(), 1u);
    EXPECT_EQ(received.starts[0], std::optional<std::uint64_t>(big.size())); // from the metadata
    EXPECT_TRUE(received.bytes == big);
    EXPECT_GT(received.pieces, 1u);
    auto requests = fake.storage_requests();
    ASSERT_GE(requests.size(), 2u);
    EXPECT_NE(requests.back().target.find("alt=media&generation=" + got->generation), std::string::npos)
        << requests.back().target;

    received.starts.clear();
    auto too_large = run(store->get_streamed("p/config.json", big.size() - 1, sink));
    ASSERT_FALSE(too_large);
    EXPECT_EQ(too_large.error().code, store_errc::too_large);
    EXPECT_TRUE(received.starts.empty());
    auto missing = run(store->get_streamed("p/none.json", big.size(), sink));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, store_errc::not_found);

    object_sink refusing{nullptr,
                         [](std::string_view) -> std::optional<std::string> { return "not a config"; }};
    auto refused = run(store->get_streamed("p/config.json", big.size(), refusing));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, store_errc::local_io);
    EXPECT_NE(refused.error().message.find("not a config"), std::string::npos) << refused.error().to_string();
}

TEST_F(gcs_fixture, generation_preconditions) {
    open_with_service_account();
    put_options create;
    create.condition = write_condition::if_absent;
    auto first = put("lock", "a", create);
    ASSERT_TRUE(first) << first.error().to_string();
    auto second = put("lock", "b", create);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, store_errc::precondition_failed);
    EXPECT_EQ(second.error().provider_code, "conditionNotMet");

    put_options cas;
    cas.condition = write_condition::if_match;
    cas.expected_version = first->generation;
    auto swapped = put("lock", "c", cas);
    ASSERT_TRUE(swapped) << swapped.error().to_string();
    auto stale = put("lock", "d", cas);
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().code, store_errc::precondition_failed);

    cas.expected_version = "not-a-generation";
    EXPECT_EQ(put("lock", "e", cas).error().code, store_errc::invalid_argument);

    auto stale_delete = run(store->remove("lock", first->generation));
    ASSERT_FALSE(stale_delete);
    EXPECT_EQ(stale_delete.error().code, store_errc::precondition_failed);
    EXPECT_TRUE(run(store->remove("lock", swapped->generation)));
    EXPECT_TRUE(run(store->remove("lock"))); // already gone

    auto requests = fake.storage_requests();
    ASSERT_EQ(requests.size(), 7u);
    EXPECT_EQ(requests[0].query["ifGenerationMatch"], "0");
    EXPECT_EQ(requests[1].query["ifGenerationMatch"], "0");
    EXPECT_EQ(requests[2].query["ifGenerationMatch"], first->generation);
    EXPECT_EQ(requests[4].method, "DELETE");
    EXPECT_EQ(requests[4].target, "/storage/v1/b/bkt/o/lock?ifGenerationMatch=" + first->generation);
    EXPECT_EQ(requests[6].target, "/storage/v1/b/bkt/o/lock");
}

TEST_F(gcs_fixture, list_follows_pages_in_key_order) {
    open_with_service_account();
    for (const char* key : {"p/e/n3", "p/e/n1", "p/config.json", "p/e/n2", "p/e/n4", "q/x"})
        ASSERT_TRUE(put(key, key));
    auto all = run(store->list("p/e/"));
    ASSERT_TRUE(all) << all.error().to_string();
    std::vector<std::string> keys;
    for (const auto& i : *all)
        keys.push_back(i.key);
    EXPECT_EQ(keys, (std::vector<std::string>{"p/e/n1", "p/e/n2", "p/e/n3", "p/e/n4"}));
    EXPECT_EQ((*all)[0].size, 6u);
    EXPECT_FALSE((*all)[0].generation.empty());

    auto requests = fake.storage_requests();
    ASSERT_EQ(requests.size(), 6u + 2u); // page size 2: n1 n2 | n3 n4 (no nextPageToken)
    EXPECT_EQ(requests[6].target, "/storage/v1/b/bkt/o?maxResults=2&prefix=p%2Fe%2F");
    EXPECT_EQ(requests[7].target, "/storage/v1/b/bkt/o?maxResults=2&prefix=p%2Fe%2F&pageToken=p%2Fe%2Fn2");

    auto limited = run(store->list("p/", 3));
    ASSERT_TRUE(limited);
    EXPECT_EQ(limited->size(), 3u);
    auto none = run(store->list("zzz"));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
}

TEST_F(gcs_fixture, a_revoked_token_is_replaced_and_the_request_repeated) {
    open_with_service_account();
    ASSERT_TRUE(put("k", "v"));
    fake.lock(), fake.revoke_tokens();
    auto head = run(store->head("k"));
    ASSERT_TRUE(head) << head.error().to_string();
    auto guard = fake.lock();
    EXPECT_EQ(fake.token_requests, 2);
    ASSERT_EQ(fake.requests.size(), 5u); // token, put, head (401), token, head
    EXPECT_EQ(fake.requests[2].headers["authorization"], "Bearer ya29.test-token-1");
    EXPECT_EQ(fake.requests[4].headers["authorization"], "Bearer ya29.test-token-2");
}

TEST_F(gcs_fixture, short_lived_tokens_are_refreshed_before_they_expire) {
    fake.token_lifetime = std::chrono::seconds(2); // refreshed after 1 s (half its life)
    open_with_service_account();
    ASSERT_TRUE(put("k", "v"));
    ASSERT_TRUE(run(store->head("k")));
    EXPECT_EQ((fake.lock(), fake.token_requests), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    ASSERT_TRUE(run(store->head("k")));
    EXPECT_EQ((fake.lock(), fake.token_requests), 2);
}

TEST_F(gcs_fixture, concurrent_requests_share_one_token_fetch) {
    open_with_service_account();
    int done = 0;
    for (int i = 0; i < 5; ++i)
        boost::asio::co_spawn(
            io,
            [&]() -> boost::asio::awaitable<void> {
                auto r = co_await store->list("");
                EXPECT_TRUE(r);
                ++done;
            },
            boost::asio::detached);
    io.run();
    EXPECT_EQ(done, 5);
    EXPECT_EQ((fake.lock(), fake.token_requests), 1);
}

TEST_F(gcs_fixture, a_key_the_token_endpoint_rejects_is_bad_credentials) {
    const auto stranger = test::make_test_service_account();
    auto c = gcs::parse_credentials_json(stranger.json(fake.token_uri()), "test");
    ASSERT_TRUE(c);
    open(std::move(c).value());
    auto r = run(store->head("k"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, store_errc::bad_credentials);
    EXPECT_NE(r.error().to_string().find("Invalid JWT Signature."), std::string::npos)
        << r.error().to_string();
    EXPECT_EQ(r.error().to_string().find("PRIVATE"), std::string::npos);
}

// SIGHUP (object_store::reload_credentials): GOOGLE_APPLICATION_CREDENTIALS is read again. A key
// the token endpoint refuses is replaced under the same path and taken from the next request; a
// file that no longer parses is refused in one line and the running credentials stay.
TEST_F(gcs_fixture, a_rotated_credentials_file_is_read_again_on_reload) {
    const auto dir = test::scratch_dir();
    const auto key_file = dir / "key.json";
    const auto stranger = test::make_test_service_account();
    ASSERT_TRUE(write_file_atomically(key_file, stranger.json(fake.token_uri())));
    store_environment env;
    env.google_application_credentials = key_file.string();
    auto o = gcs_options::from_environment("bkt", env);
    ASSERT_TRUE(o) << o.error();
    o->endpoint = fake.origin();
    o->jitter_seed = 1;
    auto s = make_gcs_store(io.get_executor(), std::move(o).value());
    ASSERT_TRUE(s) << s.error();
    store = std::move(s).value();
    auto rejected = put("k", "v");
    ASSERT_FALSE(rejected);
    EXPECT_EQ(rejected.error().code, store_errc::bad_credentials);

    ASSERT_TRUE(write_file_atomically(key_file, account().json(fake.token_uri())));
    ASSERT_TRUE(store->reload_credentials());
    ASSERT_TRUE(put("k", "v"));

    ASSERT_TRUE(write_file_atomically(key_file, "{not json"));
    auto refused = store->reload_credentials();
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("GOOGLE_APPLICATION_CREDENTIALS"), std::string::npos) << refused.error();
    EXPECT_EQ(refused.error().find('\n'), std::string::npos);
    EXPECT_TRUE(run(store->head("k"))); // the running credentials stay
}

TEST_F(gcs_fixture, the_metadata_server_supplies_tokens_for_workload_identity) {
    open(gcs::metadata_server{fake.origin()});
    ASSERT_TRUE(put("k", "v"));
    ASSERT_TRUE(run(store->head("k")));
    auto guard = fake.lock();
    EXPECT_EQ(fake.metadata_token_requests, 1);
    EXPECT_EQ(fake.token_requests, 0);
    EXPECT_EQ(fake.requests[0].target, "/computeMetadata/v1/instance/service-accounts/default/token");
    EXPECT_EQ(fake.requests[0].headers["metadata-flavor"], "Google");
}

TEST_F(gcs_fixture, no_metadata_server_is_a_clear_credentials_error) {
    open(gcs::metadata_server{"http://127.0.0.1:" + std::to_string(test::free_port())});
    auto r = run(store->head("k"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, store_errc::bad_credentials);
    EXPECT_NE(r.error().message.find("GCP_SERVICE_ACCOUNT and GOOGLE_APPLICATION_CREDENTIALS are unset"),
              std::string::npos);
}

TEST_F(gcs_fixture, authorized_user_refresh_tokens) {
    open(gcs::authorized_user{"cid", "csecret", "1//refresh-secret", fake.token_uri()});
    ASSERT_TRUE(put("k", "v"));
    auto guard = fake.lock();
    EXPECT_EQ(fake.token_requests, 1);
    EXPECT_EQ(
        fake.requests[0].body,
        "grant_type=refresh_token&client_id=cid&client_secret=csecret&refresh_token=1%2F%2Frefresh-secret");
}

TEST_F(gcs_fixture, the_emulator_is_used_without_credentials) {
    fake.require_auth = false;
    store_environment env;
    env.storage_emulator_host = fake.origin().substr(std::string("http://").size());
    auto options = gcs_options::from_environment("bkt", env);
    ASSERT_TRUE(options);
    auto s = make_gcs_store(io.get_executor(), std::move(options).value());
    ASSERT_TRUE(s);
    store = std::move(s).value();
    ASSERT_TRUE(put("k", "v"));
    auto requests = fake.storage_requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].headers.count("authorization"), 0u);
    EXPECT_EQ((fake.lock(), fake.token_requests), 0);
}

TEST_F(gcs_fixture, a_wrong_bucket_is_not_found) {
    gcs_options o;
    o.bucket = "other";
    o.endpoint = fake.origin();
    o.credentials = gcs::anonymous{};
    fake.require_auth = false;
    store = make_gcs_store(io.get_executor(), o).value();
    auto r = run(store->list(""));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, store_errc::not_found);
    EXPECT_NE(r.error().message.find("bucket does not exist"), std::string::npos);
}

TEST_F(gcs_fixture, a_token_past_its_lifetime_is_never_sent) {
    // The fake refuses a token once its lifetime has passed (401); the store, which refreshes at
    // half-life, must not meet that refusal.
    fake.token_lifetime = std::chrono::seconds(2);
    open_with_service_account();
    ASSERT_TRUE(put("k", "v"));
    std::this_thread::sleep_for(std::chrono::milliseconds(2100)); // token 1 has expired at the fake
    auto head = run(store->head("k"));
    ASSERT_TRUE(head) << head.error().to_string();
    auto guard = fake.lock();
    ASSERT_EQ(fake.requests.size(), 4u); // token, put, token, head: no 401 in between
    EXPECT_EQ(fake.requests[3].headers["authorization"], "Bearer ya29.test-token-2");
}

TEST_F(gcs_fixture, throttling_and_server_errors_are_retried_and_a_lasting_one_is_reported) {
    open_with_service_account();
    fake.lock(), fake.fail_next = {429, 503};
    auto put_through = put("k", "v");
    ASSERT_TRUE(put_through) << put_through.error().to_string();
    fake.lock(), fake.fail_next = {500, 429};
    auto head = run(store->head("k"));
    ASSERT_TRUE(head) << head.error().to_string();
    EXPECT_EQ((fake.lock(), fake.failed_requests), 4);

    // A failure that lasts: the store gives up after its attempts, with GCS's reason.
    fake.lock(), fake.fail_next = {503, 503, 503, 503, 503, 503};
    auto lasting = run(store->head("k"));
    ASSERT_FALSE(lasting);
    EXPECT_EQ(lasting.error().code, store_errc::server_error) << lasting.error().to_string();
    const auto failed = (fake.lock(), fake.failed_requests);
    EXPECT_GE(failed, 4 + 2);
    EXPECT_LE(failed, 4 + 6);

    // A conditional write that met a 503 is not sent again (a retry of a write that won would
    // come back 412): one attempt, one error.
    fake.lock(), fake.fail_next = {503, 503, 503, 503};
    const auto before = (fake.lock(), fake.failed_requests);
    put_options create;
    create.condition = write_condition::if_absent;
    auto conditional = put("lock", "a", create);
    ASSERT_FALSE(conditional);
    EXPECT_EQ((fake.lock(), fake.failed_requests), before + 1);
    fake.lock(), fake.fail_next.clear();
}

TEST_F(gcs_fixture, a_reset_connection_and_a_truncated_body_are_retried_and_never_taken_as_data) {
    open_with_service_account();
    const std::string value(10000, 'x');
    ASSERT_TRUE(put("k", value));
    fake.lock(), fake.break_next = {"reset", "truncate"};
    auto got = run(store->get("k"));
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->bytes, value); // the whole object, from the third answer
    EXPECT_EQ((fake.lock(), fake.failed_requests), 2);

    // Only broken answers: a network error after the store's attempts, never a short object.
    fake.lock(), fake.break_next = {"truncate", "truncate", "truncate", "truncate", "truncate", "truncate"};
    auto lasting = run(store->get("k"));
    ASSERT_FALSE(lasting);
    EXPECT_EQ(lasting.error().code, store_errc::network) << lasting.error().to_string();
    fake.lock(), fake.break_next.clear();
}

} // namespace
} // namespace lifeboat::backends
