// `lifeboat storage`, `lifeboat fetch` and `lifeboat doctor` as operators run them: the real
// binary against the file store.
#include "base/atomic_file.hpp"
#include "stores/cli_helpers.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace lifeboat {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::expect_one_line_error;
using test::lifeboat;
using test::rgw_env;

TEST(storage_cli, put_get_ls_rm_on_the_file_store) {
    const auto dir = test::scratch_dir();
    const std::string root = "file://" + (dir / "bucket").string();
    ASSERT_TRUE(write_file_atomically(dir / "config.json", R"({"_format_version":"3.0"})"));

    auto put = lifeboat({"storage", "put", root + "/p/3.9.0.0/config.json", (dir / "config.json").string()});
    ASSERT_EQ(put.exit_code, 0) << put.err;
    ASSERT_EQ(lifeboat({"storage", "put", root + "/p/3.8.0.0/config.json", "-"}, {}, "{}").exit_code, 0);
    EXPECT_EQ(*read_whole_file(dir / "bucket/p/3.9.0.0/config.json"), R"({"_format_version":"3.0"})");

    auto get = lifeboat({"storage", "get", root + "/p/3.9.0.0/config.json", "-"});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(get.out, R"({"_format_version":"3.0"})");
    auto to_file =
        lifeboat({"storage", "get", root + "/p/3.9.0.0/config.json", (dir / "copy.json").string()});
    ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
    EXPECT_EQ(*read_whole_file(dir / "copy.json"), R"({"_format_version":"3.0"})");

    auto ls = lifeboat({"storage", "ls", root});
    ASSERT_EQ(ls.exit_code, 0) << ls.err;
    EXPECT_EQ(ls.out, "p/3.8.0.0/config.json\np/3.9.0.0/config.json\n");
    EXPECT_EQ(lifeboat({"storage", "ls", root + "/p/3.9"}).out, "3.9.0.0/config.json\n");
    EXPECT_EQ(lifeboat({"storage", "ls", root + "/p/"}).out, "3.8.0.0/config.json\n3.9.0.0/config.json\n");

    expect_one_line_error(lifeboat({"storage", "put", "--if-absent", root + "/p/3.9.0.0/config.json",
                                    (dir / "config.json").string()}),
                          "precondition failed");

    ASSERT_EQ(lifeboat({"storage", "rm", root + "/p/3.9.0.0/config.json"}).exit_code, 0);
    EXPECT_EQ(lifeboat({"storage", "rm", root + "/p/3.9.0.0/config.json"}).exit_code, 0); // already gone
    expect_one_line_error(lifeboat({"storage", "get", root + "/p/3.9.0.0/config.json", "-"}), "not found");
    EXPECT_EQ(lifeboat({"storage", "ls", root}).out, "p/3.8.0.0/config.json\n");
}

TEST(storage_cli, bad_arguments_get_one_line_errors) {
    const auto dir = test::scratch_dir();
    expect_one_line_error(lifeboat({"storage", "ls", "s3:/bucket"}),
                          "lifeboat storage ls: storage URL \"s3:/bucket\": expected s3://bucket/prefix");
    expect_one_line_error(lifeboat({"storage", "put", "s3://bkt", (dir / "x").string()}), "names no object");
    expect_one_line_error(
        lifeboat({"storage", "put", "file://" + (dir / "b/k").string(), (dir / "missing").string()}),
        "stat " + (dir / "missing").string() + ": No such file or directory");
    expect_one_line_error(lifeboat({"storage", "get", "file://" + (dir / "b/../k").string(), "-"}), "");
    expect_one_line_error(lifeboat({"storage", "ls", "gcs://Bad_Bucket/x"}), "has the character 'B'");
    EXPECT_NE(lifeboat({"storage"}).exit_code, 0);
}

TEST(storage_cli, every_command_has_help) {
    for (std::vector<std::string> args : {std::vector<std::string>{"storage", "--help"},
                                          {"storage", "put", "--help"},
                                          {"storage", "get", "--help"},
                                          {"storage", "ls", "--help"},
                                          {"storage", "rm", "--help"},
                                          {"fetch", "--help"},
                                          {"doctor", "--help"}}) {
        auto r = lifeboat(args);
        EXPECT_EQ(r.exit_code, 0) << args[0] << " " << args[1];
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
        if (args.size() > 2 || args[0] != "storage")
            EXPECT_NE(r.out.find("--conf"), std::string::npos) << r.out;
    }
}

