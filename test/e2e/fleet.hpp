// Helpers for end-to-end tests: certificates, a reference CP process, agent processes with their
// own prefix and status port, and reading status.
#pragma once

#include "harness/process.hpp"
#include "harness/test_env.hpp"

#include <boost/json/value.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace lifeboat::test {

struct cluster_certs {
    std::filesystem::path cert, key;
};
// A shared-mode cluster certificate, as `kong hybrid gen_cert` makes (EC P-384, CN=kong_clustering).
cluster_certs make_cluster_certs(const std::filesystem::path& dir);

// A small Kong declarative config; `marker` ends up in a service name so configs differ.
std::string sample_config(const std::string& marker, std::size_t services = 3);

class reference_cp {
public:
    // `extra_args`: more `lifeboat cp` options (--version, --plugin, ...).
    reference_cp(const std::filesystem::path& dir, const cluster_certs& certs, const std::string& config_json,
                 unsigned short port = 0, std::vector<std::string> extra_args = {});
    void set_config(const std::string& config_json); // the CP notices the file change and pushes
    void start();
    void kill();
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    process* proc() { return proc_.get(); }

private:
    std::filesystem::path dir_, config_file_;
    cluster_certs certs_;
    unsigned short port_;
    std::vector<std::string> extra_args_;
    std::unique_ptr<process> proc_;
};

class agent_process {
public:
    // `settings`: key -> value passed with --set; prefix and status_listen are filled in.
    agent_process(const std::filesystem::path& dir, std::string name,
                  std::map<std::string, std::string> settings, std::map<std::string, std::string> env = {});
    // The same, also reading `conf_file` (--conf): what a test changes before a SIGHUP.
    agent_process(const std::filesystem::path& dir, std::string name,
                  std::map<std::string, std::string> settings, std::map<std::string, std::string> env,
                  std::filesystem::path conf_file);
    void start();
    void signal(int sig);
    void kill9();
    std::optional<int> wait(std::chrono::milliseconds timeout);
    boost::json::value status() const; // null when unreachable
    // GET any path of the status endpoint (/readyz, /metrics): {HTTP status, body}; {0, error} when
    // unreachable.
    std::pair<unsigned, std::string> get(const std::string& path) const;
    std::string status_field(const std::string& section, const std::string& key) const;
    std::string log() const;
    const std::filesystem::path& prefix() const { return prefix_; }
    const std::string& name() const { return name_; }
    const std::string& status_address() const { return addr_; }

private:
    std::filesystem::path dir_, prefix_;
    std::string name_, addr_;
    std::map<std::string, std::string> settings_, env_;
    std::filesystem::path conf_file_;
    std::unique_ptr<process> proc_;
};

// `text` parsed; null when it is not JSON.
boost::json::value json_or_null(const std::string& text);

// What the RGW test bucket holds at `key`, read by awscli and parsed; null when absent.
boost::json::value rgw_object_json(const std::string& key);

// A file's JSON; null when the file is absent or not (yet) JSON.
boost::json::value file_json(const std::filesystem::path& path);

// Whether `agent` has applied `config_json`: the gateway file holds it and /status has booked its
// delivery (hand-off state "ok"). The hand-off runs on the disk pool and /status books it after
// the cache commit, so a test that sees only the file can read a /status from before it; wait for
// this instead: eventually([&] { return applied(dp, gateway, config); }, ...).
bool applied(const agent_process& agent, const std::filesystem::path& gateway,
             const std::string& config_json);

// The environment and storage URL for a unique prefix in the RGW test bucket.
std::map<std::string, std::string> rgw_env();
std::string rgw_storage_url(const std::string& prefix);

// awscli (Debian's /usr/bin/aws) against RGW: an independent S3 client.
run_result aws_s3api(const std::vector<std::string>& args);

// The environment and storage URL for a unique prefix in the Azurite test container.
std::map<std::string, std::string> azurite_env();
std::string azurite_storage_url(const std::string& prefix);

// The real stores a process-level test can run on (parametrised over it), each read back by an
// independent client: Ceph RGW with awscli, Azurite with Microsoft's @azure/storage-blob.
enum class test_store { rgw, azurite };
std::string to_string(test_store store);
inline void PrintTo(test_store store, std::ostream* os) { // gtest's name for a parameter
    *os << to_string(store);
}
std::map<std::string, std::string> store_env(test_store store);
std::string storage_url(test_store store, const std::string& prefix);

// What the store holds at `key`, as its independent client reads it; nullopt when absent.
struct stored_object {
    std::string body;
    std::map<std::string, std::string> metadata;
};
std::optional<stored_object> read_stored(test_store store, const std::string& key);

} // namespace lifeboat::test
