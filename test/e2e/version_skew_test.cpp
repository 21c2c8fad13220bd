// Version skew on import (issue #16 item 2) with real processes: exporters at 3.9.0.0 following
// the reference CP, importers at other versions whose CP is down, on the Ceph RGW fixture (awscli
// as the independent client) and on the file store.
#include "base/atomic_file.hpp"
#include "fleet.hpp"

#include <boost/algorithm/string/trim.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct fixture {
    std::filesystem::path dir = scratch_dir();
    cluster_certs certs = make_cluster_certs(dir);

    std::map<std::string, std::string> exporter(const std::string& cp, const std::string& storage,
                                                const std::string& extra_versions = {}) const {
        std::map<std::string, std::string> s{{"cluster_control_plane", cp},
                                             {"cluster_cert", certs.cert.string()},
                                             {"cluster_cert_key", certs.key.string()},
                                             {"cluster_fallback_config_export", "on"},
                                             {"cluster_fallback_config_storage", storage},
                                             {"cluster_fallback_config_export_delay", "0.2"},
                                             {"election_interval", "1"},
                                             {"node_version", "3.9.0.0"}};
        if (!extra_versions.empty())
            s["cluster_fallback_config_export_versions"] = extra_versions;
        return s;
    }
    // A new node whose CP does not answer: it can only import.
    std::map<std::string, std::string> importer(const std::string& storage, const std::string& version,
                                                const std::string& versions) const {
        return {{"cluster_control_plane", "127.0.0.1:" + std::to_string(free_port())},
                {"cluster_cert", certs.cert.string()},
                {"cluster_cert_key", certs.key.string()},
                {"cluster_fallback_config_import", "on"},
                {"cluster_fallback_config_storage", storage},
                {"cluster_fallback_config_import_versions", versions},
                {"cluster_reconnect_delay_min", "0.5"},
                {"cluster_reconnect_delay_max", "1"},
                {"node_version", version}};
    }
};

// exact keeps waiting and says why; patch and minor take the 3.9.0.0 backup and name it.
void importers_across_versions(const fixture& f, const std::string& storage,
                               const std::map<std::string, std::string>& env) {
    reference_cp cp(f.dir, f.certs, sample_config("skew"));
    agent_process exporter(f.dir, "exporter-3.9.0.0", f.exporter(cp.address(), storage), env);
    ASSERT_TRUE(eventually([&] { return exporter.status_field("export", "current") == "true"; }, 60s))
        << exporter.log();
    const auto exported_hash = exporter.status_field("config", "hash");

    agent_process exact(f.dir, "importer-exact", f.importer(storage, "3.9.0.1", "exact"), env);
    agent_process patch(f.dir, "importer-patch", f.importer(storage, "3.9.0.1", "patch"), env);
    agent_process minor(f.dir, "importer-minor", f.importer(storage, "3.10.2.0", "minor"), env);
    agent_process patch_other_minor(f.dir, "importer-patch-3.10", f.importer(storage, "3.10.2.0", "patch"),
                                    env);

    ASSERT_TRUE(eventually([&] { return patch.status_field("import", "state") == "imported"; }, 30s))
        << patch.log();
    EXPECT_EQ(patch.status_field("import", "version"), "3.9.0.0");
    EXPECT_EQ(patch.status_field("import", "versions"), "patch");
    EXPECT_EQ(patch.status_field("config", "hash"), exported_hash);
    EXPECT_NE(patch.log().find("version=3.9.0.0"), std::string::npos) << patch.log();

    ASSERT_TRUE(eventually([&] { return minor.status_field("import", "state") == "imported"; }, 30s))
        << minor.log();
    EXPECT_EQ(minor.status_field("import", "version"), "3.9.0.0");
    EXPECT_EQ(minor.status_field("config", "hash"), exported_hash);

    // exact: still waiting after several attempts, and its error names what would take the backup.
    ASSERT_TRUE(eventually(
        [&] {
            return std::atoi(exact.status_field("import", "attempts").c_str()) >= 3 &&
                   exact.status_field("import", "last_error").find("3.9.0.0") != std::string::npos;
        },
        30s))
        << exact.log();
    EXPECT_EQ(exact.status_field("import", "state"), "fetching");
    EXPECT_EQ(exact.status_field("config", "source"), "none");
    const auto why = exact.status_field("import", "last_error");
    EXPECT_NE(why.find("cluster_fallback_config_import_versions = exact"), std::string::npos) << why;
    EXPECT_NE(why.find("patch or minor"), std::string::npos) << why;
    // patch at 3.10 never takes a 3.9 backup.
    EXPECT_EQ(patch_other_minor.status_field("config", "source"), "none");
    EXPECT_NE(patch_other_minor.status_field("import", "last_error").find("patch"), std::string::npos)
        << patch_other_minor.log();
}

} // namespace

TEST(version_skew, rgw_exact_waits_patch_and_minor_import_the_older_exporters_backup) {
    const fixture f;
    importers_across_versions(f, rgw_storage_url("skew-" + unique_suffix()), rgw_env());
}

TEST(version_skew, file_store_exact_waits_patch_and_minor_import_the_older_exporters_backup) {
    const fixture f;
    const auto bucket = f.dir / "bucket";
    std::filesystem::create_directories(bucket);
    importers_across_versions(f, "file://" + bucket.string(), {});
}

