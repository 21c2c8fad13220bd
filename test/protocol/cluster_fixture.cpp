#include "cluster_fixture.hpp"

#include "base/atomic_file.hpp"
#include "harness/test_env.hpp"
#include "lifeboat_test_paths.hpp"
#include "protocol/kong_hash.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <regex>
#include <unistd.h>

namespace lifeboat::test {
namespace fs = std::filesystem;

namespace {

void openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    auto r = run({.args = args, .name = "openssl"}, std::chrono::seconds(30));
    if (r.exit_code != 0)
        throw std::runtime_error("openssl failed: " + r.err);
}

cert_pair self_signed(const fs::path& dir, const std::string& name, const std::string& cn) {
    cert_pair p{dir / (name + ".crt"), dir / (name + ".key")};
    // What `kong hybrid gen_cert` makes: EC secp384r1, CN=kong_clustering, 1095 days.
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1", "-nodes", "-keyout",
             p.key.string(), "-out", p.cert.string(), "-days", "1095", "-subj", "/CN=" + cn});
    return p;
}

cert_pair signed_by(const fs::path& dir, const std::string& name, const std::string& cn, const fs::path& ca,
                    const fs::path& ca_key, const std::string& san) {
    cert_pair p{dir / (name + ".crt"), dir / (name + ".key")};
    const auto csr = dir / (name + ".csr");
    openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1", "-nodes", "-keyout",
             p.key.string(), "-out", csr.string(), "-subj", "/CN=" + cn});
    const auto ext = dir / (name + ".ext");
    std::ofstream(ext) << (san.empty() ? "basicConstraints=CA:FALSE\n" : "subjectAltName=" + san + "\n");
    openssl({"x509", "-req", "-in", csr.string(), "-CA", ca.string(), "-CAkey", ca_key.string(),
             "-CAcreateserial", "-out", p.cert.string(), "-days", "30", "-extfile", ext.string()});
    return p;
}

} // namespace

const cluster_certs& certs() {
    static std::once_flag once;
    static cluster_certs c;
    std::call_once(once, [] {
        const fs::path dir = fs::path(test_paths::work_dir) / fmt::format("protocol-certs-{}", ::getpid());
        fs::remove_all(dir);
        fs::create_directories(dir);
        c.shared = self_signed(dir, "cluster", "kong_clustering");
        c.other_shared = self_signed(dir, "other_cluster", "kong_clustering");
        const auto ca = self_signed(dir, "ca", "lifeboat-test-ca");
        c.ca = ca.cert;
        c.cp = signed_by(dir, "cp", "localhost", ca.cert, ca.key, "DNS:localhost,IP:127.0.0.1");
        c.dp = signed_by(dir, "dp", "dp-node", ca.cert, ca.key, "");
        const auto rogue = self_signed(dir, "rogue_ca", "rogue-ca");
        c.rogue_ca = rogue.cert;
        c.rogue_dp = signed_by(dir, "rogue_dp", "dp-node", rogue.cert, rogue.key, "");
    });
    return c;
}

std::string sample_config(int services, const std::vector<std::string>& plugins, std::string tag) {
    namespace json = boost::json;
    json::array svc, routes, plugin_list;
    for (int i = 0; i < services; ++i) {
        const auto id = fmt::format("00000000-0000-4000-8000-{:012d}", i);
        svc.push_back(json::object{{"id", id},
                                   {"name", fmt::format("service-{}", i)},
                                   {"host", fmt::format("upstream-{}.internal", i)},
                                   {"port", 8080},
                                   {"protocol", "http"},
                                   {"tags", json::array{tag}}});
        routes.push_back(json::object{{"id", fmt::format("10000000-0000-4000-8000-{:012d}", i)},
                                      {"service", id},
                                      {"paths", json::array{fmt::format("/s{}", i)}},
                                      {"strip_path", true}});
    }
    int n = 0;
    for (const auto& p : plugins)
        plugin_list.push_back(json::object{{"id", fmt::format("20000000-0000-4000-8000-{:012d}", n++)},
                                           {"name", p},
                                           {"enabled", true},
                                           {"config", json::object{}}});
    json::object cfg{{"_format_version", "3.0"},
                     {"_transform", false},
                     {"services", std::move(svc)},
                     {"routes", std::move(routes)}};
    if (!plugin_list.empty())
        cfg["plugins"] = std::move(plugin_list);
    return json::serialize(cfg);
}

