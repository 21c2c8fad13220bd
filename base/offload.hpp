// Blocking work off the event loop. The agent is one thread: every decision and every piece of its
// state lives on one io executor. Work that blocks (a cache write and its fsyncs, the gateway's
// file, the file store's reads, writes and folder fsyncs) would stall pings, election rounds and
// /status for as long as the disk takes, seconds for a 200 MiB config. offload() runs such work on
// a small pool of threads and resumes the coroutine on its own executor, so state is still touched
// by one thread only:
//
//   auto written = co_await offload([&] { return write_file_atomically(path, bytes); });
//
// The function's value (or exception) comes back to the caller. Cancellation is polite: the
// blocking call always runs to its end (a half-done fsync cannot be taken back, and the function
// may borrow the caller's data), then its result is dropped and the caller sees
// operation_aborted. So a function may safely take references to the caller's locals.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace lifeboat {

// The process's pool for blocking disk work. A few threads: they mostly wait for the disk, and the
// pipeline, the exporter, the importer and the election each have at most one call in flight, so
// a long fsync of a large config never queues an election round behind it.
boost::asio::thread_pool& disk_pool();
inline constexpr unsigned disk_pool_threads = 4;

namespace detail {

template <class R>
struct offload_outcome {
    std::exception_ptr error;
    std::optional<R> value;
};
template <>
struct offload_outcome<void> {
    std::exception_ptr error;
};

template <class F, class R = std::invoke_result_t<F&>>
offload_outcome<R> run_offloaded(F& fn) {
    offload_outcome<R> out;
    try {
        if constexpr (std::is_void_v<R>)
            fn();
        else
            out.value.emplace(fn());
    } catch (...) {
        out.error = std::current_exception();
    }
    return out;
}

} // namespace detail

// Runs `fn` on `pool`; resumes on the caller's executor with its value. Throws what fn threw, or
// operation_aborted when the caller was cancelled meanwhile (fn still ran to its end).
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> offload(boost::asio::thread_pool& pool, F fn) {
    namespace asio = boost::asio;
    using R = std::invoke_result_t<F&>;
    using outcome = detail::offload_outcome<R>;
    auto initiation = [&pool](auto handler, F* work_fn) {
        auto home = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(pool, [work_fn, handler = std::move(handler), home = std::move(home)]() mutable {
            auto out = detail::run_offloaded(*work_fn);
            auto ex = home.get_executor();
            asio::post(ex, [handler = std::move(handler), out = std::move(out)]() mutable {
                std::move(handler)(std::move(out));
            });
            home.reset();
        });
    };
    // fn lives in this frame, which stays suspended until fn has returned: no cancellation
    // resumes it early.
    outcome out = co_await asio::async_initiate<const asio::use_awaitable_t<>, void(outcome)>(
        initiation, asio::use_awaitable, &fn);
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none)
        throw boost::system::system_error(asio::error::operation_aborted, "offloaded call cancelled");
    if (out.error)
        std::rethrow_exception(out.error);
    if constexpr (!std::is_void_v<R>)
        co_return std::move(*out.value);
}

// On the process's disk_pool().
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> offload(F fn) {
    return offload(disk_pool(), std::move(fn));
}

} // namespace lifeboat