TEST(fetch_cli, downloads_the_backup_for_this_node_version) {
    const auto dir = test::scratch_dir();
    const std::string storage = "file://" + (dir / "bucket").string() + "/p";
    ASSERT_EQ(lifeboat({"storage", "put", "file://" + (dir / "bucket/p/3.9.0.0/config.json").string(), "-"},
                       {}, R"({"v":39})")
                  .exit_code,
              0);
    const std::vector<std::string> conf{"--set", "cluster_fallback_config_storage=" + storage, "--set",
                                        "node_version=3.9.0.0"};
    auto args = [&](std::vector<std::string> extra) {
        std::vector<std::string> a{"fetch"};
        a.insert(a.end(), conf.begin(), conf.end());
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    };
    auto out = lifeboat(args({}));
    ASSERT_EQ(out.exit_code, 0) << out.err;
    EXPECT_EQ(out.out, R"({"v":39})");

    auto file = lifeboat(args({"-o", (dir / "fetched.json").string()}));
    ASSERT_EQ(file.exit_code, 0) << file.err;
    EXPECT_EQ(*read_whole_file(dir / "fetched.json"), R"({"v":39})");
    EXPECT_NE(file.err.find("fetched"), std::string::npos);

    // The key follows node_version exactly.
    auto other = lifeboat(
        {"fetch", "--set", "cluster_fallback_config_storage=" + storage, "--set", "node_version=3.10.0.0"});
    expect_one_line_error(other, "3.10.0.0/config.json: not found");

    // A config file works as --set does.
    std::ofstream(dir / "lifeboat.conf")
        << "cluster_fallback_config_storage = " << storage << "\nnode_version = 3.9.0.0\n";
    EXPECT_EQ(lifeboat({"fetch", "--conf", (dir / "lifeboat.conf").string()}).out, R"({"v":39})");

    expect_one_line_error(lifeboat({"fetch"}), "cluster_fallback_config_storage is not set");
}

TEST(doctor_cli, file_store_verdicts_and_exit_codes) {
    const auto dir = test::scratch_dir();
    const std::string storage = "file://" + (dir / "bucket").string() + "/p";
    auto doctor = [&](std::vector<std::string> extra) {
        std::vector<std::string> a{"doctor", "--set", "cluster_fallback_config_storage=" + storage, "--set",
                                   "node_version=3.9.0.0"};
        a.insert(a.end(), extra.begin(), extra.end());
        return lifeboat(a);
    };
    // An import-only node and no backup yet: fail.
    auto missing = doctor({"--set", "cluster_fallback_config_import=on"});
    EXPECT_EQ(missing.exit_code, 1) << missing.out << missing.err;
    EXPECT_NE(missing.out.find("fail  read backup  no backup at 3.9.0.0/config.json"), std::string::npos)
        << missing.out;

    ASSERT_EQ(lifeboat({"storage", "put", "file://" + (dir / "bucket/p/3.9.0.0/config.json").string(), "-"},
                       {}, "{}")
                  .exit_code,
              0);
    auto exporter =
        doctor({"--set", "cluster_fallback_config_import=on", "--set", "cluster_fallback_config_export=on"});
    EXPECT_EQ(exporter.exit_code, 0) << exporter.out << exporter.err;
    EXPECT_NE(exporter.out.find("ok    conditional  the store enforces"), std::string::npos) << exporter.out;
    EXPECT_NE(exporter.out.find("verdict: ok"), std::string::npos) << exporter.out;

    auto importer = doctor({"--set", "cluster_fallback_config_import=on"});
    EXPECT_EQ(importer.exit_code, 0) << importer.out; // a warning is not a failure
    EXPECT_NE(importer.out.find("warn  write"), std::string::npos) << importer.out;

    auto unset = lifeboat({"doctor"});
    EXPECT_EQ(unset.exit_code, 1);
    EXPECT_NE(unset.out.find("cluster_fallback_config_storage is not set"), std::string::npos) << unset.out;
}

