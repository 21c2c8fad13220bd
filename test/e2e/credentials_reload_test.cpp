// SIGHUP reads rotated credential files again, against the Ceph RGW fixture: an exporter started
// with a shared credentials file holding a wrong secret is refused by the store; the file is
// fixed under the same path, SIGHUP, and the next request signs with the new secret.
#include "base/atomic_file.hpp"
#include "fleet.hpp"

#include <gtest/gtest.h>

#include <signal.h>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;

TEST(credentials_reload, sighup_reads_a_rotated_shared_credentials_file) {
    const auto dir = scratch_dir();
    const auto prefix = "cred-reload-" + unique_suffix();
    const auto& peer = rgw();
    const auto credentials = dir / "aws-credentials";
    auto write_credentials = [&](const std::string& secret) {
        ASSERT_TRUE(write_file_atomically(credentials,
                                          "[default]\naws_access_key_id = " + peer.access_key +
                                              "\naws_secret_access_key = " + secret + "\n",
                                          0600));
    };
    write_credentials("not-the-secret");
    agent_process exporter(dir, "exporter",
                           {{"cluster_fallback_config_export", "on"},
                            {"cluster_fallback_config_storage", rgw_storage_url(prefix)},
                            {"node_version", "3.9.0.0"},
                            {"election_interval", "1"}},
                           {{"AWS_SHARED_CREDENTIALS_FILE", credentials.string()},
                            {"AWS_CONFIG_FILE", (dir / "no-aws-config").string()},
                            {"AWS_EC2_METADATA_DISABLED", "true"},
                            {"AWS_REGION", peer.region},
                            {"AWS_CONFIG_STORAGE_ENDPOINT", peer.endpoint}});
    // The store refuses the signature; the election cannot register.
    ASSERT_TRUE(
        eventually([&] { return exporter.log().find("SignatureDoesNotMatch") != std::string::npos; }, 30s))
        << exporter.log();
    EXPECT_NE(exporter.status_field("election", "role"), "leader");

    write_credentials(peer.secret_key);
    exporter.signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] { return exporter.log().find("S3 credentials read again") != std::string::npos; }, 30s))
        << exporter.log();
    ASSERT_TRUE(eventually([&] { return exporter.status_field("election", "role") == "leader"; }, 30s))
        << exporter.log();
    // The file was read again, not the secret logged.
    EXPECT_EQ(exporter.log().find(peer.secret_key), std::string::npos);
    EXPECT_EQ(exporter.log().find("not-the-secret"), std::string::npos);
}
