// `lifeboat storage`, `lifeboat fetch` and `lifeboat doctor` against Ceph RGW (the shared
// fixture), with awscli as an independent S3 client to cross-check what lifeboat wrote and read.
#include "base/atomic_file.hpp"
#include "stores/cli_helpers.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace lifeboat {
namespace {

using namespace std::chrono_literals;
using test::expect_one_line_error;
using test::lifeboat;
using test::rgw_env;

// ---- against the Ceph RGW fixture -----------------------------------------------------------

TEST(storage_cli_rgw, put_get_ls_rm_interoperate_with_awscli) {
    const auto dir = test::scratch_dir();
    const auto peer = test::rgw();
    const std::string prefix = "stores-cli-" + test::unique_suffix();
    const std::string base = "s3://" + peer.bucket + "/" + prefix;
    ASSERT_TRUE(write_file_atomically(dir / "config.json", R"({"from":"lifeboat"})"));

    auto put = lifeboat({"storage", "put", base + "/3.9.0.0/config.json", (dir / "config.json").string()},
                        rgw_env());
    ASSERT_EQ(put.exit_code, 0) << put.err;

    // awscli reads what lifeboat wrote, and writes what lifeboat reads.
    auto aws = [&](std::vector<std::string> args) {
        std::vector<std::string> a{"/usr/bin/aws", "--endpoint-url", peer.endpoint, "--region", peer.region};
        a.insert(a.end(), args.begin(), args.end());
        return test::run({.args = a,
                          .env = {{"AWS_ACCESS_KEY_ID", peer.access_key},
                                  {"AWS_SECRET_ACCESS_KEY", peer.secret_key},
                                  {"AWS_EC2_METADATA_DISABLED", "true"}},
                          .work_dir = dir,
                          .name = "aws"},
                         60s);
    };
    auto head =
        aws({"s3api", "head-object", "--bucket", peer.bucket, "--key", prefix + "/3.9.0.0/config.json"});
    ASSERT_EQ(head.exit_code, 0) << head.err;
    EXPECT_NE(head.out.find("application/json"), std::string::npos) << head.out;
    ASSERT_TRUE(write_file_atomically(dir / "other.json", R"({"from":"aws"})"));
    ASSERT_EQ(aws({"s3", "cp", (dir / "other.json").string(), base + "/3.8.0.0/config.json"}).exit_code, 0);

    auto get = lifeboat({"storage", "get", base + "/3.8.0.0/config.json", "-"}, rgw_env());
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(get.out, R"({"from":"aws"})");

    auto ls = lifeboat({"storage", "ls", base + "/"}, rgw_env());
    ASSERT_EQ(ls.exit_code, 0) << ls.err;
    EXPECT_EQ(ls.out, prefix + "/3.8.0.0/config.json\n" + prefix + "/3.9.0.0/config.json\n");

    expect_one_line_error(lifeboat({"storage", "put", "--if-absent", base + "/3.9.0.0/config.json",
                                    (dir / "config.json").string()},
                                   rgw_env()),
                          "412");

    ASSERT_EQ(lifeboat({"storage", "rm", base + "/3.9.0.0/config.json"}, rgw_env()).exit_code, 0);
    ASSERT_EQ(lifeboat({"storage", "rm", base + "/3.8.0.0/config.json"}, rgw_env()).exit_code, 0);
    EXPECT_EQ(lifeboat({"storage", "ls", base + "/"}, rgw_env()).out, "");
    expect_one_line_error(lifeboat({"storage", "get", base + "/3.9.0.0/config.json", "-"}, rgw_env()), "404");

    auto env = rgw_env();
    env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret";
    auto denied = lifeboat({"storage", "ls", base + "/"}, env);
    EXPECT_EQ(denied.exit_code, 1);
    EXPECT_EQ(denied.err.find("wrong-secret"), std::string::npos) << denied.err;
}

TEST(fetch_cli_rgw, downloads_the_backup_from_rgw) {
    const auto dir = test::scratch_dir();
    const auto peer = test::rgw();
    const std::string prefix = "stores-fetch-" + test::unique_suffix();
    const std::string storage = "s3://" + peer.bucket + "/" + prefix;
    ASSERT_EQ(
        lifeboat({"storage", "put", storage + "/3.9.0.0/config.json", "-"}, rgw_env(), R"({"rgw":true})")
            .exit_code,
        0);
    auto out = lifeboat({"fetch", "--set", "cluster_fallback_config_storage=" + storage, "--set",
                         "node_version=3.9.0.0", "-o", (dir / "fetched.json").string()},
                        rgw_env());
    ASSERT_EQ(out.exit_code, 0) << out.err;
    EXPECT_EQ(*read_whole_file(dir / "fetched.json"), R"({"rgw":true})");
    EXPECT_EQ(lifeboat({"storage", "rm", storage + "/3.9.0.0/config.json"}, rgw_env()).exit_code, 0);
}

TEST(doctor_cli_rgw, checks_rgw_from_an_exporter_and_an_importer) {
    const auto peer = test::rgw();
    const std::string prefix = "stores-doctor-" + test::unique_suffix();
    const std::string storage = "s3://" + peer.bucket + "/" + prefix;
    ASSERT_EQ(lifeboat({"storage", "put", storage + "/3.9.0.0/config.json", "-"}, rgw_env(), "{}").exit_code,
              0);
    auto doctor = [&](std::vector<std::string> extra) {
        std::vector<std::string> a{"doctor", "--set", "cluster_fallback_config_storage=" + storage, "--set",
                                   "node_version=3.9.0.0"};
        a.insert(a.end(), extra.begin(), extra.end());
        return lifeboat(a, rgw_env());
    };
    auto exporter = doctor({"--set", "cluster_fallback_config_export=on"});
    EXPECT_EQ(exporter.exit_code, 0) << exporter.out << exporter.err;
    EXPECT_NE(exporter.out.find("ok    read backup  " + prefix + "/3.9.0.0/config.json: 2 bytes of JSON"),
              std::string::npos)
        << exporter.out;
    EXPECT_NE(exporter.out.find("ok    write"), std::string::npos) << exporter.out;
    EXPECT_NE(exporter.out.find("ok    conditional  the store enforces"), std::string::npos) << exporter.out;
    EXPECT_NE(exporter.out.find("ok    clock"), std::string::npos) << exporter.out;

    // The test user can write, which an import-only node should not.
    auto importer = doctor({"--set", "cluster_fallback_config_import=on"});
    EXPECT_EQ(importer.exit_code, 0) << importer.out << importer.err;
    EXPECT_NE(importer.out.find("warn  write        this node only imports, yet its credentials can write"),
              std::string::npos)
        << importer.out;

    // Wrong credentials: every check fails, exit 1, no secret in the output.
    auto env = rgw_env();
    env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret";
    std::vector<std::string> a{"doctor", "--set", "cluster_fallback_config_storage=" + storage, "--set",
                               "cluster_fallback_config_import=on"};
    auto bad = lifeboat(a, env);
    EXPECT_EQ(bad.exit_code, 1) << bad.out;
    EXPECT_NE(bad.out.find("fail  list"), std::string::npos) << bad.out;
    EXPECT_EQ(bad.out.find("wrong-secret"), std::string::npos);
    // Only the backup is left: the doctor's scratch objects are gone.
    EXPECT_EQ(lifeboat({"storage", "ls", storage + "/"}, rgw_env()).out, prefix + "/3.9.0.0/config.json\n");
    EXPECT_EQ(lifeboat({"storage", "rm", storage + "/3.9.0.0/config.json"}, rgw_env()).exit_code, 0);
}

// The fixture's read-only user (a bucket policy grants it GetObject and ListBucket only): what an
// importer should be given. The doctor reads the backup and reports the refused write in one line
// naming RGW's 403; the same credentials on an exporter fail the check.
TEST(doctor_cli_rgw, read_only_credentials_read_and_are_refused_writes) {
    const auto peer = test::rgw();
    const std::string prefix = "stores-doctor-ro-" + test::unique_suffix();
    const std::string storage = "s3://" + peer.bucket + "/" + prefix;
    ASSERT_EQ(lifeboat({"storage", "put", storage + "/3.9.0.0/config.json", "-"}, rgw_env(), "{}").exit_code,
              0);
    const auto read_only = rgw_env(test::rgw_read_only());
    auto doctor = [&](const std::string& role) {
        return lifeboat({"doctor", "--set", "cluster_fallback_config_storage=" + storage, "--set",
                         "node_version=3.9.0.0", "--set", "cluster_fallback_config_" + role + "=on"},
                        read_only);
    };
    auto importer = doctor("import");
    EXPECT_EQ(importer.exit_code, 0) << importer.out << importer.err;
    EXPECT_NE(importer.out.find("ok    list"), std::string::npos) << importer.out;
    EXPECT_NE(importer.out.find("ok    read backup  " + prefix + "/3.9.0.0/config.json: 2 bytes of JSON"),
              std::string::npos)
        << importer.out;
    EXPECT_NE(
        importer.out.find("ok    write        cannot write (access denied: HTTP 403 AccessDenied), as a "
                          "node that does not export should not\n"),
        std::string::npos)
        << importer.out;

    auto exporter = doctor("export");
    EXPECT_EQ(exporter.exit_code, 1) << exporter.out << exporter.err;
    const auto at = exporter.out.find("fail  write        cannot write: PUT " + peer.bucket + "/" + prefix);
    ASSERT_NE(at, std::string::npos) << exporter.out;
    const auto line = exporter.out.substr(at, exporter.out.find('\n', at) - at);
    EXPECT_NE(line.find(": 403 AccessDenied: "), std::string::npos) << line;
    EXPECT_NE(line.find("an exporter must write " + prefix + "/3.9.0.0/config.json"), std::string::npos)
        << line;
    EXPECT_EQ(exporter.out.find(test::rgw_read_only().secret_key), std::string::npos);
    // The refused writes left nothing behind.
    EXPECT_EQ(lifeboat({"storage", "ls", storage + "/"}, rgw_env()).out, prefix + "/3.9.0.0/config.json\n");
    EXPECT_EQ(lifeboat({"storage", "rm", storage + "/3.9.0.0/config.json"}, rgw_env()).exit_code, 0);
}

} // namespace
} // namespace lifeboat
