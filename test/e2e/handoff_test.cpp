// Gateway hand-off end to end: a real `lifeboat run` process provisions itself from a file://
// backup (no CP needed) and hands the config to
//   - a DB-less Kong's Admin API, played by a loopback fake (fake_kong_admin.hpp) that can answer
//     201, Kong's 400, 5xx, nothing at all, or not listen yet;
//   - a file plus a reload command that succeeds, fails, or hangs past its timeout.
// Each failure must show in /status and /readyz, with one clear line, and clear on recovery.
#include "base/atomic_file.hpp"
#include "fake_kong_admin.hpp"
#include "fleet.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <signal.h>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* version = "3.9.0.0";
constexpr const char* token = "kong-admin-secret-4f1c9e";

// A file:// backup holding `config`, as an exporter would have left it.
std::string file_backup(const std::filesystem::path& dir, const std::string& config) {
    const auto root = dir / "backup";
    std::filesystem::create_directories(root / version);
    EXPECT_TRUE(write_file_atomically(root / version / "config.json", config, 0644));
    return "file://" + root.string();
}

std::map<std::string, std::string> importer(const std::string& storage) {
    return {{"cluster_fallback_config_import", "on"},
            {"cluster_fallback_config_storage", storage},
            {"node_version", version}};
}

std::map<std::string, std::string> admin_api_node(const std::string& storage, const std::string& url,
                                                  const std::string& timeout = "2") {
    auto s = importer(storage);
    s["gateway_handoff"] = "admin_api";
    s["gateway_admin_url"] = url;
    s["gateway_admin_token"] = token;
    s["gateway_admin_timeout"] = timeout;
    return s;
}

std::map<std::string, std::string> file_node(const std::string& storage, const std::filesystem::path& gateway,
                                             const std::string& reload, const std::string& timeout = "5") {
    auto s = importer(storage);
    s["gateway_handoff"] = "file";
    s["gateway_config_path"] = gateway.string();
    s["gateway_reload_command"] = reload;
    s["gateway_reload_timeout"] = timeout;
    return s;
}

unsigned readyz(const agent_process& a) {
    return a.get("/readyz").first;
}

std::string reasons(const agent_process& a) {
    auto s = a.status();
    return s.is_object() ? json::serialize(s.at("degraded_reasons")) : "<unreachable>";
}

// Kong 3.x's answer to a declarative config it refuses (POST /config, HTTP 400).
const char* kong_400 = R"({"code":14,"name":"invalid declarative configuration",)"
                       R"("message":"declarative config is invalid: {services={{host=\"missing host\"}}}",)"
                       R"("fields":{"services":[{"host":"missing host"}]}})";

} // namespace

TEST(handoff_admin_api, posts_the_config_with_the_token_and_never_logs_the_token) {
    const auto dir = scratch_dir();
    const auto config = sample_config("admin", 5);
    fake_kong_admin kong;
    agent_process node(dir, "node", admin_api_node(file_backup(dir, config), kong.url()));

    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "ok"; }, 15s)) << node.log();
    const auto seen = kong.requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].method, "POST");
    EXPECT_EQ(seen[0].target, "/config");
    EXPECT_EQ(seen[0].headers.at("content-type"), "application/json");
    EXPECT_EQ(seen[0].headers.at("kong-admin-token"), token);
    EXPECT_EQ(json::parse(seen[0].body), json::parse(config)); // the config_table, as the bucket held it
    EXPECT_EQ(readyz(node), 200u);
    EXPECT_EQ(node.status_field("handoff", "kind"), "admin_api");
    EXPECT_EQ(node.status_field("config", "source"), "fallback");

    EXPECT_EQ(node.log().find(token), std::string::npos) << node.log();
    EXPECT_EQ(node.get("/status").second.find(token), std::string::npos);
    EXPECT_EQ(node.get("/metrics").second.find(token), std::string::npos);
}

