// The storage environment of a node that reaches the RGW fixture through the S3 store, as the
// agent would read it from AWS_* variables (test_env.hpp has the peer's endpoint and keys).
#pragma once

#include "backends/store_environment.hpp"
#include "harness/test_env.hpp"

namespace lifeboat::test {

inline backends::store_environment rgw_store_environment() {
    const auto peer = rgw();
    backends::store_environment env;
    env.aws_access_key_id = peer.access_key;
    env.aws_secret_access_key = peer.secret_key;
    env.aws_region = peer.region;
    env.aws_endpoint = peer.endpoint;
    env.aws_ec2_metadata_disabled = true;
    return env;
}

} // namespace lifeboat::test
