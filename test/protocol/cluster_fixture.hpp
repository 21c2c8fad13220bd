// Shared pieces of the protocol integration tests: certificates made with the openssl CLI (EC
// P-384, as `kong hybrid gen_cert` makes them), a `lifeboat cp` child process, and a data-plane
// session driven on the test thread with an observer that records what it saw.
#pragma once

#include "harness/process.hpp"
#include "protocol/dp_session.hpp"

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace lifeboat::test {

struct cert_pair {
    std::filesystem::path cert, key;
};

struct cluster_certs {
    cert_pair shared;       // CN=kong_clustering, self-signed (shared mode)
    cert_pair other_shared; // a second, unrelated one
    std::filesystem::path ca;
    cert_pair cp; // signed by ca, SAN localhost and 127.0.0.1 (pki mode)
    cert_pair dp; // signed by ca
    std::filesystem::path rogue_ca;
    cert_pair rogue_dp; // signed by rogue_ca
};

// Made once per test binary (a few hundred ms), under the work directory.
const cluster_certs& certs();

// A declarative config with `services` services (each with one route) and optional plugins.
std::string sample_config(int services, const std::vector<std::string>& plugins = {}, std::string tag = "v1");
// Kong's hash of a config text (computed through the library's own DOM path, for expectations
// that only need "the hash the CP advertises").
std::string config_hash_of(const std::string& config_json);
// Replaces a file atomically (write + rename), as an operator's tooling would.
void write_atomically(const std::filesystem::path& path, const std::string& content);

struct cp_process {
    std::unique_ptr<process> proc;
    std::string address; // host:port it listens on
    std::string log() const { return proc ? proc->err() : std::string(); }
    bool log_has(const std::string& needle,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
        return proc && proc->wait_for_output(needle, timeout);
    }
};

// Starts `lifeboat cp` and waits until it listens. `args` are extra flags.
cp_process start_cp(const std::string& name, const std::string& listen, protocol::cluster_mtls mtls,
                    const std::filesystem::path& config, std::vector<std::string> args = {});

// Records what the session tells its observer.
struct recording_observer : protocol::dp_session_observer {
    std::vector<protocol::session_status> statuses;
    std::vector<protocol::snapshot_ptr> configs;
    bool apply = true;
    void on_status(const protocol::session_status& s) override { statuses.push_back(s); }
    boost::asio::awaitable<bool> on_config(protocol::snapshot_ptr snapshot) override {
        configs.push_back(snapshot);
        co_return apply;
    }
    std::string last_hash() const { return configs.empty() ? std::string() : configs.back()->hash; }
};

// One data-plane session on its own io_context, stepped from the test thread.
class dp_runner {
public:
    dp_runner(protocol::dp_session_options options);
    ~dp_runner(); // terminal cancel, then drain

    template <class Pred>
    bool run_until(Pred done, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline)
                return false;
            step(std::chrono::milliseconds(10));
        }
        return true;
    }
    void run_for(std::chrono::milliseconds d) {
        run_until([] { return false; }, d);
    }
    // Polite (total) cancellation; true if run() returned within `timeout`.
    bool stop(boost::asio::cancellation_type type, std::chrono::milliseconds timeout);

    protocol::dp_session& session() { return *session_; }
    recording_observer& observer() { return observer_; }
    const protocol::session_status& status() const { return session_->status(); }
    bool finished() const { return finished_; }

private:
    void step(std::chrono::milliseconds d);
    boost::asio::io_context io_{1};
    recording_observer observer_;
    std::unique_ptr<protocol::dp_session> session_;
    boost::asio::cancellation_signal signal_;
    bool finished_ = false;
};

// Runs the DP until the CP's log shows `needle` (the DP only moves while its io_context runs).
bool wait_for_cp_log(dp_runner& dp, const cp_process& cp, const std::string& needle,
                     std::chrono::milliseconds timeout = std::chrono::seconds(15));

// DP options for a CP at `address` in the given mode (certificates from certs()), with a fast
// reconnect window so tests do not wait 5-10 s.
protocol::dp_session_options dp_options(const std::string& address, protocol::cluster_mtls mtls);

} // namespace lifeboat::test
