// http::client against a local scriptable server (fake_http_server): keep-alive reuse, streamed
// bodies both ways, and the faults a real network produces (5xx, 429, resets mid-body, stalls,
// truncated bodies, a closed keep-alive connection), plus TLS verification with a throwaway CA.
#include "backends/http/client.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "fake_http_server.hpp"
#include "harness/test_env.hpp"
#include "run_async.hpp"

#include <boost/asio/io_context.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <vector>

using namespace lifeboat;
using test::random_bytes;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

http::request get(const test::fake_http_server& server, std::string target = "/x") {
    http::request r;
    r.method = http::verb::get;
    r.server = http::origin::parse(server.origin()).value();
    r.target = std::move(target);
    return r;
}

http::client_options fast_options() {
    http::client_options o;
    o.retry.max_attempts = 4;
    o.retry.backoff = {10ms, 50ms, 1ms};
    o.timeout = {2s, 2s, 20s};
    o.jitter_seed = 7;
    return o;
}

bool no_temp_files(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp-") != std::string::npos)
            return false;
    return true;
}

struct http_client : ::testing::Test {
    boost::asio::io_context ioc;
    fs::path dir = test::scratch_dir();
};

} // namespace

TEST(http_origin, parses_and_refuses_clearly) {
    auto o = http::origin::parse("https://s3.eu-west-1.amazonaws.com");
    ASSERT_TRUE(o.ok());
    EXPECT_TRUE(o->tls);
    EXPECT_EQ(o->port, 443);
    EXPECT_EQ(o->host_header(), "s3.eu-west-1.amazonaws.com");
    auto p = http::origin::parse("http://127.0.0.1:17480/");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->host_header(), "127.0.0.1:17480");
    auto v6 = http::origin::parse("http://[::1]:9000");
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->host_header(), "[::1]:9000");
    EXPECT_FALSE(http::origin::parse("ftp://x").ok());
    EXPECT_NE(http::origin::parse("ftp://x").error().find("http or https"), std::string::npos);
    EXPECT_FALSE(http::origin::parse("http://x:99999").ok());
    EXPECT_FALSE(http::origin::parse("http://x/path").ok());
    auto s = http::split_url("https://h:8443/a%20b/c?x=1&y=2");
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->target, "/a%20b/c?x=1&y=2");
    EXPECT_EQ(s->server.port, 8443);
}

TEST(http_encoding, percent_round_trip) {
    EXPECT_EQ(http::percent_encode("a b/c+~"), "a%20b%2Fc%2B~");
    EXPECT_EQ(http::percent_encode("a b/c", true), "a%20b/c");
    EXPECT_EQ(http::percent_decode("a%20b%2Fc+").value(), "a b/c+");
    EXPECT_FALSE(http::percent_decode("%zz").has_value());
    EXPECT_FALSE(http::percent_decode("%2").has_value());
}

TEST_F(http_client, keep_alive_reuses_one_connection) {
    test::fake_http_server server(ioc.get_executor(), [](const test::fake_request& r) {
        return test::fake_reply{200, {{"Content-Type", "text/plain"}}, "hello " + r.target};
    });
    http::client web(ioc.get_executor(), fast_options());
    for (int i = 0; i < 3; ++i) {
        auto res = test::run_async(ioc, web.send(get(server, "/k" + std::to_string(i))));
        ASSERT_TRUE(res.ok()) << res.error().message;
        EXPECT_EQ(res->status, 200u);
        EXPECT_EQ(res->body, "hello /k" + std::to_string(i));
        EXPECT_EQ(res->header(http::field::content_type), "text/plain");
    }
    EXPECT_EQ(web.connections_opened(), 1u);
    EXPECT_EQ(server.connections(), 1u);
    EXPECT_EQ(web.idle_connections(), 1u);
}

