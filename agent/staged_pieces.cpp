#include "agent/staged_pieces.hpp"

#include "base/offload.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace lifeboat::agent {

namespace asio = boost::asio;

std::shared_ptr<staged_pieces> staged_pieces::make(asio::any_io_executor loop, incoming_files files,
                                                   std::size_t max_queued_bytes) {
    return std::shared_ptr<staged_pieces>(
        new staged_pieces(std::move(loop), std::move(files), max_queued_bytes));
}

staged_pieces::staged_pieces(asio::any_io_executor loop, incoming_files files, std::size_t max_queued_bytes)
    : loop_(loop)
    , files_(std::move(files))
    , max_queued_bytes_(std::max<std::size_t>(max_queued_bytes, 1))
    , progress_(loop, std::chrono::steady_clock::time_point::max()) {}

staged_pieces::~staged_pieces() = default;

void staged_pieces::restart() {
    // What was queued belongs to the transfer that is starting over: never written.
    for (const auto& p : queue_)
        queued_bytes_ -= p.bytes.size();
    queue_.clear();
    queue_.push_back(piece{true, {}});
    schedule();
}

void staged_pieces::write(std::string_view bytes) {
    if (abandoned_ || bytes.empty())
        return;
    queue_.push_back(piece{false, std::string(bytes)});
    queued_bytes_ += bytes.size();
    peak_queued_bytes_ = std::max(peak_queued_bytes_, queued_bytes_);
    schedule();
}

void staged_pieces::abandon() {
    abandoned_ = true;
    for (const auto& p : queue_)
        queued_bytes_ -= p.bytes.size();
    queue_.clear();
    progress_.cancel();
}

void staged_pieces::schedule() {
    if (writing_ || scheduled_)
        return;
    // Posted rather than started here: the caller is in the middle of a store's read, and a test
    // that writes while no loop runs only queues. A dropped config cancels it (weak).
    scheduled_ = true;
    asio::post(loop_, [weak = weak_from_this()] {
        if (auto self = weak.lock()) {
            self->scheduled_ = false;
            self->start_batch();
        }
    });
}

void staged_pieces::start_batch() {
    if (writing_ || queue_.empty() || abandoned_)
        return;
    writing_ = true;
    std::size_t bytes = 0;
    for (const auto& p : queue_)
        bytes += p.bytes.size();
    // The batch owns its pieces, and the job owns this object (and so the files) until it is back
    // on the loop: a config dropped meanwhile is destroyed there, never under the pool's feet.
    asio::post(disk_pool(), [self = shared_from_this(), batch = std::move(queue_), bytes,
                             home = asio::make_work_guard(loop_)]() mutable {
        auto& files = self->files_;
        for (auto& p : batch) {
            if (p.restart) {
                files.cache.restart();
                if (files.handoff)
                    files.handoff->restart();
                continue;
            }
            files.cache.write(p.bytes);
            if (files.handoff)
                files.handoff->write(p.bytes);
            std::string().swap(p.bytes); // the memory goes back here, not on the loop
        }
        auto loop = home.get_executor();
        asio::post(loop, [self = std::move(self), bytes] { self->batch_done(bytes); });
        home.reset();
    });
    queue_.clear(); // moved-from: empty it for sure
}

void staged_pieces::batch_done(std::size_t bytes) {
    writing_ = false;
    queued_bytes_ -= bytes;
    ++batches_;
    progress_.cancel();
    start_batch(); // what queued meanwhile
}

asio::awaitable<void> staged_pieces::wait_for_progress() {
    boost::system::error_code ec;
    co_await progress_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    // cancel() is how a batch's end wakes us; a real cancellation is the waiter's own.
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
        throw boost::system::system_error(asio::error::operation_aborted);
}

asio::awaitable<void> staged_pieces::ready() {
    while (!abandoned_ && queued_bytes_ >= max_queued_bytes_) {
        start_batch(); // a no-op while one is on the pool
        co_await wait_for_progress();
    }
}

asio::awaitable<void> staged_pieces::drained() {
    while (!abandoned_ && (writing_ || !queue_.empty())) {
        start_batch();
        co_await wait_for_progress();
    }
}

} // namespace lifeboat::agent
