// The S3 store over a misbehaving endpoint (fake_http_server standing in for S3, since RGW
// cannot be made to fail on cue): throttling, 5xx, resets and truncated bodies are retried
// within the budget; a partial object is never a success; a conditional write that meets a 5xx
// is "outcome unknown", never retried blindly.
#include "backends/s3/s3_store.hpp"
#include "backends/s3/sigv4.hpp"
#include "backends/store_factory.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "base/log.hpp"
#include "fake_http_server.hpp"
#include "harness/test_env.hpp"
#include "run_async.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace lifeboat;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using backends::store_errc;

namespace {

struct s3_faults : ::testing::Test {
    boost::asio::io_context ioc;
    fs::path dir = test::scratch_dir();

    std::unique_ptr<backends::object_store> store(const test::fake_http_server& server,
                                                  unsigned attempts = 3) {
        backends::store_environment env;
        env.aws_access_key_id = "AKIAFAULTS";
        env.aws_secret_access_key = "secret";
        env.aws_region = "us-east-1";
        env.aws_endpoint = server.origin();
        auto o = s3::s3_options::from_environment("bucket", env);
        EXPECT_TRUE(o.ok());
        o->retry.max_attempts = attempts;
        o->retry.backoff = {5ms, 20ms, 1ms};
        o->timeout = {1s, 500ms, 10s};
        return s3::make_s3_store(ioc.get_executor(), std::move(*o));
    }
    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }
};

const std::string slow_down =
    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

} // namespace

TEST_F(s3_faults, slow_down_is_retried_then_succeeds) {
    int calls = 0;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request& r) {
        EXPECT_EQ(r.target, "/bucket/k");
        EXPECT_NE(std::string(r.headers["authorization"]).find("Credential=AKIAFAULTS/"), std::string::npos);
        if (++calls < 3)
            return test::fake_reply{503, {}, slow_down};
        return test::fake_reply{200, {{"ETag", "\"e\""}}, "data"};
    });
    auto s = store(server);
    auto got = run(s->get("k"));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(got->bytes, "data");
    EXPECT_EQ(calls, 3);
}

TEST_F(s3_faults, persistent_slow_down_is_reported_as_throttled_with_the_store_message) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        return test::fake_reply{503, {}, slow_down};
    });
    auto s = store(server);
    auto got = run(s->get("k"));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, store_errc::throttled);
    EXPECT_EQ(got.error().provider_code, "SlowDown");
    EXPECT_TRUE(got.error().retryable());
    EXPECT_EQ(got.error().to_string(),
              "GET bucket/k: 503 SlowDown: Please reduce your request rate. (3 attempts)");
    EXPECT_EQ(server.requests(), 3u);
}

TEST_F(s3_faults, request_timeout_400_is_retried) {
    int calls = 0;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        if (++calls == 1)
            return test::fake_reply{400, {}, "<Error><Code>RequestTimeout</Code></Error>"};
        return test::fake_reply{200, {{"ETag", "\"e\""}}, ""};
    });
    auto s = store(server);
    auto put = run(s->put("k", backends::body_source::from_string("x"), backends::put_options()));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_EQ(calls, 2);
}

TEST_F(s3_faults, a_truncated_download_never_succeeds_and_leaves_no_file) {
    const std::string body(300000, 'z');
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        test::fake_reply r{200, {{"ETag", "\"e\""}}, body};
        r.kind = test::fault::truncate;
        r.cut_at = 100000;
        return r;
    });
    auto s = store(server);
    auto got = run(s->get_to_file("k", dir / "obj"));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, store_errc::network);
    EXPECT_TRUE(got.error().retryable());
    EXPECT_NE(got.error().message.find("before the whole body arrived"), std::string::npos)
        << got.error().message;
    EXPECT_FALSE(fs::exists(dir / "obj"));
    EXPECT_EQ(server.requests(), 3u);
    auto mem = run(s->get("k"));
    ASSERT_FALSE(mem.ok());
    EXPECT_EQ(mem.error().code, store_errc::network);
}

TEST_F(s3_faults, a_reset_then_a_complete_answer_gives_the_whole_object) {
    const std::string body(500000, 'q');
    int calls = 0;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        test::fake_reply r{200, {{"ETag", "\"e\""}}, body};
        if (++calls == 1) {
            r.kind = test::fault::reset_mid_body;
            r.cut_at = 200000;
        }
        return r;
    });
    auto s = store(server);
    auto got = run(s->get_to_file("k", dir / "obj"));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(got->size, body.size());
    EXPECT_TRUE(read_whole_file(dir / "obj").value() == body);
}

