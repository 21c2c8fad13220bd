// age_encryptor / age_decryptor: round trips at the chunk boundaries, piecewise feeding, the header's
// encoding, and every refusal (tampering, truncation, trailing data, wrong or foreign identities).
#include "crypto/age.hpp"
#include "crypto/age_header.hpp"
#include "crypto/age_stream.hpp"
#include "crypto/age_x25519.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace lifeboat;
using namespace lifeboat::crypto;
using namespace lifeboat::crypto::age_format;

namespace {

struct keys {
    age_identity id = age_identity::generate();
    std::vector<age_recipient> recipients{id.recipient()};
    std::vector<age_identity> ids{id};
};

std::string encrypt(const std::string& pt, std::span<const age_recipient> r) {
    auto c = age_encrypt(pt, r);
    EXPECT_TRUE(c) << c.error();
    return c ? *c : std::string();
}

std::string error_of(std::string_view ct, std::span<const age_identity> ids) {
    auto p = age_decrypt(ct, ids);
    return p ? std::string("(decrypted)") : p.error();
}

// A stream built by hand, for the shapes age_encryptor never writes.
std::string hand_built(const std::vector<std::pair<std::string, bool>>& chunks, const age_recipient& r) {
    file_key fk{};
    fk[0] = 9;
    std::string out = serialize({wrap_x25519(fk, r)}, fk);
    const std::string nonce(16, 'n');
    out += nonce;
    chacha20_poly1305 aead(payload_key(fk, nonce));
    std::uint64_t counter = 0;
    for (const auto& [pt, last] : chunks)
        aead.seal_append(stream_nonce(counter++, last), pt, out);
    return out;
}

std::size_t header_size(std::string_view ct) {
    return find_header_end(ct);
}

} // namespace

TEST(age_format, round_trip_at_chunk_boundaries) {
    keys k;
    for (std::size_t n : {0ul, 1ul, 65535ul, 65536ul, 65537ul, 2 * 65536ul, 2 * 65536ul + 1, 300000ul}) {
        const auto pt = test::random_bytes(n, static_cast<unsigned>(n + 1));
        auto enc = age_encryptor::create(k.recipients);
        ASSERT_TRUE(enc);
        std::string ct;
        enc->update(pt, ct);
        enc->finish(ct);
        EXPECT_EQ(ct.size(), enc->encrypted_size(n)) << n;
        const std::size_t chunks = n == 0 ? 1 : (n + 65535) / 65536;
        EXPECT_EQ(ct.size() - header_size(ct) - 16, n + 16 * chunks) << n;
        auto back = age_decrypt(ct, k.ids);
        ASSERT_TRUE(back) << n << ": " << back.error();
        EXPECT_EQ(*back, pt) << n;
    }
}

TEST(age_format, piecewise_feeding_in_both_directions) {
    keys k;
    const auto pt = test::random_bytes(4 * 65536 + 17, 5);
    // Encrypt in uneven pieces, including empty ones and pieces crossing chunk boundaries.
    auto enc = age_encryptor::create(k.recipients);
    ASSERT_TRUE(enc);
    std::string ct;
    std::size_t at = 0;
    for (std::size_t step : {0ul, 1ul, 65535ul, 65536ul, 0ul, 7ul, 100000ul}) {
        enc->update(std::string_view(pt).substr(at, step), ct);
        at += step;
    }
    enc->update(std::string_view(pt).substr(at), ct);
    enc->finish(ct);
    // Decrypt byte by byte through the header, then in prime-sized pieces.
    auto dec = age_decryptor::create(k.ids);
    ASSERT_TRUE(dec);
    std::string out;
    std::size_t pos = 0;
    for (; pos < 300; ++pos) {
        ASSERT_FALSE(dec->update(std::string_view(ct).substr(pos, 1), out));
    }
    EXPECT_TRUE(dec->header_done());
    EXPECT_EQ(dec->stanza_types(), std::vector<std::string>{"X25519"});
    while (pos < ct.size()) {
        const auto piece = std::string_view(ct).substr(pos, 4099);
        ASSERT_FALSE(dec->update(piece, out));
        pos += piece.size();
        // Never more than one sealed chunk (plus a byte) held back.
        const std::size_t whole_chunks_in = (pos - header_size(ct) - 16) / 65552;
        EXPECT_GE(out.size(), (whole_chunks_in > 0 ? whole_chunks_in - 1 : 0) * 65536) << pos;
    }
    ASSERT_FALSE(dec->finish(out));
    EXPECT_EQ(out, pt);
}

