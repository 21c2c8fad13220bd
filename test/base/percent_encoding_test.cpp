// base/percent_encoding (on Boost.URL): RFC 3986 unreserved characters stay, every other byte is
// %XX in upper case (SigV4's UriEncode, GCS, Azure and the CP session's query all rely on that).
#include "base/percent_encoding.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

using namespace lifeboat;

TEST(percent_encoding, every_byte_but_the_unreserved_is_escaped_in_upper_case) {
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        const std::string one(1, c);
        const std::string escaped = fmt::format("%{:02X}", b);
        EXPECT_EQ(percent_encode(one), unreserved ? one : escaped) << b;
        EXPECT_EQ(percent_encode(one, true), unreserved || c == '/' ? one : escaped) << b;
        EXPECT_EQ(percent_decode(escaped).value(), one) << b;
    }
    EXPECT_EQ(percent_encode("a b+c/d=é"), "a%20b%2Bc%2Fd%3D%C3%A9");
    EXPECT_EQ(percent_encode("photos/2026/a b.json", true), "photos/2026/a%20b.json");
    EXPECT_EQ(percent_encode(""), "");
}

TEST(percent_encoding, decoding_takes_only_well_formed_escapes) {
    EXPECT_EQ(percent_decode("a%20b%2bc+d").value(), "a b+c+d"); // lower-case hex too; '+' stays
    EXPECT_EQ(percent_decode("").value(), "");
    for (const std::string_view bad : {"%", "%4", "%G0", "a%zz", "100%"})
        EXPECT_FALSE(percent_decode(bad).has_value()) << bad;
}
