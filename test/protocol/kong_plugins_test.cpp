// The plugin catalogue (Kong's bundled plugins per version), dp_plugins parsing, and the CP's
// plugin gate as the reference CP applies it, with the cases of Kong's own
// spec/02-integration/09-hybrid_mode/01-sync_spec.lua ("allowed" and "blocked" cases) transcribed
// for a CP whose key-auth is 3.9.0 and a config that uses key-auth.
#include "protocol/kong_plugins.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string_view>

using namespace lifeboat::protocol;

namespace {

std::optional<std::string> version_of(const std::vector<plugin_info>& list, std::string_view name) {
    for (const auto& p : list)
        if (p.name == name)
            return p.version;
    return std::nullopt;
}

bool sorted_by_name(const std::vector<plugin_info>& list) {
    return std::is_sorted(list.begin(), list.end(),
                          [](const auto& a, const auto& b) { return a.name < b.name; });
}

} // namespace

TEST(kong_plugin_catalogue, lts_3_4_has_the_open_source_set_and_enterprise_plugins) {
    const auto p = bundled_plugins("3.4.3.5");
    EXPECT_TRUE(sorted_by_name(p));
    // 37 open-source plugins (kong/constants.lua at 3.4.0) and 35 Enterprise ones.
    EXPECT_EQ(p.size(), 37u + 35u);
    EXPECT_EQ(version_of(p, "key-auth"), "3.4.3");
    EXPECT_EQ(version_of(p, "openid-connect"), "3.4.3");
    EXPECT_EQ(version_of(p, "rate-limiting-advanced"), "3.4.3");
    EXPECT_EQ(version_of(p, "opentelemetry"), "0.1.0");       // its handler said so until 3.8
    EXPECT_FALSE(version_of(p, "ai-proxy"));                  // 3.6
    EXPECT_FALSE(version_of(p, "ai-rate-limiting-advanced")); // 3.7
}

TEST(kong_plugin_catalogue, each_version_adds_what_kong_added) {
    EXPECT_EQ(version_of(bundled_plugins("3.6.1"), "ai-proxy"), "3.6.1");
    EXPECT_EQ(version_of(bundled_plugins("3.7.0.0"), "opentelemetry"), "0.1.0");
    EXPECT_EQ(version_of(bundled_plugins("3.8.0.0"), "opentelemetry"), "3.8.0");
    EXPECT_EQ(version_of(bundled_plugins("3.8.0.0"), "standard-webhooks"), "3.8.0");
    EXPECT_FALSE(version_of(bundled_plugins("3.8.0.0"), "redirect"));
    EXPECT_EQ(version_of(bundled_plugins("3.9.0.0"), "redirect"), "3.9.0");
    EXPECT_FALSE(version_of(bundled_plugins("3.9.0.0"), "kafka-consume"));
    EXPECT_EQ(version_of(bundled_plugins("3.10.0.0"), "kafka-consume"), "3.10.0");
    EXPECT_EQ(version_of(bundled_plugins("3.12.1.0"), "ai-mcp-proxy"), "3.12.1");
    EXPECT_FALSE(version_of(bundled_plugins("3.13.0.0"), "ai-a2a-proxy"));
    EXPECT_EQ(version_of(bundled_plugins("3.14.0.0"), "ai-a2a-proxy"), "3.14.0");
    const auto newest = bundled_plugins("3.15.0.0");
    EXPECT_EQ(newest.size(), kong_plugin_catalogue().size());
    EXPECT_TRUE(sorted_by_name(newest));
    // Every version in range only grows.
    for (int minor = catalogue_first_minor; minor < catalogue_last_minor; ++minor)
        EXPECT_LE(bundled_plugins("3." + std::to_string(minor) + ".0").size(),
                  bundled_plugins("3." + std::to_string(minor + 1) + ".0").size())
            << minor;
}

TEST(kong_plugin_catalogue, names_are_unique_and_open_source_ones_match_kong_constants) {
    std::set<std::string_view> names;
    std::size_t oss = 0;
    for (const auto& p : kong_plugin_catalogue()) {
        EXPECT_TRUE(names.insert(p.name).second) << p.name;
        oss += p.edition == plugin_edition::oss;
    }
    EXPECT_EQ(oss, 45u); // kong/constants.lua at 3.9.0: 37 + 6 ai-* + standard-webhooks + redirect
}

