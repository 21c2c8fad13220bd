// The S3 store against a real Ceph RGW 16 (the ctest `rgw` fixture): every object_store
// operation, pagination over 1000 keys, multipart, conditional writes (including RGW's quirks),
// awkward keys, wrong credentials, and clock-skew correction.
#include "backends/s3/s3_store.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "base/log.hpp"
#include "harness/rgw_store.hpp"
#include "harness/test_env.hpp"
#include "run_async.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <set>

using namespace lifeboat;
using test::random_bytes;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using backends::store_errc;

namespace {

s3::s3_options rgw_options() {
    auto o = s3::s3_options::from_environment(test::rgw().bucket, test::rgw_store_environment());
    EXPECT_TRUE(o.ok()) << o.error();
    return std::move(o.value());
}

struct s3_rgw : ::testing::Test {
    boost::asio::io_context ioc;
    fs::path dir = test::scratch_dir();
    std::string prefix = "s3-test/" + test::unique_suffix() + "/";

    std::unique_ptr<backends::object_store> store(s3::s3_options o = rgw_options()) {
        return s3::make_s3_store(ioc.get_executor(), std::move(o));
    }
    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }
};

} // namespace

TEST(s3_options, region_is_required_and_bad_input_is_named) {
    auto env = test::rgw_store_environment();
    env.aws_region.clear();
    auto o = s3::s3_options::from_environment("bucket", env);
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.error(), "S3 region is not configured (set AWS_REGION or AWS_DEFAULT_REGION)");
    env = test::rgw_store_environment();
    env.aws_endpoint = "ftp://x";
    auto bad = s3::s3_options::from_environment("bucket", env);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().find("AWS_CONFIG_STORAGE_ENDPOINT"), std::string::npos);
    EXPECT_FALSE(s3::s3_options::from_environment("b", test::rgw_store_environment()).ok());
}

TEST_F(s3_rgw, put_get_head_list_remove) {
    auto s = store();
    EXPECT_EQ(s->kind(), backends::store_kind::s3);
    EXPECT_EQ(s->describe(), "s3://lifeboat-test at http://127.0.0.1:17480");
    EXPECT_FALSE(s->last_server_date().has_value());

    backends::put_options po;
    po.content_type = "application/json";
    po.metadata = {{"uploader", "node-1"}, {"Kong-Version", "3.9.0.0"}};
    po.s3_fields = {{"StorageClass", "STANDARD"}};
    const std::string body = R"({"config":true})";
    auto put = run(s->put(prefix + "config.json", backends::body_source::from_string(body), po));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_EQ(put->etag, md5_hex(body));
    EXPECT_EQ(put->size, body.size());
    ASSERT_TRUE(s->last_server_date().has_value());
    EXPECT_LT(std::chrono::abs(*s->last_server_date() - wall_clock::now()), 60s);

    auto head = run(s->head(prefix + "config.json"));
    ASSERT_TRUE(head.ok()) << head.error().to_string();
    EXPECT_EQ(head->size, body.size());
    EXPECT_EQ(head->etag, put->etag);
    EXPECT_EQ(head->content_type, "application/json");
    EXPECT_EQ(head->metadata.at("uploader"), "node-1");
    EXPECT_EQ(head->metadata.at("kong-version"), "3.9.0.0");
    EXPECT_LT(std::chrono::abs(head->last_modified - wall_clock::now()), 60s);

    auto get = run(s->get(prefix + "config.json"));
    ASSERT_TRUE(get.ok()) << get.error().to_string();
    EXPECT_EQ(get->bytes, body);
    EXPECT_EQ(get->info.metadata.at("uploader"), "node-1");

    auto small = run(s->get(prefix + "config.json", 4));
    ASSERT_FALSE(small.ok());
    EXPECT_EQ(small.error().code, store_errc::too_large);

    auto to_file = run(s->get_to_file(prefix + "config.json", dir / "copy.json"));
    ASSERT_TRUE(to_file.ok()) << to_file.error().to_string();
    EXPECT_EQ(read_whole_file(dir / "copy.json").value(), body);
    EXPECT_EQ(to_file->size, body.size());

    auto listed = run(s->list(prefix));
    ASSERT_TRUE(listed.ok()) << listed.error().to_string();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].key, prefix + "config.json");
    EXPECT_EQ((*listed)[0].etag, put->etag);
    EXPECT_EQ((*listed)[0].size, body.size());

    ASSERT_TRUE(run(s->remove(prefix + "config.json")).ok());
    auto gone = run(s->head(prefix + "config.json"));
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code, store_errc::not_found);
    auto missing = run(s->get(prefix + "config.json"));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, store_errc::not_found);
    EXPECT_EQ(missing.error().provider_code, "NoSuchKey");
    EXPECT_EQ(missing.error().message, "the object does not exist"); // RGW's <Message> is empty
    EXPECT_NE(missing.error().to_string().find("GET lifeboat-test/" + prefix + "config.json: 404 NoSuchKey"),
              std::string::npos)
        << missing.error().to_string();
    auto not_there = run(s->get_to_file(prefix + "config.json", dir / "never.json"));
    ASSERT_FALSE(not_there.ok());
    EXPECT_FALSE(fs::exists(dir / "never.json"));
    EXPECT_TRUE(run(s->remove(prefix + "config.json")).ok()) << "a missing key is success";
    EXPECT_TRUE(run(s->list(prefix)).value().empty());
}

