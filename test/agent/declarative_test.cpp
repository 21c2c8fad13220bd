// The local declarative_config file: Kong's YAML and JSON read into a validated config, errors
// with their position; and the decision of when it is served, on a virtual clock.
#include "agent/declarative_file.hpp"
#include "agent/last_resort.hpp"
#include "base/atomic_file.hpp"
#include "harness/test_env.hpp"
#include "protocol/envelope.hpp"
#include "protocol/kong_hash.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace std::chrono_literals;
using phase = agent::last_resort_policy::phase;

namespace {

const char* kong_yaml = R"(# Kong's own example, as `kong config init` writes it (trimmed)
_format_version: "3.0"
_transform: true

services:
- name: example-service
  url: http://example.com
  retries: 5
  enabled: true
  tags: [ "a", 'b' ]
  routes:
  - name: example-route
    paths:
    - /mock
    strip_path: false
    hosts: ~
consumers:
- username: example-user
  custom_id: "0042"
plugins:
- name: rate-limiting
  config:
    minute: 60
    ratio: 0.5
    policy: local
)";

std::filesystem::path write(const std::string& name, const std::string& text) {
    const auto path = test::scratch_dir() / name;
    EXPECT_TRUE(write_file_atomically(path, text, 0644));
    return path;
}

} // namespace

TEST(declarative_file, yaml_becomes_the_same_json_kong_would_read) {
    auto json = agent::declarative_yaml_to_json(kong_yaml, "kong.yml");
    ASSERT_TRUE(json) << json.error();
    const auto doc = boost::json::parse(json.value());
    EXPECT_EQ(doc.at("_format_version"), "3.0");
    EXPECT_EQ(doc.at("_transform"), true);
    const auto& svc = doc.at("services").at(0);
    EXPECT_EQ(svc.at("retries"), 5);
    EXPECT_EQ(svc.at("enabled"), true);
    EXPECT_EQ(svc.at("tags"), boost::json::parse(R"(["a","b"])"));
    EXPECT_TRUE(svc.at("routes").at(0).at("hosts").is_null());
    EXPECT_EQ(svc.at("routes").at(0).at("strip_path"), false);
    EXPECT_EQ(doc.at("consumers").at(0).at("custom_id"), "0042"); // quoted: stays a string
    EXPECT_EQ(doc.at("plugins").at(0).at("config").at("ratio"), 0.5);
}

TEST(declarative_file, unquoted_format_version_is_its_text) {
    auto json = agent::declarative_yaml_to_json("_format_version: 3.0\nservices: []\n", "k.yml");
    ASSERT_TRUE(json) << json.error();
    EXPECT_EQ(boost::json::parse(json.value()).at("_format_version"), "3.0");
}

TEST(declarative_file, yaml_errors_name_line_and_column) {
    auto broken =
        agent::declarative_yaml_to_json("_format_version: \"3.0\"\nservices:\n  - name: [a, b\n", "kong.yml");
    ASSERT_FALSE(broken);
    EXPECT_TRUE(broken.error().starts_with("kong.yml:4:1: ")) << broken.error();
    EXPECT_EQ(broken.error().find('\n'), std::string::npos);

    auto duplicate =
        agent::declarative_yaml_to_json("_format_version: \"3.0\"\nservices: []\nservices: []\n", "k.yml");
    ASSERT_FALSE(duplicate);
    EXPECT_EQ(duplicate.error(), "k.yml:3:1: duplicate key 'services'");

    auto tab = agent::declarative_yaml_to_json("_format_version: \"3.0\"\nservices:\n\t- name: x\n", "k.yml");
    ASSERT_FALSE(tab);
    EXPECT_TRUE(tab.error().starts_with("k.yml:3:")) << tab.error();
}

TEST(declarative_file, format_versions_kong_reads_and_no_others) {
    for (const char* v : {"1.1", "2.1", "3.0"})
        EXPECT_TRUE(agent::declarative_yaml_to_json(std::string("_format_version: \"") + v + "\"\n", "k.yml"))
            << v;
    auto wrong = agent::declarative_yaml_to_json("_format_version: \"4.0\"\n", "k.yml");
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error(), "k.yml: _format_version '4.0' is not one Kong reads (1.1, 2.1 or 3.0)");
    auto none = agent::declarative_yaml_to_json("services: []\n", "k.yml");
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().find("no _format_version"), std::string::npos);
    auto list = agent::declarative_yaml_to_json("- a\n- b\n", "k.yml");
    ASSERT_FALSE(list);
    auto two =
        agent::declarative_yaml_to_json("_format_version: \"3.0\"\n---\n_format_version: \"3.0\"\n", "k.yml");
    ASSERT_FALSE(two);
}

