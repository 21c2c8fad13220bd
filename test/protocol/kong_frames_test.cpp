// A control plane written from Kong's side. The frames come from test/protocol/kong_frames/, made
// byte for byte from Kong's Lua (make_frames.py says where each byte comes from), never from
// lifeboat's encoder, so lifeboat's decoders cannot agree with its encoder on a wrong format:
// - the CP -> DP frames (reconfigure envelopes of 3.9 and 2.8, a compat-rewritten payload whose
//   hash was not recomputed, an empty pong, a close without a code) are written verbatim by a raw
//   TLS peer to a real data-plane session, which reads them with Beast as it reads Kong's;
// - the DP -> CP frames (basic_info of Kong 2.8, 3.4 and 3.9, pings with a hash, with the empty
//   hash and without one) are decoded by the reference CP's parser and sent verbatim to a
//   `lifeboat cp` process, which must answer as Kong's CP does.
#include "base/log.hpp"
#include "cluster_fixture.hpp"
#include "harness/test_env.hpp"
#include "lifeboat_test_paths.hpp"
#include "protocol/envelope.hpp"
#include "protocol/kong_hash.hpp"
#include "protocol/tls_util.hpp"
#include "protocol/ws_frame.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

fs::path frames_dir() {
    return fs::path(test_paths::source_dir) / "test/protocol/kong_frames";
}

