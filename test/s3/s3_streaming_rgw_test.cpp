// aws-chunked uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) against a real Ceph RGW 16, which
// verifies every chunk signature: the store's streamed bodies round-trip (file and memory,
// conditional writes, multipart parts), a chunk whose signature or data is wrong is refused and
// leaves no object, and a retry after a connection cut mid-body is re-signed from the first
// chunk (RGW refuses a chain that does not start at the new attempt's seed). And the payload
// modes over RGW's HTTPS endpoint.
#include "backends/http/client.hpp"
#include "backends/s3/s3_protocol.hpp"
#include "backends/s3/s3_store.hpp"
#include "backends/s3/sigv4.hpp"
#include "backends/store_factory.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "harness/rgw_store.hpp"
#include "harness/test_env.hpp"
#include "run_async.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>

using namespace lifeboat;
using test::random_bytes;
namespace fs = std::filesystem;
namespace asio = boost::asio;
using backends::store_errc;

namespace {

constexpr std::size_t chunk = 64 * 1024;

s3::s3_options streaming_options(std::string endpoint = test::rgw().endpoint) {
    auto env = test::rgw_store_environment();
    env.aws_endpoint = std::move(endpoint);
    auto o = s3::s3_options::from_environment(test::rgw().bucket, env);
    EXPECT_TRUE(o.ok()) << o.error();
    o->streaming_threshold = 128 * 1024; // small bodies of these tests stream too
    o->streaming_chunk_size = chunk;
    return std::move(o.value());
}

struct s3_streaming : ::testing::Test {
    asio::io_context ioc;
    fs::path dir = test::scratch_dir();
    std::string prefix = "s3-streaming/" + test::unique_suffix() + "/";

    std::unique_ptr<backends::object_store> store(s3::s3_options o = streaming_options()) {
        return s3::make_s3_store(ioc.get_executor(), std::move(o));
    }
    template <class T>
    T run(asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }
};

// What can go wrong with a chunk, as a broken client or the network would do it.
enum class tamper { none, data, signature };

// An aws-chunked PUT built from the signer's public pieces, so a test can spoil one chunk.
struct tampering_framing final : http::body_framing {
    std::optional<s3::chunk_signer> signer;
    tamper how = tamper::none;
    int target = -1; // which chunk (0-based)
    int index = 0;

