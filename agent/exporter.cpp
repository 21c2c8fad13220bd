#include "agent/exporter.hpp"

#include "base/log.hpp"

namespace lifeboat::agent {

namespace asio = boost::asio;

exporter::exporter(asio::any_io_executor executor, const settings& s, std::string key, std::string node_id,
                   election::elector& elector, export_status& status)
    : key_(std::move(key))
    , node_id_(std::move(node_id))
    , delay_(s.cluster_fallback_config_export_delay)
    , s3_fields_(s.cluster_fallback_export_s3_config)
    , elector_(elector)
    , status_(status)
    , wakeup_(executor) {}

void exporter::offer(const protocol::snapshot_ptr& snapshot) {
    // Kong exports what the CP sends; a config from the cache or the bucket is not news to it.
    if (snapshot->source != protocol::config_source::control_plane)
        return;
    pending_ = snapshot;
    status_.pending_hash = snapshot->hash;
    wakeup_.wake();
}

asio::awaitable<void> exporter::run() {
    unsigned failures = 0;
    for (;;) {
        while (!pending_)
            co_await wakeup_.wait(std::chrono::hours(24));
        // Coalesce: whatever arrives within the delay replaces what we hold (the newest wins).
        const auto until = std::chrono::steady_clock::now() + delay_;
        while (std::chrono::steady_clock::now() < until)
            co_await wakeup_.wait(until - std::chrono::steady_clock::now());
        auto snap = pending_;
        if (!elector_.is_leader()) {
            // Another node exports. Keep the config: if this node becomes leader, it is uploaded then
            // (the elector's step wakes us: election_changed()). The hour is only a safety net.
            co_await wakeup_.wait(std::chrono::hours(1));
            continue;
        }
        backends::put_options opts;
        opts.content_type = "application/json";
        opts.metadata["uploader"] = node_id_;
        opts.s3_fields = s3_fields_;
        auto body = backends::body_source::from_shared(snap->shared_config_json());
        const auto started = std::chrono::steady_clock::now();
        // A named local, not a braced temporary in the co_await: GCC 12 destroys such temporaries
        // twice (a double free).
        election::config_version version{.cp_timestamp = snap->cp_timestamp, .hash = snap->hash};
        auto r = co_await elector_.fenced_put(key_, std::move(body), std::move(opts), std::move(version));
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                .count();
        using election::fenced_outcome;
        switch (r.outcome) {
        case fenced_outcome::uploaded:
        case fenced_outcome::unchanged:
            if (r.outcome == fenced_outcome::uploaded)
                ++status_.uploads;
            else
                ++status_.skipped;
            status_.last_hash = snap->hash;
            status_.last_at = wall_clock::now();
            status_.failures = 0;
            status_.last_error.clear();
            failures = 0;
            log::info(r.outcome == fenced_outcome::uploaded ? "config exported"
                                                            : "export skipped: bucket already has it",
                      "hash", snap->hash, "key", key_, "term", r.term, "ms", ms);
            if (pending_ == snap) {
                pending_.reset();
                status_.pending_hash.clear();
            }
            break;
        case fenced_outcome::superseded:
            ++status_.skipped;
            log::warn("export skipped: the bucket holds a newer config", "hash", snap->hash, "detail",
                      r.detail);
            if (pending_ == snap) {
                pending_.reset();
                status_.pending_hash.clear();
            }
            break;
        case fenced_outcome::not_leader:
            log::info("export deferred: this node does not lead", "hash", snap->hash, "detail", r.detail);
            co_await wakeup_.wait(std::chrono::seconds(1));
            break;
        case fenced_outcome::error:
            ++status_.failures;
            ++status_.failures_total;
            status_.last_error = r.error ? r.error->to_string() : r.detail;
            {
                const auto delay = backoff_.delay(failures++, jitter_);
                log::warn("export failed; retrying", "hash", snap->hash, "error", status_.last_error,
                          "retry_in_ms",
                          std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
                co_await wakeup_.wait(delay);
            }
            break;
        }
    }
}

} // namespace lifeboat::agent