TEST(age_format, header_encoding_is_canonical) {
    keys k;
    const auto ct = encrypt("x", k.recipients);
    const auto end = find_header_end(ct);
    const auto header = std::string_view(ct).substr(0, end);
    EXPECT_TRUE(header.starts_with("age-encryption.org/v1\n-> X25519 "));
    auto parsed = parse_header(header);
    ASSERT_TRUE(parsed) << parsed.error();
    ASSERT_EQ(parsed->stanzas.size(), 1u);
    EXPECT_EQ(parsed->stanzas[0].body.size(), 32u);
    // 32-byte body: 43 base64 columns, one short line; the MAC line closes the header.
    const auto lines_start = header.find('\n', 22) + 1;
    EXPECT_EQ(header.substr(lines_start).find('\n'), 43u);
    EXPECT_TRUE(header.substr(end - 49).starts_with("\n--- ")); // "--- " + 43 columns of MAC + "\n"
    EXPECT_TRUE(looks_like_age(ct));
    EXPECT_FALSE(looks_like_age("{\"_format_version\":\"3.0\"}"));
}

TEST(age_format, stanza_bodies_wrap_at_64_columns) {
    // 48 bytes encode to exactly 64 columns: a full line, then the mandatory empty final line.
    stanza s{"test", {"a"}, std::string(48, 'z')};
    file_key fk{};
    const auto h = serialize({s}, fk);
    EXPECT_NE(h.find("\n-> test a\n" + base64_raw_encode(std::string(48, 'z')) + "\n\n---"),
              std::string::npos)
        << h;
    auto back = parse_header(h);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->stanzas[0].body, std::string(48, 'z'));
    EXPECT_EQ(back->stanzas[0].args, std::vector<std::string>{"a"});
    // Without the empty line, the MAC line would be read as body: refused.
    std::string cut = h;
    cut.erase(cut.find("\n\n---"), 1);
    EXPECT_FALSE(parse_header(cut));
}

TEST(age_format, base64_is_strict) {
    std::string out;
    EXPECT_TRUE(base64_raw_decode("Zm9vYg", out));
    EXPECT_EQ(out, "foob");
    EXPECT_FALSE(base64_raw_decode("Zm9vYg==", out)); // padding
    EXPECT_FALSE(base64_raw_decode("Zm9vYh", out));   // stray bits: non-canonical
    EXPECT_FALSE(base64_raw_decode("Zm9vY", out));    // impossible length
    EXPECT_FALSE(base64_raw_decode("Zm9v-_", out));   // URL alphabet
    for (std::size_t n = 0; n < 10; ++n) {
        const auto b = test::random_bytes(n, 3);
        ASSERT_TRUE(base64_raw_decode(base64_raw_encode(b), out));
        EXPECT_EQ(out, b);
    }
}

TEST(age_format, several_recipients_each_decrypt) {
    keys a, b, c;
    std::vector<age_recipient> r{a.id.recipient(), b.id.recipient()};
    const auto ct = encrypt("for two", r);
    EXPECT_EQ(*age_decrypt(ct, a.ids), "for two");
    EXPECT_EQ(*age_decrypt(ct, b.ids), "for two");
    EXPECT_EQ(error_of(ct, c.ids),
              "age: no identity matched any of the 2 recipient stanzas (X25519, X25519)");
    // An identity list with a stranger first still finds its key.
    std::vector<age_identity> both{c.id, b.id};
    EXPECT_EQ(*age_decrypt(ct, both), "for two");
}

TEST(age_format, every_header_byte_is_protected) {
    keys k;
    const auto ct = encrypt("payload", k.recipients);
    const auto end = header_size(ct);
    for (std::size_t i = 0; i < end; ++i) {
        auto bad = ct;
        bad[i] ^= 0x01;
        const auto e = error_of(bad, k.ids);
        EXPECT_NE(e, "(decrypted)") << "byte " << i;
        EXPECT_FALSE(e.empty());
    }
    // The MAC itself: a changed MAC with a valid base64 encoding is a MAC mismatch.
    auto bad = ct;
    const auto mac_at = ct.find("\n--- ") + 5;
    bad[mac_at] = bad[mac_at] == 'A' ? 'B' : 'A';
    EXPECT_EQ(error_of(bad, k.ids), "age header MAC mismatch (the header was altered)");
}

