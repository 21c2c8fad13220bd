// Disk faults with real processes: a `lifeboat run` node behind the reference CP, caching under its
// prefix, handing each config to a file gateway and exporting to a file:// bucket, while
//   - its prefix, then the gateway's directory too, fill up (each a small tmpfs the test mounts),
//   - writes and fsyncs under its prefix fail with EIO (eio_shim, preloaded).
// The last good cache must survive intact, /status must say why (cache.state, the reason), the
// gateway must still get each config while its own directory has room, the exporter must keep
// exporting, and once the disk takes writes again everything must catch up by itself, leaving no
// temporary file behind.
#include "agent/config_cache.hpp"
#include "base/atomic_file.hpp"
#include "e2e/fleet.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <set>
#include <sys/mount.h>
#include <thread>
#include <unistd.h>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

constexpr const char* version = "3.9.0.0";

// A tmpfs of `size` mounted on `path` for the test's lifetime; unmounted (lazily, so a process
// still holding a file there cannot keep it) when the test ends, failed or not.
class tmpfs_mount {
public:
    tmpfs_mount(std::filesystem::path path, const std::string& size) : path_(std::move(path)) {
        std::filesystem::create_directories(path_);
        const auto options = "size=" + size + ",mode=0755";
        if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
            ADD_FAILURE() << errno_message("mount tmpfs on", path_, errno)
                          << " (the disk fault tests run as root)";
        else
            mounted_ = true;
    }
    ~tmpfs_mount() {
        if (mounted_ && ::umount2(path_.c_str(), MNT_DETACH) != 0)
            ADD_FAILURE() << errno_message("unmount", path_, errno);
    }
    tmpfs_mount(const tmpfs_mount&) = delete;
    tmpfs_mount& operator=(const tmpfs_mount&) = delete;

    bool mounted() const { return mounted_; }
    // Fills the file system to the last block with a file the test removes with `drain()`.
    void fill() {
        const auto filler = path_ / "filler";
        const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        ASSERT_GE(fd, 0) << errno_message("open", filler, errno);
        const std::string block(4096, 'x');
        int err = 0;
        for (;;) {
            if (::write(fd, block.data(), block.size()) < 0) {
                err = errno;
                break;
            }
        }
        ::close(fd);
        ASSERT_EQ(err, ENOSPC) << errno_message("fill", filler, err);
    }
    void drain() { std::filesystem::remove(path_ / "filler"); }

private:
    std::filesystem::path path_;
    bool mounted_ = false;
};

std::set<std::string> listing(const std::filesystem::path& dir) {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        names.insert(e.path().filename().string());
    return names;
}

// What a restart would find in the cache: the config's hash, or why there is none.
std::string cached_hash(const std::filesystem::path& prefix) {
    auto loaded = agent::config_cache(prefix).load(std::size_t(64) << 20);
    if (loaded.status == agent::cache_load_status::loaded)
        return loaded.snapshot->hash;
    return loaded.status == agent::cache_load_status::empty ? "<empty>" : "<corrupt: " + loaded.error + ">";
}

struct node_setup {
    std::filesystem::path dir = scratch_dir();
    cluster_certs certs = make_cluster_certs(dir);
    std::filesystem::path bucket = dir / "bucket";
    std::filesystem::path prefix = dir / "node-prefix"; // agent_process's prefix for "node"
    std::filesystem::path gateway_dir = dir / "gateway";
    std::filesystem::path gateway = gateway_dir / "kong.json";

    node_setup() {
        std::filesystem::create_directories(bucket);
        std::filesystem::create_directories(gateway_dir);
    }

    std::map<std::string, std::string> settings(const reference_cp& cp) const {
        return {{"cluster_control_plane", cp.address()},
                {"cluster_cert", certs.cert.string()},
                {"cluster_cert_key", certs.key.string()},
                {"gateway_handoff", "file"},
                {"gateway_config_path", gateway.string()},
                {"gateway_reload_command", "true"},
                {"cluster_fallback_config_export", "on"},
                {"cluster_fallback_config_storage", "file://" + bucket.string()},
                {"cluster_fallback_config_export_delay", "0.1"},
                {"election_interval", "1"},
                {"node_version", version}};
    }
    json::value exported() const { return file_json(bucket / version / "config.json"); }
};

