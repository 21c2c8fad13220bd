#include "crypto/bech32.hpp"

#include <algorithm>
#include <array>

namespace lifeboat::crypto::bech32 {
namespace {

constexpr std::string_view charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

std::uint32_t polymod(std::span<const std::uint8_t> values, std::uint32_t chk = 1) {
    static constexpr std::array<std::uint32_t, 5> gen{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                                      0x2a1462b3};
    for (auto v : values) {
        const std::uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (int i = 0; i < 5; ++i)
            if ((top >> i) & 1)
                chk ^= gen[i];
    }
    return chk;
}

std::vector<std::uint8_t> hrp_expand(std::string_view hrp) {
    std::vector<std::uint8_t> out;
    out.reserve(hrp.size() * 2 + 1);
    for (char c : hrp)
        out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) >> 5));
    out.push_back(0);
    for (char c : hrp)
        out.push_back(static_cast<std::uint8_t>(static_cast<unsigned char>(c) & 31));
    return out;
}

char to_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
char to_upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

} // namespace

std::string encode_words(std::string_view hrp, std::span<const std::uint8_t> words) {
    std::string lower_hrp(hrp);
    std::transform(lower_hrp.begin(), lower_hrp.end(), lower_hrp.begin(), to_lower);
    auto values = hrp_expand(lower_hrp);
    values.insert(values.end(), words.begin(), words.end());
    values.insert(values.end(), 6, 0);
    const std::uint32_t mod = polymod(values) ^ 1;
    std::string out = lower_hrp;
    out += '1';
    for (auto w : words)
        out += charset[w & 31];
    for (int i = 0; i < 6; ++i)
        out += charset[(mod >> (5 * (5 - i))) & 31];
    return out;
}

result<decoded, std::string> decode_words(std::string_view text, std::size_t max_length) {
    if (text.size() > max_length)
        return failure(std::string("Bech32 string too long"));
    bool lower = false, upper = false;
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 33 || u > 126)
            return failure(std::string("Bech32 string has a character out of range"));
        lower |= c >= 'a' && c <= 'z';
        upper |= c >= 'A' && c <= 'Z';
    }
    if (lower && upper)
        return failure(std::string("Bech32 string mixes upper and lower case"));
    const auto sep = text.rfind('1');
    if (sep == std::string_view::npos)
        return failure(std::string("Bech32 string has no separator"));
    if (sep == 0)
        return failure(std::string("Bech32 string has an empty human-readable part"));
    if (text.size() - sep - 1 < 6)
        return failure(std::string("Bech32 string too short for a checksum"));
    decoded d;
    d.upper_case = upper;
    d.hrp.reserve(sep);
    for (char c : text.substr(0, sep))
        d.hrp += to_lower(c);
    std::vector<std::uint8_t> words;
    for (char c : text.substr(sep + 1)) {
        const auto pos = charset.find(to_lower(c));
        if (pos == std::string_view::npos)
            return failure(std::string("Bech32 string has an invalid data character"));
        words.push_back(static_cast<std::uint8_t>(pos));
    }
    auto values = hrp_expand(d.hrp);
    values.insert(values.end(), words.begin(), words.end());
    if (polymod(values) != 1)
        return failure(std::string("bad Bech32 checksum"));
    words.resize(words.size() - 6);
    d.data = std::move(words);
    return d;
}

std::vector<std::uint8_t> bytes_to_words(std::span<const std::uint8_t> bytes) {
    std::vector<std::uint8_t> out;
    out.reserve((bytes.size() * 8 + 4) / 5);
    std::uint32_t acc = 0;
    int bits = 0;
    for (auto b : bytes) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 31));
        }
    }
    if (bits > 0)
        out.push_back(static_cast<std::uint8_t>((acc << (5 - bits)) & 31));
    return out;
}

result<std::vector<std::uint8_t>, std::string> words_to_bytes(std::span<const std::uint8_t> words) {
    std::vector<std::uint8_t> out;
    out.reserve(words.size() * 5 / 8);
    std::uint32_t acc = 0;
    int bits = 0;
    for (auto w : words) {
        if (w > 31)
            return failure(std::string("Bech32 word out of range"));
        acc = ((acc << 5) | w) & 0xfff;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
        }
    }
    if (bits >= 5 || ((acc << (8 - bits)) & 0xff) != 0)
        return failure(std::string("Bech32 data has invalid padding"));
    return out;
}

std::string encode(std::string_view hrp, std::span<const std::uint8_t> bytes, bool upper) {
    auto s = encode_words(hrp, bytes_to_words(bytes));
    if (upper)
        std::transform(s.begin(), s.end(), s.begin(), to_upper);
    return s;
}

result<decoded_bytes, std::string> decode(std::string_view text) {
    auto w = decode_words(text);
    if (!w)
        return failure(w.error());
    auto b = words_to_bytes(w->data);
    if (!b)
        return failure(b.error());
    return decoded_bytes{std::move(w->hrp), std::move(*b), w->upper_case};
}

} // namespace lifeboat::crypto::bech32
