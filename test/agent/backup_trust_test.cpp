// Trusted backups without I/O: the manifest and signature object format, every refusal reason
// of check_backup(), and the freshness rules on a virtual clock (importer's max_age and the
// leader's re-signing schedule). The openssl one-liner of docs/security.md is run on a signature
// object made here.
#include "agent/backup_signer.hpp"
#include "agent/backup_trust.hpp"
#include "backends/backup_signature.hpp"
#include "base/digest.hpp"
#include "harness/process.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace lifeboat::agent {
namespace {

using backends::backup_manifest;
using namespace std::chrono_literals;

const wall_clock::time_point t0 = wall_clock::time_point(std::chrono::seconds(1'800'000'000));

backup_manifest sample(std::string_view bytes) {
    backup_manifest m;
    m.node_version = "3.9.0.0";
    m.config_hash = "0123456789abcdef0123456789abcdef";
    m.object_sha256 = sha256_hex(bytes);
    m.object_size = bytes.size();
    m.cp_timestamp = 1733400000.25;
    m.term = 7;
    m.signed_at = std::chrono::duration_cast<std::chrono::seconds>(t0.time_since_epoch()).count();
    return m;
}

struct backup_trust : ::testing::Test {
    ed25519::private_key key = ed25519::private_key::generate();
    ed25519::private_key other = ed25519::private_key::generate();
    std::string bytes = R"({"_format_version":"3.0","services":[{"name":"a","url":"http://x"}]})";
    trust_policy policy() const {
        trust_policy p;
        p.trusted_keys = {key.public_part()};
        p.node_version = "3.9.0.0";
        p.max_age = 600s;
        return p;
    }
    received_backup received(std::string_view b) const { return {sha256_hex(b), b.size(), false}; }
    refusal_reason refused(const received_backup& got, const std::optional<std::string>& sig,
                           const std::optional<std::string>& claimed = std::nullopt,
                           wall_clock::time_point now = t0 + 10s) const {
        auto r = check_backup(policy(), got, sig, claimed, now);
        EXPECT_FALSE(r.ok());
        return r ? refusal_reason::unsigned_backup : r.error().reason;
    }
};

TEST_F(backup_trust, manifest_round_trips_in_a_fixed_field_order) {
    auto m = sample(bytes);
    m.key_id = key.public_part().id();
    const auto line = backends::encode_manifest(m);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_TRUE(line.starts_with(R"({"format":"lifeboat-backup-signature/1","node_version":"3.9.0.0",)"))
        << line;
    auto back = backends::decode_manifest(line);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->object_sha256, m.object_sha256);
    EXPECT_EQ(back->object_size, m.object_size);
    EXPECT_EQ(back->cp_timestamp, m.cp_timestamp);
    EXPECT_EQ(back->signed_at, m.signed_at);
    EXPECT_EQ(back->term, 7u);
    EXPECT_EQ(back->key_id, m.key_id);
    EXPECT_FALSE(back->encrypted);
    EXPECT_EQ(backends::encode_manifest(*back), line); // equal manifests are equal bytes
}

// Boost.JSON 1.81 reads some numbers back one unit off; whatever CP timestamp the exporter signs,
// an importer reads a manifest that re-encodes to the very line that was signed (fuzz finding).
TEST_F(backup_trust, any_cp_timestamp_signs_into_a_manifest_that_round_trips) {
    int adjusted = 0;
    for (int i = 0; i < 20000; ++i) {
        auto m = sample(bytes);
        m.cp_timestamp = 1733443660.0 + i * 0.001 + (i % 7) * 1e-7;
        const auto object = backends::parse_signature_object(backends::make_signature_object(m, key));
        ASSERT_TRUE(object) << object.error();
        auto line = std::string_view(object->signed_line);
        line.remove_suffix(1);
        EXPECT_EQ(backends::encode_manifest(object->manifest), line);
        EXPECT_LE(std::abs(object->manifest.cp_timestamp - m.cp_timestamp), 1e-6);
        adjusted += object->manifest.cp_timestamp != m.cp_timestamp;
    }
    RecordProperty("timestamps_adjusted", adjusted);
    // A timestamp that does not read back as written (a huge one here; an earlier release's signer
    // could write one) decodes to a value that re-encodes unchanged.
    auto decoded = backends::decode_manifest(
        R"({"format":"lifeboat-backup-signature/1","node_version":"3.9.0.0","config_hash":"","object_sha256":")" +
        std::string(64, 'a') +
        R"(","object_size":0,"encrypted":false,"cp_timestamp":1733443660666666666666666200.5,"signed_at":1,"key_id":"k","term":7})");
    ASSERT_TRUE(decoded) << decoded.error();
    const auto again = backends::decode_manifest(backends::encode_manifest(*decoded));
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(again->cp_timestamp, decoded->cp_timestamp);
    EXPECT_EQ(backends::encode_manifest(*again), backends::encode_manifest(*decoded));
}

