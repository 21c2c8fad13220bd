#include "crypto/primitives.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>
#include <utility>

namespace lifeboat::crypto {
namespace {

struct pkey_free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct pkey_ctx_free {
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct kdf_ctx_free {
    void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free>;

[[noreturn]] void fail(const char* what) {
    throw std::runtime_error(std::string("OpenSSL: ") + what + " failed");
}

const EVP_CIPHER* chacha_cipher() {
    static EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    if (!c)
        fail("fetching ChaCha20-Poly1305");
    return c;
}

EVP_KDF* hkdf_kdf() {
    static EVP_KDF* k = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    if (!k)
        fail("fetching HKDF");
    return k;
}

pkey_ptr x25519_private(const key32& secret) {
    pkey_ptr p(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret.data(), secret.size()));
    if (!p)
        fail("loading an X25519 private key");
    return p;
}

} // namespace

void random_bytes(std::span<std::uint8_t> out) {
    if (!out.empty() && RAND_bytes(out.data(), static_cast<int>(out.size())) != 1)
        fail("RAND_bytes");
}

key32 x25519_public_key(const key32& secret) {
    auto p = x25519_private(secret);
    key32 pub{};
    std::size_t len = pub.size();
    if (EVP_PKEY_get_raw_public_key(p.get(), pub.data(), &len) != 1 || len != pub.size())
        fail("deriving an X25519 public key");
    return pub;
}

std::optional<key32> x25519(const key32& secret, const key32& peer_public) {
    auto mine = x25519_private(secret);
    pkey_ptr peer(
        EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public.data(), peer_public.size()));
    if (!peer)
        fail("loading an X25519 public key");
    pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, mine.get(), nullptr));
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1)
        fail("X25519 derive init");
    // OpenSSL refuses a peer whose shared secret would be all zeros (RFC 7748 section 6.1): that is
    // attacker-reachable, so it is a result, not an exception.
    if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer.get(), 0) != 1)
        return std::nullopt;
    key32 shared{};
    std::size_t len = shared.size();
    if (EVP_PKEY_derive(ctx.get(), shared.data(), &len) != 1 || len != shared.size())
        return std::nullopt;
    std::uint8_t acc = 0;
    for (auto b : shared)
        acc |= b;
    if (acc == 0)
        return std::nullopt;
    return shared;
}

void hkdf_sha256(std::string_view ikm, std::string_view salt, std::string_view info,
                 std::span<std::uint8_t> out) {
    std::unique_ptr<EVP_KDF_CTX, kdf_ctx_free> ctx(EVP_KDF_CTX_new(hkdf_kdf()));
    if (!ctx)
        fail("HKDF context");
    char digest_name[] = "SHA256";
    OSSL_PARAM params[5];
    std::size_t n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name, 0);
    params[n++] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size());
    // Without a salt OpenSSL's HKDF-Extract keys HMAC with the empty string, which HMAC pads to
    // HashLen zeros: exactly RFC 5869's default.
    if (!salt.empty())
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                                        salt.size());
    params[n++] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size());
    params[n] = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1)
        fail("HKDF-SHA256");
}

chacha20_poly1305::chacha20_poly1305(const key32& key) : ctx_(EVP_CIPHER_CTX_new()) {
    if (!ctx_)
        fail("cipher context");
    // The key is set once; seal()/open() only change the nonce and direction.
    if (EVP_CipherInit_ex2(ctx_, chacha_cipher(), key.data(), nullptr, 1, nullptr) != 1)
        fail("ChaCha20-Poly1305 key set-up");
}

chacha20_poly1305::~chacha20_poly1305() {
    EVP_CIPHER_CTX_free(ctx_); // cleanses the key schedule
}
chacha20_poly1305::chacha20_poly1305(chacha20_poly1305&& o) noexcept : ctx_(std::exchange(o.ctx_, nullptr)) {}
chacha20_poly1305& chacha20_poly1305::operator=(chacha20_poly1305&& o) noexcept {
    if (this != &o) {
        EVP_CIPHER_CTX_free(ctx_);
        ctx_ = std::exchange(o.ctx_, nullptr);
    }
    return *this;
}

void chacha20_poly1305::seal(const nonce& n, std::span<const std::uint8_t> plaintext, std::uint8_t* out,
                             std::span<const std::uint8_t> aad) {
    int len = 0;
    if (EVP_CipherInit_ex2(ctx_, nullptr, nullptr, n.data(), 1, nullptr) != 1)
        fail("ChaCha20-Poly1305 nonce set-up");
    int aad_len = 0;
    if (!aad.empty() &&
        EVP_CipherUpdate(ctx_, nullptr, &aad_len, aad.data(), static_cast<int>(aad.size())) != 1)
        fail("ChaCha20-Poly1305 associated data");
    if (!plaintext.empty() &&
        EVP_CipherUpdate(ctx_, out, &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1)
        fail("ChaCha20-Poly1305 encrypt");
    int tail = 0;
    if (EVP_CipherFinal_ex(ctx_, out + len, &tail) != 1)
        fail("ChaCha20-Poly1305 encrypt final");
    if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, tag_size, out + plaintext.size()) != 1)
        fail("ChaCha20-Poly1305 get tag");
}

bool chacha20_poly1305::open(const nonce& n, std::span<const std::uint8_t> ciphertext, std::uint8_t* out,
                             std::span<const std::uint8_t> aad) {
    if (ciphertext.size() < tag_size)
        return false;
    const std::size_t body = ciphertext.size() - tag_size;
    if (EVP_CipherInit_ex2(ctx_, nullptr, nullptr, n.data(), 0, nullptr) != 1)
        fail("ChaCha20-Poly1305 nonce set-up");
    if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, tag_size,
                            const_cast<std::uint8_t*>(ciphertext.data() + body)) != 1)
        fail("ChaCha20-Poly1305 set tag");
    int len = 0;
    int aad_len = 0;
    if (!aad.empty() &&
        EVP_CipherUpdate(ctx_, nullptr, &aad_len, aad.data(), static_cast<int>(aad.size())) != 1)
        return false;
    if (body && EVP_CipherUpdate(ctx_, out, &len, ciphertext.data(), static_cast<int>(body)) != 1)
        return false;
    int tail = 0;
    return EVP_CipherFinal_ex(ctx_, out + len, &tail) == 1;
}

void chacha20_poly1305::seal_append(const nonce& n, std::string_view plaintext, std::string& out) {
    const std::size_t at = out.size();
    out.resize(at + plaintext.size() + tag_size);
    seal(n, as_bytes_span(plaintext), reinterpret_cast<std::uint8_t*>(out.data() + at));
}

bool chacha20_poly1305::open_append(const nonce& n, std::string_view ciphertext, std::string& out) {
    if (ciphertext.size() < tag_size)
        return false;
    const std::size_t at = out.size();
    out.resize(at + ciphertext.size() - tag_size);
    if (open(n, as_bytes_span(ciphertext), reinterpret_cast<std::uint8_t*>(out.data() + at)))
        return true;
    // Unauthenticated plaintext never stays in the caller's buffer.
    OPENSSL_cleanse(out.data() + at, out.size() - at);
    out.resize(at);
    return false;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace lifeboat::crypto
