#include "backends/s3/xml.hpp"

#include <charconv>

namespace lifeboat::s3::xml {

namespace {

bool name_ends(char c) {
    return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void append_utf8(std::string& out, unsigned long cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x110000) {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

} // namespace

std::vector<std::string_view> elements(std::string_view doc, std::string_view tag) {
    std::vector<std::string_view> out;
    const std::string open = "<" + std::string(tag);
    const std::string close = "</" + std::string(tag) + ">";
    std::size_t pos = 0;
    while ((pos = doc.find(open, pos)) != std::string_view::npos) {
        const std::size_t after_name = pos + open.size();
        if (after_name >= doc.size() || !name_ends(doc[after_name])) {
            pos = after_name;
            continue;
        }
        const std::size_t gt = doc.find('>', after_name);
        if (gt == std::string_view::npos)
            break;
        if (doc[gt - 1] == '/') { // <tag/>
            out.push_back(doc.substr(gt + 1, 0));
            pos = gt + 1;
            continue;
        }
        const std::size_t end = doc.find(close, gt + 1);
        if (end == std::string_view::npos)
            break;
        out.push_back(doc.substr(gt + 1, end - gt - 1));
        pos = end + close.size();
    }
    return out;
}

std::optional<std::string_view> element(std::string_view doc, std::string_view tag) {
    auto all = elements(doc, tag);
    if (all.empty())
        return std::nullopt;
    return all.front();
}

std::optional<std::string> text(std::string_view doc, std::string_view tag) {
    auto e = element(doc, tag);
    if (!e)
        return std::nullopt;
    return decode_entities(*e);
}

std::string decode_entities(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '&') {
            out += s[i];
            continue;
        }
        const auto semi = s.find(';', i);
        if (semi == std::string_view::npos || semi - i > 12) {
            out += s[i];
            continue;
        }
        const auto name = s.substr(i + 1, semi - i - 1);
        if (name == "amp")
            out += '&';
        else if (name == "lt")
            out += '<';
        else if (name == "gt")
            out += '>';
        else if (name == "quot")
            out += '"';
        else if (name == "apos")
            out += '\'';
        else if (name.size() > 1 && name[0] == '#') {
            const bool hex = name[1] == 'x' || name[1] == 'X';
            const auto digits = name.substr(hex ? 2 : 1);
            unsigned long cp = 0;
            auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
            if (ec != std::errc() || ptr != digits.data() + digits.size()) {
                out += s[i];
                continue;
            }
            append_utf8(out, cp);
        } else {
            out += s[i];
            continue;
        }
        i = semi;
    }
    return out;
}

std::string escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&apos;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

} // namespace lifeboat::s3::xml