TEST_F(http_client, uploads_a_file_in_chunks_and_downloads_to_a_file) {
    const std::string payload = random_bytes(3 * 1024 * 1024 + 123);
    ASSERT_TRUE(write_file_atomically(dir / "up.bin", payload).ok());
    std::string stored;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request& r) {
        if (r.method == "PUT") {
            stored = r.body;
            return test::fake_reply{200, {}, ""};
        }
        return test::fake_reply{200, {}, stored};
    });
    http::client web(ioc.get_executor(), fast_options());
    auto put = get(server, "/obj");
    put.method = http::verb::put;
    put.body = http::request_body::from_file(dir / "up.bin");
    auto res = test::run_async(ioc, web.send(put));
    ASSERT_TRUE(res.ok()) << res.error().message;
    EXPECT_EQ(stored.size(), payload.size());
    EXPECT_TRUE(stored == payload);

    // A file range and memory parts around it, as a GCS multipart upload sends them.
    auto mixed = get(server, "/obj");
    mixed.method = http::verb::put;
    mixed.body.parts.push_back(http::memory_part{std::make_shared<const std::string>("<<")});
    mixed.body.parts.push_back(http::file_part{dir / "up.bin", 10, 1000});
    mixed.body.parts.push_back(http::memory_part{std::make_shared<const std::string>(">>")});
    ASSERT_TRUE(test::run_async(ioc, web.send(mixed)).ok());
    EXPECT_EQ(stored, "<<" + payload.substr(10, 1000) + ">>");

    ASSERT_TRUE(test::run_async(ioc, web.send(put)).ok());
    auto down = get(server, "/obj");
    down.sink = http::to_file{dir / "down.bin"};
    std::uint64_t observed = 0;
    std::get<http::to_file>(down.sink).observe = [&](std::uint64_t offset, std::string_view chunk) {
        EXPECT_EQ(offset, observed);
        observed += chunk.size();
    };
    auto got = test::run_async(ioc, web.send(down));
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_TRUE(got->body_in_file);
    EXPECT_TRUE(got->body.empty());
    EXPECT_EQ(got->body_bytes, payload.size());
    EXPECT_EQ(observed, payload.size());
    EXPECT_TRUE(read_whole_file(dir / "down.bin").value() == payload);
    EXPECT_TRUE(no_temp_files(dir));
}

TEST_F(http_client, a_file_that_shrinks_is_never_sent_short) {
    ASSERT_TRUE(write_file_atomically(dir / "f", "0123456789").ok());
    test::fake_http_server server(ioc.get_executor(),
                                  [](const test::fake_request&) { return test::fake_reply{}; });
    http::client web(ioc.get_executor(), fast_options());
    auto put = get(server);
    put.method = http::verb::put;
    put.body = http::request_body::from_file_range(dir / "f", 5, 50);
    auto res = test::run_async(ioc, web.send(put));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, http::errc::local_io);
    EXPECT_NE(res.error().message.find("past the end"), std::string::npos) << res.error().message;
    EXPECT_EQ(server.requests(), 0u);
}

TEST_F(http_client, retries_5xx_then_succeeds) {
    int calls = 0;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        ++calls;
        if (calls == 1)
            return test::fake_reply{500, {}, "oops"};
        if (calls == 2)
            return test::fake_reply{503, {}, "<Error><Code>SlowDown</Code></Error>"};
        return test::fake_reply{200, {}, "finally"};
    });
    http::client web(ioc.get_executor(), fast_options());
    auto res = test::run_async(ioc, web.send(get(server)));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->status, 200u);
    EXPECT_EQ(res->body, "finally");
    EXPECT_EQ(res->attempts, 3u);
}

TEST_F(http_client, gives_back_the_last_5xx_when_the_attempts_are_used_up) {
    test::fake_http_server server(ioc.get_executor(), [](const test::fake_request&) {
        return test::fake_reply{503, {}, "busy"};
    });
    http::client web(ioc.get_executor(), fast_options());
    auto res = test::run_async(ioc, web.send(get(server)));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->status, 503u);
    EXPECT_EQ(res->attempts, 4u);
    EXPECT_EQ(server.requests(), 4u);
}

TEST_F(http_client, honours_429_and_a_custom_retryable_response) {
    int calls = 0;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        ++calls;
        if (calls == 1)
            return test::fake_reply{429, {{"Retry-After", "0"}}, ""};
        if (calls == 2)
            return test::fake_reply{400, {}, "<Error><Code>RequestTimeout</Code></Error>"};
        return test::fake_reply{200, {}, "ok"};
    });
    auto options = fast_options();
    options.retry.retryable_response = [](const http::response& r) {
        return r.status == 400 && r.body.find("<Code>RequestTimeout</Code>") != std::string::npos;
    };
    http::client web(ioc.get_executor(), options);
    auto res = test::run_async(ioc, web.send(get(server)));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->status, 200u);
    EXPECT_EQ(res->attempts, 3u);
}