    std::size_t frame_size() const override { return chunk; }
    std::uint64_t wire_length(std::uint64_t n) const override { return s3::aws_chunked_length(n, chunk); }
    std::pair<std::string, std::string> frame(std::string_view data) override {
        const bool spoil = index++ == target;
        if (spoil && how == tamper::data) {
            // The signature of bytes other than those sent: as if one bit flipped on the way.
            std::string other(data);
            other[other.size() / 2] ^= 1;
            const auto header = signer->chunk_header(other);
            return {header, "\r\n"};
        }
        auto header = signer->chunk_header(data);
        if (spoil && how == tamper::signature) {
            auto& last = header[header.size() - 3]; // the signature's last hex digit, before CRLF
            last = last == '0' ? '1' : '0';
        }
        return {header, "\r\n"};
    }
    std::string finish() override { return signer->chunk_header({}) + "\r\n"; }
};

http::response put_chunked(asio::io_context& ioc, const std::string& key, const std::string& body, tamper how,
                           int target) {
    const auto peer = test::rgw();
    http::client web(ioc.get_executor());
    auto framing = std::make_shared<tampering_framing>();
    framing->how = how;
    framing->target = target;
    http::request req;
    req.method = http::verb::put;
    req.server = http::origin::parse(peer.endpoint).value();
    const auto uri = s3::encode_path("/" + peer.bucket + "/" + key);
    req.target = uri;
    req.body = http::request_body::from_string(body);
    req.framing = framing;
    req.retry = http::retry_policy{1};
    req.before_send = [&](const http::request&, http::fields& h) -> std::optional<std::string> {
        const auto now = wall_clock::now();
        h.set("x-amz-date", format_amz_date(now));
        h.set("x-amz-content-sha256", s3::streaming_payload);
        h.set("x-amz-decoded-content-length", std::to_string(body.size()));
        s3::canonical_input in;
        in.method = "PUT";
        in.canonical_uri = uri;
        in.payload_hash = s3::streaming_payload;
        for (const char* name :
             {"host", "x-amz-date", "x-amz-content-sha256", "x-amz-decoded-content-length"})
            in.headers.emplace_back(name, std::string(h[name]));
        const s3::credentials creds{peer.access_key, peer.secret_key, {}, {}, "test"};
        const s3::scope sc{peer.region, "s3", now};
        auto signature = s3::sign(in, creds, sc);
        h.set(http::field::authorization, signature.authorization);
        framing->signer.emplace(creds, sc, signature.signature);
        framing->index = 0;
        return std::nullopt;
    };
    auto res = test::run_async(ioc, web.send(std::move(req)));
    EXPECT_TRUE(res.ok()) << res.error().message;
    return res.ok() ? std::move(*res) : http::response{};
}

std::string error_code(const http::response& res) {
    auto doc = s3::parse_error(res.body);
    return doc ? doc->code : std::string();
}

// Forwards TCP connections to RGW; the first one is cut after `cut_after` bytes from the client,
// as a network failure mid-upload would.
class cutting_proxy {
public:
    cutting_proxy(asio::any_io_executor ex, std::size_t cut_after)
        : acceptor_(ex, {asio::ip::make_address("127.0.0.1"), 0})
        , cut_after_(cut_after) {
        asio::co_spawn(ex, accept_loop(), asio::detached);
    }
    ~cutting_proxy() { acceptor_.close(); }
    std::string origin() const {
        return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }
    int connections() const { return connections_; }

private:
    using socket = asio::ip::tcp::socket;
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, client] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec)
                co_return;
            const bool cut = connections_++ == 0;
            auto up = std::make_shared<socket>(std::move(client));
            auto down = std::make_shared<socket>(acceptor_.get_executor());
            const auto rgw = http::origin::parse(test::rgw().endpoint).value();
            auto [cec] = co_await down->async_connect({asio::ip::make_address(rgw.host), rgw.port},
                                                      asio::as_tuple(asio::use_awaitable));
            if (cec)
                co_return;
            asio::co_spawn(acceptor_.get_executor(), pump(up, down, cut ? cut_after_ : SIZE_MAX),
                           asio::detached);
            asio::co_spawn(acceptor_.get_executor(), pump(down, up, SIZE_MAX), asio::detached);
        }
    }
    static asio::awaitable<void> pump(std::shared_ptr<socket> from, std::shared_ptr<socket> to,
                                      std::size_t limit) {
        std::vector<char> buf(64 * 1024);
        std::size_t moved = 0;
        for (;;) {
            auto [ec, n] =
                co_await from->async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
            if (ec)
                break;
            const std::size_t pass = std::min(n, limit - moved);
            auto [wec, w] = co_await asio::async_write(*to, asio::buffer(buf.data(), pass),
                                                       asio::as_tuple(asio::use_awaitable));
            moved += pass;
            if (wec || moved >= limit)
                break;
        }
        boost::system::error_code ignored;
        from->close(ignored);
        to->close(ignored);
    }

    asio::ip::tcp::acceptor acceptor_;
    std::size_t cut_after_;
    int connections_ = 0;
};

} // namespace

TEST_F(s3_streaming, streamed_bodies_round_trip_and_rgw_stores_no_aws_chunked_encoding) {
    auto s = store();
    const std::string payload = random_bytes((1 << 20) + 17, 21); // 16 full chunks and a short one
    ASSERT_TRUE(write_file_atomically(dir / "up.bin", payload).ok());
    backends::put_options po;
    po.content_type = "application/json";
    po.metadata = {{"uploader", "node-s"}};
    auto put = run(s->put(prefix + "file.bin", backends::body_source::from_file(dir / "up.bin"), po));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_EQ(put->etag, md5_hex(payload)); // RGW decoded the frames: the ETag is the payload's MD5
    auto down = run(s->get_to_file(prefix + "file.bin", dir / "down.bin"));
    ASSERT_TRUE(down.ok()) << down.error().to_string();
    EXPECT_TRUE(read_whole_file(dir / "down.bin").value() == payload);
    auto head = run(s->head(prefix + "file.bin"));
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(head->size, payload.size());
    EXPECT_EQ(head->content_type, "application/json");
    EXPECT_EQ(head->metadata.at("uploader"), "node-s");

    // RGW 16 would keep "aws-chunked" as the object's Content-Encoding had the store sent it.
    http::client web(ioc.get_executor());
    http::request raw;
    raw.method = http::verb::head;
    raw.server = http::origin::parse(test::rgw().endpoint).value();
    raw.target = s3::encode_path("/" + test::rgw().bucket + "/" + prefix + "file.bin");
    raw.before_send = [](const http::request& r, http::fields& h) -> std::optional<std::string> {
        const auto now = wall_clock::now();
        h.set("x-amz-date", format_amz_date(now));
        h.set("x-amz-content-sha256", s3::unsigned_payload);
        s3::canonical_input in{"HEAD", r.target, {}, {}, std::string(s3::unsigned_payload)};
        for (const char* name : {"host", "x-amz-date", "x-amz-content-sha256"})
            in.headers.emplace_back(name, std::string(h[name]));
        const auto peer = test::rgw();
        h.set(http::field::authorization,
              s3::sign(in, {peer.access_key, peer.secret_key, {}, {}, "test"}, {peer.region, "s3", now})
                  .authorization);
        return std::nullopt;
    };
    auto res = run(web.send(raw));
    ASSERT_TRUE(res.ok()) << res.error().message;
    ASSERT_EQ(res->status, 200u);
    EXPECT_EQ(res->header(http::field::content_encoding), "");

    // A memory body streams the same way; exactly one chunk, and exactly the threshold.
    const std::string exact = random_bytes(128 * 1024, 22);
    auto mem = run(s->put(prefix + "mem.bin", backends::body_source::from_string(exact), {}));
    ASSERT_TRUE(mem.ok()) << mem.error().to_string();
    EXPECT_EQ(mem->etag, md5_hex(exact));
    EXPECT_TRUE(run(s->get(prefix + "mem.bin")).value().bytes == exact);
}

