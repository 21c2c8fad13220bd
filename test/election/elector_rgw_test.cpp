// The elector scenarios (elector_scenarios.hpp) against Ceph RGW through the S3 store: three
// electors, each with its own S3 store instance (own connections and signer), one bucket. RGW
// enforces If-None-Match and If-Match on PUT (If-Match wants the bare ETag, which the store
// handles) and answers some losers of a conditional race with a 500, which the election and the
// fenced upload treat as "re-read and decide".
#include "backends/s3/s3_store.hpp"
#include "election/elector_scenarios.hpp"
#include "harness/rgw_store.hpp"

namespace lifeboat::test {
namespace {

store_factory rgw_store() {
    return {"rgw",
            [](boost::asio::any_io_executor ex) {
                auto options = s3::s3_options::from_environment(rgw().bucket, test::rgw_store_environment());
                EXPECT_TRUE(options.ok()) << options.error();
                return s3::make_s3_store(std::move(ex), std::move(options.value()));
            },
            true};
}

INSTANTIATE_TEST_SUITE_P(stores, elector_scenarios, ::testing::Values(rgw_store()),
                         [](const auto& info) { return info.param.name; });

} // namespace
} // namespace lifeboat::test
