// The elector scenarios (elector_scenarios.hpp) against Ceph RGW through the S3 store: three
// electors, each with its own S3 store instance (own connections and signer), one bucket. RGW
// enforces If-None-Match and If-Match on PUT (If-Match wants the bare ETag, which the store
// handles) and answers some losers of a conditional race with a 500, which the election and the
// fenced upload treat as "re-read and decide".
#include "backends/s3/s3_store.hpp"
#include "election/elector_scenarios.hpp"

namespace lifeboat::test {
namespace {

backends::store_environment rgw_env() {
    const auto peer = rgw();
    backends::store_environment env;
    env.aws_access_key_id = peer.access_key;
    env.aws_secret_access_key = peer.secret_key;
    env.aws_region = peer.region;
    env.aws_endpoint = peer.endpoint;
    env.aws_ec2_metadata_disabled = true;
    return env;
}

store_factory rgw_store() {
    return {"rgw",
            [](boost::asio::any_io_executor ex) {
                auto options = s3::s3_options::from_environment(rgw().bucket, rgw_env());
                EXPECT_TRUE(options.ok()) << options.error();
                return s3::make_s3_store(std::move(ex), std::move(options.value()));
            },
            true};
}

INSTANTIATE_TEST_SUITE_P(stores, elector_scenarios, ::testing::Values(rgw_store()),
                         [](const auto& info) { return info.param.name; });

} // namespace
} // namespace lifeboat::test
