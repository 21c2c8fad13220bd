#include "agent/config_values.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace lifeboat::agent {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

namespace {
std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::optional<double> parse_number(std::string_view v) {
    if (v.empty())
        return std::nullopt;
    double d = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
    if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(d))
        return std::nullopt;
    return d;
}
} // namespace

std::optional<bool> parse_bool(std::string_view v) {
    const auto s = lower(trim(v));
    if (s == "on" || s == "true" || s == "yes" || s == "1")
        return true;
    if (s == "off" || s == "false" || s == "no" || s == "0")
        return false;
    return std::nullopt;
}

std::optional<std::uint64_t> parse_size(std::string_view v) {
    auto s = lower(trim(v));
    std::uint64_t mult = 1;
    if (!s.empty() && s.back() == 'b' && s.size() > 1 &&
        (s[s.size() - 2] == 'k' || s[s.size() - 2] == 'm' || s[s.size() - 2] == 'g'))
        s.pop_back(); // accept "16mb" as well as "16m"
    if (!s.empty()) {
        switch (s.back()) {
        case 'k':
            mult = 1ull << 10;
            s.pop_back();
            break;
        case 'm':
            mult = 1ull << 20;
            s.pop_back();
            break;
        case 'g':
            mult = 1ull << 30;
            s.pop_back();
            break;
        default:
            break;
        }
    }
    std::uint64_t n = 0;
    if (s.empty())
        return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || p != s.data() + s.size())
        return std::nullopt;
    if (n > UINT64_MAX / mult)
        return std::nullopt;
    return n * mult;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view v) {
    auto s = lower(trim(v));
    double scale_ms = 1000; // a bare number is seconds, as in kong.conf
    auto ends_with = [&](std::string_view suf) { return s.size() > suf.size() && s.ends_with(suf); };
    if (ends_with("ms")) {
        scale_ms = 1;
        s.resize(s.size() - 2);
    } else if (ends_with("s")) {
        s.pop_back();
    } else if (ends_with("m")) {
        scale_ms = 60'000;
        s.pop_back();
    } else if (ends_with("h")) {
        scale_ms = 3'600'000;
        s.pop_back();
    }
    const auto n = parse_number(s);
    if (!n || *n < 0 || *n * scale_ms > 1e15)
        return std::nullopt;
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(*n * scale_ms)));
}

std::vector<std::string> parse_list(std::string_view v) {
    std::vector<std::string> out;
    while (!v.empty()) {
        const auto comma = v.find(',');
        const auto item = trim(v.substr(0, comma));
        if (!item.empty())
            out.emplace_back(item);
        if (comma == std::string_view::npos)
            break;
        v.remove_prefix(comma + 1);
    }
    return out;
}

std::optional<std::map<std::string, std::string>> parse_labels(std::string_view v) {
    std::map<std::string, std::string> out;
    for (const auto& item : parse_list(v)) {
        const auto colon = item.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == item.size())
            return std::nullopt;
        out[item.substr(0, colon)] = item.substr(colon + 1);
    }
    return out;
}

bool is_host_port(std::string_view v) {
    std::string_view host, port;
    if (v.starts_with('[')) {
        const auto close = v.find(']');
        if (close == std::string_view::npos || close + 1 >= v.size() || v[close + 1] != ':')
            return false;
        host = v.substr(1, close - 1);
        port = v.substr(close + 2);
    } else {
        const auto colon = v.rfind(':');
        if (colon == std::string_view::npos)
            return false;
        host = v.substr(0, colon);
        port = v.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return false;
    }
    if (host.empty() || port.empty() || port.size() > 5)
        return false;
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p == 0 || p > 65535)
        return false;
    return std::all_of(host.begin(), host.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':';
    });
}

bool is_listen_address(std::string_view v) {
    if (v.starts_with("unix:"))
        return v.size() > 6 && v[5] == '/';
    return is_host_port(v);
}

bool is_uuid(std::string_view v) {
    if (v.size() != 36)
        return false;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? v[i] != '-' : !std::isxdigit(static_cast<unsigned char>(v[i])))
            return false;
    }
    return true;
}

bool is_gateway_version(std::string_view v) {
    int parts = 0;
    while (true) {
        std::size_t digits = 0;
        while (digits < v.size() && std::isdigit(static_cast<unsigned char>(v[digits])))
            ++digits;
        if (digits == 0)
            return false;
        ++parts;
        v.remove_prefix(digits);
        if (v.empty())
            break;
        if (v.front() != '.')
            return false;
        v.remove_prefix(1);
    }
    return parts == 3 || parts == 4;
}

} // namespace lifeboat::agent