std::string frame_file(const std::string& name) {
    std::ifstream in(frames_dir() / name, std::ios::binary);
    if (!in)
        throw std::runtime_error("missing test frame " + name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string expected(const std::string& key) {
    std::ifstream in(frames_dir() / "expected.txt");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(key + "="))
            return line.substr(key.size() + 1);
    throw std::runtime_error("expected.txt has no " + key);
}

// The payload of an unmasked server frame, read from its header bytes as RFC 6455 lays them out
// (the test's own reading, not lifeboat's parser: lifeboat has no server-frame parser).
std::string server_payload(const std::string& f, std::uint8_t& opcode) {
    EXPECT_GE(f.size(), 2u);
    const auto b0 = static_cast<unsigned char>(f[0]), b1 = static_cast<unsigned char>(f[1]);
    EXPECT_EQ(b0 & 0xf0, 0x80) << "FIN set, no reserved bits";
    EXPECT_EQ(b1 & 0x80, 0) << "servers never mask";
    opcode = b0 & 0x0f;
    std::size_t len = b1 & 0x7f, pos = 2;
    if (len == 126) {
        len = static_cast<unsigned char>(f[2]) << 8 | static_cast<unsigned char>(f[3]);
        pos = 4;
    }
    EXPECT_EQ(f.size(), pos + len);
    return f.substr(pos);
}

// A data-plane frame decoded by the reference CP's parser.
protocol::ws::frame client_frame_of(const std::string& bytes) {
    protocol::ws::frame f;
    std::size_t used = 0;
    std::string error;
    EXPECT_EQ(protocol::ws::parse_client_frame(bytes, 16 << 20, f, used, error),
              protocol::ws::parse_status::frame)
        << error;
    EXPECT_EQ(used, bytes.size());
    return f;
}

// Kong's CP as far as the wire goes: TLS with the shared cluster certificate, the 101 answer
// nginx and lua-resty-websocket give, then raw bytes both ways. It records every frame the DP
// sends and writes whatever the test hands it, verbatim.
class kong_cp {
public:
    kong_cp() {
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
    ~kong_cp() {
        io_.stop();
        thread_.join();
    }
    const std::string& address() const { return address_; }

    // Frames the DP sent on connection `n` (0-based), in order.
    std::vector<protocol::ws::frame> frames(std::size_t n) const {
        std::lock_guard lock(mutex_);
        return n < received_.size() ? received_[n] : std::vector<protocol::ws::frame>{};
    }
    std::size_t connections() const {
        std::lock_guard lock(mutex_);
        return received_.size();
    }
    std::string upgrade_request(std::size_t n) const {
        std::lock_guard lock(mutex_);
        return n < requests_.size() ? requests_[n] : std::string();
    }
    // Pings on connection n carrying `payload`.
    std::size_t pings(std::size_t n, const std::string& payload) const {
        std::size_t count = 0;
        for (const auto& f : frames(n))
            count += f.op == protocol::ws::opcode::ping && f.payload == payload;
        return count;
    }
    // Writes `bytes` verbatim on the latest connection; hang_up: then drops the connection, as
    // Kong's CP does after its close frame (wb:send_close(), then ngx.exit(444)).
    void send(std::string bytes, bool hang_up = false) {
        asio::post(io_, [this, b = std::move(bytes), hang_up]() mutable {
            outbox_.push_back({std::move(b), hang_up});
            if (outbox_.size() == 1)
                asio::co_spawn(io_, drain(), asio::detached);
        });
    }

private:
    using tls_stream = asio::ssl::stream<asio::ip::tcp::socket>;

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
            asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> drain() {
        while (!outbox_.empty() && stream_) {
            auto s = stream_;
            auto [ec, n] = co_await asio::async_write(*s, asio::buffer(outbox_.front().bytes),
                                                      asio::as_tuple(asio::use_awaitable));
            const bool hang_up = outbox_.front().hang_up;
            outbox_.pop_front();
            if (ec)
                break;
            if (hang_up) {
                boost::system::error_code ignored;
                s->next_layer().close(ignored);
                stream_.reset();
            }
        }
        outbox_.clear();
    }

    asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
        auto stream = std::make_shared<tls_stream>(std::move(socket), *tls_);
        auto [hec] = co_await stream->async_handshake(asio::ssl::stream_base::server,
                                                      asio::as_tuple(asio::use_awaitable));
        if (hec)
            co_return;
        std::string in;
        auto [rec, header_end] = co_await asio::async_read_until(
            *stream, asio::dynamic_buffer(in), "\r\n\r\n", asio::as_tuple(asio::use_awaitable));
        if (rec)
            co_return;
        const std::string request = in.substr(0, header_end);
        in.erase(0, header_end);
        std::size_t index = 0;
        {
            std::lock_guard lock(mutex_);
            index = received_.size();
            received_.emplace_back();
            requests_.push_back(request);
        }
        std::string key;
        for (std::size_t pos = 0; pos < request.size();) {
            const auto eol = request.find("\r\n", pos);
            const std::string line = request.substr(pos, eol - pos);
            pos = eol + 2;
            std::string lower = line;
            for (auto& c : lower)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (lower.starts_with("sec-websocket-key:"))
                key = line.substr(line.find(':') + 1);
        }
        key.erase(0, key.find_first_not_of(' '));
        // What nginx sends for lua-resty-websocket's server:new() (a 101 with Upgrade and the
        // accept key; nginx adds Connection: upgrade).
        const std::string answer = "HTTP/1.1 101 Switching Protocols\r\nServer: kong/3.9.0\r\n"
                                   "Date: Sat, 05 Dec 2026 12:00:00 GMT\r\nConnection: upgrade\r\n"
                                   "Upgrade: websocket\r\nSec-WebSocket-Accept: " +
                                   protocol::ws::accept_key(key) + "\r\n\r\n";
        co_await asio::async_write(*stream, asio::buffer(answer), asio::as_tuple(asio::use_awaitable));
        stream_ = stream;
        char buf[16384];
        for (;;) {
            for (;;) {
                protocol::ws::frame f;
                std::size_t used = 0;
                std::string error;
                const auto st = protocol::ws::parse_client_frame(in, 16 << 20, f, used, error);
                if (st == protocol::ws::parse_status::error)
                    co_return;
                if (st == protocol::ws::parse_status::need_more)
                    break;
                in.erase(0, used);
                std::lock_guard lock(mutex_);
                received_[index].push_back(std::move(f));
            }
            auto [ec, n] =
                co_await stream->async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
            if (ec)
                co_return;
            in.append(buf, n);
        }
    }

    asio::io_context io_{1};
    std::shared_ptr<asio::ssl::context> tls_;
    asio::ip::tcp::acceptor acceptor_{io_};
    std::string address_;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::vector<std::vector<protocol::ws::frame>> received_;
    std::vector<std::string> requests_;
    std::shared_ptr<tls_stream> stream_;
    struct outgoing {
        std::string bytes;
        bool hang_up = false;
    };
    std::deque<outgoing> outbox_;
};

} // namespace

