// agent/backup_crypto: the exporter's encrypt_to_file and the importer's decrypting_sink.
#include "agent/backup_crypto.hpp"
#include "base/digest.hpp"
#include "harness/recording_sink.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace lifeboat;
using namespace lifeboat::crypto;

namespace {

std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct keys {
    age_identity id = age_identity::generate();
    std::vector<age_recipient> recipients{id.recipient()};
    std::vector<age_identity> ids{id};
};

// Feeds `ct` to the sink in `piece`-byte writes, as get_streamed() would.
std::optional<std::string> stream(backends::object_sink& s, std::string_view ct, std::size_t piece) {
    s.start(ct.size());
    for (std::size_t at = 0; at < ct.size(); at += piece)
        if (auto e = s.write(ct.substr(at, piece)))
            return e;
    return std::nullopt;
}

} // namespace

TEST(backup_crypto, encrypt_to_file_reports_what_was_written) {
    keys k;
    const auto config = test::random_bytes(3 * 65536 + 123, 21);
    const auto path = test::scratch_dir() / "config.json.age";
    auto r = agent::encrypt_to_file(config, k.recipients, path);
    ASSERT_TRUE(r) << r.error();
    const auto bytes = read_file(path);
    EXPECT_EQ(r->path, path);
    EXPECT_EQ(r->size, bytes.size());
    EXPECT_EQ(r->sha256_hex, sha256_hex(bytes));
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto back = age_decrypt(bytes, k.ids);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, config);
    // An empty config is a valid age file too.
    auto empty = agent::encrypt_to_file("", k.recipients, path);
    ASSERT_TRUE(empty);
    EXPECT_EQ(*age_decrypt(read_file(path), k.ids), "");
    // A folder that does not exist: a clear error, no file.
    auto bad = agent::encrypt_to_file("x", k.recipients, test::scratch_dir() / "missing" / "f.age");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("cannot create"), std::string::npos);
}

TEST(backup_crypto, decrypting_sink_hands_on_plaintext_only) {
    keys k;
    const auto config = test::random_bytes(2 * 65536 + 5, 22);
    const auto ct = *age_encrypt(config, k.recipients);
    for (std::size_t piece : {1ul, 1000ul, 65552ul, ct.size()}) {
        test::recording_sink downstream;
        agent::decrypting_sink d(k.ids, downstream.sink());
        auto s = d.sink();
        ASSERT_FALSE(stream(s, ct, piece)) << piece;
        ASSERT_FALSE(d.finish()) << piece;
        EXPECT_EQ(downstream.bytes, config) << piece;
        ASSERT_EQ(downstream.starts.size(), 1u);
        EXPECT_EQ(downstream.starts[0], std::nullopt); // the plaintext's size is not announced
        EXPECT_EQ(d.stanza_types(), std::vector<std::string>{"X25519"});
    }
}

TEST(backup_crypto, decrypting_sink_restarts_with_the_store) {
    keys k;
    const auto config = test::random_bytes(100000, 23);
    const auto ct = *age_encrypt(config, k.recipients);
    test::recording_sink downstream;
    agent::decrypting_sink d(k.ids, downstream.sink());
    auto s = d.sink();
    // A first attempt breaks off half-way; the store starts over (a retried request).
    s.start(ct.size());
    ASSERT_FALSE(s.write(std::string_view(ct).substr(0, 70000)));
    ASSERT_FALSE(stream(s, ct, 4096));
    ASSERT_FALSE(d.finish());
    EXPECT_EQ(downstream.starts.size(), 2u);
    EXPECT_EQ(downstream.bytes, config);
}

TEST(backup_crypto, decrypting_sink_refusals) {
    keys k, stranger;
    const auto config = test::random_bytes(3 * 65536, 24);
    const auto ct = *age_encrypt(config, k.recipients);
    {
        test::recording_sink downstream;
        agent::decrypting_sink d(stranger.ids, downstream.sink());
        auto s = d.sink();
        auto e = stream(s, ct, 65536);
        ASSERT_TRUE(e);
        EXPECT_EQ(*e, "age: no identity matched any of the 1 recipient stanza (X25519)");
        EXPECT_TRUE(downstream.bytes.empty());
    }
    {
        auto bad = ct;
        bad[bad.size() - 70000] ^= 1; // inside chunk 1 of 3
        test::recording_sink downstream;
        agent::decrypting_sink d(k.ids, downstream.sink());
        auto s = d.sink();
        auto e = stream(s, bad, 65536);
        ASSERT_TRUE(e);
        EXPECT_EQ(*e, "age payload: chunk 1 failed authentication");
        EXPECT_LE(downstream.bytes.size(), 65536u); // chunk 0 at most: authenticated bytes only
        EXPECT_EQ(downstream.bytes, config.substr(0, downstream.bytes.size()));
    }
    {
        test::recording_sink downstream;
        agent::decrypting_sink d(k.ids, downstream.sink());
        auto s = d.sink();
        ASSERT_FALSE(stream(s, std::string_view(ct).substr(0, ct.size() - 65552), 65536));
        EXPECT_EQ(d.finish(), std::optional<std::string>("age payload: truncated (no final chunk)"));
    }
    {
        // The downstream's own refusal (an invalid config) stops the read too.
        test::recording_sink downstream;
        downstream.refuse_after = 1;
        agent::decrypting_sink d(k.ids, downstream.sink());
        auto s = d.sink();
        EXPECT_EQ(stream(s, ct, 200000), std::optional<std::string>("not a config"));
    }
    {
        test::recording_sink downstream;
        agent::decrypting_sink d(k.ids, downstream.sink());
        EXPECT_TRUE(d.finish()); // nothing received
        EXPECT_TRUE(d.stanza_types().empty());
    }
}
