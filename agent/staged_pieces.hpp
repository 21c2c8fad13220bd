// The disk side of a config that arrives in pieces (the fallback import): its pieces go to the
// cache's and the gateway's temporary files on the disk pool (base/offload.hpp), not on the event
// loop, where a slow disk (or a 200 MiB object's worth of write-behind) would hold up pings,
// election rounds and /status.
//
// The loop queues each piece (a copy: the store reuses its buffer) and goes on reading; one batch
// at a time, in order, runs on the pool, and its completion comes back to the loop. So the files
// are touched by one thread at a time, and the queue and the waiters only by the loop. The queue is
// bounded: ready() holds the download back while max_queued_bytes are waiting to be written, so a
// fast download never piles up in memory. Nothing runs before the loop does: pieces written while
// the loop is not running (a test driving write() by hand) are only queued.
#pragma once

#include "agent/config_cache.hpp"
#include "agent/handoff.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::agent {

// The temporary files an incoming config is written to.
struct incoming_files {
    cache_stage cache;
    std::unique_ptr<handoff_stage> handoff; // nullptr: the hand-off takes the whole config at the end
};

class staged_pieces : public std::enable_shared_from_this<staged_pieces> {
public:
    // About 32 pieces of a network read: the disk keeps up with the download, and memory stays small.
    static constexpr std::size_t default_max_queued_bytes = std::size_t(8) << 20;

    static std::shared_ptr<staged_pieces> make(boost::asio::any_io_executor loop, incoming_files files,
                                               std::size_t max_queued_bytes = default_max_queued_bytes);
    ~staged_pieces();

    // On the loop. A transfer that starts (again): the files start over; queued pieces are dropped.
    void restart();
    // On the loop. Queues a copy of `bytes`.
    void write(std::string_view bytes);
    // Returns once fewer than max_queued_bytes wait to be written (the store's object_sink::ready).
    boost::asio::awaitable<void> ready();
    // Returns once every queued piece is written: the files may then be used on the loop (or
    // handed to one offloaded call at a time).
    boost::asio::awaitable<void> drained();
    // The files; only between drained() and the next write() or restart().
    incoming_files& files() { return files_; }
    // The config is given up: queued pieces are dropped, and a batch on the pool is the last. The
    // files go (their temporary files removed) once that batch is back.
    void abandon();

    // Pieces waiting or being written, in bytes, and the largest that figure has been.
    std::size_t queued_bytes() const { return queued_bytes_; }
    std::size_t peak_queued_bytes() const { return peak_queued_bytes_; }
    std::size_t batches() const { return batches_; }

private:
    struct piece {
        bool restart = false;
        std::string bytes;
    };
    staged_pieces(boost::asio::any_io_executor loop, incoming_files files, std::size_t max_queued_bytes);

    void schedule();
    void start_batch();
    void batch_done(std::size_t bytes);
    boost::asio::awaitable<void> wait_for_progress();

    boost::asio::any_io_executor loop_;
    incoming_files files_;
    std::size_t max_queued_bytes_;
    std::vector<piece> queue_;     // not yet handed to the pool
    std::size_t queued_bytes_ = 0; // queue_ plus the batch being written
    std::size_t peak_queued_bytes_ = 0;
    std::size_t batches_ = 0;
    bool writing_ = false;   // a batch is on the pool
    bool scheduled_ = false; // start_batch() is posted to the loop
    bool abandoned_ = false;
    boost::asio::steady_timer progress_; // cancelled when a batch ends: wakes ready() and drained()
};

} // namespace lifeboat::agent
