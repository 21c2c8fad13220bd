// Hands each new config to the gateway next to the agent:
//   file       the declarative config written atomically to gateway_config_path, then
//              gateway_reload_command run with `sh -c` under a timeout (`kong reload`, a signal);
//   admin_api  POST <gateway_admin_url>/config to a DB-less Kong, success checked (Kong answers
//              201), retried at once with back-off on network errors and 5xx, the whole POST
//              bounded by gateway_admin_timeout; a 400 (Kong refused the config) is not retried
//              at once and is reported with Kong's message. Every failed hand-off is retried later
//              by the pipeline's slower back-off (a Kong may accept it once a plugin is installed);
//   none       nothing to do (the agent only caches and exports).
#pragma once

#include "agent/config.hpp"
#include "base/result.hpp"
#include "protocol/config_snapshot.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace lifeboat::agent {

// A hand-off that takes a config while it arrives (a streamed import): the file hand-off writes
// its temporary file piece by piece, with write-behind, so that once the config is complete and
// valid only the rename, the fsyncs and the reload are left. Nothing reaches the gateway before
// deliver(); dropped, it leaves nothing behind.
class handoff_stage {
public:
    virtual ~handoff_stage() = default;
    // Starts (again) from nothing: a download that starts over.
    virtual void restart() = 0;
    virtual void write(std::string_view bytes) = 0;
    // Hands over what was written, which is `snapshot`'s config (its hash may not be known yet).
    // If writing the pieces failed, the snapshot's bytes are written instead.
    virtual boost::asio::awaitable<result<void, std::string>>
    deliver(const protocol::config_snapshot& snapshot) = 0;
};

class gateway_handoff {
public:
    virtual ~gateway_handoff() = default;
    // One line saying what failed, e.g. "reload command exited with 1: <stderr tail>". Uses only
    // the snapshot's config, never its hash.
    virtual boost::asio::awaitable<result<void, std::string>>
    deliver(const protocol::config_snapshot& snapshot) = 0;
    virtual const char* kind() const = 0;
    // nullptr when this kind only takes whole configs (the Admin API posts one body).
    virtual std::unique_ptr<handoff_stage> stage() { return nullptr; }
    // A configuration re-read (SIGHUP): the reload command and the timeouts and token take
    // effect from the next hand-off (the path, URL and kind need a restart).
    virtual void update(const settings& s) = 0;
};

// nullptr for handoff_kind::none.
std::unique_ptr<gateway_handoff> make_handoff(boost::asio::any_io_executor executor, const settings& s);

// Runs `sh -c command` with a timeout; on timeout the whole process group is killed. Returns the
// exit code, or an error line (spawn failure, timeout) with the tail of the command's output.
boost::asio::awaitable<result<void, std::string>> run_command(const std::string& command,
                                                              std::chrono::milliseconds timeout);

} // namespace lifeboat::agent
