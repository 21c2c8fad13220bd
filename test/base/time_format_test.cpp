#include "base/time_format.hpp"

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace std::chrono;

TEST(time_format, formats_and_parses) {
    const auto t = wall_clock::time_point(seconds(1784691720)) + milliseconds(123);
    EXPECT_EQ(format_iso8601(t), "2026-07-22T03:42:00.123Z");
    EXPECT_EQ(format_amz_date(t), "20260722T034200Z");
    EXPECT_EQ(format_http_date(t), "Wed, 22 Jul 2026 03:42:00 GMT");
    EXPECT_EQ(parse_iso8601("2026-07-22T03:42:00.123Z"), t);
    EXPECT_EQ(parse_http_date("Wed, 22 Jul 2026 03:42:00 GMT"), time_point_cast<seconds>(t));
    EXPECT_FALSE(parse_iso8601("yesterday"));
    EXPECT_FALSE(parse_http_date("Wed, 22 Foo 2026 03:42:00 GMT"));
    EXPECT_DOUBLE_EQ(to_epoch_seconds(from_epoch_seconds(1704921469.5)), 1704921469.5);
}

// A date a peer sends must be one a time point can hold and one the calendar has: timegm() would
// normalise the rest into another date, and far years overflow the nanosecond clock (fuzz finding).
TEST(time_format, refuses_dates_out_of_range) {
    EXPECT_FALSE(parse_iso8601("5144-01-01T00:00:00Z"));
    EXPECT_FALSE(parse_iso8601("1013-12-05T10:00:00Z"));
    EXPECT_FALSE(parse_iso8601("2026-13-01T00:00:00Z"));
    EXPECT_FALSE(parse_iso8601("2026-02-00T00:00:00Z"));
    EXPECT_FALSE(parse_iso8601("2026-02-01T24:00:00Z"));
    EXPECT_FALSE(parse_iso8601("2026-02-01T23:60:00Z"));
    EXPECT_FALSE(parse_http_date("Wed, 22 Jul 9999 03:42:00 GMT"));
    EXPECT_FALSE(parse_http_date("Wed, 32 Jul 2026 03:42:00 GMT"));
    EXPECT_TRUE(parse_iso8601("2200-12-31T23:59:60Z")); // a leap second, the latest year kept
    EXPECT_TRUE(parse_iso8601("1900-01-01T00:00:00Z"));
}
