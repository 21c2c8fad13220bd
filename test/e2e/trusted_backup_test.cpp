// Trusted backups end to end (docs/security.md): a real signing exporter behind the reference CP,
// real importers with trusted keys whose CP is down, on Ceph RGW and on the file store. Every
// forgery is refused with its reason (status, metric, log) and nothing reaches the cache or the
// gateway; then a good upload is imported. kill -9 of a signing exporter at random points never
// leaves a config.json without the signature of exactly its bytes.
#include "agent/backup_trust.hpp"
#include "backends/backup_signature.hpp"
#include "backends/layout.hpp"
#include "backends/store_factory.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "fleet.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <sys/stat.h>
#include <thread>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;

namespace {

enum class store_kind { rgw, file };

// The bucket as a test sees it: lifeboat's own store client, used synchronously.
class bucket {
public:
    bucket(store_kind kind, const std::filesystem::path& dir) : kind_(kind) {
        root_ = kind == store_kind::rgw ? rgw_storage_url("") : "file://" + (dir / "bucket").string();
        if (kind == store_kind::file)
            std::filesystem::create_directories(dir / "bucket");
        auto store =
            backends::make_object_store(io_.get_executor(), root_, backends::store_environment::from(env()));
        if (!store)
            throw std::runtime_error(store.error());
        store_ = std::move(store).value();
    }
    std::map<std::string, std::string> env() const {
        return kind_ == store_kind::rgw ? rgw_env() : std::map<std::string, std::string>{};
    }
    std::string url(const std::string& prefix) const {
        return kind_ == store_kind::rgw ? rgw_storage_url(prefix) : root_ + "/" + prefix;
    }
    // Keys relative to the store: the S3 URL's prefix is part of the key, the file store's not.
    std::optional<backends::object_data> get(const std::string& key) {
        std::optional<backends::object_data> out;
        run([&]() -> boost::asio::awaitable<void> {
            auto r = co_await store_->get(key);
            if (r)
                out = std::move(r).value();
        });
        return out;
    }
    void put(const std::string& key, std::string bytes, std::map<std::string, std::string> metadata = {}) {
        bool ok = false;
        run([&]() -> boost::asio::awaitable<void> {
            backends::put_options o;
            o.metadata = std::move(metadata);
            auto r = co_await store_->put(key, backends::body_source::from_string(std::move(bytes)), o);
            ok = r.ok();
        });
        ASSERT_TRUE(ok) << "put " << key;
    }

private:
    template <class F>
    void run(F f) {
        boost::asio::co_spawn(io_, f, boost::asio::detached);
        io_.restart();
        io_.run();
    }
    store_kind kind_;
    std::string root_;
    boost::asio::io_context io_;
    std::unique_ptr<backends::object_store> store_;
};

std::string config_key(const std::string& prefix) {
    return backends::config_key(prefix, "3.9.0.0");
}

struct key_files {
    std::filesystem::path private_key, public_key;
};

// `lifeboat keys generate signing`, checked as an operator would.
key_files generate_keys(const std::filesystem::path& dir) {
    auto r = run({.args = {lifeboat_bin().string(), "keys", "generate", "signing", "--out", dir.string()}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("-----BEGIN PUBLIC KEY-----"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("key id "), std::string::npos) << r.err;
    struct stat st {};
    EXPECT_EQ(::stat((dir / "signing.key.pem").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // Never overwrites.
    auto again =
        run({.args = {lifeboat_bin().string(), "keys", "generate", "signing", "--out", dir.string()}});
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
    return {dir / "signing.key.pem", dir / "signing.pub.pem"};
}

agent::trust_policy policy_for(const key_files& k, std::chrono::seconds max_age) {
    agent::trust_policy p;
    p.trusted_keys = {*ed25519::public_key::load(k.public_key)};
    p.node_version = "3.9.0.0";
    p.max_age = max_age;
    return p;
}

// The pair the bucket holds under `prefix`: config.json and the signature object of its bytes.
struct pair_read {
    std::optional<backends::object_data> config;
    std::optional<std::string> signature;
};
pair_read read_pair(bucket& b, const std::string& prefix) {
    pair_read out;
    out.config = b.get(config_key(prefix));
    if (out.config)
        if (auto s = b.get(backends::signature_key(config_key(prefix), sha256_hex(out.config->bytes))))
            out.signature = std::move(s->bytes);
    return out;
}

class trusted_backups : public ::testing::TestWithParam<store_kind> {};

std::map<std::string, std::string> exporter_settings(const reference_cp& cp, const cluster_certs& certs,
                                                     const std::string& storage, const key_files& keys) {
    return {{"cluster_control_plane", cp.address()},
            {"cluster_cert", certs.cert.string()},
            {"cluster_cert_key", certs.key.string()},
            {"cluster_fallback_config_export", "on"},
            {"cluster_fallback_config_storage", storage},
            {"cluster_fallback_config_export_delay", "0.1"},
            {"cluster_fallback_config_signing_key", keys.private_key.string()},
            {"cluster_fallback_config_max_age", "8"},
            {"election_interval", "1"},
            {"node_version", "3.9.0.0"}};
}

} // namespace

TEST_P(trusted_backups, every_forgery_is_refused_then_a_good_upload_is_imported) {
    const auto dir = scratch_dir();
    bucket b(GetParam(), dir);
    const auto keys = generate_keys(dir / "keys");
    const auto other_keys = generate_keys(dir / "other-keys"); // not trusted
    const auto next_keys = generate_keys(dir / "next-keys");   // trusted too: a rotation under way
    const auto other = *ed25519::private_key::load(other_keys.private_key);
    const auto certs = make_cluster_certs(dir);
    const auto run_id = "trust-" + unique_suffix();
    const auto source = run_id + "/exporter";

    reference_cp cp(dir, certs, sample_config("alpha"));
    agent_process exporter(dir, "exporter", exporter_settings(cp, certs, b.url(source), keys), b.env());
    const auto policy = policy_for(keys, 10s);
    pair_read old;
    ASSERT_TRUE(eventually(
        [&] {
            old = read_pair(b, source);
            return old.config && old.signature &&
                   agent::check_backup(policy,
                                       {sha256_hex(old.config->bytes), old.config->bytes.size(), false},
                                       old.signature, std::nullopt, wall_clock::now())
                       .ok();
        },
        30s))
        << exporter.log();
    // config.json is Kong's: the config's JSON, application/json; the signature sits beside it.
    EXPECT_EQ(boost::json::parse(old.config->bytes), boost::json::parse(sample_config("alpha")));
    EXPECT_EQ(old.config->info.metadata.at(backends::signature_metadata::object_sha256),
              sha256_hex(old.config->bytes));
    EXPECT_EQ(exporter.status_field("export", "signing"), "true");

    // Past the importers' max_age (10 s): the exporter, its CP session up, keeps re-signing.
    std::this_thread::sleep_for(12s);
    ASSERT_GE(std::stoi(exporter.status_field("export", "resigns")), 2) << exporter.log();
    const auto good_config = old.config->bytes;
    const auto good_sha = sha256_hex(good_config);
    auto current_signature = [&] { return read_pair(b, source).signature.value_or(""); };
    ASSERT_TRUE(agent::check_backup(policy, {good_sha, good_config.size(), false}, current_signature(),
                                    std::nullopt, wall_clock::now()));
    ASSERT_FALSE(agent::check_backup(policy, {good_sha, good_config.size(), false}, old.signature,
                                     std::nullopt, wall_clock::now()));

    struct scenario {
        std::string name;
        std::string reason;
        std::function<void(const std::string& prefix)> plant;
    };
    const auto sig_key = [&](const std::string& prefix, const std::string& sha) {
        return backends::signature_key(config_key(prefix), sha);
    };
    const std::map<std::string, std::string> claims{{backends::signature_metadata::object_sha256, good_sha}};
    std::vector<scenario> scenarios{
        {"flipped", "content_mismatch",
         [&](const std::string& p) {
             auto flipped = good_config;
             const auto at = flipped.find("alpha-svc-1");
             flipped[at] = 'A'; // still valid JSON: only the signature can tell
             b.put(config_key(p), flipped, claims);
             b.put(sig_key(p, good_sha), current_signature());
         }},
        {"kong", "unsigned", [&](const std::string& p) { b.put(config_key(p), sample_config("kong")); }},
        {"other_key", "unknown_key",
         [&](const std::string& p) {
             auto m = backends::parse_signature_object(current_signature())->manifest;
             b.put(config_key(p), good_config, claims);
             b.put(sig_key(p, good_sha), backends::make_signature_object(m, other));
         }},
        {"replayed", "too_old",
         [&](const std::string& p) {
             b.put(config_key(p), good_config, claims);
             b.put(sig_key(p, good_sha), *old.signature);
         }},
        {"cut_short", "size_mismatch",
         [&](const std::string& p) {
             b.put(config_key(p), good_config.substr(0, good_config.size() / 2), claims);
             b.put(sig_key(p, good_sha), current_signature());
         }},
    };

    struct importer_node {
        std::string prefix;
        std::filesystem::path gateway;
        std::unique_ptr<agent_process> proc;
    };
    std::vector<importer_node> nodes;
    for (const auto& sc : scenarios) {
        importer_node n;
        n.prefix = run_id + "/" + sc.name;
        n.gateway = dir / ("gw-" + sc.name) / "kong.json";
        std::filesystem::create_directories(n.gateway.parent_path());
        sc.plant(n.prefix);
        n.proc = std::make_unique<agent_process>(
            dir, "importer-" + sc.name,
            std::map<std::string, std::string>{
                {"cluster_control_plane", "127.0.0.1:" + std::to_string(free_port())},
                {"cluster_cert", certs.cert.string()},
                {"cluster_cert_key", certs.key.string()},
                {"cluster_fallback_config_import", "on"},
                {"cluster_fallback_config_storage", b.url(n.prefix)},
                {"cluster_fallback_config_trusted_keys",
                 next_keys.public_key.string() + "," + keys.public_key.string()},
                {"cluster_fallback_config_max_age", "10"},
                {"gateway_handoff", "file"},
                {"gateway_config_path", n.gateway.string()},
                {"cluster_reconnect_delay_min", "0.5"},
                {"cluster_reconnect_delay_max", "1"},
                {"node_version", "3.9.0.0"}},
            b.env());
        nodes.push_back(std::move(n));
    }
    for (std::size_t i = 0; i < scenarios.size(); ++i) {
        auto& n = nodes[i];
        const auto& sc = scenarios[i];
        ASSERT_TRUE(eventually(
            [&] {
                auto st = n.proc->status();
                return st.is_object() && st.at("import").at("last_refusal").is_object() &&
                       st.at("import").at("last_refusal").at("reason") == sc.reason.c_str();
            },
            30s))
            << sc.name << ": expected " << sc.reason << "\n"
            << n.proc->log();
        EXPECT_FALSE(std::filesystem::exists(n.gateway)) << sc.name << ": nothing may reach the gateway";
        EXPECT_EQ(n.proc->status_field("cache", "state"), "empty") << sc.name;
        EXPECT_EQ(n.proc->status_field("config", "source"), "none") << sc.name;
        EXPECT_NE(n.proc->log().find("fallback backup refused"), std::string::npos) << sc.name;
        EXPECT_NE(n.proc->log().find("reason=" + sc.reason), std::string::npos) << n.proc->log();
        const auto metrics = n.proc->get("/metrics").second;
        EXPECT_EQ(metrics.find("lifeboat_import_refusals_total{reason=\"" + sc.reason + "\"} 0"),
                  std::string::npos)
            << metrics;
        EXPECT_NE(metrics.find("lifeboat_import_refusals_total{reason=\"" + sc.reason + "\"}"),
                  std::string::npos)
            << metrics;
        EXPECT_NE(metrics.find("lifeboat_import_refusals_total{reason=\"bad_signature\"} 0"),
                  std::string::npos)
            << metrics;
    }

    // Then the good pair, kept fresh as a live exporter would: each importer takes it.
    auto last_copy = std::chrono::steady_clock::time_point{};
    ASSERT_TRUE(eventually(
        [&] {
            if (std::chrono::steady_clock::now() - last_copy > 1s) {
                last_copy = std::chrono::steady_clock::now();
                const auto sig = current_signature();
                for (auto& n : nodes) {
                    if (std::filesystem::exists(n.gateway))
                        continue;
                    b.put(config_key(n.prefix), good_config, claims);
                    b.put(sig_key(n.prefix, good_sha), sig);
                }
            }
            // The gateway file is written on the disk pool; the import's state is booked just after.
            for (auto& n : nodes)
                if (!std::filesystem::exists(n.gateway) ||
                    n.proc->status_field("import", "state") != "imported")
                    return false;
            return true;
        },
        90s));
    for (auto& n : nodes) {
        EXPECT_EQ(boost::json::parse(*read_whole_file(n.gateway)), boost::json::parse(good_config))
            << n.prefix;
        EXPECT_EQ(n.proc->status_field("import", "state"), "imported");
        EXPECT_EQ(n.proc->status_field("import", "signed_by"),
                  ed25519::public_key::load(keys.public_key)->id());
    }

    // lifeboat fetch says what it found, and refuses what an importer refuses.
    auto fetch = [&](const std::string& prefix) {
        return run(
            {.args = {lifeboat_bin().string(), "fetch", "--set",
                      "cluster_fallback_config_storage=" + b.url(prefix), "--set", "node_version=3.9.0.0",
                      "--set", "cluster_fallback_config_trusted_keys=" + keys.public_key.string()},
             .env = b.env()});
    };
    auto good = fetch(source);
    EXPECT_EQ(good.exit_code, 0) << good.err;
    EXPECT_NE(good.err.find("verified: "), std::string::npos) << good.err;
    EXPECT_NE(good.err.find("signed by key " + ed25519::public_key::load(keys.public_key)->id()),
              std::string::npos)
        << good.err;
    EXPECT_EQ(good.out, good_config);
    b.put(config_key(run_id + "/kong-again"), sample_config("kong"));
    auto unsigned_fetch = fetch(run_id + "/kong-again");
    EXPECT_EQ(unsigned_fetch.exit_code, 1);
    EXPECT_NE(unsigned_fetch.err.find("refused (unsigned)"), std::string::npos) << unsigned_fetch.err;
    EXPECT_EQ(unsigned_fetch.out, "");

    // lifeboat doctor: an importer's view passes on the good backup and fails on the unsigned one;
    // an exporter whose signing key is not among its configured trusted keys fails.
    auto doctor = [&](const std::string& prefix, std::vector<std::string> extra) {
        std::vector<std::string> args{lifeboat_bin().string(),
                                      "doctor",
                                      "--set",
                                      "cluster_fallback_config_storage=" + b.url(prefix),
                                      "--set",
                                      "node_version=3.9.0.0"};
        for (auto& e : extra) {
            args.push_back("--set");
            args.push_back(e);
        }
        return run({.args = args, .env = b.env()});
    };
    const auto trust = "cluster_fallback_config_trusted_keys=" + keys.public_key.string();
    auto doc_good = doctor(source, {"cluster_fallback_config_import=on", trust});
    EXPECT_NE(doc_good.out.find("verified: "), std::string::npos) << doc_good.out;
    auto doc_bad = doctor(run_id + "/kong-again", {"cluster_fallback_config_import=on", trust});
    EXPECT_EQ(doc_bad.exit_code, 1) << doc_bad.out;
    EXPECT_NE(doc_bad.out.find("an importer refuses the backup (unsigned)"), std::string::npos)
        << doc_bad.out;
    auto doc_exporter =
        doctor(source, {"cluster_fallback_config_export=on",
                        "cluster_fallback_config_signing_key=" + other_keys.private_key.string(), trust});
    EXPECT_EQ(doc_exporter.exit_code, 1) << doc_exporter.out;
    EXPECT_NE(doc_exporter.out.find("which is not in cluster_fallback_config_trusted_keys"),
              std::string::npos)
        << doc_exporter.out;
}

TEST_P(trusted_backups, kill_9_of_a_signing_exporter_never_leaves_a_mismatched_pair) {
    const auto dir = scratch_dir();
    bucket b(GetParam(), dir);
    const auto keys = generate_keys(dir / "keys");
    const auto certs = make_cluster_certs(dir);
    const auto prefix = "trust-kill-" + unique_suffix();
    reference_cp cp(dir, certs, sample_config("k0", 200));
    const auto policy = policy_for(keys, 0s);
    std::mt19937 random(std::random_device{}());
    // A first exporter uploads k0 before any kill, so that every round below has a pair to check
    // however slow the store is (on a loaded machine RGW's first upload can outlast a round).
    {
        agent_process first(dir, "exporter", exporter_settings(cp, certs, b.url(prefix), keys), b.env());
        ASSERT_TRUE(eventually([&] { return read_pair(b, prefix).signature.has_value(); }, 30s))
            << first.log();
        first.kill9();
        first.wait(5s);
    }
    int checked = 0;
    std::set<std::string> configs_seen;
    constexpr int rounds = 8;
    for (int round = 1; round <= rounds; ++round) {
        agent_process exporter(dir, "exporter", exporter_settings(cp, certs, b.url(prefix), keys), b.env());
        ASSERT_TRUE(eventually([&] { return exporter.status_field("election", "is_leader") == "true"; }, 20s))
            << exporter.log();
        // A new config every round; the kill lands anywhere from before its upload (export delay
        // 0.1 s, then the signature PUT, then config.json's) to after it.
        cp.set_config(sample_config("k" + std::to_string(round), 200));
        if (round < rounds) {
            std::this_thread::sleep_for(
                std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 700)(random)));
        } else {
            // The last kill lands after a finished upload, so at least two configs are checked
            // whatever the timing of the random rounds.
            ASSERT_TRUE(eventually(
                [&] {
                    auto pair = read_pair(b, prefix);
                    return pair.config && pair.signature &&
                           boost::json::parse(pair.config->bytes) ==
                               boost::json::parse(sample_config("k" + std::to_string(round), 200));
                },
                30s))
                << exporter.log();
        }
        exporter.kill9();
        exporter.wait(5s);
        auto pair = read_pair(b, prefix);
        ASSERT_TRUE(pair.config) << "round " << round << ": config.json is gone";
        ++checked;
        configs_seen.insert(sha256_hex(pair.config->bytes));
        ASSERT_TRUE(pair.signature) << "round " << round
                                    << ": config.json without the signature of its bytes";
        auto verdict =
            agent::check_backup(policy, {sha256_hex(pair.config->bytes), pair.config->bytes.size(), false},
                                pair.signature, std::nullopt, wall_clock::now());
        ASSERT_TRUE(verdict) << "round " << round << ": " << verdict.error().detail;
    }
    EXPECT_EQ(checked, rounds);
    EXPECT_GE(configs_seen.size(), 2u);
}

// Kong/kong#12861: a CP with pending migrations pushes an empty config; the exporter keeps the
// good backup (and says so once), unless cluster_fallback_config_export_empty = on.
TEST(export_empty, an_empty_config_never_replaces_a_backup_with_services) {
    const auto dir = scratch_dir();
    bucket b(store_kind::file, dir);
    const auto keys = generate_keys(dir / "keys");
    const auto certs = make_cluster_certs(dir);
    const auto prefix = "empty-" + unique_suffix();
    reference_cp cp(dir, certs, sample_config("full"));
    agent_process exporter(dir, "exporter", exporter_settings(cp, certs, b.url(prefix), keys), b.env());
    const auto full = boost::json::parse(sample_config("full"));
    auto in_bucket = [&] {
        auto o = b.get(config_key(prefix));
        return o ? boost::json::parse(o->bytes) : boost::json::value(nullptr);
    };
    ASSERT_TRUE(eventually([&] { return in_bucket() == full; }, 30s)) << exporter.log();
    const std::string empty = R"({"_format_version":"3.0","_transform":false})";
    cp.set_config(empty);
    ASSERT_TRUE(eventually([&] { return exporter.status_field("export", "empty_skipped") == "1"; }, 30s))
        << exporter.log();
    EXPECT_EQ(in_bucket(), full);
    EXPECT_NE(exporter.log().find("export skipped: the config has no services, routes or plugins"),
              std::string::npos);
    EXPECT_NE(exporter.get("/metrics").second.find("lifeboat_export_empty_skipped_total 1"),
              std::string::npos);
    exporter.kill9();
    exporter.wait(5s);

    auto settings = exporter_settings(cp, certs, b.url(prefix), keys);
    settings["cluster_fallback_config_export_empty"] = "on";
    agent_process allowed(dir, "exporter-empty-on", settings, b.env());
    ASSERT_TRUE(eventually([&] { return in_bucket() == boost::json::parse(empty); }, 30s)) << allowed.log();
}

// Encrypted backups (cluster_fallback_config_encryption_recipients / _decryption_identity): the
// exporter uploads an age file, signed over its encrypted bytes; `age -d` reads it; an importer
// verifies, then decrypts on the way to the cache. A backup it cannot decrypt (for another
// recipient, no identity, a manifest that says plain, a cut age stream) is refused with its
// reason, nothing reaches the cache or the gateway, and the importer then takes a good one, also
// one encrypted by the `age` command.
namespace {

struct age_key {
    std::filesystem::path identity;
    std::string recipient;
};

// `lifeboat keys generate encryption`, checked as an operator would.
age_key generate_age_key(const std::filesystem::path& dir) {
    auto r =
        run({.args = {lifeboat_bin().string(), "keys", "generate", "encryption", "--out", dir.string()}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    struct stat st {};
    EXPECT_EQ(::stat((dir / "encryption.key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto recipient = r.out.substr(0, r.out.find('\n'));
    EXPECT_TRUE(recipient.starts_with("age1")) << r.out;
    EXPECT_EQ(*read_whole_file(dir / "encryption.pub"), recipient + "\n");
    EXPECT_EQ(r.out.find("AGE-SECRET-KEY"), std::string::npos) << "the secret is never printed";
    EXPECT_EQ(r.err.find("AGE-SECRET-KEY"), std::string::npos);
    auto again =
        run({.args = {lifeboat_bin().string(), "keys", "generate", "encryption", "--out", dir.string()}});
    EXPECT_EQ(again.exit_code, 1);
    return {dir / "encryption.key", recipient};
}

run_result age_command(std::vector<std::string> args, std::optional<std::string> input) {
    args.insert(args.begin(), "age");
    return run({.args = std::move(args), .name = "age", .stdin_data = std::move(input)});
}

} // namespace

TEST_P(trusted_backups, encrypted_backups_are_verified_then_decrypted_and_refused_when_they_cannot_be) {
    const auto dir = scratch_dir();
    bucket b(GetParam(), dir);
    const auto keys = generate_keys(dir / "keys");
    const auto signer = *ed25519::private_key::load(keys.private_key);
    const auto mine = generate_age_key(dir / "age-mine");
    const auto other = generate_age_key(dir / "age-other");
    const auto certs = make_cluster_certs(dir);
    const auto run_id = "trust-age-" + unique_suffix();
    const auto source = run_id + "/exporter";

    reference_cp cp(dir, certs, sample_config("alpha"));
    auto settings = exporter_settings(cp, certs, b.url(source), keys);
    settings["cluster_fallback_config_encryption_recipients"] = mine.recipient + " , " + other.recipient;
    agent_process exporter(dir, "exporter", settings, b.env());
    const auto policy = policy_for(keys, 0s);
    pair_read exported;
    ASSERT_TRUE(eventually(
        [&] {
            exported = read_pair(b, source);
            return exported.config && exported.signature;
        },
        30s))
        << exporter.log();
    const auto& sealed = exported.config->bytes;
    ASSERT_TRUE(sealed.starts_with("age-encryption.org/v1\n")) << sealed.substr(0, 64);
    EXPECT_EQ(sealed.find("alpha-svc-1"), std::string::npos) << "the config is not readable in the bucket";
    auto verdict = agent::check_backup(policy, {sha256_hex(sealed), sealed.size(), true}, exported.signature,
                                       std::nullopt, wall_clock::now());
    ASSERT_TRUE(verdict) << verdict.error().detail;
    EXPECT_TRUE(verdict->encrypted);
    EXPECT_EQ(exporter.status_field("export", "encryption_recipients"), "2");

    // The `age` command decrypts it with either identity: the config's JSON.
    std::string plain;
    for (const auto& k : {mine, other}) {
        auto d = age_command({"-d", "-i", k.identity.string()}, sealed);
        ASSERT_EQ(d.exit_code, 0) << d.err;
        EXPECT_EQ(boost::json::parse(d.out), boost::json::parse(sample_config("alpha")));
        plain = d.out;
    }
    const auto base = backends::parse_signature_object(*exported.signature)->manifest;
    // A signature for any bytes, made as the exporter would (the test holds the signing key).
    const auto signature_for = [&](const std::string& bytes, bool encrypted) {
        auto m = base;
        m.object_sha256 = sha256_hex(bytes);
        m.object_size = bytes.size();
        m.encrypted = encrypted;
        m.signed_at =
            std::chrono::duration_cast<std::chrono::seconds>(wall_clock::now().time_since_epoch()).count();
        return backends::make_signature_object(m, signer);
    };
    const auto plant = [&](const std::string& prefix, const std::string& bytes, const std::string& sig) {
        b.put(config_key(prefix), bytes, {{backends::signature_metadata::object_sha256, sha256_hex(bytes)}});
        if (!sig.empty())
            b.put(backends::signature_key(config_key(prefix), sha256_hex(bytes)), sig);
    };
    // Encrypted by the `age` command, for `mine` only.
    auto by_age = age_command({"-r", mine.recipient}, plain);
    ASSERT_EQ(by_age.exit_code, 0) << by_age.err;
    const auto for_mine = by_age.out;
    auto for_other_run = age_command({"-r", other.recipient}, plain);
    ASSERT_EQ(for_other_run.exit_code, 0) << for_other_run.err;
    const auto for_other = for_other_run.out;

    struct scenario {
        std::string name;
        std::string reason; // the refusal
        std::optional<age_key> identity;
        bool verify = true;
        std::function<void(const std::string& prefix)> plant_bad;
        std::function<void(const std::string& prefix)> plant_good;
    };
    std::vector<scenario> scenarios{
        {"other_recipient", "not_a_recipient", mine, true,
         [&](const std::string& p) { plant(p, for_other, signature_for(for_other, true)); },
         [&](const std::string& p) { plant(p, for_mine, signature_for(for_mine, true)); }},
        {"no_identity", "no_identity", std::nullopt, true,
         [&](const std::string& p) { plant(p, sealed, *exported.signature); },
         [&](const std::string& p) { plant(p, plain, signature_for(plain, false)); }},
        {"says_plain", "encryption_mismatch", mine, true,
         [&](const std::string& p) { plant(p, for_mine, signature_for(for_mine, false)); },
         [&](const std::string& p) { plant(p, sealed, *exported.signature); }},
        {"cut_age_stream", "decryption_failed", other, true,
         [&](const std::string& p) {
             const auto cut = sealed.substr(0, sealed.size() - 5);
             plant(p, cut, signature_for(cut, true));
         },
         [&](const std::string& p) { plant(p, sealed, *exported.signature); }},
        // Verification off: the `age` command's file, with no signature at all.
        {"unverified", "not_a_recipient", mine, false, [&](const std::string& p) { plant(p, for_other, ""); },
         [&](const std::string& p) { plant(p, for_mine, ""); }},
    };

    struct importer_node {
        std::string prefix;
        std::filesystem::path gateway;
        std::unique_ptr<agent_process> proc;
    };
    std::vector<importer_node> nodes;
    for (const auto& sc : scenarios) {
        importer_node n;
        n.prefix = run_id + "/" + sc.name;
        n.gateway = dir / ("gw-" + sc.name) / "kong.json";
        std::filesystem::create_directories(n.gateway.parent_path());
        sc.plant_bad(n.prefix);
        std::map<std::string, std::string> conf{
            {"cluster_control_plane", "127.0.0.1:" + std::to_string(free_port())},
            {"cluster_cert", certs.cert.string()},
            {"cluster_cert_key", certs.key.string()},
            {"cluster_fallback_config_import", "on"},
            {"cluster_fallback_config_storage", b.url(n.prefix)},
            {"gateway_handoff", "file"},
            {"gateway_config_path", n.gateway.string()},
            {"cluster_reconnect_delay_min", "0.5"},
            {"cluster_reconnect_delay_max", "1"},
            {"node_version", "3.9.0.0"}};
        if (sc.verify)
            conf["cluster_fallback_config_trusted_keys"] = keys.public_key.string();
        if (sc.identity)
            conf["cluster_fallback_config_decryption_identity"] = sc.identity->identity.string();
        n.proc = std::make_unique<agent_process>(dir, "importer-" + sc.name, conf, b.env());
        nodes.push_back(std::move(n));
    }
    for (std::size_t i = 0; i < scenarios.size(); ++i) {
        auto& n = nodes[i];
        const auto& sc = scenarios[i];
        ASSERT_TRUE(eventually(
            [&] {
                auto st = n.proc->status();
                return st.is_object() && st.at("import").at("last_refusal").is_object() &&
                       st.at("import").at("last_refusal").at("reason") == sc.reason.c_str();
            },
            30s))
            << sc.name << ": expected " << sc.reason << "\n"
            << n.proc->log();
        EXPECT_FALSE(std::filesystem::exists(n.gateway)) << sc.name << ": nothing may reach the gateway";
        EXPECT_EQ(n.proc->status_field("cache", "state"), "empty") << sc.name;
        EXPECT_EQ(n.proc->status_field("config", "source"), "none") << sc.name;
        EXPECT_NE(n.proc->log().find("reason=" + sc.reason), std::string::npos) << n.proc->log();
        EXPECT_EQ(n.proc->log().find("AGE-SECRET-KEY"), std::string::npos) << "a secret in the log";
        const auto metrics = n.proc->get("/metrics").second;
        EXPECT_NE(metrics.find("lifeboat_import_refusals_total{reason=\"" + sc.reason + "\"}"),
                  std::string::npos)
            << metrics;
        EXPECT_EQ(metrics.find("lifeboat_import_refusals_total{reason=\"" + sc.reason + "\"} 0"),
                  std::string::npos)
            << metrics;
    }
    // Then the good backup: each importer takes it, decrypted (or plain, for the node without an
    // identity) and verified.
    for (std::size_t i = 0; i < scenarios.size(); ++i)
        scenarios[i].plant_good(nodes[i].prefix);
    for (std::size_t i = 0; i < scenarios.size(); ++i) {
        auto& n = nodes[i];
        // The gateway file is written on the disk pool; the import's state is booked just after.
        ASSERT_TRUE(eventually(
            [&] {
                return std::filesystem::exists(n.gateway) &&
                       n.proc->status_field("import", "state") == "imported";
            },
            60s))
            << scenarios[i].name << "\n"
            << n.proc->log();
        EXPECT_EQ(boost::json::parse(*read_whole_file(n.gateway)), boost::json::parse(sample_config("alpha")))
            << scenarios[i].name;
    }

    // lifeboat fetch decrypts with this node's identity, byte for byte what `age -d` gives.
    auto fetch = [&](const std::string& prefix, const std::optional<age_key>& id) {
        std::vector<std::string> args{lifeboat_bin().string(),
                                      "fetch",
                                      "--set",
                                      "cluster_fallback_config_storage=" + b.url(prefix),
                                      "--set",
                                      "node_version=3.9.0.0",
                                      "--set",
                                      "cluster_fallback_config_trusted_keys=" + keys.public_key.string()};
        if (id) {
            args.push_back("--set");
            args.push_back("cluster_fallback_config_decryption_identity=" + id->identity.string());
        }
        return run({.args = args, .env = b.env()});
    };
    auto good = fetch(source, mine);
    EXPECT_EQ(good.exit_code, 0) << good.err;
    EXPECT_EQ(good.out, plain);
    EXPECT_NE(good.err.find("age-encrypted to 2 recipients (X25519, X25519), decrypted"), std::string::npos)
        << good.err;
    auto no_id = fetch(source, std::nullopt);
    EXPECT_EQ(no_id.exit_code, 1);
    EXPECT_NE(no_id.err.find("cannot be decrypted (no_identity)"), std::string::npos) << no_id.err;
    EXPECT_EQ(no_id.out, "");

    // lifeboat doctor says what it found, and fails for an importer that cannot decrypt.
    auto doctor = [&](std::vector<std::string> extra) {
        std::vector<std::string> args{lifeboat_bin().string(),
                                      "doctor",
                                      "--set",
                                      "cluster_fallback_config_storage=" + b.url(source),
                                      "--set",
                                      "node_version=3.9.0.0"};
        for (auto& e : extra) {
            args.push_back("--set");
            args.push_back(e);
        }
        return run({.args = args, .env = b.env()});
    };
    const auto import_on = "cluster_fallback_config_import=on";
    auto doc_good =
        doctor({import_on, "cluster_fallback_config_decryption_identity=" + mine.identity.string()});
    EXPECT_NE(doc_good.out.find("age-encrypted to 2 recipients; decrypted with this node's identity"),
              std::string::npos)
        << doc_good.out;
    const auto stranger = generate_age_key(dir / "age-stranger");
    auto doc_bad =
        doctor({import_on, "cluster_fallback_config_decryption_identity=" + stranger.identity.string()});
    EXPECT_EQ(doc_bad.exit_code, 1) << doc_bad.out;
    EXPECT_NE(doc_bad.out.find("refuses the backup (not_a_recipient)"), std::string::npos) << doc_bad.out;
    EXPECT_EQ(doc_bad.out.find("AGE-SECRET-KEY"), std::string::npos);

    // A malformed recipient and an unreadable identity stop the agent at start.
    auto check = [&](const std::string& kv) {
        return run({.args = {lifeboat_bin().string(), "config", "check", "--set", kv}});
    };
    auto bad_recipient = check("cluster_fallback_config_encryption_recipients=age1notarecipient");
    EXPECT_NE(bad_recipient.exit_code, 0);
    EXPECT_NE(bad_recipient.err.find("cluster_fallback_config_encryption_recipients"), std::string::npos)
        << bad_recipient.err;
    auto bad_identity =
        check("cluster_fallback_config_decryption_identity=" + (dir / "missing.key").string());
    EXPECT_NE(bad_identity.exit_code, 0);
    EXPECT_NE(bad_identity.err.find("cluster_fallback_config_decryption_identity"), std::string::npos)
        << bad_identity.err;
}

INSTANTIATE_TEST_SUITE_P(stores, trusted_backups, ::testing::Values(store_kind::rgw, store_kind::file),
                         [](const auto& test_info) {
                             return test_info.param == store_kind::rgw ? "rgw" : "file";
                         });

// SIGHUP re-reads the signing key file (rotation in place, under the same path): a file that is
// no longer a key keeps the running key, says why in one line and the exporter keeps signing;
// a good new key is used from the next upload on.
TEST(backup_keys_reload, sighup_rotates_the_signing_key_and_a_bad_one_keeps_the_running_key) {
    const auto dir = scratch_dir();
    bucket b(store_kind::file, dir);
    const auto keys = generate_keys(dir / "keys");
    const auto next_keys = generate_keys(dir / "next-keys");
    const auto certs = make_cluster_certs(dir);
    const auto source = "reload-" + unique_suffix();
    reference_cp cp(dir, certs, sample_config("alpha"));
    agent_process exporter(dir, "exporter", exporter_settings(cp, certs, b.url(source), keys), b.env());
    auto signed_by = [&](const key_files& k, const std::string& marker) {
        const auto pair = read_pair(b, source);
        return pair.config && pair.signature && pair.config->bytes.find(marker) != std::string::npos &&
               agent::check_backup(policy_for(k, 0s),
                                   {sha256_hex(pair.config->bytes), pair.config->bytes.size(), false},
                                   pair.signature, std::nullopt, wall_clock::now())
                   .ok();
    };
    ASSERT_TRUE(eventually([&] { return signed_by(keys, "alpha"); }, 30s)) << exporter.log();
    const auto first_id = exporter.status_field("export", "signing_key_id");
    ASSERT_FALSE(first_id.empty());

    // Not a key any more: the running key stays, and the log says why in one line.
    const auto first_pem = read_whole_file(keys.private_key, 4096).value();
    ASSERT_TRUE(write_file_atomically(keys.private_key, "not a key\n"));
    exporter.signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] { return exporter.log().find("the configuration was not reloaded") != std::string::npos; }, 10s))
        << exporter.log();
    const auto log = exporter.log();
    const auto line_start = log.rfind('\n', log.find("the configuration was not reloaded")) + 1;
    const auto line = log.substr(line_start, log.find('\n', line_start) - line_start);
    EXPECT_NE(line.find("cluster_fallback_config_signing_key"), std::string::npos) << line;
    EXPECT_EQ(line.find(first_pem.substr(30, 20)), std::string::npos) << "a secret in the log: " << line;
    EXPECT_EQ(exporter.status_field("export", "signing_key_id"), first_id);
    const auto resigns = std::stoi(exporter.status_field("export", "resigns"));
    ASSERT_TRUE(
        eventually([&] { return std::stoi(exporter.status_field("export", "resigns")) > resigns; }, 20s))
        << exporter.log();
    EXPECT_TRUE(signed_by(keys, "alpha")) << exporter.log();

    // The next key in place of the first: applied at once, and the next upload carries it.
    ASSERT_TRUE(
        write_file_atomically(keys.private_key, read_whole_file(next_keys.private_key, 4096).value()));
    exporter.signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] {
            return exporter.log().find("applied=cluster_fallback_config_signing_key") != std::string::npos;
        },
        10s))
        << exporter.log();
    EXPECT_NE(exporter.status_field("export", "signing_key_id"), first_id);
    cp.set_config(sample_config("beta"));
    ASSERT_TRUE(eventually([&] { return signed_by(next_keys, "beta"); }, 30s)) << exporter.log();
    EXPECT_FALSE(signed_by(keys, "beta"));
}

namespace {

// The one log line that holds `needle` (empty when none does).
std::string log_line_with(const std::string& log, const std::string& needle) {
    const auto at = log.find(needle);
    if (at == std::string::npos)
        return {};
    const auto start = log.rfind('\n', at) == std::string::npos ? 0 : log.rfind('\n', at) + 1;
    return log.substr(start, log.find('\n', start) - start);
}

// A backup as a signing exporter writes it: config.json (or its age file) and the signature of
// exactly its bytes, signed now by `key`.
void plant_signed(bucket& b, const std::string& prefix, const std::string& bytes, bool encrypted,
                  const ed25519::private_key& key) {
    backends::backup_manifest m;
    m.node_version = "3.9.0.0";
    m.object_sha256 = sha256_hex(bytes);
    m.object_size = bytes.size();
    m.encrypted = encrypted;
    m.cp_timestamp = 1700000000;
    m.key_id = key.public_part().id();
    m.term = 1;
    m.signed_at =
        std::chrono::duration_cast<std::chrono::seconds>(wall_clock::now().time_since_epoch()).count();
    b.put(config_key(prefix), bytes, {{backends::signature_metadata::object_sha256, m.object_sha256}});
    b.put(backends::signature_key(config_key(prefix), m.object_sha256),
          backends::make_signature_object(m, key));
}

std::map<std::string, std::string> importer_settings(const cluster_certs& certs, const std::string& storage,
                                                     const std::filesystem::path& gateway) {
    return {{"cluster_control_plane", "127.0.0.1:" + std::to_string(free_port())},
            {"cluster_cert", certs.cert.string()},
            {"cluster_cert_key", certs.key.string()},
            {"cluster_fallback_config_import", "on"},
            {"cluster_fallback_config_storage", storage},
            {"gateway_handoff", "file"},
            {"gateway_config_path", gateway.string()},
            {"cluster_reconnect_delay_min", "0.5"},
            {"cluster_reconnect_delay_max", "1"},
            {"node_version", "3.9.0.0"}};
}

// The importer's count of refusals for `reason` (its /metrics).
std::uint64_t refusals(const agent_process& p, const std::string& reason) {
    const auto metrics = p.get("/metrics").second;
    const auto name = "lifeboat_import_refusals_total{reason=\"" + reason + "\"} ";
    const auto at = metrics.find(name);
    return at == std::string::npos ? 0 : std::stoull(metrics.substr(at + name.size()));
}

} // namespace

// SIGHUP re-reads cluster_fallback_config_encryption_recipients (from the configuration file): a
// malformed recipient keeps the running ones and says why in one line, and the exporter keeps
// encrypting to them; good new recipients are used from the next upload on.
TEST(backup_keys_reload, sighup_replaces_the_encryption_recipients_and_a_bad_list_keeps_the_running_ones) {
    const auto dir = scratch_dir();
    bucket b(store_kind::file, dir);
    const auto keys = generate_keys(dir / "keys");
    const auto mine = generate_age_key(dir / "age-mine");
    const auto next = generate_age_key(dir / "age-next");
    const auto certs = make_cluster_certs(dir);
    const auto source = "reload-age-" + unique_suffix();
    const auto conf = dir / "lifeboat.conf";
    auto write_conf = [&](const std::string& recipients) {
        ASSERT_TRUE(write_file_atomically(
            conf, "cluster_fallback_config_encryption_recipients = " + recipients + "\n"));
    };
    write_conf(mine.recipient);
    reference_cp cp(dir, certs, sample_config("alpha"));
    agent_process exporter(dir, "exporter", exporter_settings(cp, certs, b.url(source), keys), b.env(), conf);
    // Whether the backup is `marker`'s config, encrypted so that `k` (and only whom it names) reads it.
    auto sealed_for = [&](const age_key& k, const std::string& marker) {
        const auto pair = read_pair(b, source);
        if (!pair.config || !pair.signature || !pair.config->bytes.starts_with("age-encryption.org/v1\n"))
            return false;
        auto d = age_command({"-d", "-i", k.identity.string()}, pair.config->bytes);
        return d.exit_code == 0 && d.out.find(marker) != std::string::npos;
    };
    ASSERT_TRUE(eventually([&] { return sealed_for(mine, "alpha"); }, 30s)) << exporter.log();
    EXPECT_EQ(exporter.status_field("export", "encryption_recipients"), "1");

    // Not a recipient: the running one stays, the log says why in one line.
    write_conf("age1notarecipient");
    exporter.signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] { return exporter.log().find("the configuration was not reloaded") != std::string::npos; }, 10s))
        << exporter.log();
    const auto line = log_line_with(exporter.log(), "the configuration was not reloaded");
    EXPECT_NE(line.find("cluster_fallback_config_encryption_recipients"), std::string::npos) << line;
    EXPECT_EQ(exporter.status_field("export", "encryption_recipients"), "1");
    cp.set_config(sample_config("beta"));
    ASSERT_TRUE(eventually([&] { return sealed_for(mine, "beta"); }, 30s)) << exporter.log();
    EXPECT_FALSE(sealed_for(next, "beta"));

    // Two good recipients: applied at once, and the next upload is encrypted to them.
    write_conf(next.recipient + "," + mine.recipient);
    exporter.signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] {
            return exporter.log().find("applied=cluster_fallback_config_encryption_recipients") !=
                   std::string::npos;
        },
        10s))
        << exporter.log();
    EXPECT_EQ(exporter.status_field("export", "encryption_recipients"), "2");
    cp.set_config(sample_config("gamma"));
    ASSERT_TRUE(eventually([&] { return sealed_for(next, "gamma"); }, 30s)) << exporter.log();
    EXPECT_TRUE(sealed_for(mine, "gamma"));
    // Each upload's age file (sealed while the cache was written) goes after its upload.
    auto scratch_files = [&] {
        std::vector<std::string> names;
        for (const auto& e : std::filesystem::directory_iterator(exporter.prefix()))
            if (e.path().filename().string().starts_with("fallback-export.age"))
                names.push_back(e.path().filename().string());
        return names;
    };
    EXPECT_TRUE(eventually([&] { return scratch_files().empty(); }, 10s))
        << "left behind: " << (scratch_files().empty() ? "" : scratch_files().front());
}

