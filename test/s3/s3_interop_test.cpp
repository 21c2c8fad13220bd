// Interoperability through a real Ceph RGW: what lifeboat writes, awscli 2 (/usr/bin/aws) and
// rclone read back byte for byte, and what they write, lifeboat reads back byte for byte,
// single PUTs and multipart uploads alike, awkward keys and user metadata included.
#include "backends/s3/s3_store.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "harness/process.hpp"
#include "harness/rgw_store.hpp"
#include "harness/test_env.hpp"
#include "run_async.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

using namespace lifeboat;
using test::random_bytes;
namespace fs = std::filesystem;

namespace {

// awscli 2.9 from the Debian package, configured from the environment only (see
// shared/research/s3-servers.md: it ignores AWS_ENDPOINT_URL, hence --endpoint-url).
test::run_result aws(std::vector<std::string> args) {
    const auto peer = test::rgw();
    test::process_options o;
    o.args = {"/usr/bin/aws", "--endpoint-url", peer.endpoint};
    o.args.insert(o.args.end(), args.begin(), args.end());
    o.env = {{"AWS_ACCESS_KEY_ID", peer.access_key},
             {"AWS_SECRET_ACCESS_KEY", peer.secret_key},
             {"AWS_DEFAULT_REGION", peer.region},
             {"AWS_CONFIG_FILE", "/dev/null"},
             {"AWS_SHARED_CREDENTIALS_FILE", "/dev/null"},
             {"AWS_EC2_METADATA_DISABLED", "true"},
             {"AWS_PAGER", ""}};
    o.unset_env = {"AWS_PROFILE", "AWS_SESSION_TOKEN"};
    o.name = "aws";
    return test::run(o, std::chrono::seconds(120));
}

// rclone with an env-only remote "loc"; AWS_CA_BUNDLE must be unset for its plain-HTTP transport.
test::run_result rclone(std::vector<std::string> args) {
    const auto peer = test::rgw();
    test::process_options o;
    o.args = {"rclone"};
    o.args.insert(o.args.end(), args.begin(), args.end());
    o.env = {{"RCLONE_CONFIG", "/dev/null"},
             {"RCLONE_CONFIG_LOC_TYPE", "s3"},
             {"RCLONE_CONFIG_LOC_PROVIDER", "Other"},
             {"RCLONE_CONFIG_LOC_ENV_AUTH", "false"},
             {"RCLONE_CONFIG_LOC_ACCESS_KEY_ID", peer.access_key},
             {"RCLONE_CONFIG_LOC_SECRET_ACCESS_KEY", peer.secret_key},
             {"RCLONE_CONFIG_LOC_ENDPOINT", peer.endpoint},
             {"RCLONE_CONFIG_LOC_REGION", peer.region},
             {"RCLONE_CONFIG_LOC_FORCE_PATH_STYLE", "true"}};
    o.unset_env = {"AWS_CA_BUNDLE"};
    o.name = "rclone";
    return test::run(o, std::chrono::seconds(120));
}

struct s3_interop : ::testing::Test {
    boost::asio::io_context ioc;
    fs::path dir = test::scratch_dir();
    std::string prefix = "interop/" + test::unique_suffix() + "/";
    std::string bucket = test::rgw().bucket;
    std::unique_ptr<backends::object_store> store;

    void SetUp() override {
        auto o = s3::s3_options::from_environment(bucket, test::rgw_store_environment());
        ASSERT_TRUE(o.ok()) << o.error();
        o->part_size = 5 << 20;
        o->multipart_threshold = 8 << 20;
        store = s3::make_s3_store(ioc.get_executor(), std::move(*o));
    }
    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }
    std::string file_sha(const fs::path& p) { return sha256_hex(read_whole_file(p).value()); }
};

} // namespace