TEST_F(s3_faults, a_stalled_store_times_out_within_the_budget) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        test::fake_reply r{200, {{"ETag", "\"e\""}}, std::string(1000, 'x')};
        r.kind = test::fault::stall;
        r.cut_at = 10;
        r.stall = 5s;
        return r;
    });
    auto s = store(server, 2);
    const auto start = std::chrono::steady_clock::now();
    auto got = run(s->get("k"));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, store_errc::timeout);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(s3_faults, a_5xx_on_a_conditional_write_is_outcome_unknown_and_not_retried) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request& r) {
        EXPECT_EQ(r.headers["if-none-match"], "*");
        return test::fake_reply{500, {}, "<Error><Code>UnknownError</Code><Message></Message></Error>"};
    });
    auto s = store(server);
    backends::put_options po;
    po.condition = backends::write_condition::if_absent;
    auto put = run(s->put("leader", backends::body_source::from_string("me"), po));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, store_errc::conflict);
    EXPECT_NE(put.error().message.find("outcome unknown: re-read"), std::string::npos) << put.error().message;
    EXPECT_EQ(server.requests(), 1u);
}

TEST_F(s3_faults, a_connection_lost_after_a_conditional_write_was_sent_is_outcome_unknown) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        return test::fake_reply{200, {}, "", test::fault::close_before_reply};
    });
    auto s = store(server);
    backends::put_options po;
    po.condition = backends::write_condition::if_match;
    po.expected_version = "abc";
    auto put = run(s->put("leader", backends::body_source::from_string("me"), po));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, store_errc::conflict);
    EXPECT_EQ(server.requests(), 1u);
}

TEST_F(s3_faults, errors_reach_the_log_with_code_and_message) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        return test::fake_reply{
            403, {}, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"};
    });
    auto s = store(server);
    log::capture logs;
    auto got = run(s->get("k"));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, store_errc::access_denied);
    EXPECT_TRUE(logs.contains("code=AccessDenied")) << (logs.lines().empty() ? "" : logs.lines().back());
    EXPECT_TRUE(logs.contains("Access Denied"));
}