TEST_F(s3_rgw, awkward_keys_round_trip) {
    auto s = store();
    const std::vector<std::string> names = {
        "with space",    "plus+sign",
        "percent%41",    "tilde~",
        "eq=uals&amp",   "unicode-\xc3\xa9\xe4\xb8\xad",
        "double//slash", "dot/../dot",
        "./leading-dot", "trailing-slash/",
        "semi;colon",    "quote'\"",
        "star*paren()",  "hash#q?x",
        "lt<gt>",        "caf\xc3\xa9 + 100%",
    };
    std::set<std::string> keys;
    for (const auto& n : names) {
        const auto key = prefix + n;
        keys.insert(key);
        auto put = run(s->put(key, backends::body_source::from_string("body of " + n), {}));
        ASSERT_TRUE(put.ok()) << n << ": " << put.error().to_string();
        auto got = run(s->get(key));
        ASSERT_TRUE(got.ok()) << n << ": " << got.error().to_string();
        EXPECT_EQ(got->bytes, "body of " + n);
    }
    auto listed = run(s->list(prefix));
    ASSERT_TRUE(listed.ok()) << listed.error().to_string();
    std::set<std::string> seen;
    for (const auto& o : *listed)
        seen.insert(o.key);
    EXPECT_EQ(seen, keys);
    // ".." and "//" are data, not path steps: "dot/../dot" did not land on "dot".
    EXPECT_FALSE(run(s->head(prefix + "dot")).ok());
    EXPECT_FALSE(run(s->head(prefix + "double/slash")).ok());
}

TEST_F(s3_rgw, lists_more_than_1000_keys_across_pages) {
    auto s = store();
    constexpr int count = 1100;
    int done = 0, failed = 0;
    // Eight writers in parallel on one client: the pool opens a connection per writer.
    for (int w = 0; w < 8; ++w) {
        boost::asio::co_spawn(
            ioc,
            [&, w]() -> boost::asio::awaitable<void> {
                for (int i = w; i < count; i += 8) {
                    // Named arguments: GCC 12 destroys an aggregate temporary ({} as put_options)
                    // passed by value in a co_await expression twice.
                    auto key = fmt::format("{}k{:05}", prefix, i);
                    auto body = backends::body_source::from_string(std::to_string(i));
                    backends::put_options po;
                    auto r = co_await s->put(std::move(key), std::move(body), std::move(po));
                    failed += !r.ok();
                    ++done;
                }
            },
            boost::asio::detached);
    }
    while (done < count)
        ioc.run_one();
    ASSERT_EQ(failed, 0);
    auto all = run(s->list(prefix));
    ASSERT_TRUE(all.ok()) << all.error().to_string();
    ASSERT_EQ(all->size(), std::size_t(count));
    for (int i = 0; i < count; ++i)
        ASSERT_EQ((*all)[i].key, fmt::format("{}k{:05}", prefix, i));
    auto some = run(s->list(prefix, 1050));
    ASSERT_TRUE(some.ok());
    EXPECT_EQ(some->size(), 1050u);
    EXPECT_EQ(some->back().key, fmt::format("{}k{:05}", prefix, 1049));
}

