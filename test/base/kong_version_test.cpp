// base/kong_version: Kong's ^(%d+)%.(%d+)%.%d+, as the plugin list and the reference CP read it.
#include "base/kong_version.hpp"

#include <gtest/gtest.h>

using namespace lifeboat;

TEST(kong_version, three_numbers_then_anything) {
    auto v = parse_kong_version("3.9.1");
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->major, 3);
    EXPECT_EQ(v->minor, 9);
    EXPECT_EQ(v->patch, 1);
    EXPECT_EQ(v->three, "3.9.1");
    EXPECT_EQ(parse_kong_version("3.10.0.2")->three, "3.10.0"); // Enterprise's four parts
    EXPECT_EQ(parse_kong_version("3.4.2-rc1")->minor, 4);
    EXPECT_EQ(parse_kong_version("03.04.05")->three, "3.4.5");
}

TEST(kong_version, anything_else_is_no_version) {
    for (const std::string_view bad :
         {"", "3", "3.9", "3.9.", "v3.9.0", "3..0", ".3.9.0", "3.x.0", "3.9.x", "999999.0.0"})
        EXPECT_FALSE(parse_kong_version(bad).has_value()) << bad;
}
