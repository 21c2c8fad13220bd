// Power-loss crash consistency, ALICE-style: the file-system calls of a config's way to disk are
// recorded with `strace -f` (every thread and child, so a worker pool changes nothing) while
// crash_driver runs the agent's own pipeline, then every crash point is replayed with the writes
// and directory operations no fsync had made durable yet dropped, in every combination
// (crash_states.hpp). At every point the cache must load as the old config or the new one, and the
// gateway's file must be the old one or the new one: never torn, empty or missing. After the last
// operation (the pipeline reported success) only the new ones are acceptable.
//
// The mutation test shows the check has teeth: with one fsync ignored (the config file's data,
// the directory after its rename, the same two for the gateway's file), some crash point fails.
#include "agent/config_cache.hpp"
#include "base/atomic_file.hpp"
#include "crash_states.hpp"
#include "crash_trace.hpp"
#include "e2e/fleet.hpp"
#include "harness/process.hpp"
#include "harness/test_env.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>

using namespace lifeboat;
using namespace lifeboat::test;
namespace fs = std::filesystem;

namespace {

struct recorded_run {
    fs::path dir, root, prefix, gateway;
    std::string old_hash, old_text, new_hash, new_text;
    fs_image before;
    fs_trace trace;
};

// Runs crash_driver (`mode` apply or import) with `new_text` under strace, after an unrecorded
// apply of `old_text` (none when empty). `old_gateway`: a gateway file put there by other means.
recorded_run record(const std::string& mode, const std::string& old_text, const std::string& new_text,
                    const std::string& old_gateway = {}) {
    recorded_run r;
    r.dir = scratch_dir();
    r.root = r.dir / "root";
    r.prefix = r.root / "prefix";
    r.gateway = r.root / "gateway" / "kong.json";
    fs::create_directories(r.prefix);
    fs::create_directories(r.gateway.parent_path());
    r.old_text = old_text.empty() ? old_gateway : old_text;
    r.new_text = new_text;
    auto driver = [&](const std::string& m, const std::string& text, const std::string& name,
                      std::vector<std::string> prefix_args) {
        const auto input = r.dir / (name + ".json");
        EXPECT_TRUE(write_file_atomically(input, text, 0644));
        prefix_args.insert(prefix_args.end(),
                           {LIFEBOAT_CRASH_DRIVER, m, r.prefix.string(), r.gateway.string(), input.string()});
        auto out = run({.args = prefix_args, .work_dir = r.dir, .name = name}, std::chrono::seconds(120));
        EXPECT_EQ(out.exit_code, 0) << out.out << out.err;
        EXPECT_TRUE(out.out.starts_with("ok ")) << out.out;
        return out.out.size() > 35 ? out.out.substr(3, 32) : std::string();
    };
    if (!old_text.empty()) {
        r.old_hash = driver("apply", old_text, "old", {});
    } else if (!old_gateway.empty()) {
        EXPECT_TRUE(write_file_atomically(r.gateway, old_gateway, 0600));
    }
    r.before = image_of({r.prefix, r.gateway.parent_path()});
    const auto trace_file = r.dir / "strace.txt";
    r.new_hash = driver(mode, new_text, "new", strace_args(trace_file));
    auto text = read_whole_file(trace_file);
    EXPECT_TRUE(text) << text.error();
    r.trace = parse_strace(text.value(), r.root, r.dir, r.before);
    return r;
}

// The checker: the crash state, written out under <dir>/replay, read as a restart would.
std::string check_state(const recorded_run& r, const crash_state& files, bool at_end) {
    const auto replay = r.dir / "replay";
    fs::remove_all(replay);
    fs::create_directories(replay / "prefix");
    fs::create_directories(replay / "gateway");
    for (const auto& [path, content] : files) {
        // Plain writes: the replay only has to be read back, not to survive a crash.
        std::ofstream out(replay / fs::path(path).lexically_relative(r.root), std::ios::binary);
        out << content;
        if (!out)
            return "cannot write the replay of " + path;
    }
    std::string why;
    const auto cache = agent::config_cache(replay / "prefix").load(std::size_t(64) << 20);
    switch (cache.status) {
    case agent::cache_load_status::corrupt:
        why += "cache corrupt (" + cache.error + "); ";
        break;
    case agent::cache_load_status::empty:
        if (at_end || !r.old_hash.empty())
            why += "cache missing; ";
        break;
    case agent::cache_load_status::loaded:
        if (cache.snapshot->hash != r.new_hash && (at_end || cache.snapshot->hash != r.old_hash))
            why += "cache holds " + cache.snapshot->hash + ", neither old nor new; ";
        break;
    }
    const auto gateway = files.find(r.gateway.string());
    if (gateway == files.end()) {
        if (at_end || !r.old_text.empty())
            why += "gateway file missing; ";
    } else if (at_end && gateway->second == r.old_text) {
        why += "gateway file still the old one after the run reported success; ";
    } else if (gateway->second != r.new_text && (at_end || gateway->second != r.old_text)) {
        why += fmt::format("gateway file torn ({} bytes, old {}, new {}); ", gateway->second.size(),
                           r.old_text.size(), r.new_text.size());
    }
    return why;
}

crash_report explore(const recorded_run& r, long ignored_fsync = -1) {
    return explore_crashes(
        r.trace, r.before, [&](const crash_state& s, bool at_end) { return check_state(r, s, at_end); },
        ignored_fsync);
}

std::size_t count(const fs_trace& t, fs_op_kind k) {
    return static_cast<std::size_t>(
        std::count_if(t.ops.begin(), t.ops.end(), [&](const fs_op& op) { return op.kind == k; }));
}

std::string summary(const recorded_run& r, const crash_report& c) {
    return fmt::format("{} operations ({} writes, {} file fsyncs, {} directory fsyncs, {} renames), {} crash "
                       "points, {} states checked, {} violations",
                       r.trace.ops.size(), count(r.trace, fs_op_kind::write),
                       count(r.trace, fs_op_kind::fsync_file), count(r.trace, fs_op_kind::fsync_dir),
                       count(r.trace, fs_op_kind::rename), c.crash_points, c.states_checked, c.violations);
}

// The fsyncs that make `target` durable: the file fsync of the data renamed onto it, and the first
// fsync of its directory after the rename. -1 when the trace has no such fsync.
std::pair<long, long> fsyncs_of(const fs_trace& t, const std::string& target) {
    long rename_at = -1;
    for (std::size_t i = 0; i < t.ops.size(); ++i)
        if (t.ops[i].kind == fs_op_kind::rename && t.ops[i].to == target)
            rename_at = static_cast<long>(i);
    if (rename_at < 0)
        return {-1, -1};
    const auto& from = t.ops[static_cast<std::size_t>(rename_at)].path;
    int inode = -1;
    for (long i = 0; i < rename_at; ++i)
        if (t.ops[static_cast<std::size_t>(i)].kind == fs_op_kind::create &&
            t.ops[static_cast<std::size_t>(i)].path == from)
            inode = t.ops[static_cast<std::size_t>(i)].inode;
    long data = -1, dir = -1;
    for (long i = 0; i < rename_at; ++i)
        if (t.ops[static_cast<std::size_t>(i)].kind == fs_op_kind::fsync_file &&
            t.ops[static_cast<std::size_t>(i)].inode == inode)
            data = i;
    const auto parent = fs::path(target).parent_path().string();
    for (std::size_t i = static_cast<std::size_t>(rename_at) + 1; i < t.ops.size() && dir < 0; ++i)
        if (t.ops[i].kind == fs_op_kind::fsync_dir && t.ops[i].path == parent)
            dir = static_cast<long>(i);
    return {data, dir};
}

} // namespace

