// The AWS credential chain. Shared credentials and config files are real files; the providers
// that only exist inside AWS (STS AssumeRoleWithWebIdentity, ECS container credentials, EC2
// IMDSv2) are loopback test doubles (fake_http_server) speaking their documented wire formats,
// because they cannot run here. The refresh policy is a sans-io state machine stepped on a
// virtual clock.
#include "backends/s3/credentials.hpp"
#include "backends/s3/s3_store.hpp"
#include "base/atomic_file.hpp"
#include "base/log.hpp"
#include "fake_http_server.hpp"
#include "harness/test_env.hpp"
#include "run_async.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <filesystem>

using namespace lifeboat;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

s3::credentials expiring(wall_clock::time_point at, std::string key = "AKIATEMP") {
    return {std::move(key), "secret", "token", at, "test"};
}

std::string iso(wall_clock::time_point t) {
    return format_iso8601(t);
}

struct chain_test : ::testing::Test {
    boost::asio::io_context ioc;
    fs::path dir = test::scratch_dir();
    http::client web{ioc.get_executor(), [] {
                         http::client_options o;
                         o.retry.max_attempts = 1;
                         return o;
                     }()};

    s3::credential_settings settings() {
        s3::credential_settings s;
        s.env.home = dir.string(); // an empty home: no ~/.aws files unless a test writes them
        s.env.aws_ec2_metadata_disabled = true;
        s.region = "us-east-1";
        return s;
    }
    result<s3::credentials, std::string> get(s3::credential_chain& chain) {
        return test::run_async(ioc, chain.get());
    }
};

} // namespace

// --- the refresh policy, on a virtual clock ---

TEST(credential_cache, static_credentials_are_fetched_once) {
    s3::credential_cache cache;
    const wall_clock::time_point t0{};
    EXPECT_EQ(cache.next(t0), s3::credential_cache::action::fetch);
    cache.on_fetched({"AKIA", "secret", "", std::nullopt, "env"}, t0);
    EXPECT_EQ(cache.next(t0 + 24h * 365), s3::credential_cache::action::use_cached);
}

TEST(credential_cache, refreshes_before_expiry_and_keeps_working_credentials_when_a_refresh_fails) {
    s3::credential_cache cache(300s, 30s);
    const wall_clock::time_point t0{std::chrono::hours(1000)};
    const auto expiry = t0 + 1h;
    cache.on_fetched(expiring(expiry), t0);
    EXPECT_EQ(cache.next(t0 + 54min), s3::credential_cache::action::use_cached);
    const auto due = expiry - 4min; // inside the 5-minute window
    EXPECT_EQ(cache.next(due), s3::credential_cache::action::fetch);
    auto still = cache.on_failed(due);
    ASSERT_TRUE(still.has_value());
    EXPECT_EQ(still->access_key_id, "AKIATEMP");
    EXPECT_EQ(cache.next(due + 10s), s3::credential_cache::action::use_cached); // backing off
    EXPECT_EQ(cache.next(due + 31s), s3::credential_cache::action::fetch);
    EXPECT_FALSE(cache.on_failed(expiry + 1s).has_value()); // nothing valid left
    EXPECT_EQ(cache.next(expiry + 2s), s3::credential_cache::action::fetch);
    cache.on_fetched(expiring(expiry + 1h, "AKIANEW"), expiry + 2s);
    EXPECT_EQ(cache.next(expiry + 3s), s3::credential_cache::action::use_cached);
    EXPECT_EQ(cache.current()->access_key_id, "AKIANEW");
}

TEST(credential_cache, invalidated_credentials_are_not_reused) {
    s3::credential_cache cache(300s, 30s);
    const wall_clock::time_point t0{std::chrono::hours(1000)};
    cache.on_fetched(expiring(t0 + 1h), t0);
    cache.invalidate();
    EXPECT_EQ(cache.next(t0 + 1s), s3::credential_cache::action::fetch);
    EXPECT_FALSE(cache.on_failed(t0 + 1s).has_value());
}

