// Signals to a real agent process: SIGHUP re-reads the configuration file and never stops the
// agent (`systemctl reload` sends it); a second SIGTERM during the grace period stops at once.
#include "harness/process.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace lifeboat;
using namespace std::chrono_literals;

namespace {

void write_conf(const std::filesystem::path& path, const std::string& text) {
    const auto tmp = path.string() + ".tmp";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, path);
}

struct conf_agent {
    std::filesystem::path dir = test::scratch_dir();
    std::filesystem::path conf = dir / "lifeboat.conf";
    std::string addr = "127.0.0.1:" + std::to_string(test::free_port());
    std::unique_ptr<test::process> proc;

    std::string base() const {
        return "prefix = " + (dir / "prefix").string() + "\nstatus_listen = " + addr + "\n";
    }
    void start(const std::string& extra, std::vector<std::string> args = {},
               std::map<std::string, std::string> env = {}) {
        write_conf(conf, base() + extra);
        std::vector<std::string> argv{test::lifeboat_bin().string(), "run", "--conf", conf.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        proc = std::make_unique<test::process>(
            test::process_options{.args = argv, .env = std::move(env), .work_dir = dir, .name = "agent"});
        ASSERT_TRUE(proc->wait_for_output("lifeboat agent started", 20s)) << proc->err();
    }
};

// A TCP port that accepts connections and never answers: a store whose every request hangs.
struct silent_peer {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    unsigned short port = 0;
    std::atomic<int> accepted{0};
    std::vector<int> held;
    std::thread acceptor;
    silent_peer() {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd, 64) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("silent_peer: cannot listen");
        port = ntohs(a.sin_port);
        acceptor = std::thread([this] {
            for (;;) {
                const int c = ::accept(fd, nullptr, nullptr);
                if (c < 0)
                    return; // shut down
                held.push_back(c);
                ++accepted;
            }
        });
    }
    ~silent_peer() {
        ::shutdown(fd, SHUT_RDWR); // wakes accept()
        acceptor.join();
        ::close(fd);
        for (int c : held)
            ::close(c);
    }
};

} // namespace

TEST(signals, sighup_applies_live_keys_logs_the_rest_and_keeps_running) {
    conf_agent a;
    a.start("log_level = info\n");
    write_conf(a.conf, a.base() + "log_level = debug\nlog_format = json\nnode_hostname = renamed\n");
    a.proc->signal(SIGHUP);
    ASSERT_TRUE(a.proc->wait_for_output("configuration changes wait for a restart", 10s)) << a.proc->err();
    const auto log = a.proc->err();
    // The new format applies from the reload's own lines on: they are JSON.
    EXPECT_NE(log.find(R"("level":"info","msg":"configuration reloaded","applied":"log_level,log_format")"),
              std::string::npos)
        << log;
    EXPECT_NE(
        log.find(R"("level":"warn","msg":"configuration changes wait for a restart","keys":"node_hostname")"),
        std::string::npos)
        << log;
    EXPECT_TRUE(a.proc->running());

    // The running agent kept its host name: the next re-read still finds it changed, and
    // says so again, while the keys it applied are no longer news.
    a.proc->signal(SIGHUP);
    auto count = [&](const std::string& needle) {
        const auto text = a.proc->err();
        std::size_t n = 0;
        for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
            ++n;
        return n;
    };
    ASSERT_TRUE(test::eventually([&] { return count("configuration changes wait for a restart") == 2; }, 10s))
        << a.proc->err();
    EXPECT_EQ(count("\"applied\""), 1u) << a.proc->err();
    EXPECT_TRUE(a.proc->running());

    a.proc->signal(SIGTERM);
    const auto code = a.proc->wait(20s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0) << a.proc->err();
}

TEST(signals, sighup_with_an_invalid_file_keeps_the_running_configuration) {
    conf_agent a;
    a.start("log_level = info\n");
    write_conf(a.conf, a.base() + "log_level = loud\n");
    a.proc->signal(SIGHUP);
    ASSERT_TRUE(a.proc->wait_for_output("the configuration was not reloaded; the running one stays", 10s))
        << a.proc->err();
    EXPECT_NE(a.proc->err().find("log_level"), std::string::npos);
    EXPECT_TRUE(a.proc->running());
    // Fixed again: the next SIGHUP takes it; one more with nothing changed says so.
    write_conf(a.conf, a.base() + "log_level = debug\n");
    a.proc->signal(SIGHUP);
    ASSERT_TRUE(a.proc->wait_for_output("applied=log_level", 10s)) << a.proc->err();
    a.proc->signal(SIGHUP);
    ASSERT_TRUE(a.proc->wait_for_output("configuration reloaded: nothing changed", 10s)) << a.proc->err();
    EXPECT_TRUE(a.proc->running());
}

