#include "base/printable.hpp"

#include <gtest/gtest.h>

using lifeboat::printable;

TEST(printable, escapes_what_would_break_a_line_or_reach_a_terminal) {
    EXPECT_EQ(printable("s3://bucket/prefix"), "s3://bucket/prefix");
    EXPECT_EQ(printable("a\nb\r\tc"), "a\\nb\\r\\tc");
    EXPECT_EQ(printable(std::string_view("\x1b[31m\x7f\0", 7)), "\\x1b[31m\\x7f\\x00");
    EXPECT_EQ(printable("a\\nb"), "a\\\\nb");           // an escaped input stays distinct from a newline
    EXPECT_EQ(printable("caf\xc3\xa9"), "caf\xc3\xa9"); // UTF-8 kept
}
