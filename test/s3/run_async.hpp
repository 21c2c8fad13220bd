// Runs one coroutine on a test's io_context to completion (other work, such as a fake server,
// keeps running alongside) and hands back its value.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>

namespace lifeboat::test {

template <class T>
T run_async(boost::asio::io_context& ioc, boost::asio::awaitable<T> work) {
    std::optional<T> out;
    std::exception_ptr error;
    bool done = false;
    boost::asio::co_spawn(
        ioc, [&]() -> boost::asio::awaitable<void> { out.emplace(co_await std::move(work)); },
        [&](std::exception_ptr e) {
            error = e;
            done = true;
        });
    while (!done)
        if (ioc.run_one() == 0)
            ioc.restart();
    if (error)
        std::rethrow_exception(error);
    return std::move(*out);
}

} // namespace lifeboat::test
