#include "base/log.hpp"

#include <gtest/gtest.h>

using namespace lifeboat;

TEST(log, logfmt_quotes_only_what_needs_it) {
    EXPECT_EQ(log::render_fields(log::format::logfmt, "cp connected", {{"endpoint", "cp:8005"}, {"n", "3"}}),
              R"(msg="cp connected" endpoint=cp:8005 n=3)");
    EXPECT_EQ(log::render_fields(log::format::logfmt, "x", {{"reason", "a \"b\"\nc"}, {"empty", ""}}),
              R"(msg=x reason="a \"b\"\nc" empty="")");
}

TEST(log, json_lines_escape_control_characters) {
    EXPECT_EQ(log::render_fields(log::format::json, "bad\tframe", {{"why", "x\x01"}}),
              R"("msg":"bad\tframe","why":"x\u0001")");
}

TEST(log, capture_sees_lines_at_or_above_the_level) {
    log::capture cap;
    log::set_level(log::level::info);
    log::debug("hidden", "k", 1);
    log::warn("cache corrupt", "path", "/var/lib/x", "bytes", 42);
    ASSERT_EQ(cap.lines().size(), 1u);
    EXPECT_EQ(cap.lines()[0], R"(warn: msg="cache corrupt" path=/var/lib/x bytes=42)");
}

TEST(log, parses_levels_and_formats) {
    log::level l{};
    EXPECT_TRUE(log::parse_level("warn", l));
    EXPECT_EQ(l, log::level::warn);
    EXPECT_FALSE(log::parse_level("loud", l));
    log::format f{};
    EXPECT_TRUE(log::parse_format("json", f));
    EXPECT_FALSE(log::parse_format("xml", f));
}