TEST(crash_consistency, a_cp_config_cached_and_handed_to_the_gateway_is_old_or_new_at_every_crash_point) {
    const auto r = record("apply", sample_config("old", 20), sample_config("new", 30));
    ASSERT_FALSE(r.old_hash.empty());
    ASSERT_FALSE(r.new_hash.empty());
    ASSERT_NE(r.old_hash, r.new_hash);
    // The trace holds the config file, the manifest and the gateway's file, each written, fsynced
    // and renamed, and the directory fsyncs.
    EXPECT_GE(count(r.trace, fs_op_kind::rename), 3u);
    EXPECT_GE(count(r.trace, fs_op_kind::fsync_file), 3u);
    EXPECT_GE(count(r.trace, fs_op_kind::fsync_dir), 3u);
    const auto report = explore(r);
    EXPECT_EQ(report.violations, 0u) << report.first_violation;
    EXPECT_GT(report.states_checked, 10u);
    std::printf("apply: %s\n", summary(r, report).c_str());
}

TEST(crash_consistency, a_streamed_import_is_old_or_new_at_every_crash_point) {
    // A node that imports has no cache; its gateway may hold a config from before.
    const auto r = record("import", "", sample_config("imported", 200), sample_config("gateway-before", 5));
    ASSERT_FALSE(r.new_hash.empty());
    EXPECT_GE(count(r.trace, fs_op_kind::write), 4u) << "the import writes its pieces as they arrive";
    const auto report = explore(r);
    EXPECT_EQ(report.violations, 0u) << report.first_violation;
    EXPECT_GT(report.states_checked, 10u);
    std::printf("import: %s\n", summary(r, report).c_str());
}

TEST(crash_consistency, removing_one_data_or_directory_fsync_is_caught) {
    const auto r = record("apply", sample_config("old", 20), sample_config("new", 30));
    const auto config_file = (r.prefix / fmt::format("config-{}.json", r.new_hash)).string();
    const auto [config_data, config_dir] = fsyncs_of(r.trace, config_file);
    const auto [manifest_data, manifest_dir] = fsyncs_of(r.trace, (r.prefix / "cache.json").string());
    const auto [gateway_data, gateway_dir] = fsyncs_of(r.trace, r.gateway.string());
    const std::vector<std::pair<std::string, long>> mutations{
        {"config file data", config_data},   {"prefix after the config file's rename", config_dir},
        {"manifest data", manifest_data},    {"prefix after the manifest's rename", manifest_dir},
        {"gateway file data", gateway_data}, {"gateway directory after its rename", gateway_dir}};
    for (const auto& [what, index] : mutations) {
        ASSERT_GE(index, 0) << "no fsync of the " << what << " in the trace";
        const auto report = explore(r, index);
        EXPECT_GT(report.violations, 0u)
            << "ignoring the fsync of the " << what << " ("
            << r.trace.ops[static_cast<std::size_t>(index)].syscall << ") went unnoticed";
        std::printf("without the fsync of the %s: %zu violations of %zu states; first: %s\n", what.c_str(),
                    report.violations, report.states_checked, report.first_violation.c_str());
    }
}
