// The S3 store's streamed read (object_store::get_streamed) against the Ceph RGW fixture: the
// object arrives in pieces, with its metadata, and the store's error mapping holds.
#include "backends/s3/s3_store.hpp"
#include "harness/recording_sink.hpp"
#include "harness/rgw_store.hpp"
#include "harness/test_env.hpp"
#include "run_async.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

using namespace lifeboat;
using backends::store_errc;

namespace {

using received = test::recording_sink;

struct s3_streamed : ::testing::Test {
    boost::asio::io_context ioc;
    std::string prefix = "s3-streamed/" + test::unique_suffix() + "/";
    std::unique_ptr<backends::object_store> store = s3::make_s3_store(
        ioc.get_executor(),
        s3::s3_options::from_environment(test::rgw().bucket, test::rgw_store_environment()).value());

    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }
};

} // namespace

TEST_F(s3_streamed, an_object_arrives_in_pieces_with_its_metadata) {
    const std::string body = test::random_bytes(3 * 1024 * 1024 + 5, 21);
    backends::put_options po;
    po.content_type = "application/json";
    po.metadata = {{"lifeboat-config-hash", "0123456789abcdef0123456789abcdef"}};
    ASSERT_TRUE(run(store->put(prefix + "config.json", backends::body_source::from_string(body), po)));

    received got;
    auto info = run(store->get_streamed(prefix + "config.json", body.size(), got.sink()));
    ASSERT_TRUE(info.ok()) << info.error().to_string();
    EXPECT_EQ(info->size, body.size());
    EXPECT_EQ(info->content_type, "application/json");
    EXPECT_EQ(info->metadata.at("lifeboat-config-hash"), "0123456789abcdef0123456789abcdef");
    ASSERT_EQ(got.starts.size(), 1u);
    EXPECT_EQ(got.starts[0], std::optional<std::uint64_t>(body.size())); // RGW's Content-Length
    EXPECT_TRUE(got.bytes == body);
    EXPECT_GT(got.pieces, 1u);

    received small;
    auto too_large = run(store->get_streamed(prefix + "config.json", body.size() - 1, small.sink()));
    ASSERT_FALSE(too_large.ok());
    EXPECT_EQ(too_large.error().code, store_errc::too_large);
    EXPECT_TRUE(small.bytes.empty());

    received refusing;
    refusing.refuse_after = 0;
    auto refused = run(store->get_streamed(prefix + "config.json", body.size(), refusing.sink()));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, store_errc::local_io);
    EXPECT_NE(refused.error().message.find("not a config"), std::string::npos) << refused.error().to_string();
    EXPECT_EQ(refusing.pieces, 1u);

    ASSERT_TRUE(run(store->remove(prefix + "config.json")));
}

TEST_F(s3_streamed, a_missing_object_is_not_found_and_the_sink_sees_nothing) {
    received got;
    auto info = run(store->get_streamed(prefix + "none.json", 1 << 20, got.sink()));
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error().code, store_errc::not_found);
    EXPECT_TRUE(got.starts.empty()); // the 404's error body never reaches the sink
    EXPECT_TRUE(got.bytes.empty());
}