TEST_F(http_client, a_reset_mid_body_is_retried_and_the_file_is_complete) {
    const std::string payload = random_bytes(1 << 20, 3);
    int calls = 0;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        ++calls;
        test::fake_reply r{200, {}, payload};
        if (calls == 1) {
            r.kind = test::fault::reset_mid_body;
            r.cut_at = payload.size() / 2;
        }
        return r;
    });
    http::client web(ioc.get_executor(), fast_options());
    auto req = get(server);
    req.sink = http::to_file{dir / "obj"};
    auto res = test::run_async(ioc, web.send(req));
    ASSERT_TRUE(res.ok()) << res.error().message;
    EXPECT_EQ(res->attempts, 2u);
    EXPECT_TRUE(read_whole_file(dir / "obj").value() == payload);
    EXPECT_TRUE(no_temp_files(dir));
}

TEST_F(http_client, a_truncated_body_is_never_success) {
    const std::string payload = random_bytes(200000, 4);
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        test::fake_reply r{200, {}, payload};
        r.kind = test::fault::truncate;
        r.cut_at = 150000;
        return r;
    });
    auto options = fast_options();
    options.retry.max_attempts = 3;
    http::client web(ioc.get_executor(), options);

    auto to_file = get(server);
    to_file.sink = http::to_file{dir / "obj"};
    auto res = test::run_async(ioc, web.send(to_file));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, http::errc::network);
    EXPECT_EQ(res.error().attempts, 3u);
    EXPECT_NE(res.error().message.find("before the whole body arrived"), std::string::npos)
        << res.error().message;
    EXPECT_FALSE(fs::exists(dir / "obj"));
    EXPECT_TRUE(no_temp_files(dir));

    auto to_memory = test::run_async(ioc, web.send(get(server)));
    ASSERT_FALSE(to_memory.ok());
    EXPECT_EQ(to_memory.error().code, http::errc::network);
}

TEST_F(http_client, an_existing_target_survives_a_failed_download) {
    ASSERT_TRUE(write_file_atomically(dir / "obj", "previous").ok());
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        test::fake_reply r{200, {}, std::string(100000, 'x')};
        r.kind = test::fault::reset_mid_body;
        r.cut_at = 50000;
        return r;
    });
    http::client web(ioc.get_executor(), fast_options());
    auto req = get(server);
    req.sink = http::to_file{dir / "obj"};
    ASSERT_FALSE(test::run_async(ioc, web.send(req)).ok());
    EXPECT_EQ(read_whole_file(dir / "obj").value(), "previous");
    EXPECT_TRUE(no_temp_files(dir));
}

namespace {

// What a to_stream sink saw: how often a body started (with which length) and the bytes since
// the last start.
struct stream_record {
    std::vector<std::optional<std::uint64_t>> starts;
    std::string bytes;
    std::size_t chunks = 0;

    http::to_stream sink(std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max()) {
        http::to_stream s;
        s.max_bytes = max_bytes;
        s.start = [this](std::optional<std::uint64_t> length) {
            starts.push_back(length);
            bytes.clear();
        };
        s.write = [this](std::string_view chunk) -> std::optional<std::string> {
            bytes.append(chunk);
            ++chunks;
            return std::nullopt;
        };
        return s;
    }
};

} // namespace

TEST_F(http_client, a_stream_sink_gets_the_body_chunk_by_chunk_and_nothing_is_kept) {
    const std::string payload = random_bytes(3 * 1024 * 1024 + 17, 11);
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        return test::fake_reply{200, {}, payload};
    });
    http::client web(ioc.get_executor(), fast_options());
    stream_record seen;
    auto req = get(server);
    req.sink = seen.sink();
    auto res = test::run_async(ioc, web.send(req));
    ASSERT_TRUE(res.ok()) << res.error().message;
    ASSERT_EQ(seen.starts.size(), 1u);
    EXPECT_EQ(seen.starts[0], std::optional<std::uint64_t>(payload.size()));
    EXPECT_TRUE(seen.bytes == payload);
    EXPECT_GT(seen.chunks, 1u); // delivered as it arrived, not in one piece at the end
    EXPECT_TRUE(res->body.empty());
    EXPECT_FALSE(res->body_in_file);
    EXPECT_EQ(res->body_bytes, payload.size());
    EXPECT_TRUE(fs::is_empty(dir));
}