// Over TLS: the CA bundle from AWS_CA_BUNDLE is what the store trusts, and with
// unsigned_payload_over_tls the body is not hashed (TLS protects it in transit). Over plain
// HTTP the payload's SHA-256 is always signed.
TEST_F(s3_faults, tls_endpoint_with_aws_ca_bundle_and_unsigned_payload) {
    const auto pki = test::make_test_pki(dir.string(), "DNS:localhost,IP:127.0.0.1");
    std::vector<std::string> hashes, bodies;
    test::fake_http_server server(
        ioc.get_executor(),
        [&](const test::fake_request& r) {
            hashes.emplace_back(r.headers["x-amz-content-sha256"]);
            bodies.push_back(r.body);
            return test::fake_reply{200, {{"ETag", "\"e\""}}, ""};
        },
        test::server_tls_context(pki));
    backends::store_environment env;
    env.aws_access_key_id = "AKIATLS";
    env.aws_secret_access_key = "secret";
    env.aws_region = "us-east-1";
    env.aws_endpoint = "https://localhost:" + std::to_string(server.port());
    env.aws_ca_bundle = pki.ca_file;
    auto o = s3::s3_options::from_environment("bucket", env);
    ASSERT_TRUE(o.ok());
    auto signed_store = s3::make_s3_store(ioc.get_executor(), *o);
    ASSERT_TRUE(
        run(signed_store->put("k", backends::body_source::from_string("abc"), backends::put_options())).ok());
    // A large signed body over TLS carries its SHA-256 too: aws-chunked is for plain HTTP only.
    const std::string large = test::random_bytes(2 << 20, 34);
    ASSERT_TRUE(run(signed_store->put("k", backends::body_source::from_string(large), {})).ok());
    EXPECT_EQ(hashes.back(), sha256_hex(large));
    EXPECT_TRUE(bodies.back() == large);
    hashes.pop_back();
    o->unsigned_payload_over_tls = true;
    auto unsigned_store = s3::make_s3_store(ioc.get_executor(), *o);
    auto put =
        run(unsigned_store->put("k", backends::body_source::from_string("abc"), backends::put_options()));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_EQ(hashes,
              (std::vector<std::string>{"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                                        "UNSIGNED-PAYLOAD"}));

    // The same through the configuration (s3_unsigned_payload_over_tls reaches the store with the
    // environment): a large body goes as it is, neither hashed nor framed.
    env.s3_unsigned_payload_over_tls = true;
    auto configured = backends::make_object_store(ioc.get_executor(), "s3://bucket/prefix", env);
    ASSERT_TRUE(configured.ok()) << configured.error();
    const std::string big = test::random_bytes(3 << 20, 33);
    hashes.clear();
    ASSERT_TRUE(run((*configured)->put("big", backends::body_source::from_string(big), {})).ok());
    EXPECT_EQ(hashes, std::vector<std::string>{"UNSIGNED-PAYLOAD"});
    EXPECT_TRUE(bodies.back() == big);
    env.s3_unsigned_payload_over_tls = false;

    env.aws_ca_bundle.clear(); // the system store does not know the test CA
    auto untrusted =
        s3::make_s3_store(ioc.get_executor(), s3::s3_options::from_environment("bucket", env).value());
    auto refused = run(untrusted->head("k"));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, store_errc::protocol);
    EXPECT_FALSE(refused.error().retryable());
    EXPECT_NE(refused.error().message.find("certificate verification failed"), std::string::npos)
        << refused.error().message;
}

// What the store sends for a signed body over plain HTTP: at or above streaming_threshold, an
// aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, x-amz-decoded-content-length, frames of
// streaming_chunk_size whose data is the payload) and no Content-Encoding to an S3-compatible
// endpoint; below it, one PUT carrying the payload's SHA-256. (RGW checks the signatures: see
// s3_streaming_rgw_test.cpp.)
TEST_F(s3_faults, a_large_signed_body_streams_aws_chunked_and_a_small_one_carries_its_hash) {
    std::vector<test::fake_request> seen;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request& r) {
        seen.push_back(r);
        return test::fake_reply{200, {{"ETag", "\"e\""}}, ""};
    });
    backends::store_environment env;
    env.aws_access_key_id = "AKIASTREAM";
    env.aws_secret_access_key = "secret";
    env.aws_region = "us-east-1";
    env.aws_endpoint = server.origin();
    auto o = s3::s3_options::from_environment("bucket", env);
    ASSERT_TRUE(o.ok());
    o->streaming_threshold = 100000;
    o->streaming_chunk_size = 32 * 1024;
    auto s = s3::make_s3_store(ioc.get_executor(), *o);
    const std::string big = test::random_bytes(100000, 31), small = test::random_bytes(99999, 32);
    ASSERT_TRUE(write_file_atomically(dir / "big.bin", big).ok());
    backends::put_options po;
    po.s3_fields = {{"ContentEncoding", "gzip"}};
    ASSERT_TRUE(run(s->put("big", backends::body_source::from_file(dir / "big.bin"), po)).ok());
    ASSERT_TRUE(run(s->put("small", backends::body_source::from_string(small), {})).ok());
    ASSERT_EQ(seen.size(), 2u);

    const auto& streamed = seen[0];
    EXPECT_EQ(streamed.headers["x-amz-content-sha256"], "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    EXPECT_EQ(streamed.headers["x-amz-decoded-content-length"], "100000");
    EXPECT_EQ(streamed.headers[http::field::content_encoding], "gzip"); // the object's own, alone
    EXPECT_EQ(streamed.headers[http::field::content_length], std::to_string(streamed.body.size()));
    EXPECT_EQ(streamed.body.size(), s3::aws_chunked_length(100000, 32 * 1024));
    // Decode the frames: "<hex>;chunk-signature=<64 hex>\r\n<data>\r\n", the last one empty.
    std::string decoded;
    std::vector<std::size_t> sizes;
    for (std::size_t pos = 0; pos < streamed.body.size();) {
        const auto semi = streamed.body.find(';', pos);
        ASSERT_NE(semi, std::string::npos);
        const auto size = std::stoul(streamed.body.substr(pos, semi - pos), nullptr, 16);
        ASSERT_EQ(streamed.body.substr(semi, 17), ";chunk-signature=");
        EXPECT_TRUE(is_lower_hex(streamed.body.substr(semi + 17, 64), 64));
        const auto data = semi + 17 + 64 + 2;
        decoded += streamed.body.substr(data, size);
        EXPECT_EQ(streamed.body.substr(data + size, 2), "\r\n");
        sizes.push_back(size);
        pos = data + size + 2;
    }
    EXPECT_EQ(sizes, (std::vector<std::size_t>{32768, 32768, 32768, 1696, 0}));
    EXPECT_TRUE(decoded == big);
    const auto auth = std::string(streamed.headers[http::field::authorization]);
    EXPECT_NE(auth.find("content-encoding;content-type;host;x-amz-content-sha256;x-amz-date;"
                        "x-amz-decoded-content-length"),
              std::string::npos)
        << auth;

    EXPECT_EQ(seen[1].headers["x-amz-content-sha256"], sha256_hex(small));
    EXPECT_EQ(seen[1].headers["x-amz-decoded-content-length"], "");
    EXPECT_TRUE(seen[1].body == small);
}
