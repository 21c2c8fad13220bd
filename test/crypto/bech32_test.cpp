// Bech32 against BIP-173's test vectors, and age's key encodings.
#include "crypto/age.hpp"
#include "crypto/bech32.hpp"

#include <gtest/gtest.h>

using namespace lifeboat::crypto;

TEST(bech32, bip173_valid_checksums) {
    const std::vector<std::string> valid{
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "11" + std::string(82, 'q') + "c8247j",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
    };
    for (const auto& s : valid) {
        auto d = bech32::decode_words(s, 90);
        ASSERT_TRUE(d) << s << ": " << d.error();
        // Re-encoding gives the same string (in lower case).
        std::string lower = s;
        for (auto& c : lower)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        EXPECT_EQ(bech32::encode_words(d->hrp, d->data), lower);
    }
}

TEST(bech32, bip173_invalid_checksums) {
    const std::vector<std::pair<std::string, std::string>> invalid{
        {std::string("\x20") + "1nwldj5", "out of range"},
        {std::string("\x7f") + "1axkwrx", "out of range"},
        {std::string("\x80") + "1eym55h", "out of range"},
        {"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
         "too long"},
        {"pzry9x0s0muk", "no separator"},
        {"1pzry9x0s0muk", "empty human-readable part"},
        {"x1b4n0q5v", "invalid data character"},
        {"li1dgmt3", "too short"},
        {std::string("de1lg7wt") + "\xff", "out of range"},
        {"A1G7SGD8", "checksum"},
        {"10a06t8", "empty human-readable part"},
        {"1qzzfhee", "empty human-readable part"},
    };
    for (const auto& [s, why] : invalid) {
        auto d = bech32::decode_words(s, 90);
        ASSERT_FALSE(d) << s;
        EXPECT_NE(d.error().find(why), std::string::npos) << s << ": " << d.error();
    }
}

TEST(bech32, mixed_case_is_refused) {
    auto d = bech32::decode_words("A12uEL5L");
    ASSERT_FALSE(d);
    EXPECT_NE(d.error().find("mixes upper and lower case"), std::string::npos);
}

TEST(bech32, convertbits_refuses_bad_padding) {
    // 2 words = 10 bits: one byte plus 2 padding bits, which must be zero.
    const std::vector<std::uint8_t> ok{0b11111, 0b11100};
    const std::vector<std::uint8_t> bad{0b11111, 0b11101};
    ASSERT_TRUE(bech32::words_to_bytes(ok));
    EXPECT_EQ(bech32::words_to_bytes(ok)->at(0), 0xff);
    EXPECT_FALSE(bech32::words_to_bytes(bad));
    // 5 padding bits: a whole extra word is never valid.
    const std::vector<std::uint8_t> extra{0b11111, 0b11100, 0};
    EXPECT_FALSE(bech32::words_to_bytes(extra));
}

TEST(age_keys, generated_identity_round_trips) {
    const auto id = age_identity::generate();
    const auto text = id.to_string();
    EXPECT_TRUE(text.starts_with("AGE-SECRET-KEY-1"));
    EXPECT_EQ(text.size(), 74u);
    auto parsed = age_identity::parse(text);
    ASSERT_TRUE(parsed) << parsed.error();
    EXPECT_EQ(parsed->secret_key(), id.secret_key());
    const auto r = id.recipient().to_string();
    EXPECT_TRUE(r.starts_with("age1"));
    EXPECT_EQ(r.size(), 62u);
    auto pr = age_recipient::parse(r);
    ASSERT_TRUE(pr) << pr.error();
    EXPECT_EQ(*pr, id.recipient());
}

TEST(age_keys, recipient_errors_name_the_problem) {
    EXPECT_NE(age_recipient::parse("ssh-ed25519 AAAA").error().find("not an age1 recipient"),
              std::string::npos);
    auto r = age_identity::generate().recipient().to_string();
    r[10] = r[10] == 'q' ? 'p' : 'q';
    EXPECT_NE(age_recipient::parse(r).error().find("checksum"), std::string::npos);
    // A valid Bech32 string with the wrong payload length.
    const std::vector<std::uint8_t> short_key(31, 1);
    EXPECT_NE(age_recipient::parse(bech32::encode("age", short_key)).error().find("31 bytes"),
              std::string::npos);
    // Upper case is valid Bech32 but not a recipient as age writes it.
    auto upper = age_identity::generate().recipient().to_string();
    for (auto& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_FALSE(age_recipient::parse(upper));
}

TEST(age_keys, recipient_list) {
    const auto a = age_identity::generate().recipient();
    const auto b = age_identity::generate().recipient();
    auto list = age_recipient::parse_list(" " + a.to_string() + " ,\t" + b.to_string());
    ASSERT_TRUE(list) << list.error();
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0], a);
    EXPECT_EQ((*list)[1], b);
    EXPECT_NE(age_recipient::parse_list(a.to_string() + ",,").error().find("recipient 2 is empty"),
              std::string::npos);
    EXPECT_NE(age_recipient::parse_list("").error().find("recipient 1 is empty"), std::string::npos);
    EXPECT_NE(age_recipient::parse_list(a.to_string() + ",age1zzz").error().find("recipient 2:"),
              std::string::npos);
}

TEST(age_keys, identity_file_with_comments_blank_lines_and_crlf) {
    const auto a = age_identity::generate();
    const auto b = age_identity::generate();
    const std::string file = "# created: 2026-12-05T00:00:00Z\r\n# public key: " + a.recipient().to_string() +
                             "\r\n" + a.to_string() + "\r\n\n   \n# second\n" + b.to_string();
    auto ids = age_identity::parse_identity_file(file);
    ASSERT_TRUE(ids) << ids.error();
    ASSERT_EQ(ids->size(), 2u);
    EXPECT_EQ((*ids)[0].recipient(), a.recipient());
    EXPECT_EQ((*ids)[1].recipient(), b.recipient());
}

TEST(age_keys, identity_file_errors_never_echo_the_key) {
    auto key = age_identity::generate().to_string();
    key[20] = key[20] == 'Q' ? 'P' : 'Q';
    auto ids = age_identity::parse_identity_file("# comment\n" + key + "\n");
    ASSERT_FALSE(ids);
    EXPECT_NE(ids.error().find("line 2"), std::string::npos) << ids.error();
    EXPECT_EQ(ids.error().find(key.substr(16, 20)), std::string::npos);
    EXPECT_NE(age_identity::parse_identity_file("# only a comment\n").error().find("no AGE-SECRET-KEY-1"),
              std::string::npos);
    EXPECT_FALSE(age_identity::parse_identity_file("age1notasecret\n"));
}

TEST(age_keys, identity_file_as_age_keygen_writes_it) {
    const auto id = age_identity::generate();
    const auto file = id.to_identity_file("2026-12-05T21:00:00Z");
    EXPECT_EQ(file, "# created: 2026-12-05T21:00:00Z\n# public key: " + id.recipient().to_string() + "\n" +
                        id.to_string() + "\n");
    auto back = age_identity::parse_identity_file(file);
    ASSERT_TRUE(back);
    EXPECT_EQ((*back)[0].secret_key(), id.secret_key());
}
