#include "base/digest.hpp"

#include <gtest/gtest.h>

using namespace lifeboat;

TEST(digest, known_answers) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
    // RFC 4231 test case 2
    EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(digest, streaming_equals_one_shot) {
    digest d(digest_kind::sha256);
    d.update("hello ");
    d.update("world");
    EXPECT_EQ(d.finish_hex(), sha256_hex("hello world"));
}

TEST(digest, base64_round_trip_and_url_alphabet) {
    EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
    std::string out;
    ASSERT_TRUE(base64_decode("Zm9vYmFy", out));
    EXPECT_EQ(out, "foobar");
    ASSERT_TRUE(base64_decode("-_8", out));
    EXPECT_EQ(out, "\xfb\xff");
    EXPECT_FALSE(base64_decode("bad*", out));
}

TEST(digest, hex_check) {
    EXPECT_TRUE(is_lower_hex("0123456789abcdef0123456789abcdef", 32));
    EXPECT_FALSE(is_lower_hex("0123456789ABCDEF0123456789abcdef", 32));
    EXPECT_FALSE(is_lower_hex("abc", 32));
}