TEST_F(s3_rgw, multipart_upload_from_a_file) {
    auto o = rgw_options();
    o.part_size = 5 << 20;
    o.multipart_threshold = 6 << 20;
    auto s = store(o);
    const std::string payload = random_bytes((12 << 20) + 4321, 9);
    ASSERT_TRUE(write_file_atomically(dir / "big.bin", payload).ok());
    backends::put_options po;
    po.metadata = {{"uploader", "node-2"}};
    auto put = run(s->put(prefix + "big.bin", backends::body_source::from_file(dir / "big.bin"), po));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_TRUE(put->etag.ends_with("-3")) << put->etag; // three parts: 5 + 5 + 2 MiB
    EXPECT_EQ(put->size, payload.size());

    auto head = run(s->head(prefix + "big.bin"));
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(head->etag, put->etag);
    EXPECT_EQ(head->metadata.at("uploader"), "node-2");
    auto down = run(s->get_to_file(prefix + "big.bin", dir / "down.bin"));
    ASSERT_TRUE(down.ok()) << down.error().to_string();
    EXPECT_EQ(sha256_hex(read_whole_file(dir / "down.bin").value()), sha256_hex(payload));

    // A small file under the threshold goes up in one PUT (a plain MD5 ETag).
    ASSERT_TRUE(write_file_atomically(dir / "small.bin", "tiny").ok());
    auto one = run(s->put(prefix + "small.bin", backends::body_source::from_file(dir / "small.bin"), {}));
    ASSERT_TRUE(one.ok());
    EXPECT_EQ(one->etag, md5_hex("tiny"));
}

TEST_F(s3_rgw, conditional_writes) {
    auto s = store();
    const auto key = prefix + "leader";
    backends::put_options create;
    create.condition = backends::write_condition::if_absent;
    auto first = run(s->put(key, backends::body_source::from_string("node-a"), create));
    ASSERT_TRUE(first.ok()) << first.error().to_string();
    auto second = run(s->put(key, backends::body_source::from_string("node-b"), create));
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, store_errc::precondition_failed);
    EXPECT_EQ(second.error().http_status, 412);
    EXPECT_EQ(run(s->get(key)).value().bytes, "node-a");

    backends::put_options swap;
    swap.condition = backends::write_condition::if_match;
    swap.expected_version = backends::version_token(*first);
    auto swapped = run(s->put(key, backends::body_source::from_string("node-a2"), swap));
    ASSERT_TRUE(swapped.ok()) << swapped.error().to_string();
    auto stale = run(s->put(key, backends::body_source::from_string("node-c"), swap)); // old etag
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.error().code, store_errc::precondition_failed);
    EXPECT_EQ(run(s->get(key)).value().bytes, "node-a2");

    backends::put_options on_missing = swap;
    auto missing = run(s->put(prefix + "nobody", backends::body_source::from_string("x"), on_missing));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, store_errc::precondition_failed);

    // Conditional delete: a stale version is refused, the current one deletes.
    auto refused = run(s->remove(key, first->etag));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, store_errc::precondition_failed);
    ASSERT_TRUE(run(s->remove(key, swapped->etag)).ok());
    EXPECT_EQ(run(s->head(key)).error().code, store_errc::not_found);
}

TEST_F(s3_rgw, a_false_412_from_the_quoted_etag_form_is_detected) {
    auto o = rgw_options();
    o.if_match_quoted = true; // what AWS SDKs send; RGW 16 answers it with a false 412
    auto s = store(o);
    const auto key = prefix + "cas";
    auto first = run(s->put(key, backends::body_source::from_string("v1"), {}));
    ASSERT_TRUE(first.ok());
    log::capture logs;
    backends::put_options swap;
    swap.condition = backends::write_condition::if_match;
    swap.expected_version = first->etag;
    auto swapped = run(s->put(key, backends::body_source::from_string("v2"), swap));
    ASSERT_TRUE(swapped.ok()) << swapped.error().to_string();
    EXPECT_TRUE(logs.contains("switching the ETag form"));
    EXPECT_EQ(run(s->get(key)).value().bytes, "v2");
    // The store remembers: the next swap needs no detour.
    logs.clear();
    swap.expected_version = swapped->etag;
    ASSERT_TRUE(run(s->put(key, backends::body_source::from_string("v3"), swap)).ok());
    EXPECT_FALSE(logs.contains("switching the ETag form"));
}