// SIGHUP: credentials that never expire (a shared credentials file) are fetched again at the next
// request; if that read fails, the running ones stay, and the cache goes back to its schedule.
TEST(credential_cache, a_reread_fetches_once_and_keeps_the_running_credentials_if_it_fails) {
    s3::credential_cache cache(300s, 30s);
    const wall_clock::time_point t0{std::chrono::hours(1000)};
    cache.on_fetched({"AKIAOLD", "secret", "", std::nullopt, "profile default"}, t0);
    EXPECT_EQ(cache.next(t0 + 1s), s3::credential_cache::action::use_cached);
    cache.refresh_soon();
    EXPECT_EQ(cache.next(t0 + 1s), s3::credential_cache::action::fetch);
    auto kept = cache.on_failed(t0 + 1s);
    ASSERT_TRUE(kept.has_value());
    EXPECT_EQ(kept->access_key_id, "AKIAOLD");
    EXPECT_EQ(cache.next(t0 + 2s), s3::credential_cache::action::use_cached);
    cache.refresh_soon();
    EXPECT_EQ(cache.next(t0 + 3s), s3::credential_cache::action::fetch);
    cache.on_fetched({"AKIANEW", "secret2", "", std::nullopt, "profile default"}, t0 + 3s);
    EXPECT_EQ(cache.next(t0 + 4s), s3::credential_cache::action::use_cached);
    EXPECT_EQ(cache.current()->access_key_id, "AKIANEW");
}

TEST(credential_cache, short_lived_credentials_are_not_fetched_on_every_request) {
    s3::credential_cache cache(300s, 30s);
    const wall_clock::time_point t0{std::chrono::hours(1000)};
    cache.on_fetched(expiring(t0 + 2min), t0); // already inside the refresh window
    EXPECT_EQ(cache.next(t0 + 10s), s3::credential_cache::action::use_cached);
    EXPECT_EQ(cache.next(t0 + 31s), s3::credential_cache::action::fetch);
}

// --- parsers ---

TEST(aws_ini, sections_comments_and_nested_blocks) {
    const auto s =
        s3::parse_aws_ini("# comment\n[default]\naws_access_key_id = AKIA1\nAWS_Secret_Access_Key=abc=def\n"
                          "; other\n[profile   prod]\nregion = eu-west-1\ns3 =\n    addressing_style = path\n"
                          "role_arn = arn:aws:iam::1:role/x\n");
    EXPECT_EQ(s.at("default").at("aws_access_key_id"), "AKIA1");
    EXPECT_EQ(s.at("default").at("aws_secret_access_key"), "abc=def");
    EXPECT_EQ(s.at("profile prod").at("region"), "eu-west-1");
    EXPECT_EQ(s.at("profile prod").at("role_arn"), "arn:aws:iam::1:role/x");
    EXPECT_EQ(s.at("profile prod").count("addressing_style"), 0u);
}

TEST(credential_documents, json_and_sts_xml) {
    auto c = s3::parse_credentials_json(R"({"Code":"Success","AccessKeyId":"AK","SecretAccessKey":"SK",)"
                                        R"("Token":"TK","Expiration":"2030-01-01T00:00:00Z"})",
                                        "imds");
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_EQ(c->session_token, "TK");
    EXPECT_EQ(iso(*c->expiration), "2030-01-01T00:00:00.000Z");
    EXPECT_FALSE(s3::parse_credentials_json("{}", "imds").ok());
    EXPECT_FALSE(s3::parse_credentials_json("nope", "imds").ok());
    auto e =
        s3::parse_sts_response("<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>bad &amp; "
                               "expired</Message></Error></ErrorResponse>");
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.error().find("InvalidIdentityToken: bad & expired"), std::string::npos) << e.error();
}

// --- the chain with real files ---

TEST_F(chain_test, environment_wins_and_partial_environment_is_refused) {
    auto s = settings();
    s.env.aws_access_key_id = "AKIAENV";
    s.env.aws_secret_access_key = "envsecret";
    s.env.aws_session_token = "envtoken";
    s3::credential_chain chain(web, s);
    auto c = get(chain);
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_EQ(c->access_key_id, "AKIAENV");
    EXPECT_EQ(c->session_token, "envtoken");
    EXPECT_EQ(chain.source(), "environment");

    s.env.aws_secret_access_key.clear();
    s3::credential_chain partial(web, s);
    auto p = get(partial);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error(), "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
}

