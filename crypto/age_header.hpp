// The age v1 header: the version line, recipient stanzas, and the HMAC-SHA256 over them.
//
//   age-encryption.org/v1
//   -> X25519 <base64 share>
//   <base64 body, 64 columns per line, ending with a shorter (possibly empty) line>
//   --- <base64 HMAC-SHA256>
//
// Base64 is the standard alphabet without padding, and decoding is canonical (no padding, no
// stray bits), as the spec requires so that a header has exactly one encoding.
#pragma once

#include "base/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::crypto::age_format {

inline constexpr std::string_view version_line = "age-encryption.org/v1";
inline constexpr std::size_t file_key_size = 16;
using file_key = std::array<std::uint8_t, file_key_size>;
// A header longer than this is refused rather than buffered (age itself writes a few hundred
// bytes per recipient).
inline constexpr std::size_t max_header_size = 1 << 20;

struct stanza {
    std::string type;              // the first argument: "X25519", "scrypt", ...
    std::vector<std::string> args; // the arguments after the type
    std::string body;              // decoded
};

struct parsed_header {
    std::vector<stanza> stanzas;
    std::array<std::uint8_t, 32> mac{};
    std::size_t mac_input_size = 0; // header bytes the MAC covers: up to and including "---"
};

std::string base64_raw_encode(std::string_view bytes);
// Canonical unpadded standard base64; false on any other input.
bool base64_raw_decode(std::string_view text, std::string& out);

// The header up to and including "---" (what the MAC covers).
std::string serialize_for_mac(const std::vector<stanza>& stanzas);
// The MAC: HMAC-SHA256 keyed with HKDF-SHA256(file key, salt empty, info "header").
std::array<std::uint8_t, 32> header_mac(const file_key& key, std::string_view mac_input);
// serialize_for_mac() + " " + base64(mac) + "\n".
std::string serialize(const std::vector<stanza>& stanzas, const file_key& key);

// Where the header ends in `bytes` (the index after the MAC line's newline), or npos when it is
// not complete yet; then *resume_from (if given) is where to start the next search, as `scan_from`,
// once more bytes have been appended (a caller feeding bytes piecewise never rescans).
std::size_t find_header_end(std::string_view bytes, std::size_t scan_from = 0,
                            std::size_t* resume_from = nullptr);
// Parses a complete header (bytes up to find_header_end()). Errors start with "age header: ".
result<parsed_header, std::string> parse_header(std::string_view header);

} // namespace lifeboat::crypto::age_format