// Waits until the node runs a config other than `previous` and returns its hash.
std::string next_config(const agent_process& node, const std::string& previous) {
    std::string hash;
    EXPECT_TRUE(eventually(
        [&] {
            hash = node.status_field("config", "hash");
            return !hash.empty() && hash.size() == 32 && hash != previous;
        },
        20s))
        << node.log();
    return hash;
}

std::string reasons(const agent_process& node) {
    auto s = node.status();
    return s.is_object() ? json::serialize(s.at("degraded_reasons")) : "<unreachable>";
}

bool cache_is(const agent_process& node, const std::string& state, const std::string& hash) {
    return node.status_field("cache", "state") == state && node.status_field("cache", "hash") == hash;
}

} // namespace

TEST(disk_full, the_last_good_cache_survives_the_gateway_and_the_bucket_still_get_configs_and_all_recovers) {
    node_setup s;
    // Declared before the node: the node stops (its destructor) before the file systems go.
    tmpfs_mount prefix_fs(s.prefix, "256k");
    tmpfs_mount gateway_fs(s.gateway_dir, "256k");
    ASSERT_TRUE(prefix_fs.mounted() && gateway_fs.mounted());

    const auto config_a = sample_config("alpha");
    reference_cp cp(s.dir, s.certs, config_a);
    agent_process node(s.dir, "node", s.settings(cp));
    const auto a = next_config(node, "");
    ASSERT_TRUE(eventually([&] { return cache_is(node, "written", a); }, 20s)) << node.log();
    ASSERT_TRUE(eventually([&] { return s.exported() == json::parse(config_a); }, 20s)) << node.log();
    EXPECT_EQ(file_json(s.gateway), json::parse(config_a));

    // 1. The prefix is full; a bigger config arrives (40 services, about 25 KB).
    prefix_fs.fill();
    const auto config_b = sample_config("bravo", 40);
    cp.set_config(config_b);
    const auto b = next_config(node, a);
    ASSERT_TRUE(eventually([&] { return node.status_field("cache", "state") == "error"; }, 20s))
        << node.log();
    EXPECT_NE(node.status_field("cache", "last_error").find("No space left on device"), std::string::npos)
        << node.status_field("cache", "last_error");
    EXPECT_EQ(node.status_field("cache", "hash"), a); // what the cache still holds
    EXPECT_NE(reasons(node).find("cache error"), std::string::npos) << reasons(node);
    EXPECT_EQ(cached_hash(s.prefix), a); // a restart would find A, whole
    ASSERT_TRUE(eventually([&] { return applied(node, s.gateway, config_b); }, 20s)) << node.log();
    EXPECT_TRUE(eventually([&] { return node.status_field("handoff", "hash") == b; }, 10s));
    ASSERT_TRUE(eventually([&] { return s.exported() == json::parse(config_b); }, 20s)) << node.log();
    // The object appears when the upload returns; the export is booked just after it.
    EXPECT_TRUE(eventually([&] { return node.status_field("export", "last_hash") == b; }, 10s))
        << node.status_field("export", "last_hash");
    EXPECT_EQ(listing(s.prefix),
              (std::set<std::string>{"cache.json", "config-" + a + ".json", "filler", "node_id"}));

    // 2. The gateway's directory is full too: the hand-off fails, says why, and the gateway keeps B.
    gateway_fs.fill();
    const auto config_c = sample_config("charlie", 60);
    cp.set_config(config_c);
    const auto c = next_config(node, b);
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "failed"; }, 20s))
        << node.log();
    EXPECT_NE(node.status_field("handoff", "last_error").find("No space left on device"), std::string::npos)
        << node.status_field("handoff", "last_error");
    EXPECT_EQ(node.get("/readyz").first, 503u);
    EXPECT_EQ(file_json(s.gateway), json::parse(config_b));
    ASSERT_TRUE(eventually([&] { return s.exported() == json::parse(config_c); }, 20s)) << node.log();
    EXPECT_EQ(cached_hash(s.prefix), a);
    EXPECT_EQ(listing(s.gateway_dir), (std::set<std::string>{"kong.json", "filler"}));
    EXPECT_EQ(listing(s.prefix),
              (std::set<std::string>{"cache.json", "config-" + a + ".json", "filler", "node_id"}));

    // 3. Space returns: with no new config, the node caches C and hands it over by itself.
    prefix_fs.drain();
    gateway_fs.drain();
    ASSERT_TRUE(eventually([&] { return cache_is(node, "written", c); }, 90s)) << node.log();
    ASSERT_TRUE(eventually([&] { return node.status_field("handoff", "state") == "ok"; }, 90s)) << node.log();
    EXPECT_EQ(file_json(s.gateway), json::parse(config_c));
    EXPECT_EQ(node.status_field("handoff", "hash"), c);
    EXPECT_EQ(cached_hash(s.prefix), c);
    EXPECT_TRUE(eventually([&] { return reasons(node) == "[]"; }, 10s)) << reasons(node);
    EXPECT_EQ(node.get("/readyz").first, 200u);
    EXPECT_EQ(listing(s.prefix), (std::set<std::string>{"cache.json", "config-" + c + ".json", "node_id"}));
    EXPECT_EQ(listing(s.gateway_dir), (std::set<std::string>{"kong.json"}));
}