TEST_F(chain_test, shared_credentials_and_config_files_with_profiles) {
    fs::create_directories(dir / ".aws");
    ASSERT_TRUE(
        write_file_atomically(dir / ".aws" / "credentials",
                              "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = d\n\n"
                              "[prod]\naws_access_key_id = AKIAPROD\naws_secret_access_key = p\n"
                              "aws_session_token = ptoken\n")
            .ok());
    ASSERT_TRUE(write_file_atomically(dir / ".aws" / "config",
                                      "[default]\nregion = us-east-1\n[profile staging]\n"
                                      "aws_access_key_id = AKIASTAGING\naws_secret_access_key = s\n")
                    .ok());
    auto s = settings();
    {
        s3::credential_chain chain(web, s);
        auto c = get(chain);
        ASSERT_TRUE(c.ok()) << c.error();
        EXPECT_EQ(c->access_key_id, "AKIADEFAULT");
        EXPECT_NE(chain.source().find("profile default"), std::string::npos);
    }
    s.env.aws_profile = "prod";
    {
        s3::credential_chain chain(web, s);
        auto c = get(chain);
        ASSERT_TRUE(c.ok()) << c.error();
        EXPECT_EQ(c->access_key_id, "AKIAPROD");
        EXPECT_EQ(c->session_token, "ptoken");
    }
    s.env.aws_profile = "staging"; // only in the config file, as [profile staging]
    {
        s3::credential_chain chain(web, s);
        auto c = get(chain);
        ASSERT_TRUE(c.ok()) << c.error();
        EXPECT_EQ(c->access_key_id, "AKIASTAGING");
    }
    s.env.aws_profile = "nope";
    {
        s3::credential_chain chain(web, s);
        auto c = get(chain);
        ASSERT_FALSE(c.ok());
        EXPECT_NE(c.error().find("AWS_PROFILE names profile 'nope'"), std::string::npos) << c.error();
    }
    // Explicit file locations beat ~/.aws.
    ASSERT_TRUE(write_file_atomically(dir / "elsewhere", "[default]\naws_access_key_id=AKIAELSE\n"
                                                         "aws_secret_access_key=e\n")
                    .ok());
    s.env.aws_profile.clear();
    s.env.aws_shared_credentials_file = (dir / "elsewhere").string();
    {
        s3::credential_chain chain(web, s);
        auto c = get(chain);
        ASSERT_TRUE(c.ok()) << c.error();
        EXPECT_EQ(c->access_key_id, "AKIAELSE");
    }
}

TEST_F(chain_test, nothing_configured_names_every_place_looked_at) {
    s3::credential_chain chain(web, settings());
    auto c = get(chain);
    ASSERT_FALSE(c.ok());
    for (const auto* place :
         {"environment", "web identity", "profile default", "ECS container", "EC2 instance metadata"})
        EXPECT_NE(c.error().find(place), std::string::npos) << place << " in " << c.error();
}

// --- test doubles for the AWS-only endpoints ---

TEST_F(chain_test, web_identity_through_sts_rereads_the_rotated_token) {
    std::vector<std::string> bodies;
    test::fake_http_server sts(ioc.get_executor(), [&](const test::fake_request& r) {
        bodies.push_back(r.body);
        const auto exp = iso(wall_clock::now() + 20min);
        return test::fake_reply{
            200,
            {{"Content-Type", "text/xml"}},
            fmt::format(
                "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIASTS{}</AccessKeyId>"
                "<SecretAccessKey>stssecret</SecretAccessKey><SessionToken>ststoken</SessionToken>"
                "<Expiration>{}</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
                "</AssumeRoleWithWebIdentityResponse>",
                bodies.size(), exp)};
    });
    ASSERT_TRUE(write_file_atomically(dir / "token", "jwt-one\n").ok());
    auto s = settings();
    s.env.aws_web_identity_token_file = (dir / "token").string();
    s.env.aws_role_arn = "arn:aws:iam::123456789012:role/lifeboat";
    s.env.aws_role_session_name = "node-1";
    s.sts_endpoint = sts.origin();
    s.refresh_before_expiry = 30min; // 20-minute credentials are due at once
    s.retry_failed_refresh = 0s;
    s3::credential_chain chain(web, s);
    log::capture logs;
    auto c = get(chain);
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_EQ(c->access_key_id, "ASIASTS1");
    EXPECT_EQ(c->session_token, "ststoken");
    ASSERT_EQ(bodies.size(), 1u);
    EXPECT_NE(bodies[0].find("Action=AssumeRoleWithWebIdentity"), std::string::npos);
    EXPECT_NE(bodies[0].find("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Flifeboat"),
              std::string::npos);
    EXPECT_NE(bodies[0].find("RoleSessionName=node-1"), std::string::npos);
    EXPECT_TRUE(bodies[0].ends_with("&WebIdentityToken=jwt-one")) << bodies[0]; // trimmed

    ASSERT_TRUE(write_file_atomically(dir / "token", "jwt-two").ok()); // Kubernetes rotated it
    auto again = get(chain);
    ASSERT_TRUE(again.ok()) << again.error();
    EXPECT_EQ(again->access_key_id, "ASIASTS2");
    ASSERT_EQ(bodies.size(), 2u);
    EXPECT_TRUE(bodies[1].ends_with("&WebIdentityToken=jwt-two")) << bodies[1];
    EXPECT_TRUE(logs.contains("S3 credentials refreshed"));
    for (const auto& line : logs.lines()) {
        EXPECT_EQ(line.find("stssecret"), std::string::npos) << line;
        EXPECT_EQ(line.find("ststoken"), std::string::npos) << line;
        EXPECT_EQ(line.find("jwt-"), std::string::npos) << line;
    }
}

