// Runs one coroutine to completion on a private io_context, for tests of the stores.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>

namespace lifeboat::test {

template <class T>
T run_sync(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
    std::optional<T> out;
    std::exception_ptr error;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            try {
                out.emplace(co_await std::move(task));
            } catch (...) {
                error = std::current_exception();
            }
        },
        boost::asio::detached);
    io.restart();
    io.run();
    if (error)
        std::rethrow_exception(error);
    return std::move(*out);
}

template <class T>
T run_sync(boost::asio::awaitable<T> task) {
    boost::asio::io_context io;
    return run_sync(io, std::move(task));
}

} // namespace lifeboat::test
