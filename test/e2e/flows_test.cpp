// The resilience flows end to end: real lifeboat agents, the reference CP, the Ceph RGW fixture,
// and awscli as an independent S3 client to read and write the bucket.
#include "agent/config_cache.hpp"
#include "base/atomic_file.hpp"
#include "fleet.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <iostream>
#include <signal.h>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

void aws_put(const std::string& key, const std::string& body) {
    const auto in = scratch_dir() / "bucket-write.json";
    ASSERT_TRUE(write_file_atomically(in, body, 0644));
    auto r = aws_s3api({"put-object", "--bucket", rgw().bucket, "--key", key, "--body", in.string(),
                        "--content-type", "application/json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
}

std::map<std::string, std::string> exporter_settings(const std::string& cp, const cluster_certs& certs,
                                                     const std::string& prefix) {
    return {{"cluster_control_plane", cp},
            {"cluster_cert", certs.cert.string()},
            {"cluster_cert_key", certs.key.string()},
            {"cluster_fallback_config_export", "on"},
            {"cluster_fallback_config_storage", rgw_storage_url(prefix)},
            {"cluster_fallback_config_export_delay", "0.2"},
            {"election_interval", "1"},
            {"node_version", "3.9.0.0"}};
}

std::map<std::string, std::string> importer_settings(const std::string& cp, const cluster_certs& certs,
                                                     const std::string& prefix,
                                                     const std::filesystem::path& gateway) {
    return {{"cluster_control_plane", cp},
            {"cluster_cert", certs.cert.string()},
            {"cluster_cert_key", certs.key.string()},
            {"cluster_fallback_config_import", "on"},
            {"cluster_fallback_config_storage", rgw_storage_url(prefix)},
            {"gateway_handoff", "file"},
            {"gateway_config_path", gateway.string()},
            {"cluster_reconnect_delay_min", "0.5"},
            {"cluster_reconnect_delay_max", "1"},
            {"node_version", "3.9.0.0"}};
}

} // namespace

TEST(flows, cp_up_exporter_uploads_and_a_change_reaches_the_bucket) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto key = prefix + "/3.9.0.0/config.json";
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, sample_config("alpha"));
    agent_process exporter(dir, "exporter", exporter_settings(cp.address(), certs, prefix), rgw_env());

    ASSERT_TRUE(eventually([&] { return rgw_object_json(key) == json_or_null(sample_config("alpha")); }, 30s))
        << exporter.log() << "\nCP:\n"
        << cp.proc()->err();
    // Kong's object: plain JSON config_table, application/json, uploader metadata.
    auto head = aws_s3api({"head-object", "--bucket", rgw().bucket, "--key", key});
    ASSERT_EQ(head.exit_code, 0) << head.err;
    const auto meta = json_or_null(head.out);
    ASSERT_TRUE(meta.is_object()) << head.out;
    EXPECT_EQ(meta.at("ContentType"), "application/json");
    const auto status = exporter.status();
    ASSERT_TRUE(status.is_object()) << "status unreachable\n" << exporter.log();
    EXPECT_EQ(meta.at("Metadata").at("uploader"), status.at("node_id")) << head.out;

    cp.set_config(sample_config("beta"));
    ASSERT_TRUE(eventually([&] { return rgw_object_json(key) == json_or_null(sample_config("beta")); }, 30s))
        << exporter.log();
    EXPECT_EQ(exporter.status_field("export", "failures"), "0");
    EXPECT_EQ(exporter.status_field("election", "is_leader"), "true");
}