TEST_F(chain_test, a_failed_refresh_keeps_the_valid_credentials_and_sts_errors_are_named) {
    int calls = 0;
    test::fake_http_server sts(ioc.get_executor(), [&](const test::fake_request&) {
        if (++calls == 1)
            return test::fake_reply{
                200,
                {},
                fmt::format("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                            "<Credentials><AccessKeyId>ASIAOK</AccessKeyId><SecretAccessKey>s"
                            "</SecretAccessKey><SessionToken>t</SessionToken><Expiration>{}"
                            "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
                            "</AssumeRoleWithWebIdentityResponse>",
                            iso(wall_clock::now() + 10min))};
        return test::fake_reply{403,
                                {},
                                "<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredTokenException</Code>"
                                "<Message>Token expired</Message></Error></ErrorResponse>"};
    });
    ASSERT_TRUE(write_file_atomically(dir / "token", "jwt").ok());
    auto s = settings();
    s.env.aws_web_identity_token_file = (dir / "token").string();
    s.env.aws_role_arn = "arn:aws:iam::1:role/r";
    s.sts_endpoint = sts.origin();
    s.refresh_before_expiry = 30min;
    s.retry_failed_refresh = 0s;
    s3::credential_chain chain(web, s);
    ASSERT_TRUE(get(chain).ok());
    log::capture logs;
    auto kept = get(chain); // refresh fails, the 10-minute credentials still work
    ASSERT_TRUE(kept.ok()) << kept.error();
    EXPECT_EQ(kept->access_key_id, "ASIAOK");
    EXPECT_TRUE(logs.contains("ExpiredTokenException")) << (logs.lines().empty() ? "" : logs.lines()[0]);
    chain.invalidate(); // the store said they are expired: now the error surfaces
    auto failed = get(chain);
    ASSERT_FALSE(failed.ok());
    EXPECT_NE(failed.error().find("HTTP 403: ExpiredTokenException: Token expired"), std::string::npos)
        << failed.error();
}

TEST_F(chain_test, ecs_container_credentials_relative_and_full_uri) {
    std::vector<std::string> seen;
    test::fake_http_server ecs(ioc.get_executor(), [&](const test::fake_request& r) {
        seen.push_back(r.target + " auth=" + std::string(r.headers["authorization"]));
        return test::fake_reply{200,
                                {{"Content-Type", "application/json"}},
                                fmt::format(R"({{"AccessKeyId":"ASIAECS","SecretAccessKey":"ecssecret",)"
                                            R"("Token":"ecstoken","Expiration":"{}"}})",
                                            iso(wall_clock::now() + 6h))};
    });
    auto s = settings();
    s.env.aws_container_credentials_relative_uri = "/v2/credentials/abc-123";
    s.ecs_endpoint = ecs.origin();
    {
        s3::credential_chain chain(web, s);
        auto c = get(chain);
        ASSERT_TRUE(c.ok()) << c.error();
        EXPECT_EQ(c->access_key_id, "ASIAECS");
        EXPECT_EQ(c->session_token, "ecstoken");
        EXPECT_EQ(chain.source(), "ECS container credentials");
    }
    s.env.aws_container_credentials_relative_uri.clear();
    s.env.aws_container_credentials_full_uri = ecs.origin() + "/creds";
    s.env.aws_container_authorization_token = "Bearer pod-token";
    {
        s3::credential_chain chain(web, s);
        ASSERT_TRUE(get(chain).ok());
    }
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], "/v2/credentials/abc-123 auth=");
    EXPECT_EQ(seen[1], "/creds auth=Bearer pod-token");

    s.env.aws_container_credentials_full_uri = "http://192.0.2.10/creds"; // not loopback, not TLS
    s3::credential_chain refused(web, s);
    auto r = get(refused);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("must point at a loopback address"), std::string::npos) << r.error();
}

