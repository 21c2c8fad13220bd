// Known answers from an independent implementation: files written by the `age` command (Go, age
// 1.1.1) and committed under data/ (see data/README.md); lifeboat must decrypt them exactly.
#include "base/digest.hpp"
#include "crypto/age.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace lifeboat;
using namespace lifeboat::crypto;

namespace {

std::string data_file(const std::string& name) {
    std::ifstream in(test::source_dir() / "test/crypto/data" / name, std::ios::binary);
    EXPECT_TRUE(in) << name;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<age_identity> identity(const std::string& name) {
    auto ids = age_identity::parse_identity_file(data_file(name));
    EXPECT_TRUE(ids) << ids.error();
    return ids ? *ids : std::vector<age_identity>{};
}

} // namespace

TEST(age_fixtures, identity_file_and_its_recipient) {
    // The public key age-keygen printed for this identity.
    const auto ids = identity("test-identity.txt");
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(ids[0].recipient().to_string(),
              "age1vyr63m4tzewl7f062yaprsaw4tppudy66ev7h4n3aghkyrxd4phsw3e257");
    EXPECT_EQ(ids[0].to_string(),
              "AGE-SECRET-KEY-1QSXKS50DKW0S034RH8DJRPUGMTCWAYEAKVMVK2PEKSVJNN0G8PTQSG2YH6");
    EXPECT_EQ(identity("other-identity.txt")[0].recipient().to_string(),
              "age1uhvra9wwpk23t3ynmmu8p2fuwwd3n4ln9tlzr0c3ax6nkpv28eyqjwzekn");
}

TEST(age_fixtures, empty_file) {
    auto pt = age_decrypt(data_file("empty.age"), identity("test-identity.txt"));
    ASSERT_TRUE(pt) << pt.error();
    EXPECT_EQ(*pt, "");
}

TEST(age_fixtures, second_of_two_stanzas) {
    auto pt = age_decrypt(data_file("hello-two-recipients.age"), identity("test-identity.txt"));
    ASSERT_TRUE(pt) << pt.error();
    EXPECT_EQ(*pt, "hello, lifeboat\n");
    auto pt2 = age_decrypt(data_file("hello-two-recipients.age"), identity("other-identity.txt"));
    ASSERT_TRUE(pt2) << pt2.error();
    EXPECT_EQ(*pt2, "hello, lifeboat\n");
}

TEST(age_fixtures, full_chunk_and_one_byte) {
    auto pt = age_decrypt(data_file("pattern-65537.age"), identity("test-identity.txt"));
    ASSERT_TRUE(pt) << pt.error();
    ASSERT_EQ(pt->size(), 65537u);
    for (std::size_t i = 0; i < pt->size(); ++i)
        ASSERT_EQ(static_cast<unsigned char>((*pt)[i]), i % 251) << i;
    EXPECT_EQ(sha256_hex(*pt), "237356e18b503616912abb8ffaed3a72591e397d4ac294c4637917d48a3f529d");
}

TEST(age_fixtures, for_another_recipient) {
    auto pt = age_decrypt(data_file("hello-other-recipient.age"), identity("test-identity.txt"));
    ASSERT_FALSE(pt);
    EXPECT_EQ(pt.error(), "age: no identity matched any of the 1 recipient stanza (X25519)");
}

TEST(age_fixtures, passphrase_file_is_refused) {
    auto dec = age_decryptor::create(identity("test-identity.txt"));
    std::string out;
    auto e = dec->update(data_file("hello-scrypt.age"), out);
    ASSERT_TRUE(e);
    EXPECT_EQ(*e, "age: no identity matched any of the 1 recipient stanza (scrypt)");
    EXPECT_EQ(dec->stanza_types(), std::vector<std::string>{"scrypt"});
    EXPECT_TRUE(out.empty());
}
