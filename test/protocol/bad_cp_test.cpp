// A misbehaving control plane: a small scripted CP (Beast's websocket server, TLS with the shared
// cluster certificate) sends the data plane malformed frames. Each must be rejected with a clear
// log line; the session keeps its last good config and never crashes. Only the frame over
// cluster_max_payload ends the connection (as in Kong: the frame cannot be read past).
#include "base/gzip.hpp"
#include "base/log.hpp"
#include "cluster_fixture.hpp"
#include "harness/test_env.hpp"
#include "protocol/envelope.hpp"
#include "protocol/kong_hash.hpp"
#include "protocol/tls_util.hpp"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace {

// Sends, on its n-th accepted connection, the n-th list of binary frames (50 ms apart), while
// reading whatever the DP sends (Beast answers its pings).
class scripted_cp {
public:
    explicit scripted_cp(std::vector<std::vector<std::string>> scripts, bool answer_pings = true)
        : scripts_(std::move(scripts))
        , answer_pings_(answer_pings) {
        auto tls = protocol::make_server_tls_context({certs().shared.cert, certs().shared.key, ""});
        if (!tls)
            throw std::runtime_error(tls.error());
        tls_ = tls.value().context;
        acceptor_.open(asio::ip::tcp::v4());
        acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
        acceptor_.listen();
        address_ = fmt::format("127.0.0.1:{}", acceptor_.local_endpoint().port());
        asio::co_spawn(io_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~scripted_cp() {
        io_.stop();
        thread_.join();
    }
    const std::string& address() const { return address_; }
    int connections() const { return connections_.load(); }
    int scripts_done() const { return done_.load(); }

private:
    asio::awaitable<void> accept_loop() {
        for (std::size_t n = 0;; ++n) {
            auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
            ++connections_;
            asio::co_spawn(
                io_, serve(std::move(socket), n < scripts_.size() ? scripts_[n] : std::vector<std::string>{}),
                asio::detached);
        }
    }

    asio::awaitable<void> serve(asio::ip::tcp::socket socket, std::vector<std::string> frames) {
        using stream_t = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
        auto ws = std::make_shared<stream_t>(std::move(socket), *tls_);
        co_await ws->next_layer().async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
        co_await ws->async_accept(asio::use_awaitable);
        beast::flat_buffer first;
        co_await ws->async_read(first, asio::use_awaitable); // basic_info
        // Keep reading in the background so that pings get their pongs (Beast answers them
        // while a read is pending); a silent CP never reads again.
        if (answer_pings_)
            asio::co_spawn(
                io_,
                [ws]() -> asio::awaitable<void> {
                    beast::flat_buffer b;
                    for (;;) {
                        auto [ec, n] = co_await ws->async_read(b, asio::as_tuple(asio::use_awaitable));
                        if (ec)
                            co_return;
                        b.consume(n);
                    }
                },
                asio::detached);
        ws->binary(true);
        for (const auto& f : frames) {
            asio::steady_timer pause(io_, 50ms);
            co_await pause.async_wait(asio::use_awaitable);
            auto [ec, n] = co_await ws->async_write(asio::buffer(f), asio::as_tuple(asio::use_awaitable));
            if (ec)
                break;
        }
        ++done_;
        asio::steady_timer hold(io_, 1h);
        co_await hold.async_wait(asio::as_tuple(asio::use_awaitable));
    }

    std::vector<std::vector<std::string>> scripts_;
    bool answer_pings_;
    asio::io_context io_{1};
    std::shared_ptr<asio::ssl::context> tls_;
    asio::ip::tcp::acceptor acceptor_{io_};
    std::string address_;
    std::thread thread_;
    std::atomic<int> connections_{0}, done_{0};
};

std::string frame_for(const std::string& config_json) {
    return gzip_compress(protocol::make_reconfigure_envelope(
        config_json, protocol::kong_config_hashes(boost::json::parse(config_json).get_object()), 1.7e9));
}

} // namespace

TEST(bad_control_plane, malformed_frames_are_rejected_and_the_last_good_config_stays) {
    const auto good_a = sample_config(2, {}, "a");
    const auto good_b = sample_config(3, {}, "b");
    std::string random(100 << 10, '\0');
    std::mt19937 rng(1);
    for (auto& c : random)
        c = static_cast<char>(rng());
    const auto valid = frame_for(good_b);
    const std::string bomb =
        gzip_compress(R"({"type":"reconfigure","config_table":{"_format_version":"3.0","_comment":")" +
                          std::string(64 << 20, 'x') + "\"}}",
                      9);
    const std::string hash(32, 'f');