TEST(flows, cp_down_new_importer_provisions_from_the_bucket_then_follows_the_cp) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto certs = make_cluster_certs(dir);
    // The backup as an exporter (or Kong) left it, written by an independent client.
    aws_put(prefix + "/3.9.0.0/config.json", sample_config("backup"));
    const auto cp_port = free_port(); // nothing listens: the CP is down
    const auto gateway = dir / "gateway" / "kong.json";
    std::filesystem::create_directories(gateway.parent_path());
    agent_process dp(dir, "importer",
                     importer_settings("127.0.0.1:" + std::to_string(cp_port), certs, prefix, gateway),
                     rgw_env());

    // The gateway file is written on the disk pool; the import's state is booked just after.
    ASSERT_TRUE(eventually(
        [&] {
            return file_json(gateway) == json_or_null(sample_config("backup")) &&
                   dp.status_field("import", "state") == "imported";
        },
        30s))
        << dp.log();
    auto st = dp.status();
    EXPECT_EQ(st.at("config").at("source"), "fallback");
    EXPECT_EQ(st.at("import").at("state"), "imported");
    EXPECT_EQ(st.at("ready"), true);
    EXPECT_EQ(st.at("health"), "degraded"); // serving from the backup, CP down: an operator should look
    const auto [ready_code, ready_body] = dp.get("/readyz");
    EXPECT_EQ(ready_code, 200u);
    EXPECT_NE(ready_body.find("serving the fallback config from the bucket"), std::string::npos)
        << ready_body;
    EXPECT_NE(ready_body.find(R"("source":"fallback")"), std::string::npos) << ready_body;
    // The snapshot's metadata: Kong's hash of what was imported, when it was applied; a backup
    // carries no CP timestamp.
    EXPECT_EQ(st.at("config").at("hash").as_string().size(), 32u);
    EXPECT_TRUE(st.at("config").at("applied_at").is_string());
    EXPECT_TRUE(st.at("config").at("cp_timestamp").is_null());

    // The CP comes back with a newer config: the node follows it.
    reference_cp cp(dir, certs, sample_config("fresh"), cp_port);
    ASSERT_TRUE(eventually([&] { return applied(dp, gateway, sample_config("fresh")); }, 30s)) << dp.log();
    ASSERT_TRUE(eventually([&] { return dp.status_field("config", "source") == "control_plane"; }, 10s));
    EXPECT_EQ(dp.status_field("control_plane", "state"), "connected");
    EXPECT_NE(dp.status_field("config", "cp_timestamp"), ""); // the CP's envelope timestamp
    EXPECT_NE(dp.status_field("config", "hash"), st.at("config").at("hash").as_string());
    EXPECT_EQ(dp.status_field("import", "state"), "imported"); // and the bucket is not read again
}

TEST(flows, a_new_importer_whose_cp_answers_never_reads_the_bucket) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto certs = make_cluster_certs(dir);
    // If the node read the bucket before the CP answered, it would serve this first.
    aws_put(prefix + "/3.9.0.0/config.json", sample_config("bucket"));
    reference_cp cp(dir, certs, sample_config("from-cp"), free_port());
    const auto gateway = dir / "kong.json";
    agent_process dp(dir, "node", importer_settings(cp.address(), certs, prefix, gateway), rgw_env());
    ASSERT_TRUE(eventually([&] { return applied(dp, gateway, sample_config("from-cp")); }, 30s)) << dp.log();
    std::this_thread::sleep_for(1s); // time enough for a wrong import to land
    auto st = dp.status();
    EXPECT_EQ(st.at("config").at("source"), "control_plane");
    EXPECT_EQ(st.at("import").at("state"), "not_needed");
    EXPECT_EQ(st.at("import").at("attempts"), 0);
    EXPECT_EQ(dp.log().find("fetching the fallback config"), std::string::npos) << dp.log();
}

TEST(flows, restart_with_cp_down_serves_the_cache_without_reading_the_bucket) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto certs = make_cluster_certs(dir);
    const auto cp_port = free_port();
    const auto gateway = dir / "kong.json";
    {
        reference_cp cp(dir, certs, sample_config("cached"), cp_port);
        agent_process dp(dir, "node", importer_settings(cp.address(), certs, prefix, gateway), rgw_env());
        ASSERT_TRUE(eventually([&] { return applied(dp, gateway, sample_config("cached")); }, 30s))
            << dp.log();
        dp.signal(SIGTERM);
        ASSERT_EQ(dp.wait(5s), 0);
        cp.kill();
    }
    std::filesystem::remove(gateway);
    // If the node read the bucket, it would find this and serve it instead.
    aws_put(prefix + "/3.9.0.0/config.json", sample_config("bucket"));
    agent_process again(dir, "node",
                        importer_settings("127.0.0.1:" + std::to_string(cp_port), certs, prefix, gateway),
                        rgw_env());
    ASSERT_TRUE(eventually([&] { return applied(again, gateway, sample_config("cached")); }, 15s))
        << again.log();
    std::this_thread::sleep_for(2s); // time enough for a wrong import to happen
    auto st = again.status();
    EXPECT_EQ(st.at("config").at("source"), "cache");
    EXPECT_EQ(st.at("import").at("state"), "not_needed");
    EXPECT_EQ(st.at("import").at("attempts"), 0);
    EXPECT_EQ(file_json(gateway), json_or_null(sample_config("cached")));
}