TEST(version_skew, rgw_an_exporter_writes_the_backup_under_two_versions) {
    const fixture f;
    const auto prefix = "skew-" + unique_suffix();
    reference_cp cp(f.dir, f.certs, sample_config("two-keys"));
    agent_process exporter(f.dir, "exporter", f.exporter(cp.address(), rgw_storage_url(prefix), "3.9.0.1"),
                           rgw_env());
    const auto expected = json_or_null(sample_config("two-keys"));
    ASSERT_TRUE(eventually(
        [&] {
            return rgw_object_json(prefix + "/3.9.0.0/config.json") == expected &&
                   rgw_object_json(prefix + "/3.9.0.1/config.json") == expected;
        },
        60s))
        << exporter.log();
    EXPECT_EQ(exporter.status_field("export", "extra_versions"), "[\"3.9.0.1\"]");
    // The extra key carries no term of this election (3.9.0.1's own exporters hold theirs).
    auto head =
        aws_s3api({"head-object", "--bucket", rgw().bucket, "--key", prefix + "/3.9.0.1/config.json"});
    ASSERT_EQ(head.exit_code, 0) << head.err;
    EXPECT_EQ(json_or_null(head.out).at("Metadata").at("lifeboat-term"), "0") << head.out;

    // A change reaches both keys.
    cp.set_config(sample_config("two-keys-changed"));
    const auto changed = json_or_null(sample_config("two-keys-changed"));
    ASSERT_TRUE(eventually(
        [&] {
            return rgw_object_json(prefix + "/3.9.0.0/config.json") == changed &&
                   rgw_object_json(prefix + "/3.9.0.1/config.json") == changed;
        },
        60s))
        << exporter.log();

    // A 3.9.0.1 node with Kong's exact coupling imports it under its own version.
    agent_process importer(f.dir, "importer-3.9.0.1", f.importer(rgw_storage_url(prefix), "3.9.0.1", "exact"),
                           rgw_env());
    ASSERT_TRUE(eventually([&] { return importer.status_field("import", "state") == "imported"; }, 30s))
        << importer.log();
    EXPECT_EQ(importer.status_field("import", "version"), "3.9.0.1");
    EXPECT_EQ(importer.status_field("config", "hash"), exporter.status_field("config", "hash"));
    EXPECT_EQ(exporter.status_field("election", "is_leader"), "true"); // the extra key deposed nobody
}

// Skew and trusted backups together: the signed, encrypted backup under the extra version folder
// carries a manifest naming that folder, and a verifying importer that takes another version's
// backup (patch) checks it against the folder it read, decrypts it, and applies it.
TEST(version_skew, file_store_signed_encrypted_backups_verify_under_the_version_folder_read) {
    const fixture f;
    const auto bucket = f.dir / "bucket";
    std::filesystem::create_directories(bucket);
    const auto storage = "file://" + bucket.string();
    const auto keys = f.dir / "keys";
    for (const char* kind : {"signing", "encryption"}) {
        auto r = run({.args = {lifeboat_bin().string(), "keys", "generate", kind, "--out", keys.string()}});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    const auto recipient = read_whole_file(keys / "encryption.pub");
    ASSERT_TRUE(recipient);
    auto trust = [&](std::map<std::string, std::string> s) {
        s["cluster_fallback_config_trusted_keys"] = (keys / "signing.pub.pem").string();
        s["cluster_fallback_config_decryption_identity"] = (keys / "encryption.key").string();
        return s;
    };

    reference_cp cp(f.dir, f.certs, sample_config("skew-signed"));
    auto exporter_settings = f.exporter(cp.address(), storage, "3.9.0.1");
    exporter_settings["cluster_fallback_config_signing_key"] = (keys / "signing.key.pem").string();
    exporter_settings["cluster_fallback_config_encryption_recipients"] =
        std::string(boost::algorithm::trim_copy(recipient.value()));
    agent_process exporter(f.dir, "exporter", exporter_settings);
    ASSERT_TRUE(eventually([&] { return exporter.status_field("export", "current") == "true"; }, 60s))
        << exporter.log();
    const auto hash = exporter.status_field("config", "hash");
    for (const char* version : {"3.9.0.0", "3.9.0.1"}) {
        auto object = read_whole_file(bucket / version / "config.json");
        ASSERT_TRUE(object) << version;
        EXPECT_TRUE(object->starts_with("age-encryption.org/v1\n")) << version;
        EXPECT_FALSE(std::filesystem::is_empty(bucket / version / "signatures")) << version;
    }

    // Its own folder (the extra one the exporter wrote), and another one's through patch.
    agent_process own(f.dir, "importer-3.9.0.1", trust(f.importer(storage, "3.9.0.1", "exact")));
    agent_process skewed(f.dir, "importer-3.9.0.2", trust(f.importer(storage, "3.9.0.2", "patch")));
    for (auto* node : {&own, &skewed}) {
        ASSERT_TRUE(eventually([&] { return node->status_field("import", "state") == "imported"; }, 30s))
            << node->log();
        EXPECT_EQ(node->status_field("config", "hash"), hash) << node->log();
    }
    EXPECT_EQ(own.status_field("import", "version"), "3.9.0.1");
    EXPECT_NE(skewed.status_field("import", "version"), "3.9.0.2");
    EXPECT_EQ(exporter.status_field("election", "is_leader"), "true");
}