TEST_F(backup_trust, manifest_with_missing_or_wrong_fields_is_refused) {
    EXPECT_FALSE(backends::decode_manifest("not json"));
    EXPECT_FALSE(backends::decode_manifest(R"({"format":"other/1"})"));
    auto m = sample(bytes);
    auto line = backends::encode_manifest(m);
    auto bad_sha = line;
    bad_sha.replace(bad_sha.find(m.object_sha256), 64, std::string(64, 'Z'));
    EXPECT_FALSE(backends::decode_manifest(bad_sha));
    auto no_size = line;
    no_size.replace(no_size.find("\"object_size\""), 13, "\"object_sizX\"");
    EXPECT_FALSE(backends::decode_manifest(no_size));
}

TEST_F(backup_trust, signature_key_sits_next_to_config_json_named_by_the_content_hash) {
    EXPECT_EQ(backends::signature_key("fleet/3.9.0.0/config.json", std::string(64, 'a')),
              "fleet/3.9.0.0/signatures/" + std::string(64, 'a') + ".sig");
    EXPECT_EQ(backends::signature_key("3.9.0.0/config.json", "ab"), "3.9.0.0/signatures/ab.sig");
}

TEST_F(backup_trust, a_good_signature_is_accepted) {
    const auto sig = backends::make_signature_object(sample(bytes), key);
    auto r = check_backup(policy(), received(bytes), sig, std::nullopt, t0 + 10s);
    ASSERT_TRUE(r) << r.error().detail;
    EXPECT_EQ(r->key_id, key.public_part().id());
}

TEST_F(backup_trust, either_of_two_trusted_keys_is_accepted_during_a_rotation) {
    auto p = policy();
    p.trusted_keys.push_back(other.public_part());
    const auto sig = backends::make_signature_object(sample(bytes), other);
    EXPECT_TRUE(check_backup(p, received(bytes), sig, std::nullopt, t0));
}

TEST_F(backup_trust, no_signature_is_unsigned) {
    EXPECT_EQ(refused(received(bytes), std::nullopt), refusal_reason::unsigned_backup);
}

TEST_F(backup_trust, another_key_is_unknown_key) {
    EXPECT_EQ(refused(received(bytes), backends::make_signature_object(sample(bytes), other)),
              refusal_reason::unknown_key);
}

TEST_F(backup_trust, an_altered_manifest_is_bad_signature) {
    auto sig = backends::make_signature_object(sample(bytes), key);
    const auto at = sig.find("\"term\":7");
    sig[at + 7] = '9';
    EXPECT_EQ(refused(received(bytes), sig), refusal_reason::bad_signature);
}

TEST_F(backup_trust, a_manifest_with_a_forged_key_id_is_bad_signature) {
    // Signed by `other`, but claiming the trusted key's id: the trusted key does not verify it.
    auto m = sample(bytes);
    m.key_id = key.public_part().id();
    auto line = backends::encode_manifest(m) + "\n";
    auto forged = line + base64_encode(other.sign(line)) + "\n";
    EXPECT_EQ(refused(received(bytes), forged), refusal_reason::bad_signature);
}

TEST_F(backup_trust, garbage_is_malformed_signature) {
    EXPECT_EQ(refused(received(bytes), std::string("hello\n")), refusal_reason::malformed_signature);
    EXPECT_EQ(refused(received(bytes), std::string(5000, 'x')), refusal_reason::malformed_signature);
    auto sig = backends::make_signature_object(sample(bytes), key);
    sig.pop_back(); // no final newline
    EXPECT_EQ(refused(received(bytes), sig), refusal_reason::malformed_signature);
}

TEST_F(backup_trust, a_signature_copied_under_another_name_is_content_mismatch) {
    auto flipped = bytes;
    flipped[20] ^= 0x01;
    EXPECT_EQ(refused(received(flipped), backends::make_signature_object(sample(bytes), key)),
              refusal_reason::content_mismatch);
}

TEST_F(backup_trust, a_flipped_byte_found_through_the_metadata_is_content_mismatch) {
    auto flipped = bytes;
    flipped[20] ^= 0x01;
    // No signature for the flipped bytes; the metadata points at the genuine one.
    EXPECT_EQ(refused(received(flipped), std::nullopt, backends::make_signature_object(sample(bytes), key)),
              refusal_reason::content_mismatch);
}

TEST_F(backup_trust, a_cut_short_object_is_size_mismatch) {
    const auto cut = bytes.substr(0, bytes.size() - 5);
    EXPECT_EQ(refused(received(cut), std::nullopt, backends::make_signature_object(sample(bytes), key)),
              refusal_reason::size_mismatch);
}

