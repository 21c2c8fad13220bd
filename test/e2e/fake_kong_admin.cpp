#include "fake_kong_admin.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <thread>

namespace lifeboat::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct fake_kong_admin::impl {
    asio::io_context io;
    tcp::acceptor acceptor{io};
    mutable std::mutex mutex;
    std::vector<admin_request> seen;
    std::function<admin_reply(const admin_request&)> handler = [](const admin_request&) {
        return admin_reply{};
    };
    std::thread thread;

    asio::awaitable<void> serve(tcp::socket socket) {
        boost::beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(std::uint64_t(1) << 30); // configs of hundreds of MiB
            boost::system::error_code ec;
            co_await http::async_read(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            if (ec)
                co_return; // the client closed or gave up
            const auto& req = parser.get();
            admin_request r;
            r.method = std::string(req.method_string());
            r.target = std::string(req.target());
            r.body = req.body();
            for (const auto& f : req) {
                std::string name(f.name_string());
                std::transform(name.begin(), name.end(), name.begin(),
                               [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
                r.headers[name] = std::string(f.value());
            }
            std::function<admin_reply(const admin_request&)> h;
            {
                std::lock_guard lock(mutex);
                seen.push_back(r);
                h = handler;
            }
            const admin_reply reply = h(r);
            if (reply.delay.count() > 0) {
                asio::steady_timer timer(io, reply.delay);
                co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            }
            http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
            res.set(http::field::server, "kong/3.9.0.0-enterprise-edition (lifeboat fake)");
            res.set(http::field::content_type, "application/json; charset=utf-8");
            res.body() = reply.body;
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            co_await http::async_write(socket, res, asio::redirect_error(asio::use_awaitable, ec));
            if (ec || !res.keep_alive())
                co_return;
        }
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            boost::system::error_code ec;
            tcp::socket socket(io);
            co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
            if (ec)
                co_return;
            asio::co_spawn(io, serve(std::move(socket)), asio::detached);
        }
    }
};

fake_kong_admin::fake_kong_admin(unsigned short port) : impl_(std::make_unique<impl>()) {
    const tcp::endpoint where(asio::ip::make_address("127.0.0.1"), port);
    impl_->acceptor.open(where.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(where);
    impl_->acceptor.listen();
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

fake_kong_admin::~fake_kong_admin() {
    impl_->io.stop();
    impl_->thread.join();
}

void fake_kong_admin::answer(std::function<admin_reply(const admin_request&)> handler) {
    std::lock_guard lock(impl_->mutex);
    impl_->handler = std::move(handler);
}

std::vector<admin_request> fake_kong_admin::requests() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->seen;
}

unsigned short fake_kong_admin::port() const {
    return impl_->acceptor.local_endpoint().port();
}

} // namespace lifeboat::test
