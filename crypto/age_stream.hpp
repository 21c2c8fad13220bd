// The age v1 payload: a 16-byte nonce, then STREAM (Hoang, Reyhanitabar, Rogaway, Vizar) over
// ChaCha20-Poly1305 with key HKDF-SHA256(file key, salt = nonce, info "payload"). Each 64 KiB of
// plaintext is one chunk sealed under the nonce counter (11 bytes, big-endian) || last flag (1 byte);
// the last chunk carries flag 1 and may be shorter, but is empty only when the whole plaintext is.
#pragma once

#include "crypto/age.hpp"
#include "crypto/age_header.hpp"
#include "crypto/primitives.hpp"

#include <cstdint>

namespace lifeboat::crypto::age_format {

inline constexpr std::size_t payload_nonce_size = 16;
inline constexpr std::size_t chunk_size = age_chunk_size;
inline constexpr std::size_t sealed_chunk_size = chunk_size + chacha20_poly1305::tag_size;

key32 payload_key(const file_key& key, std::string_view payload_nonce);
chacha20_poly1305::nonce stream_nonce(std::uint64_t counter, bool last);

} // namespace lifeboat::crypto::age_format