// The envelopes decode as a Kong DP reads them: the CP's config_hash adopted verbatim (even when
// the compat layer rewrote the table after hashing), cjson's escaped slashes decoded, the
// sub-hashes kept, an envelope without `hashes` (Kong 2.8) accepted.
TEST(kong_frames, reconfigure_envelopes_from_kong_decode) {
    const auto config_hash = expected("config_hash");
    std::uint8_t op = 0;

    const auto v39 =
        protocol::decode_reconfigure_frame(server_payload(frame_file("cp_reconfigure_3.9.bin"), op));
    EXPECT_EQ(op, 2) << "binary";
    ASSERT_TRUE(v39) << v39.error();
    EXPECT_EQ((*v39)->hash, config_hash);
    EXPECT_DOUBLE_EQ((*v39)->cp_timestamp, 1733400000.123);
    // Kong's hash, computed here from the decoded table, agrees with make_frames.py's own
    // reimplementation of config_helper.lua: two independent readings of Kong's algorithm.
    const auto table = boost::json::parse((*v39)->config_json).as_object();
    EXPECT_EQ(protocol::kong_config_hashes(table).config, config_hash);
    EXPECT_EQ((*v39)->hashes.config, config_hash);
    EXPECT_EQ(table.at("routes").as_array()[0].as_object().at("paths").as_array()[1].as_string(), "/e/x");
    EXPECT_NE((*v39)->config_json.find(R"(\/e\/x)"), std::string_view::npos) << "the table is kept as sent";

    const auto compat = protocol::decode_reconfigure_frame(
        server_payload(frame_file("cp_reconfigure_compat_rewritten.bin"), op));
    ASSERT_TRUE(compat) << compat.error();
    EXPECT_EQ((*compat)->hash, config_hash) << "the CP's hash, not the rewritten table's";
    EXPECT_EQ(protocol::kong_config_hashes(boost::json::parse((*compat)->config_json).as_object()).config,
              expected("compat_table_hash"));
    EXPECT_EQ((*compat)->config_json.find("error_code"), std::string_view::npos);

    const auto v28 =
        protocol::decode_reconfigure_frame(server_payload(frame_file("cp_reconfigure_2.8.bin"), op));
    ASSERT_TRUE(v28) << v28.error();
    EXPECT_EQ((*v28)->hash, "e3b0c44298fc1c149afbf4c8996fb924");
    EXPECT_DOUBLE_EQ((*v28)->cp_timestamp, 1733400010);

    EXPECT_EQ(server_payload(frame_file("cp_pong_empty.bin"), op), "");
    EXPECT_EQ(op, 10);
    EXPECT_EQ(server_payload(frame_file("cp_close_no_code.bin"), op), "");
    EXPECT_EQ(op, 8);
}

// What Kong's DPs send, through the reference CP's frame parser.
TEST(kong_frames, data_plane_frames_from_kong_decode) {
    for (const auto* name : {"dp_basic_info_2.8.bin", "dp_basic_info_3.4.bin", "dp_basic_info_3.9.bin"}) {
        const auto f = client_frame_of(frame_file(name));
        EXPECT_EQ(f.op, protocol::ws::opcode::binary) << name;
        const auto info = boost::json::parse(f.payload).as_object();
        EXPECT_EQ(info.at("type").as_string(), "basic_info") << name;
        EXPECT_TRUE(info.at("plugins").is_array()) << name;
    }
    const auto with_hash = client_frame_of(frame_file("dp_ping_hash.bin"));
    EXPECT_EQ(with_hash.op, protocol::ws::opcode::ping);
    EXPECT_EQ(with_hash.payload, expected("config_hash"));
    EXPECT_EQ(client_frame_of(frame_file("dp_ping_empty_config.bin")).payload, std::string(32, '0'));
    const auto empty = client_frame_of(frame_file("dp_ping_no_hash.bin"));
    EXPECT_EQ(empty.op, protocol::ws::opcode::ping);
    EXPECT_EQ(empty.payload, "");
}

