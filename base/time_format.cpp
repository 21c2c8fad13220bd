#include "base/time_format.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <ctime>

namespace lifeboat {
namespace {

std::tm to_utc_tm(wall_clock::time_point t) {
    const std::time_t tt = wall_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return tm;
}

constexpr std::array<const char*, 7> day_names{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool read_int(std::string_view s, std::size_t pos, std::size_t len, int& out) {
    if (pos + len > s.size())
        return false;
    const auto* b = s.data() + pos;
    auto [p, ec] = std::from_chars(b, b + len, out);
    return ec == std::errc() && p == b + len;
}

// The years a wall_clock time point holds in any build: libstdc++'s system_clock counts nanoseconds in
// 64 bits, which reach from 1677 to 2262. A date a peer sends outside these bounds is refused, not
// wrapped; no store, server clock or backup carries one.
constexpr int earliest_year = 1900;
constexpr int latest_year = 2200;

std::optional<wall_clock::time_point> from_fields(int y, int mo, int d, int h, int mi, int sec) {
    // timegm() would quietly normalise 2026-13-45 into another date: refuse fields out of range.
    if (y < earliest_year || y > latest_year || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return std::nullopt;
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return wall_clock::from_time_t(timegm(&tm));
}

} // namespace

std::string format_iso8601(wall_clock::time_point t) {
    const auto tm = to_utc_tm(t);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms < 0 ? ms + 1000 : ms);
}

std::string format_http_date(wall_clock::time_point t) {
    const auto tm = to_utc_tm(t);
    return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", day_names[tm.tm_wday], tm.tm_mday,
                       month_names[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string format_amz_date(wall_clock::time_point t) {
    const auto tm = to_utc_tm(t);
    return fmt::format("{:04}{:02}{:02}T{:02}{:02}{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::optional<wall_clock::time_point> parse_iso8601(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SS[.fff...](Z|+00:00)
    int y, mo, d, h, mi, sec;
    if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return std::nullopt;
    if (!read_int(s, 0, 4, y) || !read_int(s, 5, 2, mo) || !read_int(s, 8, 2, d) || !read_int(s, 11, 2, h) ||
        !read_int(s, 14, 2, mi) || !read_int(s, 17, 2, sec))
        return std::nullopt;
    auto fields = from_fields(y, mo, d, h, mi, sec);
    if (!fields)
        return std::nullopt;
    auto t = *fields;
    std::size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        long long frac = 0;
        int digits = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            if (digits < 9) {
                frac = frac * 10 + (s[pos] - '0');
                ++digits;
            }
            ++pos;
        }
        while (digits < 9) {
            frac *= 10;
            ++digits;
        }
        t += std::chrono::duration_cast<wall_clock::duration>(std::chrono::nanoseconds(frac));
    }
    const auto zone = s.substr(pos);
    if (zone != "Z" && zone != "+00:00" && !zone.empty())
        return std::nullopt;
    return t;
}

std::optional<wall_clock::time_point> parse_http_date(std::string_view s) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (s.size() != 29 || s[3] != ',' || s.substr(26) != "GMT")
        return std::nullopt;
    int d, y, h, mi, sec;
    if (!read_int(s, 5, 2, d) || !read_int(s, 12, 4, y) || !read_int(s, 17, 2, h) ||
        !read_int(s, 20, 2, mi) || !read_int(s, 23, 2, sec))
        return std::nullopt;
    const auto mon = s.substr(8, 3);
    for (int m = 0; m < 12; ++m)
        if (mon == month_names[m])
            return from_fields(y, m + 1, d, h, mi, sec);
    return std::nullopt;
}

double to_epoch_seconds(wall_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

wall_clock::time_point from_epoch_seconds(double s) {
    return wall_clock::time_point(
        std::chrono::duration_cast<wall_clock::duration>(std::chrono::duration<double>(s)));
}

} // namespace lifeboat
