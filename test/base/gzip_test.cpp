#include "base/gzip.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace lifeboat;

namespace {
std::string sample(std::size_t n) {
    std::string s;
    std::mt19937 rng(7);
    while (s.size() < n)
        s += "{\"id\":\"" + std::to_string(rng()) + "\",\"name\":\"service\"},";
    s.resize(n);
    return s;
}
} // namespace

TEST(gzip, round_trip_in_chunks) {
    const auto text = sample(1 << 20);
    const auto gz = gzip_compress(text);
    ASSERT_LT(gz.size(), text.size());
    inflater inf(text.size());
    std::string out;
    inflate_status st = inflate_status::more;
    for (std::size_t i = 0; i < gz.size(); i += 777) {
        st = inf.feed(std::string_view(gz).substr(i, 777), [&](std::string_view c) {
            out.append(c);
            return true;
        });
        if (st != inflate_status::more)
            break;
    }
    EXPECT_EQ(st, inflate_status::done);
    EXPECT_EQ(out, text);
}

TEST(gzip, zlib_framing_is_accepted_too) {
    deflater d(6, false);
    std::string z;
    d.feed("hello zlib", z);
    d.finish(z);
    std::string out;
    EXPECT_EQ(inflate_all(z, 100, out), inflate_status::done);
    EXPECT_EQ(out, "hello zlib");
}

TEST(gzip, a_bomb_stops_at_the_cap) {
    const std::string zeros(64 << 20, '\0'); // 64 MiB of zeros deflates to ~64 KiB
    const auto gz = gzip_compress(zeros, 9);
    ASSERT_LT(gz.size(), 100u << 10);
    std::string out;
    EXPECT_EQ(inflate_all(gz, 1 << 20, out), inflate_status::too_large);
    EXPECT_LE(out.size(), (1u << 20) + (64u << 10));
}

TEST(gzip, corrupt_and_truncated_input_are_told_apart) {
    const auto gz = gzip_compress(sample(10000));
    std::string out;
    EXPECT_EQ(inflate_all("not gzip at all", 1 << 20, out), inflate_status::corrupt);
    out.clear();
    EXPECT_EQ(inflate_all(std::string_view(gz).substr(0, gz.size() / 2), 1 << 20, out), inflate_status::more);
    auto damaged = gz;
    damaged[damaged.size() / 2] ^= 0x55;
    damaged[damaged.size() / 2 + 1] ^= 0x55;
    out.clear();
    EXPECT_NE(inflate_all(damaged, 1 << 20, out), inflate_status::done);
    out.clear();
    EXPECT_EQ(inflate_all(gz + "trailing", 1 << 20, out), inflate_status::corrupt);
}
