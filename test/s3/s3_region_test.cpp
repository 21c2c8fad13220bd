// A bucket in another region than the one configured. S3 answers a request signed for the wrong
// region with 301 PermanentRedirect or 400 AuthorizationHeaderMalformed, naming the bucket's
// region in x-amz-bucket-region or in the error's <Region>; the store re-signs for that region,
// retries once, remembers it for every later request and says so in the log once. The peer is a
// scripted S3 (fake_http_server): Ceph RGW has one region per zone group and cannot play this.
#include "backends/s3/s3_store.hpp"
#include "base/log.hpp"
#include "fake_http_server.hpp"
#include "harness/test_env.hpp"
#include "run_async.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

using namespace lifeboat;
using namespace std::chrono_literals;

namespace {

const std::string bucket_region = "eu-west-1";

// The region a request was signed for: Credential=<key>/<date>/<region>/s3/aws4_request.
std::string signed_region(const test::fake_request& r) {
    const std::string auth(r.headers["authorization"]);
    const auto cred = auth.find("Credential=");
    if (cred == std::string::npos)
        return {};
    const auto date_end = auth.find('/', auth.find('/', cred) + 1);
    return auth.substr(date_end + 1, auth.find('/', date_end + 1) - date_end - 1);
}

enum class wrong_region_answer {
    permanent_redirect,
    header_malformed,
    head_redirect,
    malformed_without_region
};

test::fake_reply refuse(wrong_region_answer how, const std::string& signed_for) {
    switch (how) {
    case wrong_region_answer::permanent_redirect:
        return {
            301,
            {{"x-amz-bucket-region", bucket_region}, {"Content-Type", "application/xml"}},
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PermanentRedirect</Code><Message>The "
            "bucket you are attempting to access must be addressed using the specified endpoint. Please "
            "send all future requests to this endpoint.</Message><Endpoint>bucket.s3.eu-west-1.amazonaws."
            "com</Endpoint><Bucket>bucket</Bucket><RequestId>R</RequestId></Error>"};
    case wrong_region_answer::header_malformed:
        return {400,
                {{"Content-Type", "application/xml"}},
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AuthorizationHeaderMalformed</"
                "Code><Message>The authorization header is malformed; the region '" +
                    signed_for + "' is wrong; expecting '" + bucket_region + "'</Message><Region>" +
                    bucket_region + "</Region><RequestId>R</RequestId></Error>"};
    case wrong_region_answer::head_redirect: // a HEAD answer has no body: the header alone
        return {301, {{"x-amz-bucket-region", bucket_region}}, ""};
    case wrong_region_answer::malformed_without_region:
        return {400,
                {},
                "<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is "
                "malformed</Message></Error>"};
    }
    return {500, {}, ""};
}

struct s3_regions : ::testing::Test {
    boost::asio::io_context ioc;
    std::vector<std::string> regions_seen;

    std::unique_ptr<test::fake_http_server> peer(wrong_region_answer how) {
        return std::make_unique<test::fake_http_server>(
            ioc.get_executor(), [this, how](const test::fake_request& r) {
                const auto region = signed_region(r);
                regions_seen.push_back(region);
                if (region != bucket_region)
                    return refuse(r.method == "HEAD" && how == wrong_region_answer::permanent_redirect
                                      ? wrong_region_answer::head_redirect
                                      : how,
                                  region);
                if (r.method == "PUT")
                    return test::fake_reply{200, {{"ETag", "\"e\""}}, ""};
                return test::fake_reply{200, {{"ETag", "\"e\""}, {"Content-Type", "application/json"}}, "{}"};
            });
    }
    std::unique_ptr<backends::object_store> store(const test::fake_http_server& server) {
        backends::store_environment env;
        env.aws_access_key_id = "AKIAREGIONS";
        env.aws_secret_access_key = "secret";
        env.aws_region = "us-east-1";
        env.aws_endpoint = server.origin();
        auto o = s3::s3_options::from_environment("bucket", env);
        EXPECT_TRUE(o.ok());
        o->retry.max_attempts = 2;
        o->retry.backoff = {5ms, 20ms, 1ms};
        return s3::make_s3_store(ioc.get_executor(), std::move(*o));
    }
    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }
};

std::size_t lines_with(const log::capture& logs, const std::string& needle) {
    return static_cast<std::size_t>(
        std::count_if(logs.lines().begin(), logs.lines().end(),
                      [&](const auto& l) { return l.find(needle) != std::string::npos; }));
}

const std::string region_warning = "the S3 bucket is in another region than configured";

} // namespace

TEST_F(s3_regions, a_permanent_redirect_is_followed_once_and_the_region_remembered) {
    auto server = peer(wrong_region_answer::permanent_redirect);
    auto s = store(*server);
    log::capture logs;
    auto got = run(s->get("kong/config.json"));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(regions_seen, (std::vector<std::string>{"us-east-1", bucket_region}));
    // Every later request is signed for the bucket's region at once, HEAD and PUT included.
    ASSERT_TRUE(run(s->head("kong/config.json")).ok());
    ASSERT_TRUE(run(s->put("kong/x", backends::body_source::from_string("{}"), {})).ok());
    EXPECT_EQ(regions_seen.size(), 4u);
    EXPECT_EQ(regions_seen.back(), bucket_region);
    EXPECT_EQ(lines_with(logs, region_warning), 1u);
    EXPECT_TRUE(logs.contains("configured=us-east-1 bucket_region=eu-west-1"));
}

TEST_F(s3_regions, authorization_header_malformed_naming_the_region_is_followed) {
    auto server = peer(wrong_region_answer::header_malformed);
    auto s = store(*server);
    log::capture logs;
    auto put = run(s->put("kong/config.json", backends::body_source::from_string("{\"a\":1}"), {}));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_EQ(regions_seen, (std::vector<std::string>{"us-east-1", bucket_region}));
    ASSERT_TRUE(run(s->get("kong/config.json")).ok());
    EXPECT_EQ(regions_seen.size(), 3u);
    EXPECT_EQ(lines_with(logs, region_warning), 1u);
}

TEST_F(s3_regions, a_head_redirect_names_the_region_in_its_header_alone) {
    auto server = peer(wrong_region_answer::permanent_redirect);
    auto s = store(*server);
    auto head = run(s->head("kong/config.json"));
    ASSERT_TRUE(head.ok()) << head.error().to_string();
    EXPECT_EQ(regions_seen, (std::vector<std::string>{"us-east-1", bucket_region}));
}

TEST_F(s3_regions, a_refusal_that_names_no_region_is_not_retried) {
    auto server = peer(wrong_region_answer::malformed_without_region);
    auto s = store(*server);
    log::capture logs;
    auto got = run(s->get("kong/config.json"));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(regions_seen.size(), 1u);
    EXPECT_NE(got.error().to_string().find("AuthorizationHeaderMalformed"), std::string::npos)
        << got.error().to_string();
    EXPECT_EQ(lines_with(logs, region_warning), 0u);
}

// A peer that keeps redirecting, whatever the region, gets one retry, not a loop.
TEST_F(s3_regions, a_redirect_after_the_retry_is_an_error_not_a_loop) {
    test::fake_http_server server(ioc.get_executor(), [this](const test::fake_request& r) {
        regions_seen.push_back(signed_region(r));
        return refuse(wrong_region_answer::permanent_redirect, regions_seen.back());
    });
    auto s = store(server);
    auto got = run(s->get("kong/config.json"));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(regions_seen, (std::vector<std::string>{"us-east-1", bucket_region}));
}
