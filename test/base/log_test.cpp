#include "base/log.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <unistd.h>

using namespace lifeboat;

TEST(log, logfmt_quotes_only_what_needs_it) {
    EXPECT_EQ(log::render_fields(log::format::logfmt, "cp connected", {{"endpoint", "cp:8005"}, {"n", "3"}}),
              R"(msg="cp connected" endpoint=cp:8005 n=3)");
    EXPECT_EQ(log::render_fields(log::format::logfmt, "x", {{"reason", "a \"b\"\nc"}, {"empty", ""}}),
              R"(msg=x reason="a \"b\"\nc" empty="")");
    EXPECT_EQ(log::render_fields(log::format::logfmt, "x", {{"ctl", "a\x01\tb"}}), R"(msg=x ctl="a\x01\tb")");
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

namespace {

// Runs `body` with stderr redirected to a temporary file and returns what was written to it.
template <class F>
std::string stderr_of(F body) {
    char path[] = "/tmp/lifeboat-log-test-XXXXXX";
    const int fd = ::mkstemp(path);
    ::unlink(path);
    const int saved = ::dup(STDERR_FILENO);
    ::dup2(fd, STDERR_FILENO);
    body();
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    std::string out(static_cast<std::size_t>(::lseek(fd, 0, SEEK_END)), '\0');
    ::pread(fd, out.data(), out.size(), 0);
    ::close(fd);
    return out;
}

} // namespace

TEST(log, writes_one_logfmt_line_per_event_with_a_utc_timestamp) {
    log::set_level(log::level::info);
    const auto out = stderr_of([] {
        log::info("cp session connected", "endpoint", "cp:8005", "rtt_ms", 3);
        log::debug("not shown");
    });
    // ts=2026-11-22T03:42:00.123Z level=info msg="cp session connected" endpoint=cp:8005 rtt_ms=3
    ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
    ASSERT_GT(out.size(), 28u);
    EXPECT_EQ(out.substr(0, 3), "ts=");
    EXPECT_EQ(out[26], 'Z') << out;
    EXPECT_EQ(out.substr(27), " level=info msg=\"cp session connected\" endpoint=cp:8005 rtt_ms=3\n");
}

TEST(log, writes_json_lines_that_parse) {
    log::set_level(log::level::info);
    log::set_format(log::format::json);
    const auto out = stderr_of([] {
        log::warn("bad frame", "why", "a \"quoted\"\nreason");
        log::error("second");
    });
    log::set_format(log::format::logfmt);
    std::vector<boost::json::object> lines;
    std::size_t from = 0;
    for (std::size_t nl; (nl = out.find('\n', from)) != std::string::npos; from = nl + 1)
        lines.push_back(boost::json::parse(out.substr(from, nl - from)).as_object());
    ASSERT_EQ(lines.size(), 2u) << out;
    EXPECT_EQ(lines[0].at("level"), "warn");
    EXPECT_EQ(lines[0].at("msg"), "bad frame");
    EXPECT_EQ(lines[0].at("why"), "a \"quoted\"\nreason");
    EXPECT_EQ(lines[0].at("ts").as_string().size(), 24u); // 2026-11-22T03:42:00.123Z
    EXPECT_EQ(lines[1].at("level"), "error");
}
