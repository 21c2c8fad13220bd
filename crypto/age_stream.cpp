#include "crypto/age_stream.hpp"

namespace lifeboat::crypto::age_format {

key32 payload_key(const file_key& key, std::string_view payload_nonce) {
    key32 k{};
    hkdf_sha256(as_string_view(key), payload_nonce, "payload", k);
    return k;
}

chacha20_poly1305::nonce stream_nonce(std::uint64_t counter, bool last) {
    chacha20_poly1305::nonce n{};
    // 11-byte big-endian counter: a 64-bit one fills the low 8 bytes (2^64 chunks is 2^80 bytes).
    for (int i = 0; i < 8; ++i)
        n[10 - i] = static_cast<std::uint8_t>(counter >> (8 * i));
    n[11] = last ? 1 : 0;
    return n;
}

} // namespace lifeboat::crypto::age_format