TEST(flows, an_invalid_backup_is_refused_then_a_valid_one_is_imported) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto certs = make_cluster_certs(dir);
    const auto key = prefix + "/3.9.0.0/config.json";
    aws_put(key, R"(["not","a","declarative","config"])");
    const auto gateway = dir / "kong.json";
    agent_process dp(dir, "importer",
                     importer_settings("127.0.0.1:" + std::to_string(free_port()), certs, prefix, gateway),
                     rgw_env());
    ASSERT_TRUE(eventually(
        [&] { return dp.status_field("import", "last_error").find("invalid") != std::string::npos; }, 20s))
        << dp.log();
    EXPECT_FALSE(std::filesystem::exists(gateway)) << "nothing may be applied from an invalid backup";
    EXPECT_EQ(dp.status_field("config", "source"), "none");
    EXPECT_NE(dp.log().find("is invalid"), std::string::npos);

    aws_put(key, sample_config("repaired"));
    ASSERT_TRUE(eventually([&] { return applied(dp, gateway, sample_config("repaired")); }, 40s)) << dp.log();
}

TEST(flows, a_large_backup_that_breaks_late_is_refused_and_leaves_nothing_behind) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto certs = make_cluster_certs(dir);
    const auto key = prefix + "/3.9.0.0/config.json";
    // 4 MB of valid services, then a number where an entity must be: the importer streams it into
    // its temporary files and must throw all of it away.
    std::string broken = R"({"_format_version":"3.0","services":[)";
    for (int i = 0; i < 60000; ++i)
        broken += R"({"name":"svc-)" + std::to_string(i) + R"(","host":"h","port":80},)";
    broken += "7]}";
    aws_put(key, broken);
    const auto gateway = dir / "gw" / "kong.json";
    std::filesystem::create_directories(gateway.parent_path());
    agent_process dp(dir, "importer",
                     importer_settings("127.0.0.1:" + std::to_string(free_port()), certs, prefix, gateway),
                     rgw_env());
    ASSERT_TRUE(eventually(
        [&] { return dp.status_field("import", "last_error").find("services[60000]") != std::string::npos; },
        30s))
        << dp.log();
    EXPECT_NE(dp.log().find("is invalid: services[60000] is a number, expected an object"), std::string::npos)
        << dp.log();
    EXPECT_FALSE(std::filesystem::exists(gateway)) << "nothing may be applied from an invalid backup";
    EXPECT_EQ(dp.status_field("config", "source"), "none");
    EXPECT_EQ(dp.status_field("cache", "state"), "empty");
    for (const auto& folder : {gateway.parent_path(), dp.prefix()})
        for (const auto& e : std::filesystem::directory_iterator(folder))
            EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos)
                << "left behind: " << e.path();

    aws_put(key, sample_config("repaired"));
    ASSERT_TRUE(eventually([&] { return applied(dp, gateway, sample_config("repaired")); }, 40s)) << dp.log();
}

TEST(flows, a_missing_backup_is_retried_until_it_appears) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto certs = make_cluster_certs(dir);
    const auto gateway = dir / "kong.json";
    agent_process dp(dir, "importer",
                     importer_settings("127.0.0.1:" + std::to_string(free_port()), certs, prefix, gateway),
                     rgw_env());
    ASSERT_TRUE(eventually([&] { return std::stoi("0" + dp.status_field("import", "attempts")) >= 2; }, 20s))
        << dp.log();
    EXPECT_NE(dp.status_field("import", "last_error").find("no backup at"), std::string::npos);
    aws_put(prefix + "/3.9.0.0/config.json", sample_config("late"));
    ASSERT_TRUE(eventually([&] { return applied(dp, gateway, sample_config("late")); }, 40s)) << dp.log();
}

