// The C2SP CCTV age test vectors (test/crypto/cctv, see SOURCE.md there), every one of them,
// through lifeboat's streaming decryptor: the outcome must be the vector's `expect` (success, no
// match, HMAC failure, header failure, payload failure) and the plaintext released before the
// end (also before a failure) must hash to the vector's `payload`.
//
// Formats lifeboat does not implement, by design (a backup is a binary age file to X25519
// recipients): ASCII armor (armor_*, and any vector marked `armored: yes`), scrypt passphrase
// stanzas (scrypt_*: a passphrase and no X25519 identity) and hybrid ML-KEM recipients (hybrid_*:
// a hybrid identity, which lifeboat cannot parse). Those vectors are not skipped: each must fail
// cleanly, releasing no plaintext, whatever it expects of a full implementation. A vector that
// also carries an X25519 identity is held to its exact expectation.
#include "base/digest.hpp"
#include "base/gzip.hpp"
#include "crypto/age.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace lifeboat;
using namespace lifeboat::crypto;

namespace {

const std::filesystem::path vectors_dir() {
    return test::source_dir() / "test/crypto/cctv/testdata";
}

struct vector_file {
    std::string name;
    std::multimap<std::string, std::string> fields;
    std::string age_file;

    std::string field(const std::string& key) const {
        auto it = fields.find(key);
        return it == fields.end() ? std::string() : it->second;
    }
};

vector_file load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto text = ss.str();
    vector_file v;
    v.name = path.filename().string();
    std::size_t at = 0;
    for (;;) {
        const auto nl = text.find('\n', at);
        if (nl == std::string::npos)
            throw std::runtime_error(v.name + ": no blank line after the header");
        const auto line = text.substr(at, nl - at);
        at = nl + 1;
        if (line.empty())
            break;
        const auto colon = line.find(": ");
        if (colon != std::string::npos)
            v.fields.emplace(line.substr(0, colon), line.substr(colon + 2));
    }
    v.age_file = text.substr(at);
    if (v.field("compressed") == "zlib") {
        std::string out;
        if (inflate_all(v.age_file, std::size_t(64) << 20, out) != inflate_status::done)
            throw std::runtime_error(v.name + ": cannot inflate");
        v.age_file = std::move(out);
    }
    return v;
}

std::vector<std::filesystem::path> all_vectors() {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(vectors_dir()))
        out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

struct outcome {
    std::string expect; // in the vectors' words
    std::string error;
    std::string released; // every byte of plaintext the decryptor released
};

// Feeds the file in `piece`-byte writes (0: all at once), as an object arrives from a store.
outcome decrypt(const std::string& file, const std::vector<age_identity>& ids, std::size_t piece) {
    outcome o;
    auto dec = age_decryptor::create(ids);
    if (!dec)
        throw std::runtime_error(dec.error());
    std::optional<std::string> e;
    std::string_view rest(file);
    while (!e && !rest.empty()) {
        const auto n = piece == 0 ? rest.size() : std::min(piece, rest.size());
        e = dec->update(rest.substr(0, n), o.released);
        rest.remove_prefix(n);
    }
    if (!e)
        e = dec->finish(o.released);
    if (!e) {
        o.expect = "success";
        return o;
    }
    o.error = *e;
    if (dec->no_identity_matched())
        o.expect = "no match";
    else if (e->starts_with("age header MAC mismatch"))
        o.expect = "HMAC failure";
    else if (*e == "age payload: truncated (no payload nonce)")
        o.expect = "header failure"; // an alias: the vectors count the nonce with the header
    else if (e->starts_with("age payload"))
        o.expect = "payload failure";
    else
        o.expect = "header failure";
    return o;
}

std::vector<age_identity> x25519_identities(const vector_file& v) {
    std::vector<age_identity> out;
    for (auto [it, end] = v.fields.equal_range("identity"); it != end; ++it)
        if (auto id = age_identity::parse(it->second))
            out.push_back(*id);
    return out;
}

bool unsupported_format(const vector_file& v, const std::vector<age_identity>& ids) {
    return v.name.starts_with("armor_") || v.field("armored") == "yes" || ids.empty();
}

class cctv_age : public ::testing::TestWithParam<std::filesystem::path> {};

} // namespace

TEST(cctv_age_set, all_143_vectors_are_present) {
    // A vector lost in a copy would silently shrink the coverage.
    EXPECT_EQ(all_vectors().size(), 143u);
}

TEST_P(cctv_age, outcome_and_released_plaintext_are_as_the_vector_says) {
    const auto v = load(GetParam());
    const auto expect = v.field("expect");
    ASSERT_FALSE(expect.empty()) << v.name;
    auto ids = x25519_identities(v);
    const bool unsupported = unsupported_format(v, ids);
    if (ids.empty())
        ids.push_back(age_identity::generate()); // the decryptor needs one; it matches nothing
    for (std::size_t piece : {std::size_t(0), std::size_t(1), std::size_t(4096), std::size_t(65536 + 17)}) {
        if (piece == 1 && v.age_file.size() > (256u << 10))
            continue; // byte by byte is for the small files; the large ones take the other sizes
        const auto got = decrypt(v.age_file, ids, piece);
        if (unsupported) {
            EXPECT_NE(got.expect, "success") << v.name << " (a format lifeboat does not read)";
            EXPECT_EQ(got.released, "") << v.name;
            continue;
        }
        EXPECT_EQ(got.expect, expect) << v.name << " in pieces of " << piece << ": " << got.error;
        if (expect == "success" || expect == "payload failure") {
            EXPECT_EQ(sha256_hex(got.released), v.field("payload")) << v.name << " in pieces of " << piece;
        } else {
            EXPECT_EQ(got.released, "") << v.name;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(vectors, cctv_age, ::testing::ValuesIn(all_vectors()), [](const auto& vector_info) {
    auto name = vector_info.param.filename().string();
    std::replace_if(
        name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
    return name;
});