TEST_F(s3_rgw, racing_conditional_creates_have_exactly_one_winner) {
    auto s = store();
    const auto key = prefix + "race";
    int wins = 0, lost = 0, unknown = 0, other = 0, done = 0;
    for (int i = 0; i < 10; ++i) {
        boost::asio::co_spawn(
            ioc,
            [&, i]() -> boost::asio::awaitable<void> {
                backends::put_options po;
                po.condition = backends::write_condition::if_absent;
                auto body = backends::body_source::from_string("racer " + std::to_string(i));
                auto r = co_await s->put(key, std::move(body), std::move(po));
                if (r.ok())
                    ++wins;
                else if (r.error().code == store_errc::precondition_failed)
                    ++lost;
                else if (r.error().code == store_errc::conflict)
                    ++unknown; // "outcome unknown: re-read"
                else
                    ++other;
                ++done;
            },
            boost::asio::detached);
    }
    while (done < 10)
        ioc.run_one();
    EXPECT_EQ(wins, 1);
    EXPECT_EQ(lost + unknown, 9);
    EXPECT_EQ(other, 0);
}

TEST_F(s3_rgw, wrong_credentials_give_a_clear_error) {
    auto env = test::rgw_store_environment();
    env.aws_secret_access_key = "not-the-secret";
    auto s = store(s3::s3_options::from_environment(test::rgw().bucket, env).value());
    auto r = run(s->get(prefix + "x"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, store_errc::bad_credentials);
    EXPECT_EQ(r.error().provider_code, "SignatureDoesNotMatch");
    EXPECT_NE(r.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().to_string().find("not-the-secret"), std::string::npos);

    env = test::rgw_store_environment();
    env.aws_access_key_id = "AKIANOSUCHKEY0000000";
    auto s2 = store(s3::s3_options::from_environment(test::rgw().bucket, env).value());
    auto r2 = run(s2->put(prefix + "x", backends::body_source::from_string("x"), {}));
    ASSERT_FALSE(r2.ok());
    EXPECT_EQ(r2.error().code, store_errc::bad_credentials);
    EXPECT_EQ(r2.error().provider_code, "InvalidAccessKeyId");

    env = test::rgw_store_environment();
    env.aws_access_key_id.clear();
    env.aws_secret_access_key.clear();
    env.home = dir.string(); // no ~/.aws here
    auto s3 = store(s3::s3_options::from_environment(test::rgw().bucket, env).value());
    auto r3 = run(s3->head(prefix + "x"));
    ASSERT_FALSE(r3.ok());
    EXPECT_EQ(r3.error().code, store_errc::bad_credentials);
    EXPECT_NE(r3.error().message.find("no S3 credentials found"), std::string::npos) << r3.error().message;
}

TEST_F(s3_rgw, a_missing_bucket_and_refused_fields_are_named) {
    auto o = rgw_options();
    o.bucket = "no-such-bucket-" + test::unique_suffix();
    auto s = store(o);
    auto r = run(s->list(""));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, store_errc::not_found);
    EXPECT_EQ(r.error().provider_code, "NoSuchBucket");
    EXPECT_EQ(r.error().message, "the bucket does not exist");

    auto good = store();
    backends::put_options po;
    po.s3_fields = {{"ServerSideEncrypton", "AES256"}}; // typo
    auto typo = run(good->put(prefix + "x", backends::body_source::from_string("x"), po));
    ASSERT_FALSE(typo.ok());
    EXPECT_EQ(typo.error().code, store_errc::invalid_argument);
    EXPECT_NE(typo.error().message.find("ServerSideEncrypton"), std::string::npos);
    EXPECT_EQ(run(good->head(prefix + "x")).error().code, store_errc::not_found) << "nothing was sent";
}

TEST_F(s3_rgw, a_skewed_local_clock_is_corrected_from_the_store_date) {
    auto o = rgw_options();
    o.clock = [] { return wall_clock::now() - 2h; }; // far outside SigV4's 15 minutes
    auto s = store(o);
    log::capture logs;
    auto put = run(s->put(prefix + "skew", backends::body_source::from_string("tick"), {}));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_TRUE(logs.contains("the local clock differs")) << (logs.lines().empty() ? "" : logs.lines()[0]);
    EXPECT_EQ(run(s->get(prefix + "skew")).value().bytes, "tick");
}