TEST_F(http_client, a_stream_sink_starts_over_when_an_attempt_is_retried) {
    const std::string payload = random_bytes(1 << 20, 12);
    int calls = 0;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        test::fake_reply r{200, {}, payload};
        if (++calls == 1) {
            r.kind = test::fault::reset_mid_body;
            r.cut_at = payload.size() / 2;
        }
        return r;
    });
    http::client web(ioc.get_executor(), fast_options());
    stream_record seen;
    std::size_t bytes_before_restart = 0;
    auto req = get(server);
    auto sink = seen.sink();
    sink.start = [&, inner = sink.start](std::optional<std::uint64_t> length) {
        bytes_before_restart = seen.bytes.size();
        inner(length);
    };
    req.sink = sink;
    auto res = test::run_async(ioc, web.send(req));
    ASSERT_TRUE(res.ok()) << res.error().message;
    EXPECT_EQ(res->attempts, 2u);
    EXPECT_EQ(seen.starts.size(), 2u);
    EXPECT_GT(bytes_before_restart, 0u); // the first attempt had delivered part of the body
    EXPECT_TRUE(seen.bytes == payload);
}

TEST_F(http_client, a_stream_sink_refusing_the_bytes_stops_the_request_without_a_retry) {
    const std::string payload(2 << 20, 'x');
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        return test::fake_reply{200, {}, payload};
    });
    http::client web(ioc.get_executor(), fast_options());
    std::uint64_t seen = 0;
    auto req = get(server);
    http::to_stream sink;
    sink.write = [&](std::string_view chunk) -> std::optional<std::string> {
        seen += chunk.size();
        return seen > 300000 ? std::optional<std::string>("not a config") : std::nullopt;
    };
    req.sink = sink;
    auto res = test::run_async(ioc, web.send(req));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, http::errc::local_io);
    EXPECT_EQ(res.error().attempts, 1u);
    EXPECT_NE(res.error().message.find("not a config"), std::string::npos) << res.error().message;
    EXPECT_LT(seen, payload.size()); // stopped at once, not after the whole body
    EXPECT_EQ(server.requests(), 1u);
}

TEST_F(http_client, a_stream_sink_has_a_cap_and_never_sees_error_bodies) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request& r) {
        if (r.target == "/big")
            return test::fake_reply{200, {}, std::string(5000, 'b')};
        return test::fake_reply{404, {}, "<Error><Code>NoSuchKey</Code></Error>"};
    });
    http::client web(ioc.get_executor(), fast_options());
    stream_record seen;
    auto big = get(server, "/big");
    big.sink = seen.sink(1000);
    auto res = test::run_async(ioc, web.send(big));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, http::errc::too_large);
    EXPECT_TRUE(seen.bytes.empty());

    stream_record missing_seen;
    auto missing = get(server, "/missing");
    missing.sink = missing_seen.sink();
    auto nf = test::run_async(ioc, web.send(missing));
    ASSERT_TRUE(nf.ok());
    EXPECT_EQ(nf->status, 404u);
    EXPECT_NE(nf->body.find("NoSuchKey"), std::string::npos);
    EXPECT_TRUE(missing_seen.starts.empty());
    EXPECT_TRUE(missing_seen.bytes.empty());
}

TEST_F(http_client, a_stall_hits_the_idle_timeout_within_the_total_budget) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        test::fake_reply r{200, {}, std::string(10000, 'x')};
        r.kind = test::fault::stall;
        r.cut_at = 10;
        r.stall = 3s;
        return r;
    });
    auto options = fast_options();
    options.timeout = {1s, 200ms, 1500ms};
    http::client web(ioc.get_executor(), options);
    const auto start = std::chrono::steady_clock::now();
    auto res = test::run_async(ioc, web.send(get(server)));
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, http::errc::timeout);
    EXPECT_GE(res.error().attempts, 2u); // each attempt stalls 200 ms, then retries
    EXPECT_LT(took, 2500ms);
}

TEST_F(http_client, a_stall_shorter_than_the_idle_timeout_is_fine) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        test::fake_reply r{200, {}, "abcdef"};
        r.kind = test::fault::stall;
        r.cut_at = 3;
        r.stall = 100ms;
        return r;
    });
    http::client web(ioc.get_executor(), fast_options());
    auto res = test::run_async(ioc, web.send(get(server)));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->body, "abcdef");
    EXPECT_EQ(res->attempts, 1u);
}