TEST_F(backup_trust, metadata_pointing_at_an_untrusted_signature_stays_unsigned) {
    const auto cut = bytes.substr(0, bytes.size() - 5);
    EXPECT_EQ(refused(received(cut), std::nullopt, backends::make_signature_object(sample(bytes), other)),
              refusal_reason::unsigned_backup);
}

TEST_F(backup_trust, another_version_is_wrong_version) {
    auto m = sample(bytes);
    m.node_version = "3.8.0.0";
    EXPECT_EQ(refused(received(bytes), backends::make_signature_object(m, key)),
              refusal_reason::wrong_version);
}

TEST_F(backup_trust, encrypted_flag_must_match_the_object) {
    auto got = received(bytes);
    got.encrypted = true;
    EXPECT_EQ(refused(got, backends::make_signature_object(sample(bytes), key)),
              refusal_reason::encryption_mismatch);
}

TEST_F(backup_trust, freshness_on_a_virtual_clock) {
    const auto sig = backends::make_signature_object(sample(bytes), key);
    EXPECT_TRUE(check_backup(policy(), received(bytes), sig, std::nullopt, t0 + 600s));
    EXPECT_EQ(refused(received(bytes), sig, std::nullopt, t0 + 601s), refusal_reason::too_old);
    EXPECT_TRUE(check_backup(policy(), received(bytes), sig, std::nullopt, t0 - 300s)); // skew allowed
    EXPECT_EQ(refused(received(bytes), sig, std::nullopt, t0 - 301s), refusal_reason::signed_in_future);
    auto no_limit = policy();
    no_limit.max_age = 0s;
    EXPECT_TRUE(check_backup(no_limit, received(bytes), sig, std::nullopt, t0 + 24h * 365));
}

TEST(resign_schedule, interval_is_a_quarter_of_max_age_within_bounds) {
    EXPECT_EQ(resign_schedule(600s).interval(), std::chrono::steady_clock::duration(150s));
    EXPECT_EQ(resign_schedule(2s).interval(), std::chrono::steady_clock::duration(1s));
    EXPECT_EQ(resign_schedule(24h * 7).interval(), std::chrono::steady_clock::duration(1h));
    EXPECT_FALSE(resign_schedule(0s).enabled());
    EXPECT_FALSE(resign_schedule(0s).due(std::chrono::steady_clock::time_point(1000h), true, true));
}

// A leader that re-signs when due, its CP session up for a while then down, and an importer
// checking the bucket's signature every simulated second: while the session is up the backup
// never goes stale; once it is down the old signature is refused after max_age, not before.
TEST(resign_schedule, a_live_fleet_never_trips_max_age_and_a_dead_one_does) {
    const auto max_age = 120s;
    resign_schedule schedule(max_age);
    const std::chrono::steady_clock::time_point start{};
    auto now = start;
    auto wall_now = [&] { return t0 + (now - start); };
    auto to_unix = [](wall_clock::time_point t) {
        return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    };
    std::int64_t signed_at = to_unix(wall_now());
    schedule.signed_now(now);
    const auto session_down_at = start + 3600s;
    std::optional<std::chrono::steady_clock::time_point> first_refusal;
    int resigns = 0;
    for (; now < start + 7200s; now += 1s) {
        const bool up = now < session_down_at;
        // The exporter sleeps until next(); a store that is slow by 5 s delays the write.
        if (schedule.due(now, true, up)) {
            EXPECT_GE(now, schedule.next(true, up));
            signed_at = to_unix(wall_now() + 5s) - 5; // signed_at taken before the slow PUT
            schedule.signed_now(now + 5s);
            ++resigns;
        }
        auto stale = check_freshness(signed_at, max_age, wall_now());
        if (up)
            ASSERT_FALSE(stale) << "refused while the session is up at +"
                                << std::chrono::duration_cast<std::chrono::seconds>(now - start).count()
                                << "s";
        else if (stale && !first_refusal)
            first_refusal = now;
    }
    EXPECT_NEAR(resigns, 3600 / 35, 2); // every 30 s (+5 s for the slow store)
    ASSERT_TRUE(first_refusal);
    EXPECT_GT(*first_refusal, session_down_at + 80s);
    EXPECT_LE(*first_refusal, session_down_at + max_age + 1s);
    EXPECT_EQ(schedule.next(true, false), std::chrono::steady_clock::time_point::max());
    EXPECT_FALSE(schedule.due(now + 1000h, false, true)); // a follower never re-signs
}

