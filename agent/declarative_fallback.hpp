// The task that serves the local declarative_config file when last_resort_policy says so: it
// reads and validates the file at that moment (not at start: a mounted ConfigMap may change), and
// applies it through the pipeline, which lets the backup and the CP replace it later. An invalid
// file is logged once (one line with its position), shown in /status, and read again every few
// seconds: nothing is applied until it is valid.
#pragma once

#include "agent/config_pipeline.hpp"
#include "agent/last_resort.hpp"
#include "agent/status.hpp"
#include "agent/wakeup_timer.hpp"

#include <boost/asio/awaitable.hpp>

#include <filesystem>

namespace lifeboat::agent {

class declarative_fallback {
public:
    declarative_fallback(boost::asio::any_io_executor executor, std::filesystem::path path,
                         std::size_t max_size, bool bucket_configured, steady_duration import_timeout,
                         config_pipeline& pipeline, declarative_status& status);

    // The CP could not be reached (or none is configured): the clock starts.
    void control_plane_unreachable();
    // The node got a config from the CP, the cache or the bucket.
    void config_arrived();

    boost::asio::awaitable<void> run();

private:
    void publish();

    std::filesystem::path path_;
    std::size_t max_size_;
    config_pipeline& pipeline_;
    declarative_status& status_;
    last_resort_policy policy_;
    wakeup_timer wakeup_;
};

} // namespace lifeboat::agent
