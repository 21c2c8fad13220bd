// The CLI against a real running agent process: what scripts and probes rely on.
#include "harness/process.hpp"
#include "harness/test_env.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <signal.h>

using namespace lifeboat;
using namespace std::chrono_literals;

namespace {

struct running_agent {
    std::filesystem::path dir = test::scratch_dir();
    std::string addr = "127.0.0.1:" + std::to_string(test::free_port());
    std::unique_ptr<test::process> proc;

    explicit running_agent(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{
            test::lifeboat_bin().string(),         "run",   "--set",
            "prefix=" + (dir / "prefix").string(), "--set", "status_listen=" + addr};
        args.insert(args.end(), extra.begin(), extra.end());
        proc = std::make_unique<test::process>(
            test::process_options{.args = args, .work_dir = dir, .name = "agent"});
        EXPECT_TRUE(proc->wait_for_output("lifeboat agent started", 10s)) << proc->err();
    }
};

test::run_result run_cli(std::vector<std::string> args) {
    args.insert(args.begin(), test::lifeboat_bin().string());
    return test::run({.args = args, .name = "cli"}, 30s);
}

} // namespace

TEST(cli, status_of_a_fresh_agent_is_healthy_and_json_parses) {
    running_agent a;
    auto human = run_cli({"status", "--addr", a.addr});
    EXPECT_EQ(human.exit_code, 0) << human.out << human.err;
    EXPECT_NE(human.out.find("healthy"), std::string::npos) << human.out;
    EXPECT_NE(human.out.find("control plane  none configured"), std::string::npos) << human.out;

    auto js = run_cli({"status", "--addr", a.addr, "--json"});
    ASSERT_EQ(js.exit_code, 0) << js.err;
    auto doc = boost::json::parse(js.out).as_object();
    EXPECT_EQ(doc.at("health"), "healthy");
    EXPECT_EQ(doc.at("control_plane").at("state"), "disabled");
    EXPECT_EQ(doc.at("node_id").as_string().size(), 36u);
}

TEST(cli, status_reads_the_address_from_the_config_file) {
    running_agent a;
    const auto conf = a.dir / "lifeboat.conf";
    std::ofstream(conf) << "status_listen = " << a.addr << "\n";
    auto r = run_cli({"status", "--conf", conf.string()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(cli, status_of_a_degraded_agent_exits_1) {
    // A CP that refuses connections: the agent runs, but the session is down.
    const auto dir = test::scratch_dir();
    const auto cert = dir / "cluster.crt";
    const auto key = dir / "cluster.key";
    ASSERT_EQ(test::run({.args = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                  "ec_paramgen_curve:P-384", "-nodes", "-keyout", key.string(), "-out",
                                  cert.string(), "-days", "2", "-subj", "/CN=kong_clustering"},
                         .work_dir = dir,
                         .name = "openssl"})
                  .exit_code,
              0);
    running_agent a({"--set", "cluster_control_plane=127.0.0.1:" + std::to_string(test::free_port()), "--set",
                     "cluster_cert=" + cert.string(), "--set", "cluster_cert_key=" + key.string()});
    test::eventually([&] { return run_cli({"status", "--addr", a.addr}).exit_code == 1; }, 15s);
    auto r = run_cli({"status", "--addr", a.addr});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("needs attention: control plane"), std::string::npos) << r.out;
}

TEST(cli, status_of_no_agent_exits_2_quickly) {
    // Quickly: on the refused connection, not at the end of its (here long) timeout.
    const auto start = std::chrono::steady_clock::now();
    auto r =
        run_cli({"status", "--addr", "127.0.0.1:" + std::to_string(test::free_port()), "--timeout", "120"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("agent unreachable"), std::string::npos) << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 60s);
}

TEST(cli, sigterm_stops_the_agent_within_its_grace_with_exit_0) {
    running_agent a;
    // An idle keep-alive client must not hold the shutdown up.
    auto js = run_cli({"status", "--addr", a.addr, "--json"});
    ASSERT_EQ(js.exit_code, 0);
    a.proc->signal(SIGTERM);
    auto code = a.proc->wait(60s); // generous: a loaded machine is slow, not wrong
    ASSERT_TRUE(code) << "still running 60 s after SIGTERM";
    EXPECT_EQ(*code, 0) << a.proc->err();
    EXPECT_NE(a.proc->err().find("msg=stopped"), std::string::npos) << a.proc->err();
    // Within the grace (1 s): every task ended on the polite cancel, none had to be cut off.
    EXPECT_EQ(a.proc->err().find("tasks still running after the grace period"), std::string::npos)
        << a.proc->err();
}

TEST(cli, a_bad_config_value_is_refused_with_one_line) {
    auto r = run_cli({"run", "--set", "cluster_max_payload=12kb"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "lifeboat: cluster_max_payload = '12kb' (from --set): expected a size of at least "
                     "4194304 bytes (4m)\n");
    auto check = run_cli({"config", "check", "--set", "log_level=loud"});
    EXPECT_EQ(check.exit_code, 1);
    EXPECT_NE(check.err.find("log_level = 'loud'"), std::string::npos);
}

TEST(cli, a_taken_status_port_is_a_clear_startup_error) {
    running_agent a;
    auto r =
        run_cli({"run", "--set", "prefix=" + (a.dir / "p2").string(), "--set", "status_listen=" + a.addr});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("status_listen " + a.addr + ": Address already in use"), std::string::npos) << r.err;
}

TEST(cli, config_check_prints_effective_values_with_secrets_redacted) {
    auto r = test::run(
        {.args = {test::lifeboat_bin().string(), "config", "check", "--set", "node_version=3.6.0.0"},
         .env = {{"AWS_SECRET_ACCESS_KEY", "very-secret"}, {"KONG_PREFIX", "/tmp/lb"}},
         .name = "check"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("node_version = 3.6.0.0    # from --set"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("prefix = /tmp/lb    # from KONG_PREFIX"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("AWS_SECRET_ACCESS_KEY = <redacted>"), std::string::npos);
    EXPECT_EQ(r.out.find("very-secret"), std::string::npos);
}

TEST(cli, every_subcommand_has_help) {
    for (const auto& cmd : {"run", "status", "version", "config"}) {
        auto r = run_cli({cmd, "--help"});
        EXPECT_EQ(r.exit_code, 0) << cmd;
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd << ": " << r.out;
    }
    auto v = run_cli({"version"});
    EXPECT_EQ(v.out, "lifeboat " LIFEBOAT_VERSION "\n");
}