TEST_F(http_client, a_request_that_is_not_idempotent_is_not_re_sent) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        return test::fake_reply{500, {}, "<Error><Code>UnknownError</Code></Error>"};
    });
    http::client web(ioc.get_executor(), fast_options());
    auto put = get(server);
    put.method = http::verb::put;
    put.body = http::request_body::from_string("cas");
    put.idempotent = false;
    auto res = test::run_async(ioc, web.send(put));
    ASSERT_TRUE(res.ok());
    EXPECT_EQ(res->status, 500u);
    EXPECT_EQ(res->attempts, 1u);
    EXPECT_EQ(server.requests(), 1u);

    test::fake_http_server closer(ioc.get_executor(), [&](const test::fake_request&) {
        return test::fake_reply{200, {}, "", test::fault::close_before_reply};
    });
    auto put2 = put;
    put2.server = http::origin::parse(closer.origin()).value();
    auto lost = test::run_async(ioc, web.send(put2));
    ASSERT_FALSE(lost.ok());
    EXPECT_EQ(lost.error().code, http::errc::network);
    EXPECT_TRUE(lost.error().maybe_sent);
    EXPECT_EQ(lost.error().attempts, 1u);
    EXPECT_EQ(closer.requests(), 1u);
}

TEST_F(http_client, a_keep_alive_connection_closed_by_the_server_is_replaced) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        test::fake_reply r{200, {}, "ok"};
        r.close_after = true; // closes without announcing it
        return r;
    });
    http::client web(ioc.get_executor(), fast_options());
    for (int i = 0; i < 3; ++i) {
        auto res = test::run_async(ioc, web.send(get(server)));
        ASSERT_TRUE(res.ok()) << res.error().message;
        EXPECT_EQ(res->attempts, 1u);
        // Let the FIN arrive so the pool sees the connection closed.
        boost::asio::steady_timer t(ioc, 20ms);
        test::run_async(ioc, [&]() -> boost::asio::awaitable<int> {
            co_await t.async_wait(boost::asio::use_awaitable);
            co_return 0;
        }());
    }
    EXPECT_EQ(server.requests(), 3u);
}

TEST_F(http_client, memory_cap_and_error_bodies_with_a_file_sink) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request& r) {
        if (r.target == "/big")
            return test::fake_reply{200, {}, std::string(5000, 'b')};
        return test::fake_reply{
            404, {{"Content-Type", "application/xml"}}, "<Error><Code>NoSuchKey</Code></Error>"};
    });
    http::client web(ioc.get_executor(), fast_options());
    auto big = get(server, "/big");
    big.sink = http::to_memory{1000};
    auto res = test::run_async(ioc, web.send(big));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, http::errc::too_large);
    EXPECT_EQ(res.error().attempts, 1u);

    auto missing = get(server, "/missing");
    missing.sink = http::to_file{dir / "never"};
    auto nf = test::run_async(ioc, web.send(missing));
    ASSERT_TRUE(nf.ok());
    EXPECT_EQ(nf->status, 404u);
    EXPECT_FALSE(nf->body_in_file);
    EXPECT_NE(nf->body.find("NoSuchKey"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir / "never"));
}

TEST_F(http_client, head_reads_no_body_and_keeps_the_connection) {
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request&) {
        return test::fake_reply{200, {{"Content-Length", "12345"}, {"ETag", "\"abc\""}}, ""};
    });
    http::client web(ioc.get_executor(), fast_options());
    auto head = get(server);
    head.method = http::verb::head;
    for (int i = 0; i < 2; ++i) {
        auto res = test::run_async(ioc, web.send(head));
        ASSERT_TRUE(res.ok()) << res.error().message;
        EXPECT_EQ(res->header("etag"), "\"abc\"");
        EXPECT_EQ(res->body_bytes, 0u);
    }
    EXPECT_EQ(web.connections_opened(), 1u);
}

TEST_F(http_client, connection_refused_is_retried_then_reported) {
    const auto port = test::free_port();
    http::client web(ioc.get_executor(), fast_options());
    http::request r;
    r.server = http::origin::parse("http://127.0.0.1:" + std::to_string(port)).value();
    auto res = test::run_async(ioc, web.send(r));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, http::errc::connect);
    EXPECT_EQ(res.error().attempts, 4u);
    EXPECT_FALSE(res.error().maybe_sent);
    EXPECT_NE(res.error().message.find("Connection refused"), std::string::npos) << res.error().message;
}