TEST(dp_plugins, entries_lists_and_additions) {
    auto list = plugin_list({}, "3.9.0.0");
    ASSERT_TRUE(list);
    EXPECT_EQ(list->size(), bundled_plugins("3.9.0.0").size());

    list = plugin_list({"+my-auth:1.2.3", "+other"}, "3.9.0.0");
    ASSERT_TRUE(list);
    EXPECT_EQ(list->size(), bundled_plugins("3.9.0.0").size() + 2);
    EXPECT_EQ(version_of(*list, "my-auth"), "1.2.3");
    EXPECT_EQ(version_of(*list, "other"), "3.9.0");
    EXPECT_EQ(version_of(*list, "openid-connect"), "3.9.0");

    list = plugin_list({"key-auth", "rate-limiting:3.6.0", "+my-auth:1.0.0"}, "3.9.0.0");
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 3u); // an explicit list replaces the catalogue
    EXPECT_EQ(version_of(*list, "rate-limiting"), "3.6.0");

    EXPECT_FALSE(plugin_list({"auto"}, "3.9.0.0")); // needs the gateway
    EXPECT_FALSE(parse_plugin_selection({"auto", "key-auth"}));
    EXPECT_FALSE(parse_plugin_selection({"+bad name"}));
    EXPECT_FALSE(parse_plugin_selection({"+x:1.two"}));

    auto sel = parse_plugin_selection({"auto", "+my-auth:1.2.3"});
    ASSERT_TRUE(sel);
    EXPECT_EQ(sel->base, plugin_source::gateway);
    const std::vector<plugin_info> gateway{{"key-auth", "3.11.0"}, {"my-auth", "0.9.0"}};
    const auto mirrored = resolve_plugins(*sel, "3.11.0.0", &gateway);
    ASSERT_EQ(mirrored.size(), 2u);
    EXPECT_EQ(version_of(mirrored, "my-auth"), "1.2.3"); // the addition wins
    // The gateway unreachable: the catalogue stands in, the addition still applies.
    const auto fallback = resolve_plugins(*sel, "3.11.0.0", nullptr);
    EXPECT_EQ(fallback.size(), bundled_plugins("3.11.0.0").size() + 1);
}

// ---- the gate ----

namespace {

const std::vector<plugin_info> cp = bundled_plugins("3.9.0.0"); // key-auth 3.9.0
const std::set<std::string, std::less<>> uses_key_auth{"key-auth"};

gate_verdict gate(std::vector<plugin_info> dp,
                  const std::set<std::string, std::less<>>& configured = uses_key_auth) {
    return check_configuration_compatibility(cp, configured, to_plugin_map(dp)).verdict;
}

} // namespace

TEST(plugin_gate, kong_allowed_cases) {
    EXPECT_EQ(gate(cp), gate_verdict::normal);                         // versions and plugins match
    EXPECT_EQ(gate({{"key-auth", "3.9.0"}}), gate_verdict::normal);    // DP has just the configured plugin
    EXPECT_EQ(gate({{"key-auth", "3.0.0"}}), gate_verdict::normal);    // older DP plugin, same major
    EXPECT_EQ(gate({{"key-auth", "3.9.1000"}}), gate_verdict::normal); // newer DP patch
    auto superset = cp;
    superset.push_back({"banana", "1.1.1"});
    superset.push_back({"pineapple", "1.1.2"});
    EXPECT_EQ(gate(superset), gate_verdict::normal);                // DP plugin set is a superset of the CP's
    EXPECT_EQ(gate({{"key-auth", "3.7.0"}}), gate_verdict::normal); // matches to major
    EXPECT_EQ(gate({{"key-auth", "3.9.0"}}, {}), gate_verdict::normal); // nothing configured
    // A plugin the config does not use may be missing or of any version.
    EXPECT_EQ(gate({{"key-auth", "3.9.0"}, {"cors", "9.0.0"}}), gate_verdict::normal);
    // An unversioned DP plugin passes the version rule (plugins_list_to_map gives it no version).
    EXPECT_EQ(gate({{"key-auth", ""}}), gate_verdict::normal);
    EXPECT_EQ(gate({{"key-auth", "x"}}), gate_verdict::normal);
}