TEST(flows, a_cp_answering_stops_the_import_retries) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto certs = make_cluster_certs(dir);
    const auto cp_port = free_port();
    const auto gateway = dir / "kong.json";
    // No backup yet, the CP down: the importer keeps trying.
    agent_process dp(dir, "importer",
                     importer_settings("127.0.0.1:" + std::to_string(cp_port), certs, prefix, gateway),
                     rgw_env());
    ASSERT_TRUE(eventually([&] { return std::stoi("0" + dp.status_field("import", "attempts")) >= 2; }, 20s))
        << dp.log();
    reference_cp cp(dir, certs, sample_config("cp-first"), cp_port);
    ASSERT_TRUE(eventually([&] { return applied(dp, gateway, sample_config("cp-first")); }, 30s)) << dp.log();
    EXPECT_EQ(dp.status_field("config", "source"), "control_plane");
    ASSERT_TRUE(eventually([&] { return dp.status_field("import", "state") == "not_needed"; }, 5s))
        << dp.log();
    // A backup appearing now is never fetched: the node has a config.
    aws_put(prefix + "/3.9.0.0/config.json", sample_config("backup-late"));
    const auto attempts = dp.status_field("import", "attempts");
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(dp.status_field("import", "attempts"), attempts);
    EXPECT_EQ(file_json(gateway), json_or_null(sample_config("cp-first")));
}

TEST(flows, an_exporter_never_replaces_a_newer_config_in_the_bucket) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto key = prefix + "/3.9.0.0/config.json";
    const auto certs = make_cluster_certs(dir);
    // What another exporter (a CP, a newer node) left: a config with a later CP timestamp.
    const auto in = dir / "newer.json";
    ASSERT_TRUE(write_file_atomically(in, sample_config("newer"), 0644));
    auto put = aws_s3api({"put-object", "--bucket", rgw().bucket, "--key", key, "--body", in.string(),
                          "--content-type", "application/json", "--metadata",
                          "lifeboat-cp-timestamp=4102444800,uploader=another-node"});
    ASSERT_EQ(put.exit_code, 0) << put.err;

    reference_cp cp(dir, certs, sample_config("older"));
    agent_process exporter(dir, "exporter", exporter_settings(cp.address(), certs, prefix), rgw_env());
    ASSERT_TRUE(
        eventually([&] { return std::stoi("0" + exporter.status_field("export", "skipped")) >= 1; }, 30s))
        << exporter.log();
    EXPECT_EQ(exporter.status_field("export", "uploads"), "0");
    EXPECT_EQ(rgw_object_json(key), json_or_null(sample_config("newer")));
    EXPECT_NE(exporter.log().find("export skipped: the bucket holds a newer config"), std::string::npos);
}

TEST(flows, a_restarted_exporter_skips_the_upload_when_the_bucket_holds_that_config) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto key = prefix + "/3.9.0.0/config.json";
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, sample_config("same"));
    {
        agent_process first(dir, "first", exporter_settings(cp.address(), certs, prefix), rgw_env());
        ASSERT_TRUE(eventually([&] { return first.status_field("export", "uploads") == "1"; }, 30s))
            << first.log();
        first.signal(SIGTERM);
        ASSERT_EQ(first.wait(5s), 0);
    }
    auto etag = [&] {
        auto head = aws_s3api({"head-object", "--bucket", rgw().bucket, "--key", key});
        return head.exit_code == 0 ? json_or_null(head.out).at("ETag") : json::value(nullptr);
    };
    const auto before = etag();
    agent_process second(dir, "second", exporter_settings(cp.address(), certs, prefix), rgw_env());
    ASSERT_TRUE(eventually([&] { return second.status_field("export", "skipped") == "1"; }, 30s))
        << second.log();
    EXPECT_EQ(second.status_field("export", "uploads"), "0");
    EXPECT_EQ(etag(), before);
    EXPECT_NE(second.log().find("export skipped: bucket already has it"), std::string::npos);
}

