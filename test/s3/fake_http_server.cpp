#include "fake_http_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <stdexcept>

namespace lifeboat::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct fake_http_server::impl : std::enable_shared_from_this<impl> {
    tcp::acceptor acceptor;
    fake_handler handler;
    std::shared_ptr<asio::ssl::context> tls;
    std::size_t connection_count = 0;
    std::size_t request_count = 0;
    std::set<tcp::socket*> live;
    bool stopped = false;

    impl(asio::any_io_executor ex, fake_handler h, std::shared_ptr<asio::ssl::context> t)
        : acceptor(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0))
        , handler(std::move(h))
        , tls(std::move(t)) {}

    asio::awaitable<void> accept_loop() {
        auto self = shared_from_this();
        for (;;) {
            auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec || stopped)
                co_return;
            const auto index = connection_count++;
            asio::co_spawn(acceptor.get_executor(), serve(std::move(sock), index), asio::detached);
        }
    }

    asio::awaitable<void> serve(tcp::socket sock, std::size_t index) {
        auto self = shared_from_this();
        if (tls) {
            asio::ssl::stream<tcp::socket> stream(std::move(sock), *tls);
            live.insert(&stream.next_layer());
            auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server,
                                                        asio::as_tuple(asio::use_awaitable));
            if (!ec)
                co_await serve_stream(stream, stream.next_layer(), index);
            live.erase(&stream.next_layer());
        } else {
            live.insert(&sock);
            co_await serve_stream(sock, sock, index);
            live.erase(&sock);
        }
    }

    static void reset(tcp::socket& raw) {
        beast::error_code ec;
        raw.set_option(asio::socket_base::linger(true, 0), ec);
        raw.close(ec);
    }

    template <class Stream>
    asio::awaitable<void> serve_stream(Stream& stream, tcp::socket& raw, std::size_t index) {
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request_parser<bhttp::string_body> parser;
            parser.body_limit(std::uint64_t(1) << 32);
            auto [ec, n] =
                co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
            if (ec || stopped)
                co_return;
            ++request_count;
            auto& msg = parser.get();
            fake_request req{std::string(msg.method_string()),
                             std::string(msg.target()),
                             {},
                             std::move(msg.body()),
                             index};
            for (const auto& h : msg)
                req.headers.insert(h.name_string(), h.value());
            const fake_reply reply = handler(req);
            if (reply.kind == fault::close_before_reply) {
                reset(raw);
                co_return;
            }
            std::string head =
                fmt::format("HTTP/1.1 {} {}\r\n", reply.status,
                            std::string_view(bhttp::obsolete_reason(bhttp::int_to_status(reply.status))));
            bool has_length = false;
            for (const auto& [k, v] : reply.headers) {
                head += k + ": " + v + "\r\n";
                has_length = has_length || beast::iequals(k, "content-length");
            }
            if (!has_length)
                head += fmt::format("Content-Length: {}\r\n", reply.body.size());
            head += "\r\n";
            const bool head_only = req.method == "HEAD";
            const std::size_t cut = std::min(reply.cut_at, reply.body.size());
            std::string first =
                head + (head_only
                            ? std::string()
                            : reply.body.substr(0, reply.kind == fault::none ? reply.body.size() : cut));
            auto [wec, wn] =
                co_await asio::async_write(stream, asio::buffer(first), asio::as_tuple(asio::use_awaitable));
            if (wec)
                co_return;
            if (reply.kind == fault::reset_mid_body) {
                reset(raw);
                co_return;
            }
            if (reply.kind == fault::truncate) {
                beast::error_code ignored;
                raw.shutdown(tcp::socket::shutdown_send, ignored);
                // Linger until the client gives up, so it sees a clean FIN, not a reset.
                asio::steady_timer t(raw.get_executor(), std::chrono::seconds(5));
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                raw.close(ignored);
                co_return;
            }
            if (reply.kind == fault::stall) {
                asio::steady_timer t(raw.get_executor(), reply.stall);
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                if (stopped || !raw.is_open())
                    co_return;
                std::string rest = head_only ? std::string() : reply.body.substr(cut);
                auto [sec, sn] = co_await asio::async_write(stream, asio::buffer(rest),
                                                            asio::as_tuple(asio::use_awaitable));
                if (sec)
                    co_return;
            }
            if (reply.close_after || !msg.keep_alive()) {
                beast::error_code ignored;
                raw.shutdown(tcp::socket::shutdown_both, ignored);
                raw.close(ignored);
                co_return;
            }
        }
    }
};

fake_http_server::fake_http_server(asio::any_io_executor executor, fake_handler handler,
                                   std::shared_ptr<asio::ssl::context> tls)
    : impl_(std::make_shared<impl>(executor, std::move(handler), std::move(tls))) {
    asio::co_spawn(executor, impl_->accept_loop(), asio::detached);
}

fake_http_server::~fake_http_server() {
    stop();
}

unsigned short fake_http_server::port() const {
    return impl_->acceptor.local_endpoint().port();
}
std::string fake_http_server::origin() const {
    return fmt::format("{}://127.0.0.1:{}", impl_->tls ? "https" : "http", port());
}
std::size_t fake_http_server::connections() const {
    return impl_->connection_count;
}
std::size_t fake_http_server::requests() const {
    return impl_->request_count;
}

void fake_http_server::stop() {
    if (impl_->stopped)
        return;
    impl_->stopped = true;
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    for (auto* s : impl_->live)
        s->close(ignored);
}

test_pki make_test_pki(const std::string& dir, const std::string& san) {
    test_pki pki{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key"};
    const std::string script = fmt::format(
        "set -e; cd '{0}'; "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out "
        "ca.pem "
        "-days 2 -subj /CN=lifeboat-test-ca 2>/dev/null; "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out "
        "server.csr "
        "-subj /CN=lifeboat-test-server 2>/dev/null; "
        "printf 'subjectAltName=%s\\n' '{1}' > ext.cnf; "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
        "-extfile ext.cnf 2>/dev/null",
        dir, san);
    const std::string script_file = dir + "/make-pki.sh";
    if (FILE* f = std::fopen(script_file.c_str(), "w")) {
        std::fputs(script.c_str(), f);
        std::fclose(f);
    }
    if (std::system(("bash " + script_file).c_str()) != 0)
        throw std::runtime_error("openssl could not make the test certificates in " + dir);
    return pki;
}

std::shared_ptr<asio::ssl::context> server_tls_context(const test_pki& pki) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->use_certificate_chain_file(pki.cert_file);
    ctx->use_private_key_file(pki.key_file, asio::ssl::context::pem);
    return ctx;
}

} // namespace lifeboat::test
