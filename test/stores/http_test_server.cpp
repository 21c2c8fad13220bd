#include "stores/http_test_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <sstream>
#include <thread>

namespace lifeboat::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct http_test_server::impl {
    asio::io_context io;
    tcp::acceptor acceptor{io};
    handler on_request;
    std::thread thread;
    unsigned short port = 0;

    asio::awaitable<void> session(tcp::socket socket) {
        beast::flat_buffer buffer;
        for (;;) {
            beast::http::request_parser<beast::http::string_body> parser;
            parser.body_limit(256u << 20);
            boost::system::error_code ec;
            co_await beast::http::async_read(socket, buffer, parser,
                                             asio::redirect_error(asio::use_awaitable, ec));
            if (ec)
                co_return;
            auto request = parser.release();
            auto response = on_request(request);
            response.version(request.version());
            response.keep_alive(request.keep_alive());
            response.prepare_payload();
            // A handler asks for a broken answer with the x-test-fault header (http_test_server.hpp).
            if (const auto fault = std::string(response["x-test-fault"]); !fault.empty()) {
                response.erase("x-test-fault");
                if (fault == "truncate") {
                    std::ostringstream whole;
                    whole << response; // the head announces the whole body; half of it follows
                    auto text = whole.str();
                    text.resize(text.size() - (response.body().size() + 1) / 2);
                    co_await asio::async_write(socket, asio::buffer(text),
                                               asio::redirect_error(asio::use_awaitable, ec));
                } else {
                    socket.set_option(tcp::socket::linger(true, 0), ec); // close() sends a reset
                }
                socket.close(ec);
                co_return;
            }
            co_await beast::http::async_write(socket, response,
                                              asio::redirect_error(asio::use_awaitable, ec));
            if (ec || !request.keep_alive())
                co_return;
        }
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            boost::system::error_code ec;
            tcp::socket socket =
                co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (ec)
                co_return;
            asio::co_spawn(io, session(std::move(socket)), asio::detached);
        }
    }
};

http_test_server::http_test_server(handler h) : impl_(std::make_unique<impl>()) {
    impl_->on_request = std::move(h);
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen();
    impl_->port = impl_->acceptor.local_endpoint().port();
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

http_test_server::~http_test_server() {
    impl_->io.stop();
    impl_->thread.join();
}

unsigned short http_test_server::port() const {
    return impl_->port;
}

std::string http_test_server::origin() const {
    return "http://127.0.0.1:" + std::to_string(port());
}

} // namespace lifeboat::test
