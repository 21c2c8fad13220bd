// What the data plane tells the CP about itself, read back the way the reference CP reads it.
#include "protocol/kong_node.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace lifeboat::protocol;

TEST(kong_node, the_outlet_target_reads_back_with_odd_characters) {
    node_description node{.node_id = "0b5c-4f", .hostname = "dp 1&x=y", .version = "3.9.0.0"};
    const auto target = outlet_target(node);
    EXPECT_EQ(target, "/v1/outlet?node_id=0b5c-4f&node_hostname=dp%201%26x%3Dy&node_version=3.9.0.0");
    const auto q = parse_outlet_target(target);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->node_id, "0b5c-4f");
    EXPECT_EQ(q->hostname, "dp 1&x=y");
    EXPECT_EQ(q->version, "3.9.0.0");
    EXPECT_FALSE(parse_outlet_target("/v1/other?node_id=a"));
    const auto partial = parse_outlet_target("/v1/outlet?node_id=a");
    ASSERT_TRUE(partial);
    EXPECT_FALSE(partial->version);
}

TEST(kong_node, basic_info_lists_the_plugins_and_reads_back) {
    node_description node{.version = "3.9.0.0",
                          .plugins = {{"rate-limiting", "3.9.0"}, {"my-plugin", ""}},
                          .labels = {{"region", "eu"}},
                          .mtls = cluster_mtls::pki,
                          .control_plane = "cp.internal:8005",
                          .max_payload = 16 << 20};
    const auto frame = basic_info(node);
    const auto info = boost::json::parse(frame).as_object();
    EXPECT_EQ(info.at("type"), "basic_info");
    EXPECT_EQ(info.at("labels").at("region"), "eu");
    EXPECT_EQ(info.at("process_conf").at("cluster_mtls"), "pki");
    EXPECT_EQ(info.at("process_conf").at("cluster_max_payload"), 16 << 20);
    EXPECT_FALSE(info.at("plugins").as_array()[1].as_object().contains("version"));
    const auto plugins = parse_basic_info(frame);
    ASSERT_TRUE(plugins);
    ASSERT_EQ(plugins.value().size(), 2u);
    EXPECT_EQ(plugins.value()[0].name, "rate-limiting");
    EXPECT_EQ(plugins.value()[0].version, "3.9.0");
    EXPECT_EQ(plugins.value()[1].name, "my-plugin");
    EXPECT_EQ(plugins.value()[1].version, "");
    // No plugins given: the bundled plugins of that Kong version.
    const auto bundled = parse_basic_info(basic_info({.version = "3.9.0.0"}));
    ASSERT_TRUE(bundled);
    EXPECT_EQ(bundled.value().size(), bundled_plugins("3.9.0.0").size());
}

TEST(kong_node, basic_info_that_kong_would_refuse_is_refused_with_kongs_words) {
    EXPECT_EQ(parse_basic_info("not json").error(), "failed to decode websocket basic info data");
    EXPECT_EQ(parse_basic_info(R"({"type":"reconfigure","plugins":[]})").error(),
              "invalid basic info data type: reconfigure");
    EXPECT_EQ(parse_basic_info(R"({"plugins":[]})").error(), "invalid basic info data type: unknown");
    EXPECT_EQ(parse_basic_info(R"({"type":"basic_info"})").error(), "missing plugins in basic info data");
    // An empty Lua table is encoded as {}: no plugins, not an error.
    const auto empty = parse_basic_info(R"({"type":"basic_info","plugins":{}})");
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty.value().empty());
}