std::string config_hash_of(const std::string& config_json) {
    return protocol::kong_config_hashes(boost::json::parse(config_json).get_object()).config;
}

void write_atomically(const fs::path& path, const std::string& content) {
    const auto tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << content;
    }
    fs::rename(tmp, path);
}

cp_process start_cp(const std::string& name, const std::string& listen, protocol::cluster_mtls mtls,
                    const fs::path& config, std::vector<std::string> args) {
    const auto& c = certs();
    std::vector<std::string> argv = {lifeboat_bin().string(), "cp", "--listen", listen, "--config",
                                     config.string()};
    if (mtls == protocol::cluster_mtls::shared) {
        argv.insert(argv.end(),
                    {"--mtls", "shared", "--cert", c.shared.cert.string(), "--key", c.shared.key.string()});
    } else {
        argv.insert(argv.end(), {"--mtls", "pki", "--cert", c.cp.cert.string(), "--key", c.cp.key.string(),
                                 "--ca", c.ca.string()});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    cp_process cp;
    cp.proc = std::make_unique<process>(
        process_options{.args = argv, .work_dir = config.parent_path(), .name = name});
    if (!cp.proc->wait_for_output("reference control plane listening", std::chrono::seconds(15)))
        throw std::runtime_error("lifeboat cp did not start: " + cp.proc->err());
    const std::regex address_re(R"(address=(\S+))");
    std::smatch m;
    const auto log = cp.proc->err();
    if (std::regex_search(log, m, address_re))
        cp.address = m[1];
    return cp;
}

bool wait_for_cp_log(dp_runner& dp, const cp_process& cp, const std::string& needle,
                     std::chrono::milliseconds timeout) {
    return dp.run_until([&] { return cp.log().find(needle) != std::string::npos; }, timeout);
}

protocol::dp_session_options dp_options(const std::string& address, protocol::cluster_mtls mtls) {
    const auto& c = certs();
    protocol::dp_session_options o;
    o.control_plane = address;
    o.mtls = mtls;
    if (mtls == protocol::cluster_mtls::shared) {
        o.cert = c.shared.cert;
        o.key = c.shared.key;
    } else {
        o.cert = c.dp.cert;
        o.key = c.dp.key;
        o.ca_cert = c.ca;
        o.server_name = "localhost";
    }
    o.node_id = "6d8e3b0a-43c7-4bd1-9b34-2a1c6b7f1e01";
    o.node_hostname = "dp-test";
    o.node_version = "3.9.0.0";
    o.timing.reconnect_min = std::chrono::milliseconds(300);
    o.timing.reconnect_max = std::chrono::milliseconds(600);
    o.io_timeout = std::chrono::milliseconds(3000);
    o.seed = 42;
    return o;
}

dp_runner::dp_runner(protocol::dp_session_options options)
    : session_(std::make_unique<protocol::dp_session>(io_.get_executor(), std::move(options), observer_)) {
    boost::asio::co_spawn(io_, session_->run(),
                          boost::asio::bind_cancellation_slot(signal_.slot(), [this](std::exception_ptr e) {
                              finished_ = true;
                              if (e)
                                  ADD_FAILURE() << "dp_session::run threw";
                          }));
}

dp_runner::~dp_runner() {
    if (!finished_)
        stop(boost::asio::cancellation_type::terminal, std::chrono::seconds(10));
}

bool dp_runner::stop(boost::asio::cancellation_type type, std::chrono::milliseconds timeout) {
    signal_.emit(type);
    return run_until([this] { return finished_; }, timeout);
}

void dp_runner::step(std::chrono::milliseconds d) {
    io_.run_for(d);
    if (io_.stopped())
        io_.restart();
}

} // namespace lifeboat::test
