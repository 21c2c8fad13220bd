// Storage URLs, object URLs for the CLI, and the store each one makes.
#include "backends/store_factory.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

namespace lifeboat::backends {
namespace {

storage_url parse_ok(std::string_view url) {
    auto r = parse_storage_url(url);
    EXPECT_TRUE(r) << url << ": " << (r ? "" : r.error());
    return r ? *r : storage_url{};
}

std::string parse_error(std::string_view url) {
    auto r = parse_storage_url(url);
    EXPECT_FALSE(r) << url << " parsed";
    return r ? std::string() : r.error();
}

TEST(storage_url, s3_and_gcs_urls_split_into_bucket_and_prefix) {
    auto s3 = parse_ok("s3://my-bucket/test-prefix");
    EXPECT_EQ(s3.kind, store_kind::s3);
    EXPECT_EQ(s3.bucket, "my-bucket");
    EXPECT_EQ(s3.prefix, "test-prefix");
    EXPECT_EQ(s3.to_string(), "s3://my-bucket/test-prefix");

    auto nested = parse_ok("s3://bkt/a/b/");
    EXPECT_EQ(nested.prefix, "a/b/");
    EXPECT_EQ(parse_ok("s3://bkt").prefix, "");
    EXPECT_EQ(parse_ok("s3://bkt/").prefix, "");
    EXPECT_EQ(parse_ok("s3://bkt//x").prefix, "x");
    EXPECT_EQ(parse_ok("S3://bkt/x").kind, store_kind::s3);
    EXPECT_EQ(parse_ok("s3://Legacy_Bucket/x").bucket, "Legacy_Bucket"); // old S3-compatible names

    auto gcs = parse_ok("gcs://bkt.example.com/p");
    EXPECT_EQ(gcs.kind, store_kind::gcs);
    EXPECT_EQ(gcs.bucket, "bkt.example.com");
    EXPECT_EQ(gcs.to_string(), "gcs://bkt.example.com/p");
    EXPECT_EQ(parse_ok("gs://bkt/p").kind, store_kind::gcs);
}

TEST(storage_url, file_urls_name_an_absolute_folder) {
    auto f = parse_ok("file:///srv/backup");
    EXPECT_EQ(f.kind, store_kind::file);
    EXPECT_EQ(f.path, "/srv/backup");
    EXPECT_EQ(f.prefix, "");
    EXPECT_EQ(f.to_string(), "file:///srv/backup");
    EXPECT_EQ(parse_ok("file:///srv/backup/").path, "/srv/backup");
    EXPECT_EQ(parse_ok("file://localhost/srv/x").path, "/srv/x");
    EXPECT_EQ(parse_ok("file:/srv/x").path, "/srv/x");
    EXPECT_EQ(parse_ok("file:///srv/./a/../x").path, "/srv/x");
}

TEST(storage_url, bad_urls_say_what_is_wrong) {
    EXPECT_EQ(parse_error(""), "storage URL is empty: expected s3://bucket/prefix, gcs://bucket/prefix or "
                               "file:///absolute/path");
    EXPECT_EQ(parse_error("my-bucket/prefix"),
              "storage URL \"my-bucket/prefix\": expected s3://bucket/prefix, "
              "gcs://bucket/prefix or file:///absolute/path");
    EXPECT_NE(parse_error("s3:/bkt").find("expected s3://bucket/prefix"), std::string::npos);
    // azure:// is supported since issue 13; a scheme that is not still says so.
    EXPECT_NE(parse_error("azure://c/p").find("storage account \"c\" must be 3 to 24 characters long"),
              std::string::npos);
    EXPECT_NE(parse_error("wasb://c/p").find("scheme \"wasb\" is not supported"), std::string::npos);
    EXPECT_NE(parse_error("https://s3.amazonaws.com/bkt").find("AWS_CONFIG_STORAGE_ENDPOINT"),
              std::string::npos);
    EXPECT_NE(parse_error("s3://").find("has no bucket"), std::string::npos);
    EXPECT_NE(parse_error("s3:///prefix").find("has no bucket"), std::string::npos);
    EXPECT_NE(parse_error("s3://127.0.0.1:9000/bkt").find("AWS_CONFIG_STORAGE_ENDPOINT"), std::string::npos);
    EXPECT_NE(parse_error("s3://key:secret@bkt/p").find("credentials never go in the URL"),
              std::string::npos);
    EXPECT_NE(parse_error("gcs://Upper/p").find("has the character 'U'"), std::string::npos);
    EXPECT_NE(parse_error("s3://my bucket/p").find("has the character ' '"), std::string::npos);
    EXPECT_NE(parse_error("s3://ab/p").find("3 to 63 characters"), std::string::npos);
    EXPECT_NE(parse_error(std::string("s3://") + std::string(64, 'a')).find("3 to 63 characters"),
              std::string::npos);
    EXPECT_NE(parse_error("file://srv/backup").find("\"srv\" would be a host"), std::string::npos);
    EXPECT_NE(parse_error("file:relative/dir").find("needs an absolute path"), std::string::npos);
    EXPECT_NE(parse_error("file:///").find("root folder"), std::string::npos);
    EXPECT_NE(parse_error("file://host").find("\"host\" would be a host"), std::string::npos);
}

TEST(object_url, cli_urls_name_one_object) {
    auto s3 = parse_object_url("s3://bkt/p/3.9.0.0/config.json");
    ASSERT_TRUE(s3);
    EXPECT_EQ(s3->store.bucket, "bkt");
    EXPECT_EQ(s3->store.prefix, "");
    EXPECT_EQ(s3->key, "p/3.9.0.0/config.json");
    EXPECT_EQ(parse_object_url("gcs://bkt")->key, "");

    auto file = parse_object_url("file:///srv/backup/3.9.0.0/config.json");
    ASSERT_TRUE(file);
    EXPECT_EQ(file->store.path, "/srv/backup/3.9.0.0");
    EXPECT_EQ(file->key, "config.json");
    auto folder = parse_object_url("file:///srv/backup/");
    ASSERT_TRUE(folder);
    EXPECT_EQ(folder->store.path, "/srv/backup");
    EXPECT_EQ(folder->key, "");
    EXPECT_FALSE(parse_object_url("file:///x"));
    EXPECT_FALSE(parse_object_url("ftp://x/y"));
}

TEST(make_object_store, each_scheme_makes_its_store) {
    boost::asio::io_context io;
    store_environment env;
    env.aws_region = "us-east-1";
    env.aws_access_key_id = "AKIATESTTESTTEST0001";
    env.aws_secret_access_key = "secret";
    env.storage_emulator_host = "127.0.0.1:1";

    auto file = make_object_store(io.get_executor(), "file:///tmp/lifeboat-factory-test", env);
    ASSERT_TRUE(file) << file.error();
    EXPECT_EQ((*file)->kind(), store_kind::file);
    EXPECT_EQ((*file)->describe(), "file:///tmp/lifeboat-factory-test");

    auto gcs = make_object_store(io.get_executor(), "gcs://bkt/prefix", env);
    ASSERT_TRUE(gcs) << gcs.error();
    EXPECT_EQ((*gcs)->kind(), store_kind::gcs);
    EXPECT_EQ((*gcs)->describe(), "gcs://bkt");

    auto s3 = make_object_store(io.get_executor(), "s3://bkt/prefix", env);
    ASSERT_TRUE(s3) << s3.error();
    EXPECT_EQ((*s3)->kind(), store_kind::s3);

    auto bad_url = make_object_store(io.get_executor(), "s3:/bkt", env);
    ASSERT_FALSE(bad_url);
    EXPECT_NE(bad_url.error().find("storage URL"), std::string::npos);

    env.gcp_service_account = "{not json";
    auto bad_gcs = make_object_store(io.get_executor(), "gcs://bkt/p", env);
    ASSERT_FALSE(bad_gcs);
    EXPECT_NE(bad_gcs.error().find("GCP_SERVICE_ACCOUNT: not a JSON object"), std::string::npos)
        << bad_gcs.error();

    env.aws_region.clear();
    auto no_region = make_object_store(io.get_executor(), "s3://bkt/p", env);
    ASSERT_FALSE(no_region);
    EXPECT_NE(no_region.error().find("region"), std::string::npos) << no_region.error();
}

} // namespace
} // namespace lifeboat::backends
