// Interop with the reference implementation, the `age` command (Go): it decrypts what lifeboat
// writes, lifeboat decrypts what it writes, and each refuses the other's tampered files. A missing
// `age` binary fails these tests (it is a test dependency: cmake/deps.sh test).
#include "base/digest.hpp"
#include "crypto/age.hpp"
#include "harness/process.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace lifeboat;
using namespace lifeboat::crypto;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& p, std::string_view bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << p;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

test::run_result age(std::vector<std::string> args) {
    args.insert(args.begin(), "age");
    return test::run({.args = std::move(args), .name = "age"}, std::chrono::seconds(60));
}

struct identity_on_disk {
    age_identity id = age_identity::generate();
    fs::path path;
    explicit identity_on_disk(const std::string& name) : path(test::scratch_dir() / name) {
        write_file(path, id.to_identity_file("2026-12-05T00:00:00Z"));
    }
};

// Encrypts with lifeboat in uneven pieces (as an upload streams), to a file.
fs::path lifeboat_encrypt(const std::string& pt, std::span<const age_recipient> r, const std::string& name) {
    auto enc = age_encryptor::create(r);
    EXPECT_TRUE(enc) << enc.error();
    std::string ct;
    for (std::size_t at = 0; at < pt.size(); at += 40000)
        enc->update(std::string_view(pt).substr(at, 40000), ct);
    enc->finish(ct);
    const auto p = test::scratch_dir() / name;
    write_file(p, ct);
    return p;
}

} // namespace

TEST(age_interop, age_binary_is_installed) {
    const auto r = age({"--version"});
    ASSERT_EQ(r.exit_code, 0) << "the `age` command is a test dependency (apt-get install age): " << r.err;
}

TEST(age_interop, age_decrypts_what_lifeboat_writes) {
    identity_on_disk me("me.txt");
    const std::vector<age_recipient> r{me.id.recipient()};
    for (std::size_t n : {0ul, 1ul, 65536ul, 65537ul, 3ul * 1024 * 1024 + 5}) {
        const auto pt = test::random_bytes(n, static_cast<unsigned>(n + 3));
        const auto ct = lifeboat_encrypt(pt, r, "lb-" + std::to_string(n) + ".age");
        const auto out = test::scratch_dir() / ("lb-" + std::to_string(n) + ".out");
        const auto res = age({"-d", "-i", me.path.string(), "-o", out.string(), ct.string()});
        ASSERT_EQ(res.exit_code, 0) << n << ": " << res.err;
        EXPECT_EQ(sha256_hex(read_file(out)), sha256_hex(pt)) << n;
    }
}

TEST(age_interop, age_decrypts_for_each_of_several_recipients) {
    identity_on_disk a("a.txt"), b("b.txt"), c("c.txt"), stranger("stranger.txt");
    const std::vector<age_recipient> r{a.id.recipient(), b.id.recipient(), c.id.recipient()};
    const auto pt = test::random_bytes(100000, 11);
    const auto ct = lifeboat_encrypt(pt, r, "three.age");
    for (auto* who : {&a, &b, &c}) {
        const auto out = test::scratch_dir() / "three.out";
        const auto res = age({"-d", "-i", who->path.string(), "-o", out.string(), ct.string()});
        ASSERT_EQ(res.exit_code, 0) << res.err;
        EXPECT_EQ(read_file(out), pt);
    }
    const auto res =
        age({"-d", "-i", stranger.path.string(), "-o", (test::scratch_dir() / "x").string(), ct.string()});
    EXPECT_NE(res.exit_code, 0);
    EXPECT_NE(res.err.find("no identity matched"), std::string::npos) << res.err;
}

TEST(age_interop, lifeboat_decrypts_what_age_writes) {
    identity_on_disk me("me.txt"), other("other.txt");
    const std::vector<age_identity> ids{me.id};
    for (std::size_t n : {0ul, 1ul, 65536ul, 65537ul, 3ul * 1024 * 1024 + 5}) {
        const auto pt = test::random_bytes(n, static_cast<unsigned>(n + 7));
        const auto in = test::scratch_dir() / "plain";
        write_file(in, pt);
        const auto ct = test::scratch_dir() / "age.age";
        // -r for one recipient on the command line; -R for a recipients file holding two.
        const auto recipients_file = test::scratch_dir() / "recipients.txt";
        write_file(recipients_file, "# fleet\n" + other.id.recipient().to_string() + "\n" +
                                        me.id.recipient().to_string() + "\n");
        for (bool use_file : {false, true}) {
            auto res = use_file ? age({"-R", recipients_file.string(), "-o", ct.string(), in.string()})
                                : age({"-r", me.id.recipient().to_string(), "-o", ct.string(), in.string()});
            ASSERT_EQ(res.exit_code, 0) << res.err;
            const auto bytes = read_file(ct);
            // Streamed in pieces that do not line up with chunks.
            auto dec = age_decryptor::create(ids);
            std::string out;
            for (std::size_t at = 0; at < bytes.size(); at += 30011)
                ASSERT_FALSE(dec->update(std::string_view(bytes).substr(at, 30011), out)) << n;
            ASSERT_FALSE(dec->finish(out)) << n;
            EXPECT_EQ(sha256_hex(out), sha256_hex(pt)) << n << (use_file ? " -R" : " -r");
            EXPECT_EQ(dec->stanza_types().size(), use_file ? 2u : 1u);
        }
    }
}

