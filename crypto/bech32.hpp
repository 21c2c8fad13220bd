// Bech32 (BIP-173; not Bech32m), as age uses it for `age1...` recipients and
// `AGE-SECRET-KEY-1...` identities: 8-bit data regrouped into 5-bit words, a 6-character BCH
// checksum over the lower-cased human-readable part. age lifts BIP-173's 90-character limit.
#pragma once

#include "base/result.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::crypto::bech32 {

struct decoded {
    std::string hrp;                // lower case
    std::vector<std::uint8_t> data; // the 5-bit words (checksum removed)
    bool upper_case = false;        // the string was written in upper case
};

// Checks case (all lower or all upper), characters, the separator and the checksum.
result<decoded, std::string> decode_words(std::string_view text,
                                          std::size_t max_length = std::numeric_limits<std::size_t>::max());
// hrp and 5-bit words to the lower-case string with checksum.
std::string encode_words(std::string_view hrp, std::span<const std::uint8_t> words);

// 8-bit bytes <-> 5-bit words (BIP-173's convertbits): encoding pads; decoding refuses padding
// longer than 4 bits or that is not zero.
std::vector<std::uint8_t> bytes_to_words(std::span<const std::uint8_t> bytes);
result<std::vector<std::uint8_t>, std::string> words_to_bytes(std::span<const std::uint8_t> words);

// The byte-level forms age uses. encode() returns lower case; pass upper = true for identities.
std::string encode(std::string_view hrp, std::span<const std::uint8_t> bytes, bool upper = false);
struct decoded_bytes {
    std::string hrp; // lower case
    std::vector<std::uint8_t> bytes;
    bool upper_case = false;
};
result<decoded_bytes, std::string> decode(std::string_view text);

} // namespace lifeboat::crypto::bech32