TEST(plugin_gate, kong_blocked_cases) {
    auto r =
        check_configuration_compatibility(cp, uses_key_auth, to_plugin_map({{"banana-plugin", "1.0.0"}}));
    EXPECT_EQ(r.verdict, gate_verdict::plugin_set_incompatible);
    EXPECT_EQ(r.message, "configured key-auth plugin 3.9.0 is missing from data plane");

    r = check_configuration_compatibility(cp, uses_key_auth, to_plugin_map({{"key-auth", "1.0.0"}}));
    EXPECT_EQ(r.verdict, gate_verdict::plugin_version_incompatible); // older major
    EXPECT_EQ(r.message,
              "configured data plane key-auth plugin version 1.0.0 is different to control plane plugin "
              "version 3.9.0");
    EXPECT_EQ(gate({{"key-auth", "1000.0.0"}}), gate_verdict::plugin_version_incompatible); // newer major
    EXPECT_EQ(gate({{"key-auth", "3.1000.0"}}), gate_verdict::plugin_version_incompatible); // newer DP minor
    EXPECT_EQ(gate({{"key-auth", "3.10.0"}}), gate_verdict::plugin_version_incompatible); // a 3.10 DP plugin
}

TEST(plugin_gate, opentelemetry_0_1_0_is_accepted) {
    const std::set<std::string, std::less<>> uses_otel{"opentelemetry"};
    const auto cp38 = bundled_plugins("3.8.0.0"); // opentelemetry 3.8.0
    EXPECT_EQ(check_configuration_compatibility(cp38, uses_otel, to_plugin_map({{"opentelemetry", "0.1.0"}}))
                  .verdict,
              gate_verdict::normal);
    // Only 0.1.x is special: another 0.x is an ordinary major mismatch.
    EXPECT_EQ(check_configuration_compatibility(cp38, uses_otel, to_plugin_map({{"opentelemetry", "0.2.0"}}))
                  .verdict,
              gate_verdict::plugin_version_incompatible);
    // A 3.7 CP reports 0.1.0 itself: a 3.x DP plugin is another major.
    const auto cp37 = bundled_plugins("3.7.1.0");
    EXPECT_EQ(check_configuration_compatibility(cp37, uses_otel, to_plugin_map({{"opentelemetry", "3.7.1"}}))
                  .verdict,
              gate_verdict::plugin_version_incompatible);
    EXPECT_EQ(
        check_configuration_compatibility(cp37, uses_otel, to_plugin_map(bundled_plugins("3.7.1.0"))).verdict,
        gate_verdict::normal);
}

// The CP walks its own plugin list: a configured plugin the CP does not know is not checked, and
// the first failing plugin in the CP's order is the one reported.
TEST(plugin_gate, walks_the_cp_list_in_order) {
    const std::set<std::string, std::less<>> configured{"zipkin", "acl", "not-on-cp"};
    auto r = check_configuration_compatibility(cp, configured, to_plugin_map({}));
    EXPECT_EQ(r.message, "configured acl plugin 3.9.0 is missing from data plane");
    r = check_configuration_compatibility(cp, configured,
                                          to_plugin_map({{"acl", "3.9.0"}, {"zipkin", "3.9.0"}}));
    EXPECT_EQ(r.verdict, gate_verdict::normal);
    // An unversioned CP plugin (a custom plugin without VERSION) is only checked for presence.
    const std::vector<plugin_info> custom_cp{{"my-auth", ""}};
    r = check_configuration_compatibility(custom_cp, {"my-auth"}, to_plugin_map({}));
    EXPECT_EQ(r.message, "configured my-auth plugin is missing from data plane");
    EXPECT_EQ(check_configuration_compatibility(custom_cp, {"my-auth"}, to_plugin_map({{"my-auth", "7.0.0"}}))
                  .verdict,
              gate_verdict::normal);
}