TEST(age_interop, both_refuse_tampered_truncated_and_extended_files) {
    identity_on_disk me("me.txt"), stranger("stranger.txt");
    const std::vector<age_identity> ids{me.id};
    const std::vector<age_recipient> r{me.id.recipient()};
    const auto pt = test::random_bytes(200000, 13);
    const auto good = read_file(lifeboat_encrypt(pt, r, "good.age"));
    const auto header_end = good.find("\n--- ");
    ASSERT_NE(header_end, std::string::npos);

    struct variant {
        std::string name;
        std::string bytes;
        std::string lifeboat_error;
    };
    std::vector<variant> variants;
    auto flip = [&](std::size_t at) {
        auto b = good;
        b[at] ^= 0x04;
        return b;
    };
    variants.push_back({"header byte", flip(30), ""});
    variants.push_back({"payload byte", flip(good.size() / 2), "failed authentication"});
    variants.push_back({"truncated at a chunk boundary",
                        good.substr(0, good.size() - (200000 - 3 * 65536) - 16),
                        "truncated (no final chunk)"});
    variants.push_back({"truncated mid-chunk", good.substr(0, good.size() - 7), "failed authentication"});
    variants.push_back({"appended data", good + "trailing", "failed authentication"});
    const auto full = read_file(lifeboat_encrypt(pt.substr(0, 3 * 65536), r, "full.age"));
    variants.push_back(
        {"appended data after a full last chunk", full + "trailing", "data after the final chunk"});
    for (const auto& v : variants) {
        const auto p = test::scratch_dir() / "bad.age";
        write_file(p, v.bytes);
        const auto res =
            age({"-d", "-i", me.path.string(), "-o", (test::scratch_dir() / "bad.out").string(), p.string()});
        EXPECT_NE(res.exit_code, 0) << "age accepted: " << v.name;
        auto mine = age_decrypt(v.bytes, ids);
        ASSERT_FALSE(mine) << "lifeboat accepted: " << v.name;
        EXPECT_NE(mine.error().find(v.lifeboat_error), std::string::npos) << v.name << ": " << mine.error();
    }
    // Encrypted by age to someone else: both refuse the wrong identity.
    const auto in = test::scratch_dir() / "plain";
    write_file(in, pt);
    const auto theirs = test::scratch_dir() / "theirs.age";
    ASSERT_EQ(age({"-r", stranger.id.recipient().to_string(), "-o", theirs.string(), in.string()}).exit_code,
              0);
    auto mine = age_decrypt(read_file(theirs), ids);
    ASSERT_FALSE(mine);
    EXPECT_EQ(mine.error(), "age: no identity matched any of the 1 recipient stanza (X25519)");
}

TEST(age_interop, identity_file_from_age_keygen) {
    const auto path = test::scratch_dir() / "keygen.txt";
    const auto res = test::run({.args = {"age-keygen", "-o", path.string()}, .name = "age-keygen"});
    ASSERT_EQ(res.exit_code, 0) << res.err;
    auto ids = age_identity::parse_identity_file(read_file(path));
    ASSERT_TRUE(ids) << ids.error();
    ASSERT_EQ(ids->size(), 1u);
    // age-keygen prints "Public key: age1..." on stderr.
    EXPECT_NE(res.err.find((*ids)[0].recipient().to_string()), std::string::npos) << res.err;
    // And age-keygen -y agrees on the public key of an identity lifeboat generated.
    identity_on_disk mine("mine.txt");
    const auto y = test::run({.args = {"age-keygen", "-y", mine.path.string()}, .name = "age-keygen-y"});
    ASSERT_EQ(y.exit_code, 0) << y.err;
    EXPECT_EQ(y.out, mine.id.recipient().to_string() + "\n");
}
