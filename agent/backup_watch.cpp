#include "agent/backup_watch.hpp"

#include "base/log.hpp"
#include "election/fenced_write.hpp"

namespace lifeboat::agent {

namespace asio = boost::asio;

backup_watch_schedule::time_point backup_watch_schedule::next() const {
    // One HEAD at a time: the next is planned when the one in flight answers.
    return enabled() && !in_flight_ ? next_ : time_point::max();
}

void record_backup_head(backup_status& status, const std::string& key,
                        const backends::store_result<backends::object_info>& head, wall_time now) {
    if (status.key != key) {
        // Another object: nothing of the former one's figures applies to it.
        status = backup_status{.enabled = status.enabled,
                               .key = key,
                               .checks = status.checks,
                               .check_failures = status.check_failures,
                               .interval_s = status.interval_s};
    }
    ++status.checks;
    status.checked_at = now;
    if (head) {
        status.state = "present";
        status.last_error.clear();
        status.written_at =
            head->last_modified != wall_time{} ? std::optional<wall_time>(head->last_modified) : std::nullopt;
        const auto find = [&](const char* name) {
            auto it = head->metadata.find(name);
            return it == head->metadata.end() ? std::string() : it->second;
        };
        status.hash = find(election::metadata::config_hash); // empty for a Kong exporter's object
        status.uploader = find(election::metadata::uploader);
        status.size_bytes = head->size;
        return;
    }
    if (head.error().code == backends::store_errc::not_found) {
        status.state = "absent";
        status.last_error.clear();
        status.written_at.reset();
        status.hash.clear();
        status.uploader.clear();
        status.size_bytes = 0;
        return;
    }
    // The store did not answer: keep what was seen last (its age keeps growing), say why.
    ++status.check_failures;
    status.state = "error";
    status.last_error = head.error().to_string();
}

backup_watcher::backup_watcher(asio::any_io_executor executor, backends::object_store& store, std::string key,
                               std::chrono::milliseconds interval, backup_status& status)
    : store_(store)
    , key_(std::move(key))
    , status_(status)
    , schedule_(interval)
    , wakeup_(std::move(executor)) {
    status_.enabled = schedule_.enabled();
    status_.key = key_;
    status_.interval_s = std::chrono::duration<double>(interval).count();
}

void backup_watcher::watch(std::string key) {
    if (key == key_)
        return;
    key_ = std::move(key);
    schedule_.soon(std::chrono::steady_clock::now());
    wakeup_.wake();
}

void backup_watcher::poke() {
    schedule_.soon(std::chrono::steady_clock::now());
    wakeup_.wake();
}

asio::awaitable<void> backup_watcher::run() {
    if (!schedule_.enabled())
        co_return;
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (!schedule_.due(now)) {
            co_await wakeup_.wait(schedule_.next() - now);
            continue;
        }
        const auto key = key_;
        schedule_.started();
        auto head = co_await store_.head(key);
        if (!head && head.error().code != backends::store_errc::not_found && status_.state != "error")
            log::warn("cannot read the backup's metadata", "key", key, "error", head.error().to_string());
        record_backup_head(status_, key, head, wall_clock::now());
        schedule_.checked(std::chrono::steady_clock::now());
    }
}

} // namespace lifeboat::agent
