// Version skew on import (agent/backup_versions.hpp): which backup an importer takes from a
// listing of the prefix, for each cluster_fallback_config_import_versions.
#include "agent/backup_versions.hpp"

#include <gtest/gtest.h>

using namespace lifeboat::agent;

namespace {

const std::vector<std::string> listing{
    "kong/3.8.1.0/config.json",
    "kong/3.9.0.0/config.json",
    "kong/3.9.0.0/config.json.sig",
    "kong/3.9.0.0/election/1733443200-node-a",
    "kong/3.9.0.2/election/1733443200-node-b", // an election without a backup: not a candidate
    "kong/3.9.0.1-rc/config.json",             // not a version
    "kong/3.10.0.0/config.json",
    "kong/4.0.0.0/config.json",
    "kong/3.7.0.0/nested/config.json",
    "other/3.9.0.5/config.json", // another prefix
};

std::string pick(std::string_view own, version_skew skew, std::string_view prefix = "kong") {
    auto c = choose_backup(prefix, own, skew, listing);
    return c ? c->version + " " + c->key : "none";
}

} // namespace

TEST(backup_versions, parses_the_three_choices_and_nothing_else) {
    EXPECT_EQ(parse_version_skew("exact"), version_skew::exact);
    EXPECT_EQ(parse_version_skew("patch"), version_skew::patch);
    EXPECT_EQ(parse_version_skew("minor"), version_skew::minor);
    EXPECT_FALSE(parse_version_skew("major"));
    EXPECT_FALSE(parse_version_skew("Patch"));
    EXPECT_FALSE(parse_version_skew(""));
    EXPECT_STREQ(to_string(version_skew::minor), "minor");
}

TEST(backup_versions, versions_compare_as_numbers_part_by_part) {
    auto v = [](std::string_view t) { return *gateway_version::parse(t); };
    EXPECT_LT(v("3.9.0.0"), v("3.10.0.0")); // not as text
    EXPECT_LT(v("3.9.0.1"), v("3.9.1.0"));
    EXPECT_EQ(v("3.9"), v("3.9.0.0"));
    EXPECT_FALSE(gateway_version::parse("3"));
    EXPECT_FALSE(gateway_version::parse("3.9.x"));
    EXPECT_FALSE(gateway_version::parse("3.9.0.0.0"));
    EXPECT_FALSE(gateway_version::parse("3..9"));
}

TEST(backup_versions, its_own_version_always_wins) {
    for (auto skew : {version_skew::exact, version_skew::patch, version_skew::minor})
        EXPECT_EQ(pick("3.9.0.0", skew), "3.9.0.0 kong/3.9.0.0/config.json") << to_string(skew);
}

TEST(backup_versions, exact_takes_nothing_else) {
    EXPECT_EQ(pick("3.9.0.1", version_skew::exact), "none");
}

TEST(backup_versions, patch_takes_the_newest_of_the_same_major_minor) {
    EXPECT_EQ(pick("3.9.0.1", version_skew::patch), "3.9.0.0 kong/3.9.0.0/config.json");
    EXPECT_EQ(pick("3.9.3.0", version_skew::patch), "3.9.0.0 kong/3.9.0.0/config.json");
    EXPECT_EQ(pick("3.8.0.0", version_skew::patch), "3.8.1.0 kong/3.8.1.0/config.json");
    EXPECT_EQ(pick("3.11.0.0", version_skew::patch), "none"); // no 3.11 backup
    EXPECT_EQ(pick("3.9.0.1", version_skew::patch, "other"), "3.9.0.5 other/3.9.0.5/config.json");
}

TEST(backup_versions, minor_takes_the_newest_of_the_same_major_never_a_newer_minor) {
    EXPECT_EQ(pick("3.9.0.1", version_skew::minor), "3.9.0.0 kong/3.9.0.0/config.json");
    EXPECT_EQ(pick("3.11.0.0", version_skew::minor), "3.10.0.0 kong/3.10.0.0/config.json");
    EXPECT_EQ(pick("3.8.5.0", version_skew::minor), "3.8.1.0 kong/3.8.1.0/config.json");
    EXPECT_EQ(pick("3.7.0.0", version_skew::minor), "none"); // 3.8+ is newer, 3.7 has only a nested key
    EXPECT_EQ(pick("4.1.0.0", version_skew::minor), "4.0.0.0 kong/4.0.0.0/config.json");
    EXPECT_EQ(pick("5.0.0.0", version_skew::minor), "none"); // never another major
}

TEST(backup_versions, an_empty_prefix_reads_top_level_folders) {
    const std::vector<std::string> keys{"3.9.0.0/config.json", "3.9.0.0/election/x",
                                        "kong/3.9.0.3/config.json"};
    auto c = choose_backup("", "3.9.0.1", version_skew::patch, keys);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->version, "3.9.0.0");
    EXPECT_EQ(c->key, "3.9.0.0/config.json");
}

TEST(backup_versions, lists_the_versions_that_hold_a_backup_oldest_first) {
    EXPECT_EQ(backup_versions_in("kong", listing),
              (std::vector<std::string>{"3.8.1.0", "3.9.0.0", "3.10.0.0", "4.0.0.0"}));
    EXPECT_TRUE(backup_versions_in("none", listing).empty());
}