// An exporter takes a new election interval on SIGHUP: the next rounds run at it, and its
// registration (which other exporters read) says so.
TEST(signals, sighup_changes_the_election_interval_of_a_running_exporter) {
    conf_agent a;
    const auto bucket = a.dir / "bucket";
    const std::string store =
        "cluster_fallback_config_export = on\ncluster_fallback_config_storage = file://" + bucket.string() +
        "\nnode_version = 3.9.0.0\n";
    a.start(store + "election_interval = 10\n");
    const auto election = bucket / "3.9.0.0" / "election";
    auto registration = [&]() -> std::string {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(election, ec))
            if (e.is_regular_file() && e.path().filename().string().find('-') != std::string::npos) {
                std::ifstream in(e.path());
                return std::string(std::istreambuf_iterator<char>(in), {});
            }
        return {};
    };
    ASSERT_TRUE(test::eventually(
        [&] { return registration().find(R"("interval_ms":10000,)") != std::string::npos; }, 30s))
        << registration() << a.proc->err();

    write_conf(a.conf, a.base() + store + "election_interval = 1\n");
    a.proc->signal(SIGHUP);
    ASSERT_TRUE(a.proc->wait_for_output("election interval changed", 10s)) << a.proc->err();
    EXPECT_NE(a.proc->err().find("interval_ms=1000 was_ms=10000"), std::string::npos) << a.proc->err();
    EXPECT_NE(a.proc->err().find("applied=election_interval"), std::string::npos) << a.proc->err();
    EXPECT_EQ(a.proc->err().find("configuration changes wait for a restart"), std::string::npos)
        << a.proc->err();
    // The round already scheduled (at most 10 s away) comes, and rewrites the registration with the
    // new interval; the rounds after it run every second.
    ASSERT_TRUE(test::eventually(
        [&] { return registration().find(R"("interval_ms":1000,)") != std::string::npos; }, 50s))
        << registration() << a.proc->err();
    EXPECT_TRUE(a.proc->running());
    a.proc->signal(SIGTERM);
    const auto code = a.proc->wait(20s);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0) << a.proc->err();
}

// An exporter whose store never answers holds the graceful stop for the whole grace period (its
// leader deletes its registration on the way out); a second SIGTERM ends it at once, exit 1.
TEST(signals, a_second_sigterm_during_the_grace_period_stops_at_once) {
    silent_peer store;
    conf_agent a;
    a.start("cluster_fallback_config_export = on\ncluster_fallback_config_storage = s3://bucket/prefix\n"
            "election_interval = 60\n",
            {"--grace", "30"},
            {{"AWS_CONFIG_STORAGE_ENDPOINT", "http://127.0.0.1:" + std::to_string(store.port)},
             {"AWS_ACCESS_KEY_ID", "test"},
             {"AWS_SECRET_ACCESS_KEY", "test-secret"},
             {"AWS_REGION", "us-east-1"}});
    // The election's first store request is in flight (it is not cut short by the polite
    // cancellation of the first signal, only bounded by its own deadline).
    ASSERT_TRUE(test::eventually([&] { return store.accepted.load() >= 1; }, 20s)) << a.proc->err();
    a.proc->signal(SIGTERM);
    ASSERT_TRUE(a.proc->wait_for_output("msg=stopping", 10s)) << a.proc->err();
    // Still within the grace period: the first signal alone does not end it.
    EXPECT_FALSE(a.proc->wait(1s)) << a.proc->err();
    a.proc->signal(SIGTERM);
    const auto code = a.proc->wait(5s);
    ASSERT_TRUE(code) << "still running after the second SIGTERM\n" << a.proc->err();
    EXPECT_EQ(*code, 1);
    EXPECT_NE(a.proc->err().find("second signal: stopping at once"), std::string::npos) << a.proc->err();
}
