#include "harness/test_env.hpp"

#include "lifeboat_test_paths.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <netinet/in.h>
#include <random>
#include <set>
#include <sys/socket.h>
#include <unistd.h>

namespace lifeboat::test {

std::filesystem::path rgw_ca_bundle() {
    return std::filesystem::path(test_paths::work_dir) / "rgw" / "tls" / "ca.crt";
}

std::filesystem::path lifeboat_bin() {
    return test_paths::lifeboat_bin;
}
std::filesystem::path source_dir() {
    return test_paths::source_dir;
}
std::filesystem::path shared_dir() {
    return test_paths::shared_dir;
}

std::filesystem::path scratch_dir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? fmt::format("{}.{}", info->test_suite_name(), info->name()) : "scratch";
    for (char& c : name)
        if (c == '/')
            c = '_';
    auto dir = std::filesystem::path(test_paths::work_dir) / name;
    // Emptied once per test (left over from an earlier run), then shared by every call in it.
    static std::set<std::string> prepared;
    if (prepared.insert(name).second)
        std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; i += 8) {
        const auto v = rng();
        std::memcpy(s.data() + i, &v, std::min<std::size_t>(8, n - i));
    }
    return s;
}

std::vector<std::string> temporary_files(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
        if (e.path().filename().string().find(".tmp-") != std::string::npos)
            out.push_back(e.path().filename().string());
    return out;
}

std::string unique_suffix() {
    static std::mt19937_64 rng(
        std::random_device{}() ^
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    return fmt::format("{:016x}", rng());
}

unsigned short free_port() {
    // Not port 0: the kernel would hand out a port from the ephemeral range, which any outgoing
    // connection on the machine (a test running beside this one) may take before our server binds
    // it. Ports just below the range (Linux's default starts at 32768) are only taken by servers.
    constexpr unsigned short lowest = 20000, highest = 32767;
    static std::mt19937 rng(static_cast<unsigned>(::getpid()) ^ std::random_device{}());
    static std::set<unsigned short> handed_out; // never the same port twice in one process
    for (int attempt = 0; attempt < 1000; ++attempt) {
        const auto port =
            static_cast<unsigned short>(std::uniform_int_distribution<int>(lowest, highest)(rng));
        if (handed_out.contains(port))
            continue;
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (free) {
            handed_out.insert(port);
            return port;
        }
    }
    ADD_FAILURE() << "no free TCP port on 127.0.0.1 between " << lowest << " and " << highest;
    return 0;
}

} // namespace lifeboat::test
