#include "crypto/age_header.hpp"

#include "base/digest.hpp"
#include "crypto/primitives.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <algorithm>

namespace lifeboat::crypto::age_format {
namespace {

constexpr std::string_view b64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::size_t body_columns = 64;
constexpr std::string_view mac_prefix = "\n--- ";

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool is_vchar(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126;
}

failure<std::string> bad(std::string_view what) {
    return failure(fmt::format("age header: {}", what));
}

} // namespace

std::string base64_raw_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                                static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                                static_cast<unsigned char>(bytes[i + 2]);
        out += b64_alphabet[(v >> 18) & 63];
        out += b64_alphabet[(v >> 12) & 63];
        out += b64_alphabet[(v >> 6) & 63];
        out += b64_alphabet[v & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t v = static_cast<unsigned char>(bytes[i]);
        out += b64_alphabet[v >> 2];
        out += b64_alphabet[(v & 3) << 4];
    } else if (rest == 2) {
        const std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 8 |
                                static_cast<unsigned char>(bytes[i + 1]);
        out += b64_alphabet[v >> 10];
        out += b64_alphabet[(v >> 4) & 63];
        out += b64_alphabet[(v & 15) << 2];
    }
    return out;
}

bool base64_raw_decode(std::string_view text, std::string& out) {
    if (text.size() % 4 == 1)
        return false;
    out.clear();
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const int v = b64_value(c);
        if (v < 0)
            return false;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    // Canonical: the bits left over after the last whole byte must be zero.
    return (acc & ((1u << bits) - 1)) == 0;
}

std::string serialize_for_mac(const std::vector<stanza>& stanzas) {
    std::string out(version_line);
    out += '\n';
    for (const auto& s : stanzas) {
        out += "-> ";
        out += s.type;
        for (const auto& a : s.args) {
            out += ' ';
            out += a;
        }
        out += '\n';
        const auto body = base64_raw_encode(s.body);
        std::size_t at = 0;
        // Full 64-column lines, then a shorter final line, which is empty when the encoding is a
        // multiple of 64 columns long (including an empty body).
        for (; body.size() - at >= body_columns; at += body_columns) {
            out.append(body, at, body_columns);
            out += '\n';
        }
        out.append(body, at);
        out += '\n';
    }
    out += "---";
    return out;
}

std::array<std::uint8_t, 32> header_mac(const file_key& key, std::string_view mac_input) {
    std::array<std::uint8_t, 32> hmac_key{};
    hkdf_sha256(as_string_view(key), {}, "header", hmac_key);
    const auto mac = hmac_sha256(as_string_view(hmac_key), mac_input);
    OPENSSL_cleanse(hmac_key.data(), hmac_key.size());
    std::array<std::uint8_t, 32> out{};
    std::copy(mac.begin(), mac.end(), out.begin());
    return out;
}

std::string serialize(const std::vector<stanza>& stanzas, const file_key& key) {
    auto out = serialize_for_mac(stanzas);
    const auto mac = header_mac(key, out);
    out += ' ';
    out += base64_raw_encode(as_string_view(mac));
    out += '\n';
    return out;
}

std::size_t find_header_end(std::string_view bytes, std::size_t scan_from, std::size_t* resume_from) {
    // Neither base64 bodies nor "-> " stanza lines can hold "\n--- ", so its first occurrence
    // starts the MAC line.
    const auto at = bytes.find(mac_prefix, std::min(scan_from, bytes.size()));
    if (at == std::string_view::npos) {
        if (resume_from) // a "\n--- " may begin in the last few bytes
            *resume_from = bytes.size() >= mac_prefix.size() ? bytes.size() - mac_prefix.size() + 1 : 0;
        return std::string_view::npos;
    }
    const auto nl = bytes.find('\n', at + mac_prefix.size());
    if (nl == std::string_view::npos) {
        if (resume_from) // the MAC line has begun: look at it again when its newline arrives
            *resume_from = at;
        return std::string_view::npos;
    }
    return nl + 1;
}

result<parsed_header, std::string> parse_header(std::string_view header) {
    parsed_header out;
    auto next_line = [&header](std::string_view& line) {
        const auto nl = header.find('\n');
        if (nl == std::string_view::npos)
            return false;
        line = header.substr(0, nl);
        header.remove_prefix(nl + 1);
        return true;
    };
    const std::string_view whole = header;
    std::string_view line;
    if (!next_line(line) || line != version_line)
        return bad("not an age v1 file (the first line is not \"age-encryption.org/v1\")");
    while (true) {
        if (!next_line(line))
            return bad("incomplete");
        if (line.starts_with("--- ")) {
            out.mac_input_size = static_cast<std::size_t>(line.data() - whole.data()) + 3;
            std::string mac;
            if (!base64_raw_decode(line.substr(4), mac) || mac.size() != out.mac.size())
                return bad("malformed MAC line");
            std::copy(mac.begin(), mac.end(), out.mac.begin());
            if (!header.empty())
                return bad("bytes after the MAC line"); // the caller passes exactly the header
            break;
        }
        if (!line.starts_with("-> "))
            return bad("malformed line (want a \"-> \" stanza or the \"--- \" MAC line)");
        stanza s;
        std::string_view args = line.substr(3);
        bool first = true;
        while (true) {
            const auto sp = args.find(' ');
            const auto arg = args.substr(0, sp);
            if (arg.empty())
                return bad("stanza with an empty argument");
            for (char c : arg)
                if (!is_vchar(c))
                    return bad("stanza argument with an invalid character");
            if (first)
                s.type = std::string(arg);
            else
                s.args.emplace_back(arg);
            first = false;
            if (sp == std::string_view::npos)
                break;
            args.remove_prefix(sp + 1);
        }
        std::string chunk;
        while (true) {
            if (!next_line(line))
                return bad("incomplete stanza body");
            if (line.size() > body_columns)
                return bad("stanza body line longer than 64 columns");
            if (!base64_raw_decode(line, chunk))
                return bad("stanza body is not canonical base64");
            s.body += chunk;
            if (line.size() < body_columns)
                break;
        }
        out.stanzas.push_back(std::move(s));
    }
    if (out.stanzas.empty())
        return bad("no recipient stanzas");
    return out;
}

} // namespace lifeboat::crypto::age_format