TEST_F(s3_streaming, conditional_writes_and_multipart_parts_stream_too) {
    auto s = store();
    const auto key = prefix + "leader";
    const std::string a = random_bytes(300 * 1024, 23), b = random_bytes(300 * 1024, 24);
    backends::put_options create;
    create.condition = backends::write_condition::if_absent;
    auto first = run(s->put(key, backends::body_source::from_string(a), create));
    ASSERT_TRUE(first.ok()) << first.error().to_string();
    auto second = run(s->put(key, backends::body_source::from_string(b), create));
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, store_errc::precondition_failed);
    backends::put_options swap;
    swap.condition = backends::write_condition::if_match;
    swap.expected_version = backends::version_token(*first);
    auto swapped = run(s->put(key, backends::body_source::from_string(b), swap));
    ASSERT_TRUE(swapped.ok()) << swapped.error().to_string();
    EXPECT_TRUE(run(s->get(key)).value().bytes == b);
    auto stale = run(s->put(key, backends::body_source::from_string(a), swap));
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.error().code, store_errc::precondition_failed);

    auto o = streaming_options();
    o.part_size = 5 << 20;
    o.multipart_threshold = 5 << 20;
    auto parts = store(o);
    const std::string big = random_bytes((11 << 20) + 5, 25);
    ASSERT_TRUE(write_file_atomically(dir / "big.bin", big).ok());
    auto put = run(parts->put(prefix + "big.bin", backends::body_source::from_file(dir / "big.bin"), {}));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_TRUE(put->etag.ends_with("-3")) << put->etag;
    ASSERT_TRUE(run(parts->get_to_file(prefix + "big.bin", dir / "big.down")).ok());
    EXPECT_EQ(sha256_hex(read_whole_file(dir / "big.down").value()), sha256_hex(big));
}

TEST_F(s3_streaming, a_chunk_whose_data_or_signature_is_wrong_is_refused_and_stores_nothing) {
    const std::string body = random_bytes(4 * chunk + 1000, 26); // chunks 0..3 full, 4 short, then the end
    auto s = store();

    // The harness itself is right: unspoiled, RGW takes it.
    auto good = put_chunked(ioc, prefix + "good", body, tamper::none, -1);
    ASSERT_EQ(good.status, 200u) << good.body;
    EXPECT_TRUE(run(s->get(prefix + "good")).value().bytes == body);

    // RGW 16 answers a bad chunk before the last with 403 SignatureDoesNotMatch, and a bad last
    // data chunk with 400 XAmzContentSHA256Mismatch.
    struct spoiled {
        tamper how;
        int chunk;
        unsigned status;
        const char* code;
    };
    for (const auto& c : {spoiled{tamper::data, 1, 403, "SignatureDoesNotMatch"},
                          spoiled{tamper::signature, 2, 403, "SignatureDoesNotMatch"},
                          spoiled{tamper::data, 4, 400, "XAmzContentSHA256Mismatch"},
                          spoiled{tamper::signature, 4, 400, "XAmzContentSHA256Mismatch"}}) {
        SCOPED_TRACE(testing::Message()
                     << "chunk " << c.chunk << (c.how == tamper::data ? " data" : " signature"));
        const auto key = prefix + "bad-" + std::to_string(c.chunk);
        auto res = put_chunked(ioc, key, body, c.how, c.chunk);
        EXPECT_EQ(res.status, c.status) << res.body;
        EXPECT_EQ(error_code(res), c.code) << res.body;
        auto head = run(s->head(key));
        ASSERT_FALSE(head.ok());
        EXPECT_EQ(head.error().code, store_errc::not_found);
    }
}