TEST(age_format, payload_tampering_truncation_and_trailing_data) {
    keys k;
    const auto pt = test::random_bytes(2 * 65536 + 10, 9);
    const auto ct = encrypt(pt, k.recipients);
    const auto body = header_size(ct) + 16;
    {
        auto bad = ct;
        bad[body - 3] ^= 1; // the payload nonce
        EXPECT_EQ(error_of(bad, k.ids), "age payload: chunk 0 failed authentication");
    }
    {
        auto bad = ct;
        bad[body + 65552 + 100] ^= 1; // inside chunk 1
        EXPECT_EQ(error_of(bad, k.ids), "age payload: chunk 1 failed authentication");
    }
    {
        auto bad = ct;
        bad.back() ^= 0x80; // the last chunk's tag
        EXPECT_EQ(error_of(bad, k.ids), "age payload: chunk 2 failed authentication");
    }
    // Cut at a chunk boundary: what is left ends with a chunk sealed as not-last.
    EXPECT_EQ(error_of(ct.substr(0, body + 2 * 65552), k.ids), "age payload: truncated (no final chunk)");
    EXPECT_EQ(error_of(ct.substr(0, body + 65552), k.ids), "age payload: truncated (no final chunk)");
    EXPECT_EQ(error_of(ct.substr(0, body), k.ids), "age payload: truncated (no chunks)");
    EXPECT_EQ(error_of(ct.substr(0, body - 1), k.ids), "age payload: truncated (no payload nonce)");
    EXPECT_EQ(error_of(ct.substr(0, 30), k.ids), "age header: truncated");
    EXPECT_EQ(error_of("", k.ids), "age: empty input (no header)");
    EXPECT_EQ(error_of(ct.substr(0, ct.size() - 1), k.ids), "age payload: chunk 2 failed authentication");
    // After a short last chunk, appended bytes make it a forged chunk (where it ends is unknowable).
    EXPECT_EQ(error_of(ct + "x", k.ids), "age payload: chunk 2 failed authentication");
    EXPECT_EQ(error_of(ct + ct, k.ids), "age payload: chunk 2 failed authentication");
}

TEST(age_format, truncation_at_every_offset_of_a_small_file_is_refused) {
    keys k;
    const auto ct = encrypt("short config", k.recipients);
    for (std::size_t n = 0; n < ct.size(); ++n) {
        auto dec = age_decryptor::create(k.ids);
        std::string out;
        auto e = dec->update(std::string_view(ct).substr(0, n), out);
        if (!e)
            e = dec->finish(out);
        ASSERT_TRUE(e) << "cut at " << n;
        EXPECT_TRUE(out.empty()) << "cut at " << n;
    }
}

TEST(age_format, full_final_chunk_followed_by_data) {
    keys k;
    const auto ct = encrypt(std::string(65536, 'a'), k.recipients);
    EXPECT_EQ(*age_decrypt(ct, k.ids), std::string(65536, 'a'));
    EXPECT_EQ(error_of(ct + std::string(100, 'b'), k.ids), "age payload: data after the final chunk");
    // Data arriving after finish()-worthy input in a later update() is refused too.
    auto dec = age_decryptor::create(k.ids);
    std::string out;
    ASSERT_FALSE(dec->update(ct, out));
    ASSERT_FALSE(dec->update("", out));
    ASSERT_FALSE(dec->finish(out));
    EXPECT_EQ(out.size(), 65536u);
}

TEST(age_format, shapes_the_spec_forbids) {
    keys k;
    const auto& r = k.id.recipient();
    // The hand-built stream is right when well formed...
    EXPECT_EQ(*age_decrypt(hand_built({{"abc", true}}, r), k.ids), "abc");
    EXPECT_EQ(*age_decrypt(hand_built({{std::string(65536, 'x'), false}, {"y", true}}, r), k.ids),
              std::string(65536, 'x') + "y");
    // ...an empty last chunk after a full one is not.
    EXPECT_EQ(error_of(hand_built({{std::string(65536, 'x'), false}, {"", true}}, r), k.ids),
              "age payload: empty final chunk after a full one");
    // A short chunk that is not flagged last: the stream ends without its final chunk.
    EXPECT_EQ(error_of(hand_built({{"abc", false}}, r), k.ids), "age payload: truncated (no final chunk)");
    // A last chunk flagged too early, followed by more.
    EXPECT_EQ(error_of(hand_built({{std::string(65536, 'x'), true}, {"y", true}}, r), k.ids),
              "age payload: data after the final chunk");
}

TEST(age_format, foreign_stanza_types_are_not_matched) {
    keys k;
    file_key fk{};
    stanza scrypt{"scrypt", {"J+cpXzZkp5rRXvTtxGs+Gw", "18"}, std::string(32, 's')};
    std::string ct = serialize({scrypt}, fk) + std::string(16, 'n');
    EXPECT_EQ(error_of(ct + std::string(16, 't'), k.ids),
              "age: no identity matched any of the 1 recipient stanza (scrypt)");
}

