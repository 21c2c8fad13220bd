// Helpers for tests that run the real `lifeboat` binary's storage commands.
#pragma once

#include "harness/process.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lifeboat::test {

using namespace std::chrono_literals;

// The environment of a node that reaches the RGW fixture through the S3 store.
inline std::map<std::string, std::string> rgw_env(const s3_peer& peer = test::rgw()) {
    return {{"AWS_ACCESS_KEY_ID", peer.access_key},
            {"AWS_SECRET_ACCESS_KEY", peer.secret_key},
            {"AWS_REGION", peer.region},
            {"AWS_CONFIG_STORAGE_ENDPOINT", peer.endpoint},
            {"AWS_EC2_METADATA_DISABLED", "true"}};
}

inline const std::vector<std::string> unset_env{"KONG_CLUSTER_FALLBACK_CONFIG_STORAGE",
                                                "KONG_CLUSTER_FALLBACK_CONFIG_IMPORT",
                                                "KONG_CLUSTER_FALLBACK_CONFIG_EXPORT",
                                                "KONG_NODE_VERSION",
                                                "GCP_SERVICE_ACCOUNT",
                                                "GOOGLE_APPLICATION_CREDENTIALS",
                                                "STORAGE_EMULATOR_HOST",
                                                "AWS_PROFILE",
                                                "AWS_SESSION_TOKEN"};

inline test::run_result lifeboat(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                                 std::optional<std::string> stdin_data = std::nullopt) {
    args.insert(args.begin(), test::lifeboat_bin().string());
    return test::run({.args = std::move(args),
                      .env = std::move(env),
                      .unset_env = unset_env,
                      // Next to (not inside) the scratch folder, which tests use as a bucket; one
                      // folder per test, as ctest runs tests in parallel.
                      .work_dir = test::scratch_dir().parent_path() /
                                  (test::scratch_dir().filename().string() + ".cli-logs"),
                      .name = "lifeboat",
                      .stdin_data = std::move(stdin_data)},
                     60s);
}

inline std::string one_line(const std::string& s) {
    return s.substr(0, s.find('\n'));
}

inline void expect_one_line_error(const test::run_result& r, const std::string& needle) {
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

} // namespace lifeboat::test
