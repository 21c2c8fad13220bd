#include "base/offload.hpp"
#include "base/result.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

using namespace lifeboat;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Runs `work` on `io` until it ends; its exception, if any, is returned.
template <class Work>
std::exception_ptr run(asio::io_context& io, Work work) {
    std::exception_ptr error;
    bool done = false;
    asio::co_spawn(io, std::move(work), [&](std::exception_ptr e) {
        error = e;
        done = true;
    });
    io.run();
    EXPECT_TRUE(done);
    return error;
}

} // namespace

TEST(offload, runs_on_the_pool_and_resumes_on_the_callers_thread) {
    asio::io_context io;
    asio::thread_pool pool(1);
    const auto loop_thread = std::this_thread::get_id();
    std::thread::id work_thread, resumed_thread;
    int value = 0;
    auto e = run(io, [&]() -> asio::awaitable<void> {
        value = co_await offload(pool, [&] {
            work_thread = std::this_thread::get_id();
            return 42;
        });
        resumed_thread = std::this_thread::get_id();
    });
    ASSERT_FALSE(e);
    EXPECT_EQ(value, 42);
    EXPECT_NE(work_thread, loop_thread);
    EXPECT_EQ(resumed_thread, loop_thread);
}

TEST(offload, the_loop_keeps_running_while_the_call_blocks) {
    asio::io_context io;
    asio::thread_pool pool(1);
    std::promise<void> release;
    auto released = release.get_future();
    int ticks = 0;
    auto e = run(io, [&]() -> asio::awaitable<void> {
        // A ticker on the same loop: it must run while the offloaded call is blocked.
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                asio::steady_timer t(io);
                for (; ticks < 5; ++ticks) {
                    t.expires_after(5ms);
                    co_await t.async_wait(asio::use_awaitable);
                }
                release.set_value();
            },
            asio::detached);
        co_await offload(pool, [&] { released.wait(); });
    });
    ASSERT_FALSE(e);
    EXPECT_EQ(ticks, 5);
}

TEST(offload, passes_on_an_exception_and_a_failure) {
    asio::io_context io;
    asio::thread_pool pool(1);
    auto e = run(io, [&]() -> asio::awaitable<void> {
        auto r = co_await offload(pool,
                                  [] { return result<int, std::string>(failure{std::string("disk full")}); });
        EXPECT_FALSE(r);
        EXPECT_EQ(r.error(), "disk full");
        co_await offload(pool, []() -> void { throw std::runtime_error("boom"); });
        ADD_FAILURE() << "not reached";
    });
    ASSERT_TRUE(e);
    try {
        std::rethrow_exception(e);
    } catch (const std::runtime_error& x) {
        EXPECT_STREQ(x.what(), "boom");
    }
}

TEST(offload, move_only_values_come_back_whole) {
    asio::io_context io;
    asio::thread_pool pool(1);
    std::unique_ptr<std::string> got;
    auto e = run(io, [&]() -> asio::awaitable<void> {
        got = co_await offload(pool, [] { return std::make_unique<std::string>(1 << 20, 'x'); });
    });
    ASSERT_FALSE(e);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->size(), std::size_t(1) << 20);
}

TEST(offload, cancellation_waits_for_the_call_then_drops_its_result) {
    asio::io_context io;
    asio::thread_pool pool(1);
    asio::cancellation_signal cancel;
    std::promise<void> release;
    auto released = release.get_future();
    std::atomic<bool> call_ended{false};
    bool resumed = false;
    std::exception_ptr error;
    bool done = false;
    // The call borrows `borrowed` from the caller's frame: it must still be alive when the call
    // writes it, after the cancellation.
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            std::string borrowed;
            auto r = co_await offload(pool, [&] {
                released.wait();
                borrowed = "written after the cancellation";
                call_ended = true;
                return 7;
            });
            resumed = true;
            (void)r;
        },
        asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
            error = e;
            done = true;
        }));
    asio::steady_timer cancel_timer(io), release_timer(io);
    cancel_timer.expires_after(20ms);
    cancel_timer.async_wait(
        [&](boost::system::error_code) { cancel.emit(asio::cancellation_type::terminal); });
    release_timer.expires_after(80ms);
    release_timer.async_wait([&](boost::system::error_code) {
        // Cancelled 60 ms ago, and the coroutine has not ended: it waits for the call.
        EXPECT_FALSE(done);
        EXPECT_FALSE(call_ended);
        release.set_value();
    });
    io.run();
    EXPECT_TRUE(done);
    EXPECT_TRUE(call_ended);
    EXPECT_FALSE(resumed);
    ASSERT_TRUE(error);
    try {
        std::rethrow_exception(error);
    } catch (const boost::system::system_error& x) {
        EXPECT_EQ(x.code(), asio::error::operation_aborted);
    }
}

TEST(offload, the_process_pool_runs_work) {
    asio::io_context io;
    std::thread::id work_thread;
    auto e = run(io, [&]() -> asio::awaitable<void> {
        co_await offload([&] { work_thread = std::this_thread::get_id(); });
    });
    ASSERT_FALSE(e);
    EXPECT_NE(work_thread, std::this_thread::get_id());
}