// A data-plane session against Kong's bytes: basic_info first (binary, masked), pings with the
// hash, Kong's reconfigure applied, the compat-rewritten payload adopted with the CP's hash, the
// empty pong accepted, and a close without a code ending the session quietly (it reconnects).
TEST(kong_frames, a_data_plane_session_speaks_with_kongs_bytes) {
    const auto config_hash = expected("config_hash");
    kong_cp cp;
    auto options = dp_options(cp.address(), protocol::cluster_mtls::shared);
    options.timing.ping_interval = 300ms;
    dp_runner dp(options);

    // Connection 0: basic_info, then a ping with the empty hash; Kong's 3.9 reconfigure.
    ASSERT_TRUE(dp.run_until([&] { return cp.pings(0, std::string(32, '0')) >= 1; }, 15s));
    const auto first = cp.frames(0).front();
    EXPECT_EQ(first.op, protocol::ws::opcode::binary) << "Kong's CP reads basic_info as a binary frame";
    EXPECT_EQ(boost::json::parse(first.payload).as_object().at("type").as_string(), "basic_info");
    EXPECT_TRUE(cp.upgrade_request(0).starts_with("GET /v1/outlet?node_id="));

    cp.send(frame_file("cp_reconfigure_3.9.bin"));
    ASSERT_TRUE(dp.run_until([&] { return cp.pings(0, config_hash) >= 1; }, 15s));
    ASSERT_EQ(dp.observer().configs.size(), 1u);
    EXPECT_EQ(dp.observer().last_hash(), config_hash);
    // Kong's empty pongs keep the session up across several ping intervals.
    for (int i = 0; i < 3; ++i) {
        const auto before = cp.pings(0, config_hash);
        cp.send(frame_file("cp_pong_empty.bin"));
        ASSERT_TRUE(dp.run_until([&] { return cp.pings(0, config_hash) > before; }, 15s));
    }
    EXPECT_EQ(dp.status().state, protocol::session_state::connected);
    EXPECT_TRUE(dp.status().last_pong.has_value());

    // A close frame without a code: the session ends and the DP connects again, still pinging
    // the hash it runs.
    cp.send(frame_file("cp_close_no_code.bin"), true);
    ASSERT_TRUE(dp.run_until([&] { return cp.pings(1, config_hash) >= 1; }, 30s));
    EXPECT_EQ(cp.connections(), 2u);

    // Connection 1: the compat-rewritten payload (same config_hash, other table) is not
    // re-applied, as Kong's DP skips a config whose hash it already runs; the 2.8 envelope is.
    cp.send(frame_file("cp_reconfigure_compat_rewritten.bin"));
    cp.send(frame_file("cp_reconfigure_2.8.bin"));
    ASSERT_TRUE(dp.run_until([&] { return cp.pings(1, "e3b0c44298fc1c149afbf4c8996fb924") >= 1; }, 15s));
    EXPECT_EQ(dp.observer().last_hash(), "e3b0c44298fc1c149afbf4c8996fb924");
    EXPECT_EQ(dp.status().rejected_configs, 0u);
}

// A DP that starts from Kong's compat-rewritten payload adopts the CP's hash for it, though the
// table it got hashes otherwise, and reports that hash in its pings.
TEST(kong_frames, a_compat_rewritten_payload_is_adopted_with_the_cps_hash) {
    const auto config_hash = expected("config_hash");
    kong_cp cp;
    auto options = dp_options(cp.address(), protocol::cluster_mtls::shared);
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return cp.pings(0, std::string(32, '0')) >= 1; }, 15s));
    cp.send(frame_file("cp_reconfigure_compat_rewritten.bin"));
    ASSERT_TRUE(dp.run_until([&] { return cp.pings(0, config_hash) >= 1; }, 15s));
    ASSERT_EQ(dp.observer().configs.size(), 1u);
    EXPECT_EQ(dp.observer().last_hash(), config_hash);
    EXPECT_EQ(dp.observer().configs[0]->config_json.find("error_code"), std::string_view::npos);
}
