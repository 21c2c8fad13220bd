#include "agent/declarative_fallback.hpp"

#include "agent/declarative_file.hpp"
#include "base/log.hpp"

namespace lifeboat::agent {

namespace asio = boost::asio;
using phase = last_resort_policy::phase;

std::string_view to_string(phase p) {
    switch (p) {
    case phase::waiting_for_control_plane:
        return "waiting_for_control_plane";
    case phase::waiting_for_bucket:
        return "waiting_for_bucket";
    case phase::due:
        return "due";
    case phase::applied:
        return "applied";
    case phase::not_needed:
        return "not_needed";
    }
    return "due";
}

namespace {
// How often an invalid file is read again.
constexpr auto reread_interval = std::chrono::seconds(5);
} // namespace

declarative_fallback::declarative_fallback(asio::any_io_executor executor, std::filesystem::path path,
                                           std::size_t max_size, bool bucket_configured,
                                           steady_duration import_timeout, config_pipeline& pipeline,
                                           declarative_status& status)
    : path_(std::move(path))
    , max_size_(max_size)
    , pipeline_(pipeline)
    , status_(status)
    , policy_(bucket_configured, import_timeout)
    , wakeup_(std::move(executor)) {
    status_.enabled = true;
    status_.path = path_.string();
    publish();
}

void declarative_fallback::control_plane_unreachable() {
    policy_.control_plane_unreachable(std::chrono::steady_clock::now());
    publish();
    wakeup_.wake();
}

void declarative_fallback::config_arrived() {
    policy_.config_arrived();
    publish();
    wakeup_.wake();
}

void declarative_fallback::publish() {
    const auto p = policy_.current();
    if (p == phase::applied) {
        const auto current = pipeline_.current();
        status_.state = current && current->source != protocol::config_source::declarative_config ? "replaced"
                                                                                                  : "applied";
    } else if (p == phase::due && !status_.last_error.empty()) {
        status_.state = "invalid";
    } else {
        status_.state = std::string(to_string(p));
    }
    if (auto due = policy_.due_at())
        status_.due_at = wall_clock::now() + std::chrono::duration_cast<wall_clock::duration>(
                                                 *due - std::chrono::steady_clock::now());
}

asio::awaitable<void> declarative_fallback::run() {
    for (;;) {
        if (pipeline_.has_config() && policy_.current() != phase::applied)
            policy_.config_arrived(); // e.g. a cache applied before this task ran
        if (policy_.poll(std::chrono::steady_clock::now())) {
            auto snapshot = load_declarative_config(path_, max_size_);
            if (!snapshot) {
                if (status_.last_error != snapshot.error())
                    log::error("declarative_config cannot be applied; nothing applied", "error",
                               snapshot.error());
                status_.last_error = snapshot.error();
                publish();
                co_await wakeup_.wait(reread_interval);
                continue;
            }
            policy_.applied();
            status_.last_error.clear();
            log::warn("no cache, control plane unreachable and no usable backup: serving the local "
                      "declarative_config",
                      "path", path_.string(), "hash", snapshot.value()->hash);
            const bool delivered = co_await pipeline_.apply(snapshot.value());
            const auto current = pipeline_.current();
            if (current && current->source == protocol::config_source::declarative_config)
                status_.applied_at = wall_clock::now();
            log::info("declarative_config applied", "hash", snapshot.value()->hash, "handed_to_gateway",
                      delivered);
            publish();
            continue;
        }
        publish();
        const auto due = policy_.due_at();
        const bool waiting = policy_.current() == phase::waiting_for_bucket && due;
        co_await wakeup_.wait(waiting ? *due - std::chrono::steady_clock::now()
                                      : steady_duration(std::chrono::hours(24)));
    }
}

} // namespace lifeboat::agent
