// Issue #19 with the real binary: a hostile file bucket or configuration file cannot freeze,
// exhaust or mislead a node. Each case reproduces what the issue reported.
#include "harness/process.hpp"
#include "harness/test_env.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <signal.h>
#include <sys/stat.h>

using namespace lifeboat;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct agent_on_bucket {
    fs::path dir = test::scratch_dir();
    fs::path bucket = dir / "bucket";
    std::string addr = "127.0.0.1:" + std::to_string(test::free_port());
    std::unique_ptr<test::process> proc;

    void start(std::vector<std::string> extra) {
        std::vector<std::string> args{test::lifeboat_bin().string(),
                                      "run",
                                      "--set",
                                      "prefix=" + (dir / "prefix").string(),
                                      "--set",
                                      "status_listen=" + addr,
                                      "--set",
                                      "cluster_fallback_config_storage=file://" + bucket.string() + "/p",
                                      "--set",
                                      "node_version=3.6.0.0"};
        args.insert(args.end(), extra.begin(), extra.end());
        proc = std::make_unique<test::process>(
            test::process_options{.args = args, .work_dir = dir, .name = "agent"});
        ASSERT_TRUE(proc->wait_for_output("lifeboat agent started", 10s)) << proc->err();
    }
};

test::run_result run_cli(std::vector<std::string> args) {
    args.insert(args.begin(), test::lifeboat_bin().string());
    return test::run({.args = args, .name = "cli"}, 30s);
}

boost::json::object status_json(const std::string& addr) {
    auto r = run_cli({"status", "--addr", addr, "--json"});
    EXPECT_NE(r.exit_code, 2) << r.err;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.out, ec);
    EXPECT_FALSE(ec) << "invalid JSON from /status: " << r.out.substr(0, 500);
    return ec || !v.is_object() ? boost::json::object{} : v.as_object();
}

void stops_on_sigterm_within_the_grace(test::process& proc) {
    const auto start = std::chrono::steady_clock::now();
    proc.signal(SIGTERM);
    auto code = proc.wait(5s);
    ASSERT_TRUE(code) << "still running 5 s after SIGTERM";
    EXPECT_EQ(*code, 0) << proc.err();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

} // namespace

// mkfifo <bucket>/3.6.0.0/config.json froze the importer's thread in open(): /status stopped
// answering and SIGTERM was ignored.
TEST(hostile_bucket, a_fifo_as_the_backup_does_not_freeze_the_importer) {
    agent_on_bucket a;
    fs::create_directories(a.bucket / "p/3.6.0.0");
    const auto fifo = a.bucket / "p/3.6.0.0/config.json";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
    a.start({"--set", "cluster_fallback_config_import=on"});

    ASSERT_TRUE(test::eventually(
        [&] {
            auto s = status_json(a.addr);
            const auto* e =
                s.contains("import") ? s.at("import").as_object().if_contains("last_error") : nullptr;
            return e && e->is_string() &&
                   std::string_view(e->as_string()).find("FIFO") != std::string_view::npos;
        },
        10s));
    for (int i = 0; i < 3; ++i) {
        const auto start = std::chrono::steady_clock::now();
        auto r = run_cli({"status", "--addr", a.addr});
        EXPECT_NE(r.exit_code, 2) << r.err;
        EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    }
    const auto s = status_json(a.addr);
    EXPECT_NE(std::string(s.at("import").at("last_error").as_string()).find(fifo.string() + " is a FIFO"),
              std::string::npos)
        << s.at("import");
    stops_on_sigterm_within_the_grace(*a.proc);
}

// A registration named with a byte that is not UTF-8 made /status invalid JSON on every exporter.
TEST(hostile_bucket, a_registration_name_that_is_not_utf8_keeps_status_valid_json) {
    agent_on_bucket a;
    fs::create_directories(a.bucket / "p/3.6.0.0/election");
    std::ofstream(a.bucket / "p/3.6.0.0/election/1.0-\xff") << "{}";
    a.start({"--set", "cluster_fallback_config_export=on", "--set", "election_interval=1"});

    ASSERT_TRUE(test::eventually(
        [&] {
            auto s = status_json(a.addr);
            if (!s.contains("election"))
                return false;
            for (const auto& c : s.at("election").at("candidates").as_array())
                if (c.at("registration").as_string() == "1.0-\\xff")
                    return true;
            return false;
        },
        15s));
    auto human = run_cli({"status", "--addr", a.addr});
    EXPECT_NE(human.exit_code, 2) << human.err;
    stops_on_sigterm_within_the_grace(*a.proc);
}