TEST_F(s3_interop, lifeboat_writes_awscli_and_rclone_read) {
    const std::string small = random_bytes(3 << 20, 21);
    const std::string large = random_bytes((13 << 20) + 7, 22); // multipart: 5 + 5 + 3 MiB
    ASSERT_TRUE(write_file_atomically(dir / "large.bin", large).ok());
    const auto small_key = prefix + "dir with space/caf\xc3\xa9+small.bin";
    const auto large_key = prefix + "large.bin";
    backends::put_options po;
    po.content_type = "application/x-lifeboat";
    po.metadata = {{"uploader", "node-7"}};
    ASSERT_TRUE(run(store->put(small_key, backends::body_source::from_string(small), po)).ok());
    auto up = run(store->put(large_key, backends::body_source::from_file(dir / "large.bin"), po));
    ASSERT_TRUE(up.ok()) << up.error().to_string();
    EXPECT_TRUE(up->etag.ends_with("-3")) << up->etag;

    for (const auto& [key, content] : {std::pair{small_key, small}, std::pair{large_key, large}}) {
        const auto aws_out = dir / "aws.out";
        auto a = aws({"s3api", "get-object", "--bucket", bucket, "--key", key, aws_out.string()});
        ASSERT_EQ(a.exit_code, 0) << a.err;
        EXPECT_EQ(file_sha(aws_out), sha256_hex(content)) << key;
        EXPECT_NE(a.out.find("\"uploader\": \"node-7\""), std::string::npos) << a.out;
        EXPECT_NE(a.out.find("application/x-lifeboat"), std::string::npos) << a.out;

        const auto rclone_out = dir / "rclone.out";
        auto r = rclone({"copyto", "loc:" + bucket + "/" + key, rclone_out.string()});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(file_sha(rclone_out), sha256_hex(content)) << key;
    }
    // awscli lists what lifeboat wrote, under the same (decoded) keys.
    auto ls = aws({"s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix, "--query",
                   "Contents[].Key", "--output", "text"});
    ASSERT_EQ(ls.exit_code, 0) << ls.err;
    EXPECT_NE(ls.out.find("dir with space/caf\xc3\xa9+small.bin"), std::string::npos) << ls.out;
}

TEST_F(s3_interop, awscli_and_rclone_write_lifeboat_reads) {
    const std::string payload = random_bytes((17 << 20) + 3, 23); // awscli uploads 8 MiB parts
    ASSERT_TRUE(write_file_atomically(dir / "in.bin", payload).ok());
    const auto aws_key = prefix + "from-aws/obj ~=%.bin";
    const auto rclone_key = prefix + "from-rclone/obj.bin";
    auto a = aws({"s3", "cp", (dir / "in.bin").string(), "s3://" + bucket + "/" + aws_key, "--metadata",
                  "uploader=awscli"});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    auto r =
        rclone({"copyto", "--ignore-times", (dir / "in.bin").string(), "loc:" + bucket + "/" + rclone_key});
    ASSERT_EQ(r.exit_code, 0) << r.err;

    auto info = run(store->get_to_file(aws_key, dir / "aws.copy"));
    ASSERT_TRUE(info.ok()) << info.error().to_string();
    EXPECT_EQ(file_sha(dir / "aws.copy"), sha256_hex(payload));
    EXPECT_TRUE(info->etag.find('-') != std::string::npos) << "awscli used multipart: " << info->etag;
    EXPECT_EQ(info->metadata.at("uploader"), "awscli");

    auto mem = run(store->get(rclone_key));
    ASSERT_TRUE(mem.ok()) << mem.error().to_string();
    EXPECT_TRUE(mem->bytes == payload);

    auto listed = run(store->list(prefix + "from-"));
    ASSERT_TRUE(listed.ok());
    ASSERT_EQ(listed->size(), 2u);
    EXPECT_EQ((*listed)[0].key, aws_key);
    EXPECT_EQ((*listed)[1].key, rclone_key);
    EXPECT_EQ((*listed)[0].size, payload.size());
}

TEST_F(s3_interop, curl_sigv4_reads_what_lifeboat_writes) {
    const std::string body = random_bytes(100000, 24);
    ASSERT_TRUE(run(store->put(prefix + "curl.bin", backends::body_source::from_string(body), {})).ok());
    const auto peer = test::rgw();
    test::process_options o;
    o.args = {"curl",
              "-sf",
              "--aws-sigv4",
              "aws:amz:" + peer.region + ":s3",
              "--user",
              peer.access_key + ":" + peer.secret_key,
              "-H",
              "x-amz-content-sha256: UNSIGNED-PAYLOAD",
              "-o",
              (dir / "curl.out").string(),
              peer.endpoint + "/" + bucket + "/" + prefix + "curl.bin"};
    auto c = test::run(o);
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_EQ(file_sha(dir / "curl.out"), sha256_hex(body));
}