TEST(age_format, malformed_x25519_stanza_is_an_error) {
    keys k;
    file_key fk{};
    stanza s{"X25519", {"AAAA"}, std::string(32, 'x')};
    EXPECT_NE(error_of(serialize({s}, fk) + std::string(40, 'n'), k.ids).find("malformed X25519 stanza"),
              std::string::npos);
    stanza s2{"X25519", {base64_raw_encode(std::string(32, '\x09'))}, std::string(31, 'x')};
    EXPECT_NE(error_of(serialize({s2}, fk) + std::string(40, 'n'), k.ids).find("body is not 32 bytes"),
              std::string::npos);
    // An all-zero share is a low-order point.
    stanza s3{"X25519", {base64_raw_encode(std::string(32, '\0'))}, std::string(32, 'x')};
    EXPECT_NE(error_of(serialize({s3}, fk) + std::string(40, 'n'), k.ids).find("low-order"),
              std::string::npos);
}

TEST(age_format, header_errors) {
    keys k;
    EXPECT_EQ(error_of("{\"_format_version\": \"3.0\"}", k.ids),
              "age header: not an age v1 file (the first line is not \"age-encryption.org/v1\")");
    EXPECT_NE(error_of("age-encryption.org/v1\n--- AAAA\n", k.ids).find("malformed MAC line"),
              std::string::npos);
    file_key fk{};
    EXPECT_NE(error_of(serialize({}, fk), k.ids).find("no recipient stanzas"), std::string::npos);
    EXPECT_NE(error_of("age-encryption.org/v1\n->  X25519\nAAAA\n--- x\n", k.ids).find("empty argument"),
              std::string::npos);
    EXPECT_NE(error_of("age-encryption.org/v1\n+ X25519\n--- x\n", k.ids).find("malformed line"),
              std::string::npos);
    // A header that never ends is refused once past the limit, not buffered for ever.
    auto dec = age_decryptor::create(k.ids);
    std::string out;
    std::string junk = "age-encryption.org/v1\n-> x\n" + std::string(max_header_size, 'A');
    EXPECT_NE(dec->update(junk, out).value_or("").find("longer than"), std::string::npos);
}

TEST(age_format, errors_stick) {
    keys k, other;
    const auto ct = encrypt("x", k.recipients);
    auto dec = age_decryptor::create(other.ids);
    std::string out;
    const auto e = dec->update(ct, out);
    ASSERT_TRUE(e);
    EXPECT_EQ(dec->update("more", out), e);
    EXPECT_EQ(dec->finish(out), e);
    EXPECT_TRUE(out.empty());
}

TEST(age_format, no_recipients_or_identities) {
    EXPECT_FALSE(age_encryptor::create({}));
    EXPECT_FALSE(age_decryptor::create({}));
    // A low-order recipient (valid Bech32, 32 zero bytes) cannot be encrypted to.
    age_recipient zero;
    std::vector<age_recipient> r{zero};
    auto enc = age_encryptor::create(r);
    ASSERT_FALSE(enc);
    EXPECT_NE(enc.error().find("low-order"), std::string::npos);
}

TEST(age_format, any_split_of_the_input_gives_the_same_result) {
    keys k;
    std::mt19937 rng(42);
    for (int round = 0; round < 20; ++round) {
        const auto n = std::uniform_int_distribution<std::size_t>(0, 4 * 65536 + 100)(rng);
        const auto pt = test::random_bytes(n, static_cast<unsigned>(round + 100));
        auto enc = age_encryptor::create(k.recipients);
        std::string ct;
        for (std::size_t at = 0; at < n;) {
            const auto step = std::uniform_int_distribution<std::size_t>(0, 140000)(rng);
            enc->update(std::string_view(pt).substr(at, step), ct);
            at += step;
        }
        enc->finish(ct);
        ASSERT_EQ(ct.size(), enc->encrypted_size(n));
        auto dec = age_decryptor::create(k.ids);
        std::string out;
        for (std::size_t at = 0; at < ct.size();) {
            const auto step = std::uniform_int_distribution<std::size_t>(0, 140000)(rng);
            ASSERT_FALSE(dec->update(std::string_view(ct).substr(at, step), out)) << round;
            at += step;
        }
        ASSERT_FALSE(dec->finish(out)) << round;
        ASSERT_EQ(out, pt) << round << " n=" << n;
    }
}
