// The OpenSSL wrappers against the RFCs' own test vectors.
#include "base/digest.hpp"
#include "crypto/primitives.hpp"

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace lifeboat::crypto;

namespace {

std::string unhex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    return out;
}
key32 key_from_hex(std::string_view hex) {
    const auto b = unhex(hex);
    key32 k{};
    std::copy(b.begin(), b.end(), k.begin());
    return k;
}

} // namespace

TEST(x25519, rfc7748_section_5_2_vector_1) {
    const auto out = x25519(key_from_hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
                            key_from_hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"));
    ASSERT_TRUE(out);
    EXPECT_EQ(to_hex(as_string_view(*out)),
              "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
}

TEST(x25519, rfc7748_section_6_1_diffie_hellman) {
    const auto alice = key_from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const auto bob = key_from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    const auto alice_pub = x25519_public_key(alice);
    const auto bob_pub = x25519_public_key(bob);
    EXPECT_EQ(to_hex(as_string_view(alice_pub)),
              "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    EXPECT_EQ(to_hex(as_string_view(bob_pub)),
              "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const auto k1 = x25519(alice, bob_pub);
    const auto k2 = x25519(bob, alice_pub);
    ASSERT_TRUE(k1 && k2);
    EXPECT_EQ(to_hex(as_string_view(*k1)),
              "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    EXPECT_EQ(*k1, *k2);
}

TEST(x25519, low_order_point_is_refused_not_thrown) {
    // u = 0 and u = 1 are of small order: the shared secret would be all zeros.
    const auto secret = key_from_hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    EXPECT_FALSE(x25519(secret, key32{}));
    key32 one{};
    one[0] = 1;
    EXPECT_FALSE(x25519(secret, one));
}

TEST(hkdf_sha256, rfc5869_test_case_1) {
    std::array<std::uint8_t, 42> okm{};
    hkdf_sha256(std::string(22, '\x0b'), unhex("000102030405060708090a0b0c"), unhex("f0f1f2f3f4f5f6f7f8f9"),
                okm);
    EXPECT_EQ(to_hex(as_string_view(okm)),
              "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(hkdf_sha256, rfc5869_test_case_3_empty_salt_and_info) {
    // age's header key uses an empty salt: RFC 5869 defines it as HashLen zeros.
    std::array<std::uint8_t, 42> okm{};
    hkdf_sha256(std::string(22, '\x0b'), {}, {}, okm);
    EXPECT_EQ(to_hex(as_string_view(okm)),
              "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

namespace {

// RFC 8439 section 2.8.2.
struct rfc8439 {
    key32 key{};
    chacha20_poly1305::nonce nonce{};
    std::string aad = unhex("50515253c0c1c2c3c4c5c6c7");
    std::string plaintext =
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
        "future, sunscreen would be it.";
    std::string expected = unhex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
        "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
        "3ff4def08e4b7a9de576d26586cec64b6116"
        "1ae10b594f09e26a7e902ecbd0600691");
    rfc8439() {
        for (std::size_t i = 0; i < key.size(); ++i)
            key[i] = static_cast<std::uint8_t>(0x80 + i);
        const auto n = unhex("070000004041424344454647");
        std::copy(n.begin(), n.end(), nonce.begin());
    }
};

} // namespace

TEST(chacha20_poly1305, rfc8439_section_2_8_2_seal) {
    rfc8439 v;
    chacha20_poly1305 aead(v.key);
    std::string out(v.plaintext.size() + 16, '\0');
    aead.seal(v.nonce, as_bytes_span(v.plaintext), reinterpret_cast<std::uint8_t*>(out.data()),
              as_bytes_span(v.aad));
    EXPECT_EQ(to_hex(out), to_hex(v.expected));
}

TEST(chacha20_poly1305, rfc8439_section_2_8_2_open_and_tamper) {
    rfc8439 v;
    chacha20_poly1305 aead(v.key);
    std::string out(v.plaintext.size(), '\0');
    ASSERT_TRUE(aead.open(v.nonce, as_bytes_span(v.expected), reinterpret_cast<std::uint8_t*>(out.data()),
                          as_bytes_span(v.aad)));
    EXPECT_EQ(out, v.plaintext);
    auto bad = v.expected;
    bad[5] ^= 1;
    EXPECT_FALSE(aead.open(v.nonce, as_bytes_span(bad), reinterpret_cast<std::uint8_t*>(out.data()),
                           as_bytes_span(v.aad)));
    // The same context is reusable after a failure, and a wrong AAD fails.
    EXPECT_TRUE(aead.open(v.nonce, as_bytes_span(v.expected), reinterpret_cast<std::uint8_t*>(out.data()),
                          as_bytes_span(v.aad)));
    EXPECT_FALSE(aead.open(v.nonce, as_bytes_span(v.expected), reinterpret_cast<std::uint8_t*>(out.data())));
}

TEST(chacha20_poly1305, reused_context_equals_fresh_context_per_nonce) {
    key32 key{};
    key[0] = 7;
    chacha20_poly1305 reused(key);
    for (std::uint8_t i = 0; i < 4; ++i) {
        chacha20_poly1305::nonce n{};
        n[11] = i;
        std::string a, b;
        reused.seal_append(n, std::string(100 + i, 'x'), a);
        chacha20_poly1305 fresh(key);
        fresh.seal_append(n, std::string(100 + i, 'x'), b);
        EXPECT_EQ(a, b);
        std::string pt;
        ASSERT_TRUE(reused.open_append(n, a, pt));
        EXPECT_EQ(pt, std::string(100 + i, 'x'));
    }
}

TEST(chacha20_poly1305, open_append_leaves_output_untouched_on_failure) {
    key32 key{};
    chacha20_poly1305 aead(key);
    std::string sealed;
    aead.seal_append({}, "secret", sealed);
    sealed.back() ^= 1;
    std::string out = "kept";
    EXPECT_FALSE(aead.open_append({}, sealed, out));
    EXPECT_EQ(out, "kept");
    EXPECT_FALSE(aead.open_append({}, "short", out));
    EXPECT_EQ(out, "kept");
}
