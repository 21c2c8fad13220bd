// The data plane reaches the CP through an HTTP CONNECT proxy (cluster_use_proxy, proxy_server
// with Basic credentials). The proxy is a real one, tinyproxy (Debian package `tinyproxy`).
#include "cluster_fixture.hpp"
#include "harness/test_env.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
using protocol::cluster_mtls;

namespace {

bool port_open(unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

struct tinyproxy {
    unsigned short port = free_port();
    std::filesystem::path log;
    std::unique_ptr<process> proc;
    explicit tinyproxy(const std::filesystem::path& dir) {
        log = dir / "tinyproxy.log";
        const auto conf = dir / "tinyproxy.conf";
        // No ConnectPort line: CONNECT to any port (the CP listens on a random one).
        std::ofstream(conf) << fmt::format(
            "Port {}\nListen 127.0.0.1\nTimeout 60\nLogLevel Info\nLogFile \"{}\"\n"
            "MaxClients 20\nAllow 127.0.0.1\nBasicAuth lifeboat s3cret\n",
            port, log.string());
        proc = std::make_unique<process>(process_options{
            .args = {"tinyproxy", "-d", "-c", conf.string()}, .work_dir = dir, .name = "tinyproxy"});
        if (!eventually([&] { return port_open(port); }, 10s))
            throw std::runtime_error("tinyproxy did not start: " + proc->err());
    }
    std::string log_text() const {
        std::ifstream in(log);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
};

bool have_tinyproxy() {
    return run({.args = {"sh", "-c", "command -v tinyproxy"}, .name = "which"}).exit_code == 0;
}

} // namespace

TEST(proxy, the_data_plane_tunnels_through_an_http_connect_proxy) {
    // A missing peer fails the test: a skip would pass a suite that proved nothing.
    ASSERT_TRUE(have_tinyproxy()) << "tinyproxy is not installed (cmake/deps.sh test installs it)";
    const auto dir = scratch_dir();
    const auto config = dir / "kong.json";
    const auto text = sample_config(2);
    write_atomically(config, text);
    auto cp = start_cp("cp", fmt::format("127.0.0.1:{}", free_port()), cluster_mtls::shared, config);
    tinyproxy proxy(dir);

    auto options = dp_options(cp.address, cluster_mtls::shared);
    options.proxy = fmt::format("http://lifeboat:s3cret@127.0.0.1:{}", proxy.port);
    {
        dp_runner dp(options);
        ASSERT_TRUE(dp.run_until([&] { return dp.observer().last_hash() == config_hash_of(text); }, 15s))
            << dp.status().last_error << "\n"
            << proxy.log_text();
    }
    EXPECT_NE(proxy.log_text().find("CONNECT"), std::string::npos) << proxy.log_text();

    // Wrong credentials: the proxy says no, and the DP says what the proxy said.
    options.proxy = fmt::format("http://lifeboat:wrong@127.0.0.1:{}", proxy.port);
    dp_runner dp(options);
    ASSERT_TRUE(dp.run_until([&] { return !dp.status().last_error.empty(); }, 10s));
    EXPECT_NE(dp.status().last_error.find("proxy refused CONNECT: HTTP 40"), std::string::npos)
        << dp.status().last_error;
    // The password never shows in what the DP reports.
    EXPECT_EQ(dp.status().last_error.find("wrong"), std::string::npos);
}
