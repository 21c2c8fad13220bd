// Structured logging: one line per event, UTC timestamps, logfmt by default or JSON lines.
//
//   log::info("cp session connected", "endpoint", endpoint, "rtt_ms", rtt);
//
// prints
//
//   ts=2026-11-22T03:42:00.123Z level=info msg="cp session connected" endpoint=cp:8005 rtt_ms=3
//
// Arguments after the message alternate key, value. Values are formatted with fmt. Never pass a
// secret: nothing here can tell a secret from any other string.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lifeboat::log {

enum class level { debug, info, warn, error };
enum class format { logfmt, json };

struct field {
    std::string_view key;
    std::string value;
};

// Process-wide settings; call before the io_context starts.
void set_level(level min_level);
void set_format(format f);
level current_level();
bool parse_level(std::string_view text, level& out);
bool parse_format(std::string_view text, format& out);

// Writes one event. Lines below the current level are dropped before any formatting.
void write(level lvl, std::string_view msg, const std::vector<field>& fields);

// Formats one line without the timestamp and level (used by tests and by write()).
std::string render_fields(format f, std::string_view msg, const std::vector<field>& fields);

namespace detail {
template <class T>
std::string to_text(const T& value) {
    if constexpr (std::is_convertible_v<const T&, std::string_view>)
        return std::string(std::string_view(value));
    else
        return fmt::format("{}", value);
}

inline void collect(std::vector<field>&) {}

template <class V, class... Rest>
void collect(std::vector<field>& out, std::string_view key, const V& value, const Rest&... rest) {
    out.push_back({key, to_text(value)});
    collect(out, rest...);
}

template <class... Kv>
void emit(level lvl, std::string_view msg, const Kv&... kv) {
    static_assert(sizeof...(Kv) % 2 == 0, "log fields come in key, value pairs");
    if (lvl < current_level())
        return;
    std::vector<field> fields;
    fields.reserve(sizeof...(Kv) / 2);
    collect(fields, kv...);
    write(lvl, msg, fields);
}
} // namespace detail

template <class... Kv>
void debug(std::string_view msg, const Kv&... kv) {
    detail::emit(level::debug, msg, kv...);
}
template <class... Kv>
void info(std::string_view msg, const Kv&... kv) {
    detail::emit(level::info, msg, kv...);
}
template <class... Kv>
void warn(std::string_view msg, const Kv&... kv) {
    detail::emit(level::warn, msg, kv...);
}
template <class... Kv>
void error(std::string_view msg, const Kv&... kv) {
    detail::emit(level::error, msg, kv...);
}

// Captures every line written while it lives (for tests that assert on logs, as Boost.Redis's
// FSM tests do). Lines are stored as rendered by render_fields(logfmt) with the level prefixed:
// "warn: msg=\"...\" key=value".
class capture {
public:
    capture();
    ~capture();
    capture(const capture&) = delete;
    capture& operator=(const capture&) = delete;

    const std::vector<std::string>& lines() const { return lines_; }
    bool contains(std::string_view needle) const;
    void clear() { lines_.clear(); }

private:
    friend void write(level, std::string_view, const std::vector<field>&);
    std::vector<std::string> lines_;
    capture* previous_;
};

} // namespace lifeboat::log