// SIGHUP re-reads the files of cluster_fallback_config_trusted_keys (a rotation in place): a file
// that is no longer a key keeps the running keys (verification never turns off) and says why in
// one line; a good one is used from the next import attempt on.
TEST(backup_keys_reload, sighup_rereads_the_trusted_keys_and_a_bad_file_keeps_the_running_ones) {
    const auto dir = scratch_dir();
    bucket b(store_kind::file, dir);
    const auto keys = generate_keys(dir / "keys");
    const auto next_keys = generate_keys(dir / "next-keys");
    const auto certs = make_cluster_certs(dir);
    const auto prefix = "reload-trust-" + unique_suffix();
    // The bucket holds a backup signed by the next key, which the importer does not trust yet.
    plant_signed(b, prefix, sample_config("alpha"), false,
                 *ed25519::private_key::load(next_keys.private_key));
    const auto trusted = dir / "trusted.pem";
    ASSERT_TRUE(write_file_atomically(trusted, read_whole_file(keys.public_key, 4096).value()));
    const auto gateway = dir / "gw" / "kong.json";
    std::filesystem::create_directories(gateway.parent_path());
    auto conf = importer_settings(certs, b.url(prefix), gateway);
    conf["cluster_fallback_config_trusted_keys"] = trusted.string();
    agent_process importer(dir, "importer", conf, b.env());
    ASSERT_TRUE(eventually([&] { return refusals(importer, "unknown_key") >= 1; }, 30s)) << importer.log();

    // Not a key: the running key stays, the log says why in one line, and imports keep being refused.
    ASSERT_TRUE(write_file_atomically(trusted, "not a key\n"));
    importer.signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] { return importer.log().find("the configuration was not reloaded") != std::string::npos; }, 10s))
        << importer.log();
    const auto line = log_line_with(importer.log(), "the configuration was not reloaded");
    EXPECT_NE(line.find("cluster_fallback_config_trusted_keys"), std::string::npos) << line;
    const auto refused = refusals(importer, "unknown_key");
    ASSERT_TRUE(eventually([&] { return refusals(importer, "unknown_key") > refused; }, 60s))
        << importer.log();
    EXPECT_FALSE(std::filesystem::exists(gateway));
    EXPECT_EQ(importer.status_field("cache", "state"), "empty");

    // The next key in the file: applied, and the next attempt imports the backup it signed.
    ASSERT_TRUE(write_file_atomically(trusted, read_whole_file(next_keys.public_key, 4096).value()));
    importer.signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] {
            return importer.log().find("applied=cluster_fallback_config_trusted_keys") != std::string::npos;
        },
        10s))
        << importer.log();
    ASSERT_TRUE(eventually([&] { return applied(importer, gateway, sample_config("alpha")); }, 60s))
        << importer.log();
    EXPECT_EQ(importer.status_field("import", "signed_by"),
              ed25519::public_key::load(next_keys.public_key)->id());
}

