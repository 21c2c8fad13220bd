// The disk side of a streamed import (agent/staged_pieces.hpp): the pieces reach the staged files
// on the disk pool, never on the loop's thread, in order; a restart drops what came before; the
// queue never holds more than its bound plus one piece when the producer awaits ready(), however
// slow the disk; and a config dropped while a batch is on the pool leaves nothing behind.
// Nothing here is timed: a slow "disk" is a stage that sleeps, and the assertions are about
// threads, order and bytes.
#include "agent/config_cache.hpp"
#include "agent/staged_pieces.hpp"
#include "harness/test_env.hpp"
#include "stores/sync.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <thread>

using namespace lifeboat;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

// A hand-off stage that records what it is given and on which thread, and takes `delay` per
// write (a slow disk).
struct recorded {
    std::mutex guard;
    std::string bytes;
    std::vector<std::thread::id> threads;
    int restarts = 0;
};

class recording_stage final : public agent::handoff_stage {
public:
    recording_stage(std::shared_ptr<recorded> out, std::chrono::milliseconds delay)
        : out_(std::move(out))
        , delay_(delay) {}
    void restart() override {
        std::lock_guard lock(out_->guard);
        out_->bytes.clear();
        ++out_->restarts;
        out_->threads.push_back(std::this_thread::get_id());
    }
    void write(std::string_view bytes) override {
        std::this_thread::sleep_for(delay_);
        std::lock_guard lock(out_->guard);
        out_->bytes.append(bytes);
        out_->threads.push_back(std::this_thread::get_id());
    }
    asio::awaitable<result<void, std::string>> deliver(const protocol::config_snapshot&) override {
        co_return ok_v;
    }

private:
    std::shared_ptr<recorded> out_;
    std::chrono::milliseconds delay_;
};

std::string text_of(std::size_t size) {
    std::string s(size, 'x');
    for (std::size_t i = 0; i < size; ++i)
        s[i] = static_cast<char>('a' + (i * 7 + i / 977) % 26);
    return s;
}

struct staged_pieces_fixture : ::testing::Test {
    asio::io_context io;
    fs::path dir = test::scratch_dir();
    std::shared_ptr<recorded> seen = std::make_shared<recorded>();

    std::shared_ptr<agent::staged_pieces> make(std::size_t bound, std::chrono::milliseconds delay) {
        return agent::staged_pieces::make(
            io.get_executor(),
            agent::incoming_files{agent::config_cache(dir).stage(),
                                  std::make_unique<recording_stage>(seen, delay)},
            bound);
    }
};

} // namespace

TEST_F(staged_pieces_fixture, a_slow_disk_holds_the_producer_back_and_every_write_runs_off_the_loop) {
    constexpr std::size_t bound = 64 * 1024;
    constexpr std::size_t piece = 16 * 1024;
    const auto text = text_of(1 << 20); // 64 pieces; the disk takes 2 ms per piece
    auto pieces = make(bound, 2ms);
    std::size_t most_queued = 0;
    const auto loop_thread = std::this_thread::get_id();
    test::run_sync(io, [&]() -> asio::awaitable<int> {
        pieces->restart();
        for (std::size_t at = 0; at < text.size(); at += piece) {
            pieces->write(std::string_view(text).substr(at, piece));
            most_queued = std::max(most_queued, pieces->queued_bytes());
            co_await pieces->ready();
            // What ready() lets through: fewer than `bound` bytes wait.
            EXPECT_LT(pieces->queued_bytes(), bound);
        }
        co_await pieces->drained();
        co_return 0;
    }());
    EXPECT_EQ(pieces->queued_bytes(), 0u);
    EXPECT_LE(pieces->peak_queued_bytes(), bound + piece);
    EXPECT_LE(most_queued, bound + piece);
    EXPECT_GT(pieces->batches(), 1u) << "the writes overlap the production, batch by batch";
    std::lock_guard lock(seen->guard);
    EXPECT_TRUE(seen->bytes == text) << "every byte, in order";
    EXPECT_EQ(seen->restarts, 1);
    for (const auto& t : seen->threads)
        EXPECT_NE(t, loop_thread) << "a staged file was written on the loop's thread";
    // The cache's staged file got the same bytes (left for a commit; dropped here).
    EXPECT_EQ(pieces->files().cache.error(), "");
}

TEST_F(staged_pieces_fixture, a_restart_drops_what_came_before_even_what_was_queued) {
    auto pieces = make(1 << 20, 0ms);
    test::run_sync(io, [&]() -> asio::awaitable<int> {
        pieces->restart();
        pieces->write("the first attempt, cut off");
        co_await pieces->drained();
        pieces->write(" and more of it, still queued");
        pieces->restart(); // before the loop got to it
        pieces->write("{\"second\":true}");
        co_await pieces->drained();
        co_return 0;
    }());
    std::lock_guard lock(seen->guard);
    EXPECT_EQ(seen->bytes, "{\"second\":true}");
    EXPECT_EQ(seen->restarts, 2);
}

TEST_F(staged_pieces_fixture,
       pieces_written_while_no_loop_runs_only_queue_and_a_dropped_config_leaves_nothing) {
    auto pieces = make(1 << 20, 0ms);
    pieces->restart();
    pieces->write(text_of(100000));
    EXPECT_EQ(pieces->queued_bytes(), 100000u);
    {
        std::lock_guard lock(seen->guard);
        EXPECT_EQ(seen->restarts, 0) << "nothing reaches the disk before the loop runs";
    }
    pieces->abandon();
    pieces.reset();
    io.run();
    EXPECT_TRUE(test::temporary_files(dir).empty());
    std::lock_guard lock(seen->guard);
    EXPECT_TRUE(seen->bytes.empty());
}

TEST_F(staged_pieces_fixture, a_config_dropped_while_a_batch_is_on_the_pool_goes_once_that_batch_is_back) {
    auto pieces = make(1 << 20, 50ms);
    std::weak_ptr<agent::staged_pieces> watch = pieces;
    test::run_sync(io, [&]() -> asio::awaitable<int> {
        pieces->restart();
        pieces->write(text_of(1000));
        co_await pieces->ready(); // under the bound: returns at once
        // Let the batch reach the pool, then drop the config (the importer gives up on it).
        asio::steady_timer t(co_await asio::this_coro::executor, 10ms);
        co_await t.async_wait(asio::use_awaitable);
        pieces->write(text_of(500)); // queued behind the batch: never written
        pieces->abandon();
        pieces.reset();
        co_return 0;
    }());
    // run_sync's loop ran until the batch was back (its work guard), and the files went then.
    EXPECT_TRUE(watch.expired());
    EXPECT_TRUE(test::temporary_files(dir).empty()) << test::temporary_files(dir).front();
    std::lock_guard lock(seen->guard);
    EXPECT_EQ(seen->bytes.size(), 1000u);
}