TEST(handoff_admin_api, retries_5xx_with_back_off_until_kong_accepts) {
    const auto dir = scratch_dir();
    fake_kong_admin kong;
    std::atomic<int> calls = 0;
    kong.answer([&](const admin_request&) {
        return ++calls <= 3 ? admin_reply{.status = 503, .body = R"({"message":"busy"})"} : admin_reply{};
    });
    agent_process node(dir, "node",
                       admin_api_node(file_backup(dir, sample_config("busy")), kong.url(), "10"));
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "ok"; }, 20s)) << node.log();
    EXPECT_EQ(kong.requests().size(), 4u);
    EXPECT_EQ(readyz(node), 200u);
}

TEST(handoff_admin_api, refused_connections_show_in_status_and_readyz_and_recovery_clears_them) {
    const auto dir = scratch_dir();
    const auto port = free_port(); // Kong is not up yet
    agent_process node(dir, "node",
                       admin_api_node(file_backup(dir, sample_config("late")),
                                      "http://127.0.0.1:" + std::to_string(port), "1"));

    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "failed"; }, 15s))
        << node.log();
    EXPECT_NE(node.status_field("handoff", "last_error").find("POST http://127.0.0.1:"), std::string::npos);
    EXPECT_EQ(readyz(node), 503u);
    EXPECT_NE(node.get("/readyz").second.find("hand-off failed"), std::string::npos);
    EXPECT_NE(reasons(node).find("gateway hand-off failed"), std::string::npos);
    EXPECT_EQ(node.status_field("config", "source"), "fallback"); // the config is kept meanwhile
    EXPECT_NE(node.log().find("gateway hand-off failed; will retry"), std::string::npos);

    fake_kong_admin kong(port); // Kong comes up
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "ok"; }, 15s)) << node.log();
    EXPECT_EQ(readyz(node), 200u);
    EXPECT_EQ(node.status_field("handoff", "last_error"), "");
    EXPECT_EQ(reasons(node).find("hand-off"), std::string::npos) << reasons(node);
    EXPECT_EQ(kong.requests().size(), 1u);
}

TEST(handoff_admin_api, kong_refusing_the_config_is_reported_with_its_message) {
    const auto dir = scratch_dir();
    fake_kong_admin kong;
    kong.answer([](const admin_request&) { return admin_reply{.status = 400, .body = kong_400}; });
    agent_process node(dir, "node", admin_api_node(file_backup(dir, sample_config("refused")), kong.url()));

    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "failed"; }, 15s))
        << node.log();
    const auto error = node.status_field("handoff", "last_error");
    EXPECT_NE(error.find("HTTP 400: declarative config is invalid: {services={{host=\"missing host\"}}}"),
              std::string::npos)
        << error;
    EXPECT_EQ(readyz(node), 503u);
    EXPECT_NE(node.log().find("declarative config is invalid"), std::string::npos);
    // A 400 is not hammered: the client does not retry it at once, only the pipeline's slow back-off.
    EXPECT_LE(kong.requests().size(), 2u);

    kong.answer([](const admin_request&) { return admin_reply{}; }); // e.g. the missing plugin installed
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "ok"; }, 15s)) << node.log();
    EXPECT_EQ(readyz(node), 200u);
}

TEST(handoff_admin_api, a_kong_that_never_answers_times_out) {
    const auto dir = scratch_dir();
    fake_kong_admin kong;
    kong.answer([](const admin_request&) { return admin_reply{.delay = 20s}; });
    const auto started = std::chrono::steady_clock::now();
    agent_process node(dir, "node",
                       admin_api_node(file_backup(dir, sample_config("hang")), kong.url(), "0.5"));
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "failed"; }, 10s))
        << node.log();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_NE(node.status_field("handoff", "last_error").find("timeout"), std::string::npos)
        << node.status_field("handoff", "last_error");
    EXPECT_EQ(readyz(node), 503u);
}

TEST(handoff_file, the_reload_command_runs_after_the_atomic_write) {
    const auto dir = scratch_dir();
    const auto config = sample_config("reload", 200);
    const auto gateway = dir / "kong.json";
    const auto seen = dir / "seen-by-reload.json";
    // The command copies what it finds at the path: the whole config, never a partial file.
    agent_process node(dir, "node",
                       file_node(file_backup(dir, config), gateway,
                                 "cp " + gateway.string() + " " + seen.string() + " && echo reloaded"));
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "ok"; }, 15s)) << node.log();
    EXPECT_EQ(read_whole_file(seen).value(), config);
    EXPECT_EQ(read_whole_file(gateway).value(), config);
    EXPECT_EQ(std::filesystem::status(gateway).permissions() & std::filesystem::perms::others_read,
              std::filesystem::perms::none); // it holds credentials
    EXPECT_EQ(readyz(node), 200u);
}

