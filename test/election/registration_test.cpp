// Kong-compatible registration names and term keys.
#include "election/registration.hpp"

#include <gtest/gtest.h>

namespace lifeboat::election {
namespace {

TEST(registration, formats_register_time_like_lua_percent_14g) {
    EXPECT_EQ(format_registration(1704921469.123, "n1"), "1704921469.123-n1");
    EXPECT_EQ(format_registration(1704921469.0, "n1"), "1704921469-n1");
    // 14 significant digits: ten before the point, four after (rounded).
    EXPECT_EQ(format_registration(1704921469.123456, "n1"), "1704921469.1235-n1");
    EXPECT_EQ(format_registration(12.5, "a-b-c"), "12.5-a-b-c");
}

TEST(registration, parses_what_kong_parses) {
    auto r = parse_registration("1704921469.123-3f2a-uuid");
    ASSERT_TRUE(r);
    EXPECT_DOUBLE_EQ(r->register_time, 1704921469.123);
    EXPECT_EQ(r->node_id, "3f2a-uuid"); // the first dash after the number separates
    EXPECT_EQ(r->name, "1704921469.123-3f2a-uuid");

    auto integer = parse_registration("1704921469-node"); // Kong's integer-timestamp fix
    ASSERT_TRUE(integer);
    EXPECT_DOUBLE_EQ(integer->register_time, 1704921469.0);

    auto trailing_dot = parse_registration("12.-x");
    ASSERT_TRUE(trailing_dot);
    EXPECT_DOUBLE_EQ(trailing_dot->register_time, 12.0);
    EXPECT_EQ(trailing_dot->node_id, "x");

    auto slash = parse_registration("12-a/b"); // (.+) takes anything, as in Lua
    ASSERT_TRUE(slash);
    EXPECT_EQ(slash->node_id, "a/b");
}

TEST(registration, skips_what_kong_skips) {
    for (const char* name : {"", "-n1", "abc-n1", "12", "12-", "12.5", "1.2.3-n1", ".5-n1",
                             "terms/00000000000000000001", "probe/n1/conditional-1", " 12-n1", "12 -n1"})
        EXPECT_FALSE(parse_registration(name)) << name;
}

TEST(registration, orders_by_time_then_node_id_bytewise) {
    auto a = *parse_registration("100.5-b");
    auto b = *parse_registration("100.50-a"); // the same time written differently
    auto c = *parse_registration("99-z");
    auto d = *parse_registration("100.5-\xc3\xa9"); // bytes above 0x7f sort after ASCII
    EXPECT_TRUE(earlier(c, a));
    EXPECT_TRUE(earlier(b, a));
    EXPECT_FALSE(earlier(a, b));
    EXPECT_TRUE(earlier(a, d));
    EXPECT_FALSE(earlier(a, a));
}

TEST(registration, term_keys_sort_numerically_and_round_trip) {
    EXPECT_EQ(format_term(42), "terms/00000000000000000042");
    EXPECT_EQ(parse_term(format_term(42)), 42u);
    EXPECT_EQ(parse_term(format_term(UINT64_MAX)), UINT64_MAX);
    EXPECT_LT(format_term(9), format_term(10));
    EXPECT_FALSE(parse_term("terms/"));
    EXPECT_FALSE(parse_term("terms/12a"));
    EXPECT_FALSE(parse_term("terms/-1"));
    EXPECT_FALSE(parse_term("terms/000000000000000000001")); // 21 digits
    EXPECT_FALSE(parse_term("1704921469-n1"));
}

} // namespace
} // namespace lifeboat::election