TEST(disk_eio, a_failing_disk_under_the_prefix_keeps_the_last_good_cache_and_recovers) {
    node_setup s;
    const auto eio_switch = s.dir / "eio-on";
    const auto config_a = sample_config("alpha");
    reference_cp cp(s.dir, s.certs, config_a);
    agent_process node(s.dir, "node", s.settings(cp),
                       {{"LD_PRELOAD", LIFEBOAT_EIO_SHIM},
                        {"LIFEBOAT_EIO_DIR", s.prefix.string()},
                        {"LIFEBOAT_EIO_SWITCH", eio_switch.string()}});
    const auto a = next_config(node, "");
    ASSERT_TRUE(eventually([&] { return cache_is(node, "written", a); }, 20s)) << node.log();
    ASSERT_TRUE(eventually([&] { return s.exported() == json::parse(config_a); }, 20s)) << node.log();

    ASSERT_TRUE(write_file_atomically(eio_switch, "on", 0644));
    const auto config_b = sample_config("bravo", 10);
    cp.set_config(config_b);
    const auto b = next_config(node, a);
    ASSERT_TRUE(eventually([&] { return node.status_field("cache", "state") == "error"; }, 20s))
        << node.log();
    EXPECT_NE(node.status_field("cache", "last_error").find("Input/output error"), std::string::npos)
        << node.status_field("cache", "last_error");
    EXPECT_EQ(node.status_field("cache", "hash"), a);
    EXPECT_NE(reasons(node).find("cache error"), std::string::npos) << reasons(node);
    EXPECT_EQ(cached_hash(s.prefix), a);
    // The gateway's directory is on another (healthy) disk: it gets B, and so does the bucket.
    ASSERT_TRUE(eventually([&] { return applied(node, s.gateway, config_b); }, 20s)) << node.log();
    ASSERT_TRUE(eventually([&] { return s.exported() == json::parse(config_b); }, 20s)) << node.log();
    // Let a retry or two meet the fault too: still A, whole, and no temporary file.
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(node.status_field("cache", "state"), "error");
    EXPECT_EQ(cached_hash(s.prefix), a);
    EXPECT_EQ(listing(s.prefix), (std::set<std::string>{"cache.json", "config-" + a + ".json", "node_id"}));

    std::filesystem::remove(eio_switch);
    ASSERT_TRUE(eventually([&] { return cache_is(node, "written", b); }, 90s)) << node.log();
    EXPECT_EQ(cached_hash(s.prefix), b);
    EXPECT_EQ(listing(s.prefix), (std::set<std::string>{"cache.json", "config-" + b + ".json", "node_id"}));
    EXPECT_TRUE(eventually([&] { return reasons(node) == "[]"; }, 10s)) << reasons(node);
}