TEST(flows, a_failing_export_is_retried_until_the_newest_config_is_in_the_storage) {
    const auto dir = scratch_dir();
    const auto certs = make_cluster_certs(dir);
    const auto store = dir / "backup";
    // A directory where the object should go: every upload fails (rename onto a directory)
    // while the election, in its own folder, works.
    const auto object = store / "3.9.0.0" / "config.json";
    std::filesystem::create_directories(object / "in-the-way");
    reference_cp cp(dir, certs, sample_config("first"));
    auto settings = exporter_settings(cp.address(), certs, "unused");
    settings["cluster_fallback_config_storage"] = "file://" + store.string();
    agent_process exporter(dir, "exporter", settings);

    ASSERT_TRUE(
        eventually([&] { return std::stoi("0" + exporter.status_field("export", "failures")) >= 2; }, 30s))
        << exporter.log();
    EXPECT_NE(exporter.status_field("export", "last_error"), "");
    EXPECT_NE(json::serialize(exporter.status().at("degraded_reasons")).find("export failing"),
              std::string::npos);
    EXPECT_NE(exporter.log().find("export failed; retrying"), std::string::npos);

    const auto first_hash = exporter.status_field("config", "hash");
    cp.set_config(sample_config("second")); // a newer config arrives while the storage is broken
    ASSERT_TRUE(eventually([&] { return exporter.status_field("config", "hash") != first_hash; }, 10s))
        << exporter.log();
    EXPECT_EQ(exporter.status_field("export", "pending_hash"), exporter.status_field("config", "hash"));
    std::filesystem::remove_all(object); // the storage is repaired
    ASSERT_TRUE(eventually([&] { return file_json(object) == json_or_null(sample_config("second")); }, 30s))
        << exporter.log();
    ASSERT_TRUE(eventually([&] { return exporter.status_field("export", "failures") == "0"; }, 5s));
    EXPECT_EQ(exporter.status_field("export", "pending_hash"), "");
}

TEST(flows, an_import_takes_the_exporters_hash_from_the_object_metadata) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto certs = make_cluster_certs(dir);
    const auto in = dir / "backup.json";
    ASSERT_TRUE(write_file_atomically(in, sample_config("tagged"), 0644));
    // As a lifeboat exporter writes it: the CP's hash in lifeboat-config-hash. The importer takes it
    // instead of recomputing Kong's hash over the whole config (here a value no config hashes to,
    // so the test sees which one was used).
    const std::string exporter_hash = "0123456789abcdef0123456789abcdef";
    auto put = aws_s3api({"put-object", "--bucket", rgw().bucket, "--key", prefix + "/3.9.0.0/config.json",
                          "--body", in.string(), "--content-type", "application/json", "--metadata",
                          "lifeboat-config-hash=" + exporter_hash + ",lifeboat-cp-timestamp=1700000000"});
    ASSERT_EQ(put.exit_code, 0) << put.err;
    const auto gateway = dir / "kong.json";
    agent_process dp(dir, "importer",
                     importer_settings("127.0.0.1:" + std::to_string(free_port()), certs, prefix, gateway),
                     rgw_env());
    ASSERT_TRUE(eventually([&] { return applied(dp, gateway, sample_config("tagged")); }, 30s)) << dp.log();
    EXPECT_EQ(dp.status_field("config", "hash"), exporter_hash);
    EXPECT_EQ(dp.status_field("config", "source"), "fallback");
}

