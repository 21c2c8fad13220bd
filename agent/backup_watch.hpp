// The backup as every node sees it (issue #16 item 3): importers and exporters, leader or not,
// read the backup object's metadata with one HEAD every cluster_fallback_config_watch_interval,
// so /status and /metrics give its age (Last-Modified) and whether it holds the config this node
// runs, before an outage proves it. The schedule and the reading of an answer are decided here
// without I/O, on the clock they are given; backup_watcher is the thin driver.
#pragma once

#include "agent/status.hpp"
#include "agent/wakeup_timer.hpp"
#include "backends/object_store.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>

namespace lifeboat::agent {

class backup_watch_schedule {
public:
    using time_point = std::chrono::steady_clock::time_point;

    // `interval` 0: never read.
    explicit backup_watch_schedule(std::chrono::milliseconds interval) : interval_(interval) {}

    bool enabled() const { return interval_.count() > 0; }
    // When the next HEAD is due: at once at first, then an interval after the last answer;
    // time_point::max() when disabled or while a HEAD is in flight.
    time_point next() const;
    bool due(time_point now) const { return now >= next(); }
    // A HEAD is sent now.
    void started() {
        in_flight_ = true;
        again_ = false;
    }
    // It answered (or failed: a failure is read again after the same interval, the status says
    // it failed, and the figures of the last good answer stay with their time).
    void checked(time_point now) {
        in_flight_ = false;
        next_ = again_ ? now : now + interval_;
        again_ = false;
    }
    // This node just wrote the backup, or reads another key now: read it again without waiting
    // (after the HEAD in flight, which may have been answered before the write).
    void soon(time_point now) {
        if (in_flight_)
            again_ = true;
        else
            next_ = std::min(next_, now);
    }

private:
    std::chrono::milliseconds interval_;
    time_point next_ = time_point::min();
    bool in_flight_ = false;
    bool again_ = false;
};

// What one HEAD of `key` said, into `status`, at wall time `now`.
void record_backup_head(backup_status& status, const std::string& key,
                        const backends::store_result<backends::object_info>& head, wall_time now);

class backup_watcher {
public:
    backup_watcher(boost::asio::any_io_executor executor, backends::object_store& store, std::string key,
                   std::chrono::milliseconds interval, backup_status& status);

    // Read `key` from now on (an importer took another version's backup).
    void watch(std::string key);
    // The backup was just written (this node exported): read it at once.
    void poke();

    boost::asio::awaitable<void> run();

private:
    backends::object_store& store_;
    std::string key_;
    backup_status& status_;
    backup_watch_schedule schedule_;
    wakeup_timer wakeup_;
};

} // namespace lifeboat::agent
