#include "crypto/age_x25519.hpp"

#include "crypto/primitives.hpp"

#include <openssl/crypto.h>

#include <stdexcept>

namespace lifeboat::crypto::age_format {
namespace {

constexpr std::string_view x25519_label = "age-encryption.org/v1/X25519";
constexpr chacha20_poly1305::nonce zero_nonce{};

key32 wrap_key(const key32& shared, const key32& share, const key32& recipient) {
    std::string salt;
    salt.reserve(64);
    salt += as_string_view(share);
    salt += as_string_view(recipient);
    key32 k{};
    hkdf_sha256(as_string_view(shared), salt, x25519_label, k);
    return k;
}

} // namespace

stanza wrap_x25519(const file_key& key, const age_recipient& recipient) {
    key32 ephemeral{};
    random_bytes(ephemeral);
    auto s = wrap_x25519(key, recipient, ephemeral);
    OPENSSL_cleanse(ephemeral.data(), ephemeral.size());
    return s;
}

stanza wrap_x25519(const file_key& key, const age_recipient& recipient, const key32& ephemeral_secret) {
    const key32 share = x25519_public_key(ephemeral_secret);
    auto shared = x25519(ephemeral_secret, recipient.public_key);
    if (!shared) // a low-order recipient key: age_recipient::parse accepts any 32 bytes
        throw std::invalid_argument("age: recipient is a low-order X25519 point");
    auto k = wrap_key(*shared, share, recipient.public_key);
    OPENSSL_cleanse(shared->data(), shared->size());
    stanza s;
    s.type = std::string(x25519_stanza_type);
    s.args.push_back(base64_raw_encode(as_string_view(share)));
    chacha20_poly1305 aead(k);
    OPENSSL_cleanse(k.data(), k.size());
    aead.seal_append(zero_nonce, as_string_view(key), s.body);
    return s;
}

result<std::optional<file_key>, std::string> unwrap_x25519(const stanza& s, const age_identity& identity) {
    if (s.type != x25519_stanza_type)
        return std::optional<file_key>{};
    std::string share_bytes;
    if (s.args.size() != 1 || !base64_raw_decode(s.args[0], share_bytes) || share_bytes.size() != 32)
        return failure(std::string("age header: malformed X25519 stanza (want one 32-byte share)"));
    if (s.body.size() != file_key_size + chacha20_poly1305::tag_size)
        return failure(std::string("age header: malformed X25519 stanza (body is not 32 bytes)"));
    key32 share{};
    std::copy(share_bytes.begin(), share_bytes.end(), share.begin());
    auto shared = x25519(identity.secret_key(), share);
    if (!shared)
        return failure(std::string("age header: X25519 stanza with a low-order share"));
    auto k = wrap_key(*shared, share, identity.recipient().public_key);
    OPENSSL_cleanse(shared->data(), shared->size());
    chacha20_poly1305 aead(k);
    OPENSSL_cleanse(k.data(), k.size());
    file_key fk{};
    if (!aead.open(zero_nonce, as_bytes_span(s.body), fk.data()))
        return std::optional<file_key>{}; // sealed for someone else
    return std::optional<file_key>{fk};
}

} // namespace lifeboat::crypto::age_format
