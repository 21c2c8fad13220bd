#include "agent/json_text.hpp"

#include <boost/json/serialize.hpp>

#include <fmt/format.h>

namespace lifeboat::agent {
namespace {

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 when it does not start with one.
std::size_t sequence_length(std::string_view s) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    if (c < 0x80)
        return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (s.size() < n)
        return 0;
    if (b(1) < lo || b(1) > hi)
        return 0;
    for (std::size_t i = 2; i < n; ++i)
        if (b(i) < 0x80 || b(i) > 0xBF)
            return 0;
    return n;
}

bool is_valid(std::string_view s) {
    while (!s.empty()) {
        const auto n = sequence_length(s);
        if (n == 0)
            return false;
        s.remove_prefix(n);
    }
    return true;
}

} // namespace

std::string valid_utf8(std::string_view text) {
    if (is_valid(text))
        return std::string(text);
    std::string out;
    out.reserve(text.size() + 8);
    while (!text.empty()) {
        const auto n = sequence_length(text);
        if (n == 0) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text.front()));
            text.remove_prefix(1);
        } else {
            out.append(text.substr(0, n));
            text.remove_prefix(n);
        }
    }
    return out;
}

void make_valid_utf8(boost::json::value& value) {
    namespace json = boost::json;
    if (auto* s = value.if_string()) {
        if (!is_valid(*s))
            *s = valid_utf8(*s);
    } else if (auto* a = value.if_array()) {
        for (auto& v : *a)
            make_valid_utf8(v);
    } else if (auto* o = value.if_object()) {
        bool keys_valid = true;
        // (Explicit key()/value(): a structured binding of a key_value_pair gives copies.)
        for (auto& member : *o) {
            keys_valid = keys_valid && is_valid(member.key());
            make_valid_utf8(member.value());
        }
        if (!keys_valid) {
            json::object fixed;
            for (auto& member : *o)
                fixed[valid_utf8(member.key())] = std::move(member.value());
            *o = std::move(fixed);
        }
    }
}

std::string serialize_valid(boost::json::value value) {
    make_valid_utf8(value);
    return boost::json::serialize(value);
}

} // namespace lifeboat::agent
