#include "cli/status_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace lifeboat::cli {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace asio::experimental::awaitable_operators;

std::optional<status_reply> get_status(const std::string& address, const std::string& target,
                                       std::chrono::milliseconds timeout, std::string& error) {
    asio::io_context io(1);
    std::optional<status_reply> reply;
    asio::steady_timer deadline(io, timeout);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            asio::generic::stream_protocol::socket socket(io);
            std::string host = "localhost";
            if (address.starts_with("unix:")) {
                asio::local::stream_protocol::endpoint ep(address.substr(5));
                socket.open(asio::generic::stream_protocol(AF_UNIX, 0));
                co_await socket.async_connect(ep, asio::use_awaitable);
            } else {
                const auto colon = address.rfind(':');
                host = address.substr(0, colon);
                auto bare = host;
                if (bare.starts_with('['))
                    bare = bare.substr(1, bare.size() - 2);
                asio::ip::tcp::resolver resolver(io);
                auto results =
                    co_await resolver.async_resolve(bare, address.substr(colon + 1), asio::use_awaitable);
                boost::system::error_code last = asio::error::host_not_found;
                for (const auto& r : results) {
                    asio::generic::stream_protocol::endpoint ep(r.endpoint());
                    boost::system::error_code ec;
                    socket.close(ec);
                    socket.open(ep.protocol(), ec);
                    if (ec)
                        continue;
                    co_await socket.async_connect(ep, asio::redirect_error(asio::use_awaitable, last));
                    if (!last)
                        break;
                }
                if (last)
                    throw boost::system::system_error(last);
            }
            http::request<http::empty_body> req{http::verb::get, target, 11};
            req.set(http::field::host, host);
            req.set(http::field::connection, "close");
            co_await http::async_write(socket, req, asio::use_awaitable);
            boost::beast::flat_buffer buffer;
            // Beast's default limit is 8 MiB; a status document that large is unusual (the agent
            // caps its candidate list) but still an answer, so it is read up to 256 MiB.
            http::response_parser<http::string_body> parser;
            parser.body_limit(std::uint64_t(256) << 20);
            co_await http::async_read(socket, buffer, parser, asio::use_awaitable);
            auto res = parser.release();
            reply = status_reply{res.result_int(), std::move(res.body())};
        },
        [&](std::exception_ptr e) {
            deadline.cancel(); // done (either way): do not wait out the timeout
            if (!e)
                return;
            try {
                std::rethrow_exception(e);
            } catch (const boost::system::system_error& ex) {
                error = ex.code().message(); // what() carries the source location: not for users
            } catch (const std::exception& ex) {
                error = ex.what();
            }
        });
    // The deadline: stop the loop if the agent does not answer in time.
    deadline.async_wait([&](boost::system::error_code ec) {
        if (!ec && !reply) {
            error = "no answer within the timeout";
            io.stop();
        }
    });
    io.run_for(timeout + std::chrono::milliseconds(100));
    if (!reply && error.empty())
        error = "no answer within the timeout";
    return reply;
}

} // namespace lifeboat::cli
