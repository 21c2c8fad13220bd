#include "agent/importer.hpp"

#include "base/log.hpp"
#include "election/fenced_write.hpp"
#include "protocol/envelope.hpp"

namespace lifeboat::agent {

namespace asio = boost::asio;

importer::importer(asio::any_io_executor executor, backends::object_store& store, std::string key,
                   std::size_t max_config_size, config_pipeline& pipeline, import_status& status)
    : store_(store)
    , key_(std::move(key))
    , max_config_size_(max_config_size)
    , pipeline_(pipeline)
    , status_(status)
    , wakeup_(executor) {}

void importer::control_plane_unreachable() {
    if (!go_) {
        go_ = true;
        wakeup_.wake();
    }
}

void importer::config_arrived() {
    wakeup_.wake();
}

asio::awaitable<void> importer::run() {
    status_.state = "waiting";
    while (!go_ && !pipeline_.has_config())
        co_await wakeup_.wait(std::chrono::hours(24));
    unsigned attempt = 0;
    while (!pipeline_.has_config()) {
        status_.state = "fetching";
        ++status_.attempts;
        status_.last_at = wall_clock::now();
        if (attempt == 0)
            log::info("control plane not reachable and no config: fetching the fallback config", "storage",
                      store_.describe(), "key", key_);
        auto got = co_await store_.get(key_, max_config_size_);
        if (pipeline_.has_config())
            break; // the CP answered meanwhile: its config wins
        std::string error;
        if (!got) {
            error = got.error().code == backends::store_errc::not_found
                        ? "no backup at " + key_ + " (has an exporter with this node_version run yet?)"
                        : got.error().to_string();
        } else {
            // An object a lifeboat exporter wrote carries the hash it uploaded (fenced_write's
            // metadata): take it as the config's identity instead of recomputing Kong's hash over
            // the whole config, which costs more than the download (bench/pipeline). The JSON is
            // still validated in full. A wrong hash would only make the CP push its own config.
            protocol::config_hashes known;
            const protocol::config_hashes* hashes = nullptr;
            if (auto it = got->info.metadata.find(election::metadata::config_hash);
                it != got->info.metadata.end() && protocol::is_config_hash(it->second)) {
                known.config = it->second;
                hashes = &known;
            }
            auto snap = protocol::snapshot_from_config_table(std::move(got->bytes),
                                                             protocol::config_source::fallback, hashes);
            if (!snap) {
                error = "the backup at " + key_ + " is invalid: " + snap.error();
            } else {
                const bool delivered = co_await pipeline_.apply(snap.value());
                status_.state = "imported";
                status_.last_error.clear();
                log::info("fallback config applied", "hash", snap.value()->hash, "bytes",
                          snap.value()->size(), "handed_to_gateway", delivered);
                break;
            }
        }
        status_.last_error = error;
        const auto delay = backoff_.delay(attempt++, jitter_);
        log::warn("fallback import failed; retrying", "error", error, "attempt", status_.attempts,
                  "retry_in_ms", std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
        co_await wakeup_.wait(delay);
    }
    if (status_.state != "imported")
        status_.state = "not_needed";
    // Done for the life of the process: the storage is not read again.
    for (;;)
        co_await wakeup_.wait(std::chrono::hours(24));
}

} // namespace lifeboat::agent
