// The elector scenarios (elector_scenarios.hpp) on s3rver through the S3 store: a real S3 server
// that ignores conditional writes (If-None-Match and If-Match on PUT always overwrite), as some
// S3-compatible stores do. The probe finds that out, the election falls back to Kong's
// registration-only scheme, and the scenarios assert what lifeboat promises there.
#include "backends/s3/s3_store.hpp"
#include "backends/store_environment.hpp"
#include "election/elector_scenarios.hpp"

namespace lifeboat::test {
namespace {

store_factory s3rver_store() {
    return {"s3rver",
            [](boost::asio::any_io_executor ex) {
                const auto peer = s3rver();
                backends::store_environment env;
                env.aws_access_key_id = peer.access_key;
                env.aws_secret_access_key = peer.secret_key;
                env.aws_region = peer.region;
                env.aws_endpoint = peer.endpoint;
                env.aws_ec2_metadata_disabled = true;
                auto options = s3::s3_options::from_environment(peer.bucket, env);
                EXPECT_TRUE(options.ok()) << options.error();
                return s3::make_s3_store(std::move(ex), std::move(options.value()));
            },
            false};
}

INSTANTIATE_TEST_SUITE_P(stores, elector_scenarios, ::testing::Values(s3rver_store()),
                         [](const auto& info) { return info.param.name; });

} // namespace
} // namespace lifeboat::test