TEST(declarative_file, loads_yaml_and_json_files_as_validated_snapshots) {
    const auto yaml = write("kong.yml", kong_yaml);
    auto from_yaml = agent::load_declarative_config(yaml, 1 << 20);
    ASSERT_TRUE(from_yaml) << from_yaml.error();
    EXPECT_EQ(from_yaml.value()->source, protocol::config_source::declarative_config);
    EXPECT_TRUE(protocol::is_config_hash(from_yaml.value()->hash));

    // The same document as JSON has the same Kong hash.
    const auto json_path = write("kong.json", std::string(from_yaml.value()->config_json));
    auto from_json = agent::load_declarative_config(json_path, 1 << 20);
    ASSERT_TRUE(from_json) << from_json.error();
    EXPECT_EQ(from_json.value()->hash, from_yaml.value()->hash);
    EXPECT_EQ(
        from_yaml.value()->hash,
        protocol::kong_config_hashes(boost::json::parse(from_yaml.value()->config_json).get_object()).config);
}

TEST(declarative_file, json_errors_name_line_and_column_and_entities_are_validated) {
    auto bad_json = agent::load_declarative_config(
        write("bad.json", "{\n  \"_format_version\": \"3.0\",\n  \"services\": [,]\n}\n"), 1 << 20);
    ASSERT_FALSE(bad_json);
    EXPECT_NE(bad_json.error().find("bad.json:3:1"), std::string::npos) << bad_json.error(); // at the comma

    // Syntactically fine, but not a declarative config: refused like any other config.
    auto not_config =
        agent::load_declarative_config(write("svc.yml", "_format_version: \"3.0\"\nservices: 7\n"), 1 << 20);
    ASSERT_FALSE(not_config);
    EXPECT_NE(not_config.error().find("svc.yml: "), std::string::npos) << not_config.error();

    auto missing = agent::load_declarative_config(test::scratch_dir() / "absent.yml", 1 << 20);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().find("absent.yml"), std::string::npos);

    auto too_big = agent::load_declarative_config(write("big.yml", kong_yaml), 100);
    ASSERT_FALSE(too_big);
}

// --- when: a virtual clock -------------------------------------------------------------------

TEST(last_resort_policy, waits_for_the_control_plane_then_the_bucket_timeout) {
    agent::last_resort_policy p(true, 30s);
    const agent::last_resort_policy::clock::time_point t0{};
    EXPECT_FALSE(p.poll(t0 + 1h)); // the CP has not failed: never due
    EXPECT_EQ(p.current(), phase::waiting_for_control_plane);
    p.control_plane_unreachable(t0 + 10s);
    EXPECT_EQ(p.due_at(), t0 + 40s);
    p.control_plane_unreachable(t0 + 20s); // later failures do not move the deadline
    EXPECT_EQ(p.due_at(), t0 + 40s);
    EXPECT_FALSE(p.poll(t0 + 39999ms));
    EXPECT_EQ(p.current(), phase::waiting_for_bucket);
    EXPECT_TRUE(p.poll(t0 + 40s));
    EXPECT_TRUE(p.poll(t0 + 41s)); // stays due until applied (an invalid file is tried again)
    p.applied();
    EXPECT_FALSE(p.poll(t0 + 50s));
    p.config_arrived(); // the backup replaces it: the file is not applied again
    EXPECT_EQ(p.current(), phase::applied);
    EXPECT_FALSE(p.poll(t0 + 2h));
}

TEST(last_resort_policy, a_config_from_elsewhere_first_makes_it_unneeded) {
    agent::last_resort_policy p(true, 30s);
    const agent::last_resort_policy::clock::time_point t0{};
    p.control_plane_unreachable(t0);
    EXPECT_FALSE(p.poll(t0 + 29s));
    p.config_arrived(); // the backup arrived within the timeout
    EXPECT_FALSE(p.poll(t0 + 31s));
    EXPECT_EQ(p.current(), phase::not_needed);

    agent::last_resort_policy early(true, 30s);
    early.config_arrived(); // the CP answered at once
    early.control_plane_unreachable(t0 + 1s);
    EXPECT_FALSE(early.poll(t0 + 1h));
    EXPECT_EQ(early.current(), phase::not_needed);
}

TEST(last_resort_policy, with_no_bucket_it_is_due_when_the_control_plane_fails) {
    agent::last_resort_policy p(false, 30s);
    const agent::last_resort_policy::clock::time_point t0{};
    EXPECT_FALSE(p.poll(t0));
    p.control_plane_unreachable(t0 + 5s);
    EXPECT_TRUE(p.poll(t0 + 5s));
    EXPECT_EQ(agent::to_string(p.current()), "due");
}