    scripted_cp cp({
        // First connection: a good config, then a frame over cluster_max_payload (64 KiB here).
        {frame_for(good_a), random},
        // Second connection: every kind of bad content, then a good config again.
        {
            bomb,
            "this is not gzip at all",
            valid.substr(0, valid.size() / 2),
            gzip_compress("{not json"),
            gzip_compress(R"({"type":"basic_info","config_table":{"_format_version":"3.0"}})"),
            gzip_compress(R"({"type":"reconfigure","config_hash":")" + hash + R"("})"),
            gzip_compress(R"({"type":"reconfigure","config_table":[]})"),
            gzip_compress(
                R"({"type":"reconfigure","config_hash":"XYZ","config_table":{"_format_version":"3.0"}})"),
            valid,
        },
    });

    auto options = dp_options(cp.address(), protocol::cluster_mtls::shared);
    options.max_payload = 64 << 10;
    options.max_config_size = 8 << 20;
    log::capture logs;
    dp_runner dp(options);

    const auto hash_a = config_hash_of(good_a), hash_b = config_hash_of(good_b);
    ASSERT_TRUE(dp.run_until([&] { return dp.observer().last_hash() == hash_a; }, 10s));
    // The oversized frame ends that connection with a clear reason; the DP reconnects.
    ASSERT_TRUE(dp.run_until([&] { return cp.connections() >= 2; }, 10s));
    EXPECT_TRUE(logs.contains("error: msg=\"invalid config from the control plane dropped; keeping the "
                              "current one\" reason=\"the control plane sent a frame over "
                              "cluster_max_payload (65536 bytes)\""));
    EXPECT_EQ(dp.status().config_hash, hash_a);
    EXPECT_GE(dp.status().rejected_configs, 1u);

    ASSERT_TRUE(dp.run_until([&] { return dp.observer().last_hash() == hash_b; }, 15s));
    const std::string rejected =
        "error: msg=\"invalid config from the control plane dropped; keeping the current one\" "
        "reason=";
    for (const std::string reason : {
             "\"the config inflates to more than 8388608 bytes (cluster_max_config_size)\"",
             "\"the frame is not valid gzip or zlib data\"",
             "\"truncated frame: the compressed stream ends early\"",
             "\"invalid JSON at byte 1: syntax error\"",
             "\"type is \\\"basic_info\\\", expected \\\"reconfigure\\\"\"",
             "\"no config_table member\"",
             "\"config_table is an array, not an object\"",
             "\"config_hash \\\"XYZ\\\" is not 32 lower-case hex characters\"",
         })
        EXPECT_TRUE(logs.contains(rejected + reason + " config_hash=" + hash_a)) << reason;
    // Only the two good configs were handed over, and the second connection never dropped.
    ASSERT_EQ(dp.observer().configs.size(), 2u);
    EXPECT_EQ(dp.observer().configs[0]->hash, hash_a);
    EXPECT_EQ(dp.observer().configs[1]->hash, hash_b);
    EXPECT_EQ(cp.connections(), 2);
    EXPECT_EQ(dp.status().state, protocol::session_state::connected);
}

// A CP that stops answering (no pong, no frame) is declared dead after dead_after, and the DP
// reconnects; one that answers pings keeps the session up with the same short timings.
TEST(bad_control_plane, a_silent_control_plane_is_dropped) {
    scripted_cp cp({{}, {}, {}}, false);
    auto options = dp_options(cp.address(), protocol::cluster_mtls::shared);
    options.timing.ping_interval = 200ms;
    options.timing.dead_after = 600ms;
    log::capture logs;
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return cp.connections() >= 2; }, 10s));
    EXPECT_TRUE(logs.contains(
        "warn: msg=\"control plane session lost\" error=\"no frame from the control plane for 0.6"));
}

TEST(bad_control_plane, pongs_keep_the_session_alive) {
    scripted_cp cp({{}}, true);
    auto options = dp_options(cp.address(), protocol::cluster_mtls::shared);
    options.timing.ping_interval = 200ms;
    options.timing.dead_after = 600ms;
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return dp.status().state == protocol::session_state::connected; }, 10s));
    dp.run_for(2s);
    EXPECT_EQ(dp.status().state, protocol::session_state::connected);
    EXPECT_EQ(cp.connections(), 1);
    ASSERT_TRUE(dp.status().last_pong);
    // Pongs keep coming (events, not a wall-clock bound): a later one replaces the last.
    const auto pong = *dp.status().last_pong;
    ASSERT_TRUE(dp.run_until([&] { return dp.status().last_pong && *dp.status().last_pong > pong; }, 30s));
    EXPECT_EQ(cp.connections(), 1);
}