TEST_F(chain_test, ec2_imdsv2_token_then_role_then_credentials) {
    std::vector<std::string> seen;
    test::fake_http_server imds(ioc.get_executor(), [&](const test::fake_request& r) {
        seen.push_back(r.method + " " + r.target);
        if (r.method == "PUT" && r.target == "/latest/api/token") {
            EXPECT_EQ(r.headers["x-aws-ec2-metadata-token-ttl-seconds"], "21600");
            return test::fake_reply{200, {}, "imds-session-token"};
        }
        if (r.headers["x-aws-ec2-metadata-token"] != "imds-session-token")
            return test::fake_reply{401, {}, ""}; // IMDSv2 refuses tokenless requests
        if (r.target == "/latest/meta-data/iam/security-credentials/")
            return test::fake_reply{200, {}, "lifeboat-role\n"};
        if (r.target == "/latest/meta-data/iam/security-credentials/lifeboat-role")
            return test::fake_reply{
                200,
                {},
                fmt::format(R"({{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS",)"
                            R"("SecretAccessKey":"imdssecret","Token":"imdstoken",)"
                            R"("Expiration":"{}"}})",
                            iso(wall_clock::now() + 6h))};
        return test::fake_reply{404, {}, ""};
    });
    auto s = settings();
    s.env.aws_ec2_metadata_disabled = false;
    s.imds_endpoint = imds.origin();
    s3::credential_chain chain(web, s);
    auto c = get(chain);
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_EQ(c->access_key_id, "ASIAIMDS");
    EXPECT_EQ(c->session_token, "imdstoken");
    EXPECT_EQ(chain.source(), "EC2 instance metadata (role lifeboat-role)");
    EXPECT_EQ(seen, (std::vector<std::string>{
                        "PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/",
                        "GET /latest/meta-data/iam/security-credentials/lifeboat-role"}));
    // Cached: a second get() does not ask again.
    ASSERT_TRUE(get(chain).ok());
    EXPECT_EQ(seen.size(), 3u);
}

// The store signs with the chain's session credentials, and when the store says the token has
// expired it fetches new ones and repeats the request once. The S3 endpoint here is a double
// too, since RGW has no STS in this setup.
TEST_F(chain_test, the_store_refreshes_credentials_on_expired_token) {
    int issued = 0;
    test::fake_http_server ecs(ioc.get_executor(), [&](const test::fake_request&) {
        ++issued;
        return test::fake_reply{
            200,
            {},
            fmt::format(R"({{"AccessKeyId":"ASIA{}","SecretAccessKey":"s","Token":"tok{}",)"
                        R"("Expiration":"{}"}})",
                        issued, issued, iso(wall_clock::now() + 6h))};
    });
    std::vector<std::string> tokens;
    test::fake_http_server s3_double(ioc.get_executor(), [&](const test::fake_request& r) {
        tokens.emplace_back(r.headers["x-amz-security-token"]);
        if (tokens.size() == 1)
            return test::fake_reply{400,
                                    {},
                                    "<Error><Code>ExpiredToken</Code><Message>The provided token has "
                                    "expired.</Message></Error>"};
        return test::fake_reply{200, {{"ETag", "\"abc\""}, {"Content-Type", "text/plain"}}, "hello"};
    });
    auto env = settings().env;
    env.aws_region = "us-east-1";
    env.aws_endpoint = s3_double.origin();
    env.aws_container_credentials_full_uri = ecs.origin() + "/creds";
    auto options = s3::s3_options::from_environment("bucket", env);
    ASSERT_TRUE(options.ok()) << options.error();
    auto store = s3::make_s3_store(ioc.get_executor(), *options);
    auto got = test::run_async(ioc, store->get("key"));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(got->bytes, "hello");
    EXPECT_EQ(tokens, (std::vector<std::string>{"tok1", "tok2"}));
}