// Issue #19: a link to a folder planted in a file bucket (by whoever can write it, so not owned
// by root) is refused by every storage verb, and nothing outside the bucket is read, written or
// deleted. A FIFO in the bucket is refused at once, never waited on.
TEST(storage_cli, links_to_folders_and_fifos_in_a_file_bucket_are_refused) {
    const auto dir = test::scratch_dir();
    const auto bucket = dir / "bucket";
    const auto outside = dir / "outside";
    fs::create_directories(bucket / "p");
    fs::create_directories(outside);
    ASSERT_TRUE(write_file_atomically(outside / "keep", "keep"));
    // Planted by a user who is not root (the CLI follows root's own links on the way to a folder).
    auto plant = [&](const fs::path& link) {
        fs::create_directory_symlink(outside, link);
        ASSERT_EQ(::lchown(link.c_str(), 65534, 65534), 0);
    };
    const auto link = bucket / "dirlink";
    plant(link);
    const std::string b = "file://" + bucket.string();

    const std::string refusal = link.string() + " is a symbolic link";
    expect_one_line_error(lifeboat({"storage", "rm", b + "/dirlink/keep"}), refusal);
    expect_one_line_error(lifeboat({"storage", "get", b + "/dirlink/keep", "-"}), refusal);
    expect_one_line_error(lifeboat({"storage", "put", b + "/dirlink/new", "-"}, {}, "x"), refusal);
    expect_one_line_error(lifeboat({"storage", "ls", b + "/dirlink"}), refusal);
    expect_one_line_error(lifeboat({"storage", "ls", b + "/dirlink/"}), refusal);
    plant(bucket / "p/3.6.0.0");
    expect_one_line_error(lifeboat({"storage", "rm", b + "/p/3.6.0.0/keep"}), "symbolic link");
    auto ls = lifeboat({"storage", "ls", b});
    EXPECT_EQ(ls.exit_code, 0) << ls.err;
    EXPECT_EQ(ls.out, ""); // nothing behind the links is listed

    ASSERT_TRUE(read_whole_file(outside / "keep"));
    EXPECT_EQ(*read_whole_file(outside / "keep"), "keep");
    EXPECT_FALSE(fs::exists(outside / "new"));
    EXPECT_EQ(std::distance(fs::directory_iterator(outside), fs::directory_iterator()), 1);

    // fetch and doctor read the configured bucket: the link at <prefix>/<version> is refused.
    ASSERT_TRUE(write_file_atomically(outside / "config.json", R"({"_format_version":"3.0"})"));
    const std::vector<std::string> conf{"--set", "cluster_fallback_config_storage=" + b + "/p", "--set",
                                        "node_version=3.6.0.0"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), conf.begin(), conf.end());
        return a;
    };
    expect_one_line_error(lifeboat(with({"fetch"})), (bucket / "p/3.6.0.0").string() + " is a symbolic link");
    auto doctor = lifeboat(with({"doctor", "--set", "cluster_fallback_config_import=on"}));
    EXPECT_EQ(doctor.exit_code, 1) << doctor.out << doctor.err;
    EXPECT_NE(doctor.out.find("symbolic link"), std::string::npos) << doctor.out;

    // A FIFO where the backup would be: refused at once, naming it.
    fs::create_directories(bucket / "p/3.7.0.0");
    const auto fifo = bucket / "p/3.7.0.0/config.json";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
    expect_one_line_error(lifeboat({"fetch", "--set", "cluster_fallback_config_storage=" + b + "/p", "--set",
                                    "node_version=3.7.0.0"}),
                          fifo.string() + " is a FIFO (named pipe)");
    expect_one_line_error(lifeboat({"storage", "get", "file://" + fifo.string(), "-"}), "FIFO");
    auto fifo_doctor = lifeboat({"doctor", "--set", "cluster_fallback_config_storage=" + b + "/p", "--set",
                                 "node_version=3.7.0.0", "--set", "cluster_fallback_config_import=on"});
    EXPECT_EQ(fifo_doctor.exit_code, 1) << fifo_doctor.out;
    EXPECT_NE(fifo_doctor.out.find("FIFO"), std::string::npos) << fifo_doctor.out;
}

} // namespace
} // namespace lifeboat