TEST(handoff_file, a_hanging_reload_command_is_killed_at_its_timeout_and_reported) {
    const auto dir = scratch_dir();
    const auto gateway = dir / "kong.json";
    const auto pid_file = dir / "reload.pid";
    agent_process node(dir, "node",
                       file_node(file_backup(dir, sample_config("hang")), gateway,
                                 "echo $$ > " + pid_file.string() + "; exec sleep 30", "0.5"));
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "failed"; }, 10s))
        << node.log();
    EXPECT_NE(node.status_field("handoff", "last_error")
                  .find("reload command timed out after 500 ms and was killed"),
              std::string::npos)
        << node.status_field("handoff", "last_error");
    EXPECT_EQ(readyz(node), 503u);
    EXPECT_NE(reasons(node).find("gateway hand-off failed"), std::string::npos);
    // The hanging command is gone (killed and reaped), not left behind.
    const int pid = std::stoi(read_whole_file(pid_file).value());
    EXPECT_TRUE(eventually([&] { return ::kill(pid, 0) != 0 && errno == ESRCH; }, 30s)) << "pid " << pid;
}

TEST(handoff_file, a_failing_reload_shows_in_status_and_readyz_until_it_succeeds) {
    const auto dir = scratch_dir();
    const auto gateway = dir / "kong.json";
    const auto fixed = dir / "nginx-fixed";
    agent_process node(
        dir, "node",
        file_node(file_backup(dir, sample_config("fail")), gateway,
                  "test -f " + fixed.string() + " || { echo 'nginx: [emerg] bad config' >&2; exit 3; }"));
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "failed"; }, 10s))
        << node.log();
    EXPECT_EQ(node.status_field("handoff", "last_error"),
              "reload command exited with 3: nginx: [emerg] bad config");
    EXPECT_EQ(readyz(node), 503u);
    EXPECT_NE(node.get("/readyz").second.find("hand-off failed"), std::string::npos);
    EXPECT_NE(node.log().find("reload command exited with 3"), std::string::npos);

    ASSERT_TRUE(write_file_atomically(fixed, "", 0644));
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "ok"; }, 15s)) << node.log();
    EXPECT_EQ(readyz(node), 200u);
    EXPECT_EQ(reasons(node).find("hand-off"), std::string::npos) << reasons(node);
}

// Kong's prefix may not exist yet when lifeboat first starts: lifeboat does not create it (Kong
// makes it as its own user), it says which directory is missing and delivers once it appears.
TEST(handoff_file, a_missing_gateway_directory_is_named_and_the_handoff_waits_for_it) {
    const auto dir = scratch_dir();
    const auto config = sample_config("later");
    const auto kong_prefix = dir / "kong";
    const auto gateway = kong_prefix / "declarative" / "kong.json";
    agent_process node(dir, "node", file_node(file_backup(dir, config), gateway, ""));
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "failed"; }, 15s))
        << node.log();
    const auto missing = (kong_prefix / "declarative").string();
    EXPECT_EQ(node.status_field("handoff", "last_error"),
              "the gateway's directory " + missing + " does not exist (gateway_config_path = " +
                  gateway.string() + "): create it, writable by lifeboat");
    EXPECT_EQ(readyz(node), 503u);
    EXPECT_NE(node.log().find("the gateway's directory " + missing + " does not exist"), std::string::npos)
        << node.log();
    EXPECT_FALSE(std::filesystem::exists(kong_prefix)); // nothing was created for Kong

    std::filesystem::create_directories(gateway.parent_path()); // Kong's first start made it
    ASSERT_TRUE(eventually([&] { return applied(node, gateway, config); }, 60s)) << node.log();
    EXPECT_EQ(node.status_field("handoff", "last_error"), "");
    EXPECT_EQ(readyz(node), 200u);
}