TEST(trusted_keys, an_empty_list_or_a_bad_file_is_an_error) {
    const auto dir = test::scratch_dir();
    EXPECT_FALSE(load_trusted_keys({}));
    EXPECT_FALSE(load_trusted_keys({dir / "missing.pem"}));
    std::ofstream(dir / "junk.pem") << "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    auto junk = load_trusted_keys({dir / "junk.pem"});
    ASSERT_FALSE(junk);
    EXPECT_NE(junk.error().find("junk.pem"), std::string::npos);
    // An RSA key is a public key, but not Ed25519.
    auto rsa = test::run({{"openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024",
                           "-out", (dir / "rsa.key").string()}});
    ASSERT_EQ(rsa.exit_code, 0) << rsa.err;
    ASSERT_EQ(test::run({{"openssl", "pkey", "-in", (dir / "rsa.key").string(), "-pubout", "-out",
                          (dir / "rsa.pub").string()}})
                  .exit_code,
              0);
    auto r = load_trusted_keys({dir / "rsa.pub"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("not an Ed25519"), std::string::npos) << r.error();
}

// docs/security.md's one-liner, run as written, on a signature object lifeboat made, with keys
// openssl made: the formats are the standard ones.
TEST(openssl_interop, the_documented_one_liner_verifies_a_signature_object) {
    const auto dir = test::scratch_dir();
    ASSERT_EQ(
        test::run({{"openssl", "genpkey", "-algorithm", "ed25519", "-out", (dir / "signing.pem").string()}})
            .exit_code,
        0);
    ASSERT_EQ(test::run({{"openssl", "pkey", "-in", (dir / "signing.pem").string(), "-pubout", "-out",
                          (dir / "signing.pub.pem").string()}})
                  .exit_code,
              0);
    auto key = ed25519::private_key::load(dir / "signing.pem");
    ASSERT_TRUE(key) << key.error();
    const std::string config = R"({"_format_version":"3.0","services":[]})";
    std::ofstream(dir / "config.json", std::ios::binary) << config;
    backup_manifest m = sample(config);
    std::ofstream(dir / "sig", std::ios::binary) << backends::make_signature_object(m, *key);
    const std::string one_liner =
        "cd " + dir.string() +
        " && head -n1 sig > manifest && tail -n1 sig | base64 -d > signature"
        " && openssl pkeyutl -verify -pubin -inkey signing.pub.pem -rawin -in manifest -sigfile signature"
        " && grep -q \"\\\"object_sha256\\\":\\\"$(sha256sum < config.json | cut -d' ' -f1)\\\"\" manifest"
        " && echo BACKUP-OK";
    auto good = test::run({{"sh", "-c", one_liner}});
    EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
    EXPECT_NE(good.out.find("Signature Verified Successfully"), std::string::npos) << good.out;
    EXPECT_NE(good.out.find("BACKUP-OK"), std::string::npos);
    // A flipped byte in config.json: the hash check of the one-liner fails.
    auto flipped = config;
    flipped[5] ^= 0x01;
    std::ofstream(dir / "config.json", std::ios::binary | std::ios::trunc) << flipped;
    auto bad = test::run({{"sh", "-c", one_liner}});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_EQ(bad.out.find("BACKUP-OK"), std::string::npos);
    // An altered manifest: openssl refuses the signature.
    std::ofstream(dir / "config.json", std::ios::binary | std::ios::trunc) << config;
    auto text = backends::make_signature_object(m, *key);
    text[text.find("\"term\":7") + 7] = '8';
    std::ofstream(dir / "sig", std::ios::binary | std::ios::trunc) << text;
    auto forged = test::run({{"sh", "-c", one_liner}});
    EXPECT_NE(forged.exit_code, 0);
    EXPECT_NE(forged.out.find("Signature Verification Failure"), std::string::npos)
        << forged.out << forged.err;
}

// Kong/kong#12861: a config with no services, routes or plugins must not replace a good backup.
TEST(empty_config, from_the_section_hashes_or_from_the_json) {
    auto snap = [](std::string json) {
        protocol::config_snapshot s;
        s.storage = std::make_shared<const std::string>(std::move(json));
        s.config_json = *s.storage;
        return s;
    };
    EXPECT_TRUE(is_empty_config(snap(R"({"_format_version":"3.0"})")));
    EXPECT_TRUE(
        is_empty_config(snap(R"({"_format_version":"3.0","services":[],"routes":[],"consumers":[{}]})")));
    EXPECT_FALSE(is_empty_config(snap(R"({"_format_version":"3.0","routes":[{"name":"r"}]})")));
    EXPECT_FALSE(is_empty_config(snap(R"({"_format_version":"3.0","plugins":[{"name":"cors"}]})")));
    // With Kong's section hashes (absent sections hash to zeros), the JSON is not parsed.
    auto hashed = snap("not even json");
    hashed.hashes.services = hashed.hashes.routes = hashed.hashes.plugins =
        std::string(protocol::empty_config_hash);
    EXPECT_TRUE(is_empty_config(hashed));
    hashed.hashes.routes = "0123456789abcdef0123456789abcdef";
    EXPECT_FALSE(is_empty_config(hashed));
}

} // namespace
} // namespace lifeboat::agent