// Issue 14: the upload starts before the cache write (alongside it), never before validation: a
// config the exporter refuses never reaches the bucket, and each valid one is uploaded once.
TEST(flows, a_cp_config_that_fails_validation_never_reaches_the_bucket) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto key = prefix + "/3.9.0.0/config.json";
    const auto certs = make_cluster_certs(dir);
    reference_cp cp(dir, certs, sample_config("alpha"));
    auto settings = exporter_settings(cp.address(), certs, prefix);
    // The reference CP refuses what is not a declarative config; what it sends and this node
    // refuses is a config larger than the node takes (the decoder stops at the limit).
    settings["cluster_max_config_size"] = "16k";
    agent_process exporter(dir, "exporter", settings, rgw_env());
    ASSERT_TRUE(eventually([&] { return exporter.status_field("export", "uploads") == "1"; }, 30s))
        << exporter.log();
    EXPECT_EQ(rgw_object_json(key), json_or_null(sample_config("alpha")));

    ASSERT_GT(sample_config("too-large", 1000).size(), std::size_t(16) << 10);
    cp.set_config(sample_config("too-large", 1000));
    ASSERT_TRUE(eventually(
        [&] {
            return exporter.log().find("invalid config from the control plane dropped") != std::string::npos;
        },
        30s))
        << exporter.log() << "\nCP:\n"
        << cp.proc()->err();
    EXPECT_EQ(exporter.status_field("export", "uploads"), "1");
    EXPECT_EQ(rgw_object_json(key), json_or_null(sample_config("alpha")));
    cp.set_config(sample_config("beta"));
    ASSERT_TRUE(eventually([&] { return exporter.status_field("export", "uploads") == "2"; }, 30s))
        << exporter.log();
    EXPECT_EQ(rgw_object_json(key), json_or_null(sample_config("beta")));
    // Offered before its cache write and again once accepted, each config went up once.
    EXPECT_EQ(exporter.status_field("export", "skipped"), "0") << exporter.log();
    EXPECT_EQ(exporter.log().find("export skipped"), std::string::npos) << exporter.log();
}

// Issue 14: the cache write and the upload overlap. A kill -9 while both run (the agent is killed
// as soon as it logs the large config's arrival) leaves a whole cache entry, the old config's or
// the new one's, and a whole object in the bucket; the restarted exporter then brings both to
// the new config.
TEST(flows, kill_9_while_the_upload_and_the_cache_write_overlap_leaves_a_whole_cache_and_object) {
    const auto dir = scratch_dir();
    const auto prefix = "flows-" + unique_suffix();
    const auto key = prefix + "/3.9.0.0/config.json";
    const auto certs = make_cluster_certs(dir);
    const auto small = sample_config("small");
    const auto large = sample_config("large", 40000); // ~20 MB: the write and the upload take a while
    reference_cp cp(dir, certs, small);
    const auto settings = exporter_settings(cp.address(), certs, prefix);
    std::filesystem::path node_prefix;
    auto cached_text = [&]() -> std::string {
        auto c = agent::config_cache(node_prefix).load(64 << 20);
        EXPECT_NE(c.status, agent::cache_load_status::corrupt) << c.error;
        return c.snapshot ? std::string(c.snapshot->config_json) : std::string();
    };
    {
        agent_process exporter(dir, "exporter", settings, rgw_env());
        node_prefix = exporter.prefix();
        ASSERT_TRUE(eventually([&] { return exporter.status_field("export", "uploads") == "1"; }, 30s))
            << exporter.log();
        cp.set_config(large);
        auto arrivals = [&] {
            const auto log = exporter.log();
            std::size_t n = 0;
            for (auto at = log.find("new config from the control plane"); at != std::string::npos;
                 at = log.find("new config from the control plane", at + 1))
                ++n;
            return n;
        };
        ASSERT_TRUE(eventually([&] { return arrivals() >= 2; }, 60s)) << exporter.log();
        exporter.kill9();
        const auto cached = cached_text();
        std::cout << "killed with the " << (cached == large ? "new" : "old") << " config in the cache, the "
                  << (rgw_object_json(key) == json_or_null(large) ? "new" : "old") << " one in the bucket\n";
        EXPECT_TRUE(cached == small || cached == large) << "the cache holds neither config whole";
        const auto object = rgw_object_json(key);
        EXPECT_TRUE(object == json_or_null(small) || object == json_or_null(large))
            << "the bucket holds neither config whole";
    }
    agent_process restarted(dir, "exporter", settings, rgw_env());
    ASSERT_TRUE(eventually([&] { return rgw_object_json(key) == json_or_null(large); }, 60s))
        << restarted.log();
    ASSERT_TRUE(eventually([&] { return cached_text() == large; }, 30s)) << restarted.log();
}
