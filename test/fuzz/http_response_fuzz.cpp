// Fuzz target: an HTTP response as the object stores' client reads it (backends/http/client:
// Beast's parser with the client's header limit, then the body into a memory, streaming or file
// sink with their caps, Content-Length checks and chunked decoding). The client is the real one,
// talking to a one-shot server on loopback that reads the request and answers with the fuzz
// input verbatim, then closes.
//
// Input: a selector byte (method, sink, cap), then the bytes the server sends.
#include "backends/http/client.hpp"
#include "test/fuzz/fuzz_input.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

struct loopback {
    asio::io_context io;
    tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    std::filesystem::path dir;

    loopback() {
        char tmpl[] = "/tmp/lifeboat-fuzz-http-XXXXXX";
        if (!::mkdtemp(tmpl))
            std::abort();
        dir = tmpl;
    }
};

loopback& shared() {
    static loopback* l = new loopback; // never destroyed: libFuzzer exits without unwinding
    return *l;
}

asio::awaitable<void> serve_once(tcp::acceptor& acceptor, std::string answer) {
    auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec)
        co_return;
    std::string request;
    auto [rec, n] = co_await asio::async_read_until(sock, asio::dynamic_buffer(request), "\r\n\r\n",
                                                    asio::as_tuple(asio::use_awaitable));
    if (rec)
        co_return;
    co_await asio::async_write(sock, asio::buffer(answer), asio::as_tuple(asio::use_awaitable));
    boost::system::error_code ignored;
    sock.shutdown(tcp::socket::shutdown_send, ignored);
    // Wait for the client to finish with the connection: closing while it still writes would
    // turn the FIN into a reset and hide the parse behind a network error.
    char sink[512];
    for (;;) {
        auto [eof, got] =
            co_await sock.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
        if (eof)
            break;
    }
}

using fetch_result = std::optional<lifeboat::http::http_result<lifeboat::http::response>>;

asio::awaitable<void> fetch(std::unique_ptr<lifeboat::http::client> client, lifeboat::http::request req,
                            fetch_result& out, tcp::acceptor& acceptor) {
    out = co_await client->send(std::move(req));
    client.reset();    // closes the pooled connection, which ends serve_once
    acceptor.cancel(); // and an accept still pending (the client never connected)
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace lifeboat;
    fuzz::input in(data, size);
    const auto selector = in.byte();
    auto& l = shared();

    http::client_options options;
    options.retry.max_attempts = 1;
    options.timeout.connect = std::chrono::seconds(5);
    options.timeout.idle = std::chrono::seconds(5);
    options.timeout.total = std::chrono::seconds(10);
    options.error_body_cap = (selector & 0x10) ? 16 : 64 * 1024;
    auto client = std::make_unique<http::client>(l.io.get_executor(), options);

    http::request req;
    req.method = (selector & 0x20) ? http::verb::head : http::verb::get;
    req.server = http::origin{false, "127.0.0.1", l.acceptor.local_endpoint().port()};
    req.target = "/bucket/key";
    const std::uint64_t cap = (selector & 0x40) ? 8 : 1 << 20;
    std::uint64_t streamed = 0;
    const auto target = l.dir / "object";
    switch (selector % 3) {
    case 0:
        req.sink = http::to_memory{static_cast<std::size_t>(cap)};
        break;
    case 1:
        req.sink = http::to_stream{cap, [&](std::optional<std::uint64_t>) { streamed = 0; },
                                   [&](std::string_view chunk) -> std::optional<std::string> {
                                       streamed += chunk.size();
                                       return std::nullopt;
                                   }};
        break;
    case 2:
        req.sink = http::to_file{target, 0600, cap, nullptr, nullptr};
        break;
    }

    fetch_result result;
    asio::co_spawn(l.io, serve_once(l.acceptor, std::string(in.rest())), asio::detached);
    asio::co_spawn(l.io, fetch(std::move(client), std::move(req), result, l.acceptor), asio::detached);
    l.io.run();
    l.io.restart();

    if (!result)
        std::abort(); // send() never finished
    if (*result) {
        const auto& res = **result;
        if (res.status > 999)
            std::abort();
        if (res.ok() && selector % 3 == 0 && (res.body.size() > cap || res.body_bytes != res.body.size()))
            std::abort();
        if (res.ok() && selector % 3 == 1 && (streamed > cap || res.body_bytes != streamed))
            std::abort();
        if (res.ok() && selector % 3 == 2 && !res.body_in_file)
            std::abort();
        if (!res.ok() && res.body.size() > options.error_body_cap)
            std::abort();
    } else if (result->error().message.empty() || result->error().message.find('\n') != std::string::npos) {
        std::abort();
    }
    std::error_code ignored;
    std::filesystem::remove(target, ignored);
    return 0;
}