// Registrations pile up (the issue had 100,000: /status was 19 MB and `lifeboat status` failed
// from about 43,000). Scaled to 20,000 here to keep CI quick; /status lists the live ones and
// counts the rest, so its size does not grow with them.
TEST(hostile_bucket, many_registrations_keep_status_small_and_readable) {
    agent_on_bucket a;
    const auto election = a.bucket / "p/3.6.0.0/election";
    fs::create_directories(election);
    constexpr int stale = 20'000;
    for (int i = 0; i < stale; ++i)
        std::ofstream(election / ("1." + std::to_string(i) + "-stale-node-" + std::to_string(i))) << "{}";
    // Directories and a deep chain under election/ are not candidates and fail no round.
    fs::create_directories(election / "2.0-a-folder/x/y");
    a.start({"--set", "cluster_fallback_config_export=on", "--set", "election_interval=1"});

    ASSERT_TRUE(test::eventually(
        [&] {
            auto s = status_json(a.addr);
            return s.contains("election") && s.at("election").at("candidates_not_shown").to_number<int>() > 0;
        },
        // 20,000 files listed by each round: generous for a loaded machine (CI runs -j2).
        120s))
        << a.proc->err();
    auto r = run_cli({"status", "--addr", a.addr, "--json"});
    ASSERT_NE(r.exit_code, 2) << r.err;
    EXPECT_LT(r.out.size(), 64u * 1024) << "status grows with the registrations";
    auto s = boost::json::parse(r.out).as_object();
    const auto& election_status = s.at("election").as_object();
    const auto shown = election_status.at("candidates").as_array().size();
    EXPECT_LE(shown, 64u);
    EXPECT_EQ(shown + election_status.at("candidates_not_shown").to_number<std::size_t>(), stale + 1u);
    EXPECT_EQ(election_status.at("failing_rounds").to_number<int>(), 0) << election_status;
    auto human = run_cli({"status", "--addr", a.addr});
    EXPECT_NE(human.exit_code, 2) << human.err;
    stops_on_sigterm_within_the_grace(*a.proc);
}

// A BOM made the first key "\ufeffcluster_control_plane": warned as unknown, ignored, and the
// node ran without its CP saying "healthy". A misspelt key was only a warning too.
TEST(hostile_config, a_bom_is_stripped_and_a_misspelt_key_is_an_error) {
    const auto dir = test::scratch_dir();
    const auto bom = dir / "bom.conf";
    std::ofstream(bom) << "\xEF\xBB\xBF"
                       << "node_version = 3.6.0.0\nrole = data_plane\n";
    auto check = run_cli({"config", "check", "--conf", bom.string()});
    EXPECT_EQ(check.exit_code, 0) << check.err;
    EXPECT_NE(check.out.find("node_version = 3.6.0.0    # from bom.conf:1"), std::string::npos) << check.out;
    EXPECT_NE(check.out.find("# ignored: role (bom.conf:2) is a Kong key that lifeboat does not use"),
              std::string::npos)
        << check.out;

    const auto misspelt = dir / "misspelt.conf";
    std::ofstream(misspelt) << "\xEF\xBB\xBF"
                            << "cluster_contol_plane = cp.example:8005\n";
    const std::string expected = "lifeboat: cluster_contol_plane = 'cp.example:8005' (from misspelt.conf:1): "
                                 "expected a known configuration key; did you mean cluster_control_plane?\n";
    auto bad_check = run_cli({"config", "check", "--conf", misspelt.string()});
    EXPECT_EQ(bad_check.exit_code, 1);
    EXPECT_EQ(bad_check.err, expected);
    auto run = run_cli({"run", "--conf", misspelt.string(), "--set", "prefix=" + (dir / "prefix").string()});
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_EQ(run.err, expected);
}
