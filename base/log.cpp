#include "base/log.hpp"

#include "base/time_format.hpp"

#include <atomic>
#include <cerrno>
#include <mutex>
#include <unistd.h>

namespace lifeboat::log {
namespace {

std::atomic<level> g_level{level::info};
std::atomic<format> g_format{format::logfmt};
capture* g_capture = nullptr;
std::mutex g_capture_mutex;

// Logs go to stderr so that command output on stdout (status JSON, `storage get -`) stays clean.
// Each line leaves in one write(2), unbuffered: a sidecar's logs are read live, lines from
// several threads (tests) never interleave, and a crash loses no line already logged.
void write_line(std::string_view line) {
    while (!line.empty()) {
        const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; // stderr closed or full: nowhere left to report it
        line.remove_prefix(static_cast<std::size_t>(n));
    }
}

const char* level_name(level l) {
    switch (l) {
    case level::debug:
        return "debug";
    case level::info:
        return "info";
    case level::warn:
        return "warn";
    case level::error:
        return "error";
    }
    return "info";
}

bool needs_quotes(std::string_view v) {
    if (v.empty())
        return true;
    for (unsigned char c : v)
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
            return true;
    return false;
}

// A double-quoted string with C-style escapes, the shape logfmt and JSON share; they differ only
// in how other control characters are written (logfmt "\x01", JSON "\u0001").
void append_quoted(std::string& out, std::string_view v, format f) {
    out.push_back('"');
    for (unsigned char c : v) {
        switch (c) {
        case '"':
            out.append("\\\"");
            break;
        case '\\':
            out.append("\\\\");
            break;
        case '\n':
            out.append("\\n");
            break;
        case '\r':
            out.append("\\r");
            break;
        case '\t':
            out.append("\\t");
            break;
        default:
            if (c >= 0x20)
                out.push_back(static_cast<char>(c));
            else if (f == format::json)
                fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
            else
                fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
        }
    }
    out.push_back('"');
}

void append_logfmt_value(std::string& out, std::string_view v) {
    if (needs_quotes(v))
        append_quoted(out, v, format::logfmt);
    else
        out.append(v);
}

void append_json_string(std::string& out, std::string_view v) {
    append_quoted(out, v, format::json);
}

} // namespace

void set_level(level min_level) {
    g_level = min_level;
}
level current_level() {
    return g_level.load();
}

void set_format(format f) {
    g_format = f;
}

bool parse_level(std::string_view text, level& out) {
    if (text == "debug")
        out = level::debug;
    else if (text == "info")
        out = level::info;
    else if (text == "warn" || text == "warning")
        out = level::warn;
    else if (text == "error")
        out = level::error;
    else
        return false;
    return true;
}

bool parse_format(std::string_view text, format& out) {
    if (text == "logfmt")
        out = format::logfmt;
    else if (text == "json")
        out = format::json;
    else
        return false;
    return true;
}

std::string render_fields(format f, std::string_view msg, const std::vector<field>& fields) {
    std::string out;
    out.reserve(64 + msg.size() + fields.size() * 24);
    if (f == format::json) {
        out.append("\"msg\":");
        append_json_string(out, msg);
        for (const auto& [k, v] : fields) {
            out.push_back(',');
            append_json_string(out, k);
            out.push_back(':');
            append_json_string(out, v);
        }
    } else {
        out.append("msg=");
        append_logfmt_value(out, msg);
        for (const auto& [k, v] : fields) {
            out.push_back(' ');
            out.append(k);
            out.push_back('=');
            append_logfmt_value(out, v);
        }
    }
    return out;
}

void write(level lvl, std::string_view msg, const std::vector<field>& fields) {
    if (lvl < g_level.load())
        return;
    {
        std::lock_guard lock(g_capture_mutex);
        if (g_capture) {
            g_capture->lines_.push_back(std::string(level_name(lvl)) + ": " +
                                        render_fields(format::logfmt, msg, fields));
        }
    }
    const auto f = g_format.load();
    const auto ts = format_iso8601(wall_clock::now());
    std::string line = f == format::json ? fmt::format(R"({{"ts":"{}","level":"{}",)", ts, level_name(lvl))
                                         : fmt::format("ts={} level={} ", ts, level_name(lvl));
    line += render_fields(f, msg, fields);
    line += f == format::json ? "}\n" : "\n";
    write_line(line);
}

capture::capture() {
    std::lock_guard lock(g_capture_mutex);
    previous_ = g_capture;
    g_capture = this;
}

capture::~capture() {
    std::lock_guard lock(g_capture_mutex);
    g_capture = previous_;
}

bool capture::contains(std::string_view needle) const {
    for (const auto& l : lines_)
        if (l.find(needle) != std::string::npos)
            return true;
    return false;
}

} // namespace lifeboat::log