// SIGHUP re-reads cluster_fallback_config_decryption_identity: a file that is no longer an age
// identity keeps the running one and says why in one line (never the secret); a good one decrypts
// from the next import attempt on.
TEST(backup_keys_reload, sighup_rereads_the_decryption_identity_and_a_bad_file_keeps_the_running_one) {
    const auto dir = scratch_dir();
    bucket b(store_kind::file, dir);
    const auto keys = generate_keys(dir / "keys");
    const auto mine = generate_age_key(dir / "age-mine");
    const auto other = generate_age_key(dir / "age-other");
    const auto certs = make_cluster_certs(dir);
    const auto prefix = "reload-identity-" + unique_suffix();
    // The bucket holds a backup encrypted to `mine` (by the `age` command); the importer holds `other`.
    auto sealed = age_command({"-r", mine.recipient}, sample_config("alpha"));
    ASSERT_EQ(sealed.exit_code, 0) << sealed.err;
    plant_signed(b, prefix, sealed.out, true, *ed25519::private_key::load(keys.private_key));
    const auto identity = dir / "identity.key";
    const auto other_secret = read_whole_file(other.identity, 4096).value();
    ASSERT_TRUE(write_file_atomically(identity, other_secret));
    ASSERT_EQ(::chmod(identity.c_str(), 0600), 0);
    const auto gateway = dir / "gw" / "kong.json";
    std::filesystem::create_directories(gateway.parent_path());
    auto conf = importer_settings(certs, b.url(prefix), gateway);
    conf["cluster_fallback_config_trusted_keys"] = keys.public_key.string();
    conf["cluster_fallback_config_decryption_identity"] = identity.string();
    agent_process importer(dir, "importer", conf, b.env());
    ASSERT_TRUE(eventually([&] { return refusals(importer, "not_a_recipient") >= 1; }, 30s))
        << importer.log();

    // Not an identity: the running one stays, the log says why in one line, no secret in it.
    ASSERT_TRUE(write_file_atomically(identity, "AGE-SECRET-KEY-1NOTANIDENTITY\n"));
    importer.signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] { return importer.log().find("the configuration was not reloaded") != std::string::npos; }, 10s))
        << importer.log();
    const auto line = log_line_with(importer.log(), "the configuration was not reloaded");
    EXPECT_NE(line.find("cluster_fallback_config_decryption_identity"), std::string::npos) << line;
    EXPECT_EQ(importer.log().find("AGE-SECRET-KEY"), std::string::npos) << "a secret in the log";
    const auto refused = refusals(importer, "not_a_recipient");
    ASSERT_TRUE(eventually([&] { return refusals(importer, "not_a_recipient") > refused; }, 60s))
        << importer.log();
    EXPECT_FALSE(std::filesystem::exists(gateway));

    // `mine` in the file: applied, and the next attempt decrypts and imports the backup.
    ASSERT_TRUE(write_file_atomically(identity, read_whole_file(mine.identity, 4096).value()));
    ASSERT_EQ(::chmod(identity.c_str(), 0600), 0);
    importer.signal(SIGHUP);
    ASSERT_TRUE(eventually(
        [&] {
            return importer.log().find("applied=cluster_fallback_config_decryption_identity") !=
                   std::string::npos;
        },
        10s))
        << importer.log();
    ASSERT_TRUE(eventually([&] { return applied(importer, gateway, sample_config("alpha")); }, 60s))
        << importer.log();
    EXPECT_EQ(importer.log().find("AGE-SECRET-KEY"), std::string::npos) << "a secret in the log";
}
