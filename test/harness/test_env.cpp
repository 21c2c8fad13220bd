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

std::string unique_suffix() {
    static std::mt19937_64 rng(
        std::random_device{}() ^
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    return fmt::format("{:016x}", rng());
}

unsigned short free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

} // namespace lifeboat::test
