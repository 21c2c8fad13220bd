// Thin wrappers over the OpenSSL 3 primitives age v1 is built from: X25519, HKDF-SHA256,
// HMAC-SHA256 (base/digest.hpp) and ChaCha20-Poly1305. Algorithms are fetched once per process.
// Failures of OpenSSL itself (out of memory, a provider missing) throw; failures an attacker can
// cause (a bad tag, a low-order point) are return values.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace lifeboat::crypto {

using key32 = std::array<std::uint8_t, 32>;

// Bytes from OpenSSL's CSPRNG.
void random_bytes(std::span<std::uint8_t> out);

// X25519(scalar, basepoint) (RFC 7748 section 6.1).
key32 x25519_public_key(const key32& secret);
// X25519(scalar, peer): nullopt when the result is all zeros (a low-order peer point).
std::optional<key32> x25519(const key32& secret, const key32& peer_public);

// HKDF-SHA256 (RFC 5869), extract then expand; an empty salt means HashLen zero bytes.
void hkdf_sha256(std::string_view ikm, std::string_view salt, std::string_view info,
                 std::span<std::uint8_t> out);

// ChaCha20-Poly1305 (RFC 8439) under one key: one cipher context reused for
// every message, so a 64 KiB STREAM chunk pays no key set-up.
class chacha20_poly1305 {
public:
    static constexpr std::size_t tag_size = 16;
    static constexpr std::size_t nonce_size = 12;
    using nonce = std::array<std::uint8_t, nonce_size>;

    explicit chacha20_poly1305(const key32& key);
    ~chacha20_poly1305();
    chacha20_poly1305(chacha20_poly1305&&) noexcept;
    chacha20_poly1305& operator=(chacha20_poly1305&&) noexcept;

    // Writes plaintext.size() + 16 bytes to out (ciphertext then tag). age uses no associated
    // data; `aad` is there for RFC 8439's test vectors.
    void seal(const nonce& n, std::span<const std::uint8_t> plaintext, std::uint8_t* out,
              std::span<const std::uint8_t> aad = {});
    // Writes ciphertext.size() - 16 bytes to out; false (out's contents unspecified) when the tag
    // does not verify or the input is shorter than a tag.
    [[nodiscard]] bool open(const nonce& n, std::span<const std::uint8_t> ciphertext, std::uint8_t* out,
                            std::span<const std::uint8_t> aad = {});

    // Appending forms over std::string (on failure `out` is left as it was).
    void seal_append(const nonce& n, std::string_view plaintext, std::string& out);
    [[nodiscard]] bool open_append(const nonce& n, std::string_view ciphertext, std::string& out);

private:
    EVP_CIPHER_CTX* ctx_ = nullptr;
};

// Constant-time equality of two byte strings of the same length (false if the lengths differ).
bool equal_constant_time(std::string_view a, std::string_view b);

template <class T>
std::span<const std::uint8_t> as_bytes_span(const T& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_string_view(std::span<const std::uint8_t> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

} // namespace lifeboat::crypto
