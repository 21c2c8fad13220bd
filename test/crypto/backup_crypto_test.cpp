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

// backup_decryption: the importer's step between the verifier and the pipeline.
namespace {

struct decryption_run {
    std::optional<agent::refusal> refused;
    std::optional<std::string> stream_error;
    std::optional<std::string> downstream_error;
    std::string delivered;
    bool encrypted = false;
};

decryption_run decrypt_backup(std::span<const age_identity> ids, std::string_view object, std::size_t piece,
                              std::optional<std::size_t> refuse_after = std::nullopt) {
    test::recording_sink rec;
    rec.refuse_after = refuse_after;
    agent::backup_decryption d(ids);
    auto s = d.wrap(rec.sink());
    decryption_run out;
    out.stream_error = stream(s, object, piece);
    out.refused = d.failure();
    if (!out.stream_error)
        out.refused = d.finish(out.downstream_error);
    out.delivered = rec.bytes;
    out.encrypted = d.encrypted();
    return out;
}

} // namespace

TEST(backup_decryption, decrypts_an_age_backup_in_any_pieces_and_passes_a_plain_one_through) {
    keys k;
    const auto config = test::random_bytes(2 * 65536 + 7, 5);
    const auto sealed = *age_encrypt(config, k.recipients);
    for (std::size_t piece : {1u, 21u, 22u, 23u, 4096u, 65536u + 16u, 1u << 20}) {
        if (piece == 1 && sealed.size() > 50000)
            continue;
        auto r = decrypt_backup(k.ids, sealed, piece);
        EXPECT_FALSE(r.refused) << piece << ": " << r.refused->detail;
        EXPECT_TRUE(r.encrypted);
        EXPECT_EQ(r.delivered, config) << piece;
        // A plain object passes as it is, with or without identities.
        auto plain = decrypt_backup(k.ids, R"({"_format_version":"3.0"})", piece);
        EXPECT_FALSE(plain.refused);
        EXPECT_FALSE(plain.encrypted);
        EXPECT_EQ(plain.delivered, R"({"_format_version":"3.0"})");
        auto none = decrypt_backup({}, "{}", piece);
        EXPECT_EQ(none.delivered, "{}");
    }
    // Shorter than the age magic, and a prefix of it: plain.
    EXPECT_EQ(decrypt_backup(k.ids, "age-enc", 3).delivered, "age-enc");
}

TEST(backup_decryption, each_failure_has_its_reason_and_releases_nothing_unauthenticated) {
    keys k, other;
    const auto config = test::random_bytes(65536 + 100, 9);
    const auto sealed = *age_encrypt(config, k.recipients);

    auto no_id = decrypt_backup({}, sealed, 1000);
    ASSERT_TRUE(no_id.refused);
    EXPECT_EQ(no_id.refused->reason, agent::refusal_reason::no_identity);
    EXPECT_EQ(no_id.delivered, "");

    auto stranger = decrypt_backup(other.ids, sealed, 1000);
    ASSERT_TRUE(stranger.refused);
    EXPECT_EQ(stranger.refused->reason, agent::refusal_reason::not_a_recipient);
    EXPECT_NE(stranger.refused->detail.find("no identity matched"), std::string::npos);
    EXPECT_EQ(stranger.delivered, "");

    auto cut = decrypt_backup(k.ids, sealed.substr(0, sealed.size() - 10), 1000);
    ASSERT_TRUE(cut.refused);
    EXPECT_EQ(cut.refused->reason, agent::refusal_reason::decryption_failed);
    EXPECT_EQ(cut.delivered, config.substr(0, 65536)); // only the first, authenticated chunk

    auto flipped = sealed;
    flipped[flipped.size() - 3] ^= 1;
    auto forged = decrypt_backup(k.ids, flipped, 1000);
    ASSERT_TRUE(forged.refused);
    EXPECT_EQ(forged.refused->reason, agent::refusal_reason::decryption_failed);

    auto header = sealed;
    header[header.find("\n-> X25519 ") + 12] ^= 1; // the share: no longer opens
    auto bad_header = decrypt_backup(k.ids, header, 1000);
    ASSERT_TRUE(bad_header.refused);
    EXPECT_NE(bad_header.refused->reason, agent::refusal_reason::no_identity);
    EXPECT_EQ(bad_header.delivered, "");

    // The pipeline's own error (invalid JSON) is not a decryption refusal.
    auto invalid = decrypt_backup(k.ids, sealed, 1000, std::size_t(10));
    EXPECT_FALSE(invalid.refused);
    EXPECT_EQ(invalid.stream_error, "not a config");
}

TEST(backup_decryption, identity_file_is_loaded_and_its_errors_name_no_key) {
    keys k;
    const auto dir = test::scratch_dir();
    const auto path = dir / "encryption.key";
    std::ofstream(path) << k.id.to_identity_file("2026-12-06T00:00:00Z");
    auto ids = agent::load_decryption_identity(path);
    ASSERT_TRUE(ids) << ids.error();
    ASSERT_EQ(ids->size(), 1u);
    EXPECT_EQ((*ids)[0].recipient(), k.id.recipient());
    auto missing = agent::load_decryption_identity(dir / "missing.key");
    EXPECT_FALSE(missing);
    std::ofstream(dir / "bad.key") << "# comment\n" << k.id.to_string() << "X\n";
    auto bad = agent::load_decryption_identity(dir / "bad.key");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().find("AGE-SECRET-KEY"), std::string::npos) << bad.error();
}