TEST_F(s3_streaming, a_connection_cut_mid_body_is_retried_and_signed_again_from_the_first_chunk) {
    cutting_proxy proxy(ioc.get_executor(), 700 * 1024);
    auto o = streaming_options(proxy.origin());
    o.retry.backoff = {std::chrono::milliseconds(10), std::chrono::milliseconds(50),
                       std::chrono::milliseconds(1)};
    auto s = store(o);
    const std::string payload = random_bytes(3 << 20, 27);
    ASSERT_TRUE(write_file_atomically(dir / "up.bin", payload).ok());
    auto put = run(s->put(prefix + "cut.bin", backends::body_source::from_file(dir / "up.bin"), {}));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_EQ(proxy.connections(), 2); // cut, then the retry on a new connection
    EXPECT_EQ(put->etag, md5_hex(payload));
    auto direct = store();
    ASSERT_TRUE(run(direct->get_to_file(prefix + "cut.bin", dir / "down.bin")).ok());
    EXPECT_TRUE(read_whole_file(dir / "down.bin").value() == payload);
}

// RGW's HTTPS endpoint (rgw.sh): with unsigned_payload_over_tls the body goes UNSIGNED-PAYLOAD
// (what s3_unsigned_payload_over_tls turns on), without it signed by its SHA-256.
TEST_F(s3_streaming, over_tls_a_body_goes_unsigned_when_configured_and_signed_by_its_hash_otherwise) {
    ASSERT_TRUE(fs::exists(test::rgw_ca_bundle()))
        << test::rgw_ca_bundle() << " is missing: the RGW on " << test::rgw().endpoint
        << " serves no HTTPS (restart it with test/harness/rgw.sh)";
    auto env = test::rgw_store_environment();
    env.aws_endpoint = test::rgw().tls_endpoint;
    env.aws_ca_bundle = test::rgw_ca_bundle().string();
    const std::string payload = random_bytes((2 << 20) + 3, 28);
    ASSERT_TRUE(write_file_atomically(dir / "up.bin", payload).ok());
    for (const bool unsigned_payload : {true, false}) {
        SCOPED_TRACE(unsigned_payload ? "UNSIGNED-PAYLOAD" : "signed SHA-256");
        env.s3_unsigned_payload_over_tls = unsigned_payload;
        auto s = backends::make_object_store(ioc.get_executor(), "s3://" + test::rgw().bucket, env);
        ASSERT_TRUE(s.ok()) << s.error();
        EXPECT_EQ((*s)->describe(), "s3://lifeboat-test at " + test::rgw().tls_endpoint);
        const auto key = prefix + (unsigned_payload ? "unsigned.bin" : "signed.bin");
        auto put = run((*s)->put(key, backends::body_source::from_file(dir / "up.bin"), {}));
        ASSERT_TRUE(put.ok()) << put.error().to_string();
        EXPECT_EQ(put->etag, md5_hex(payload));
        ASSERT_TRUE(run((*s)->get_to_file(key, dir / "down.bin")).ok());
        EXPECT_TRUE(read_whole_file(dir / "down.bin").value() == payload);
    }
}

// A body whose SHA-256 the caller knows (a signed backup's manifest names it) is signed with that
// hash rather than hashed or streamed again; RGW checks it, so bytes that do not match it (the
// file changed after it was hashed) are refused and leave no object.
TEST_F(s3_streaming, a_known_payload_hash_is_signed_and_a_body_that_does_not_match_it_is_refused) {
    auto s = store();
    const auto body = random_bytes(3 * chunk + 17, 41);
    const auto path = dir / "body.bin";
    ASSERT_TRUE(write_file_atomically(path, body));
    backends::put_options o;
    o.payload_sha256 = sha256_hex(body);
    auto put = run(s->put(prefix + "known.bin", backends::body_source::from_file(path), o));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    auto got = run(s->get(prefix + "known.bin"));
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(got->bytes == body);

    o.payload_sha256 = sha256_hex(body + "x"); // not these bytes
    auto refused = run(s->put(prefix + "mismatch.bin", backends::body_source::from_file(path), o));
    ASSERT_FALSE(refused.ok());
    auto absent = run(s->head(prefix + "mismatch.bin"));
    ASSERT_FALSE(absent.ok());
    EXPECT_EQ(absent.error().code, store_errc::not_found);
    ASSERT_TRUE(run(s->remove(prefix + "known.bin")));
}