TEST_F(http_client, before_send_signs_every_attempt) {
    std::vector<std::string> seen;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request& r) {
        seen.emplace_back(r.headers["x-attempt"]);
        return test::fake_reply{seen.size() < 2 ? 503u : 200u, {}, ""};
    });
    http::client web(ioc.get_executor(), fast_options());
    auto r = get(server);
    int n = 0;
    r.before_send = [&](const http::request&, http::fields& h) -> std::optional<std::string> {
        EXPECT_FALSE(h[http::field::host].empty());
        h.set("x-attempt", std::to_string(++n));
        return std::nullopt;
    };
    ASSERT_TRUE(test::run_async(ioc, web.send(r)).ok());
    EXPECT_EQ(seen, (std::vector<std::string>{"1", "2"}));
}

TEST_F(http_client, tls_verifies_the_certificate_and_the_host_name) {
    const auto pki = test::make_test_pki(dir.string(), "DNS:localhost,IP:127.0.0.1");
    test::fake_http_server server(
        ioc.get_executor(),
        [](const test::fake_request&) {
            return test::fake_reply{200, {}, "secure"};
        },
        test::server_tls_context(pki));
    // Trusted through the CA bundle: works, by IP and by name (SNI + host name check).
    auto options = fast_options();
    options.ca_bundle = pki.ca_file;
    http::client trusting(ioc.get_executor(), options);
    for (const auto* host : {"127.0.0.1", "localhost"}) {
        http::request r;
        r.server = {true, host, server.port()};
        auto res = test::run_async(ioc, trusting.send(r));
        ASSERT_TRUE(res.ok()) << host << ": " << res.error().message;
        EXPECT_EQ(res->body, "secure");
    }
    // The system store does not know the throwaway CA: refused, not retried, clear message.
    http::client system_store(ioc.get_executor(), fast_options());
    http::request r;
    r.server = {true, "127.0.0.1", server.port()};
    auto refused = test::run_async(ioc, system_store.send(r));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, http::errc::tls);
    EXPECT_EQ(refused.error().attempts, 1u);
    EXPECT_NE(refused.error().message.find("certificate verification failed"), std::string::npos)
        << refused.error().message;

    // A missing CA bundle is named.
    auto bad = fast_options();
    bad.ca_bundle = (dir / "nope.pem").string();
    http::client missing(ioc.get_executor(), bad);
    auto nb = test::run_async(ioc, missing.send(r));
    ASSERT_FALSE(nb.ok());
    EXPECT_NE(nb.error().message.find("nope.pem"), std::string::npos) << nb.error().message;
}

TEST_F(http_client, tls_refuses_a_certificate_for_another_name) {
    const auto pki = test::make_test_pki(dir.string(), "DNS:other.example");
    test::fake_http_server server(
        ioc.get_executor(),
        [](const test::fake_request&) {
            return test::fake_reply{200, {}, "x"};
        },
        test::server_tls_context(pki));
    auto options = fast_options();
    options.ca_bundle = pki.ca_file;
    http::client web(ioc.get_executor(), options);
    for (const auto* host : {"127.0.0.1", "localhost"}) {
        http::request r;
        r.server = {true, host, server.port()};
        auto res = test::run_async(ioc, web.send(r));
        ASSERT_FALSE(res.ok()) << host;
        EXPECT_EQ(res.error().code, http::errc::tls);
        EXPECT_NE(res.error().message.find("mismatch"), std::string::npos) << res.error().message;
    }
}

namespace {

// Frames as "<attempt.index:size>" + data + "|", then "END"; before_send starts each attempt.
struct tagging_framing final : http::body_framing {
    std::size_t size = 1000;
    std::size_t prefix_padding = 0; // a prefix longer than the client's headroom
    int attempt = 0;
    int index = 0;
    std::int64_t lie = 0; // added to wire_length

    std::string tag(std::size_t n) const {
        return fmt::format("<{}.{}:{}{}>", attempt, index, n, std::string(prefix_padding, '.'));
    }
    std::size_t frame_size() const override { return size; }
    std::uint64_t wire_length(std::uint64_t body) const override {
        // The frames a body of `body` bytes makes, each with its tag, as frame() will produce.
        std::uint64_t total = 3, i = 0;
        tagging_framing copy = *this;
        for (std::uint64_t left = body; left > 0; ++i) {
            const auto n = std::min<std::uint64_t>(left, size);
            copy.index = static_cast<int>(i);
            total += copy.tag(n).size() + n + 1;
            left -= n;
        }
        return total + static_cast<std::uint64_t>(lie);
    }
    std::pair<std::string, std::string> frame(std::string_view data) override {
        auto prefix = tag(data.size());
        ++index;
        return {std::move(prefix), "|"};
    }
    std::string finish() override { return "END"; }
};

std::string framed(int attempt, const std::string& body, std::size_t size, std::size_t padding = 0) {
    std::string out;
    int index = 0;
    for (std::size_t off = 0; off < body.size(); off += size, ++index) {
        const auto piece = body.substr(off, size);
        out += fmt::format("<{}.{}:{}{}>", attempt, index, piece.size(), std::string(padding, '.')) + piece +
               "|";
    }
    return out + "END";
}

} // namespace

TEST_F(http_client, a_framed_body_is_cut_into_frames_across_parts_and_reframed_on_every_attempt) {
    const std::string payload = random_bytes(3000, 5);
    ASSERT_TRUE(write_file_atomically(dir / "up.bin", payload).ok());
    std::vector<test::fake_request> seen;
    int calls = 0;
    test::fake_http_server server(ioc.get_executor(), [&](const test::fake_request& r) {
        seen.push_back(r);
        test::fake_reply reply{200, {}, ""};
        if (++calls == 1)
            reply.kind = test::fault::close_before_reply; // the body went out: a retry re-frames it
        return reply;
    });
    http::client web(ioc.get_executor(), fast_options());
    auto framing = std::make_shared<tagging_framing>();
    auto put = get(server, "/obj");
    put.method = http::verb::put;
    put.body.parts.push_back(http::memory_part{std::make_shared<const std::string>("ab")});
    put.body.parts.push_back(http::file_part{dir / "up.bin", 0, 3000});
    put.body.parts.push_back(http::memory_part{std::make_shared<const std::string>("cd")});
    put.framing = framing;
    put.before_send = [&](const http::request&, http::fields&) -> std::optional<std::string> {
        ++framing->attempt;
        framing->index = 0;
        return std::nullopt;
    };
    auto res = test::run_async(ioc, web.send(put));
    ASSERT_TRUE(res.ok()) << res.error().message;
    EXPECT_EQ(res->attempts, 2u);
    ASSERT_EQ(seen.size(), 2u);
    const std::string body = "ab" + payload + "cd";
    EXPECT_EQ(seen[0].body, framed(1, body, 1000));
    EXPECT_EQ(seen[1].body, framed(2, body, 1000));
    EXPECT_EQ(std::string(seen[1].headers[http::field::content_length]), std::to_string(seen[1].body.size()));

    // Framing longer than the room the client keeps around a frame goes out in separate writes;
    // an exact multiple of the frame size ends with a full frame.
    seen.clear();
    framing->prefix_padding = 300;
    framing->size = 1001;
    framing->attempt = 0;
    put.body = http::request_body::from_file_range(dir / "up.bin", 0, 2002);
    ASSERT_TRUE(test::run_async(ioc, web.send(put)).ok());
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen.back().body, framed(1, payload.substr(0, 2002), 1001, 300));
}

TEST_F(http_client, a_framed_body_that_does_not_match_its_announced_length_fails) {
    ASSERT_TRUE(write_file_atomically(dir / "up.bin", random_bytes(5000, 6)).ok());
    test::fake_http_server server(ioc.get_executor(),
                                  [&](const test::fake_request&) { return test::fake_reply{}; });
    http::client web(ioc.get_executor(), fast_options());
    auto framing = std::make_shared<tagging_framing>();
    framing->lie = -1;
    auto put = get(server, "/obj");
    put.method = http::verb::put;
    put.body = http::request_body::from_file(dir / "up.bin");
    put.framing = framing;
    auto res = test::run_async(ioc, web.send(put));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.error().code, http::errc::local_io);
    EXPECT_NE(res.error().message.find("not the 5"), std::string::npos) << res.error().message;
}
