#include "crash_states.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace lifeboat::test {

namespace {

bool is_metadata(fs_op_kind k) {
    return k == fs_op_kind::create || k == fs_op_kind::rename || k == fs_op_kind::link ||
           k == fs_op_kind::unlink;
}

std::string parent_of(const std::string& p) {
    return std::filesystem::path(p).parent_path().string();
}

// Does barrier `b` make `op` durable?
bool covers(const fs_op& b, const fs_op& op) {
    if (b.kind == fs_op_kind::fsync_file)
        return (op.kind == fs_op_kind::write || op.kind == fs_op_kind::truncate) && op.inode == b.inode;
    if (b.kind == fs_op_kind::fsync_dir && is_metadata(op.kind))
        return parent_of(op.path) == b.path || (!op.to.empty() && parent_of(op.to) == b.path);
    return false;
}

struct disk {
    std::map<std::string, int> names;
    std::map<int, std::string> content;

    void apply(const fs_op& op) {
        switch (op.kind) {
        case fs_op_kind::create:
            names[op.path] = op.inode;
            content.try_emplace(op.inode);
            break;
        case fs_op_kind::write: {
            auto& c = content[op.inode];
            if (c.size() < op.offset + op.data.size())
                c.resize(op.offset + op.data.size(), '\0');
            std::copy(op.data.begin(), op.data.end(), c.begin() + static_cast<long>(op.offset));
            break;
        }
        case fs_op_kind::truncate:
            content[op.inode].resize(op.offset, '\0');
            break;
        case fs_op_kind::rename:
        case fs_op_kind::link:
            // Dropped operations before it may have left nothing to rename: then it did nothing.
            if (auto it = names.find(op.path); it != names.end()) {
                const int inode = it->second;
                if (op.kind == fs_op_kind::rename)
                    names.erase(it);
                names[op.to] = inode;
            }
            break;
        case fs_op_kind::unlink:
            names.erase(op.path);
            break;
        case fs_op_kind::fsync_file:
        case fs_op_kind::fsync_dir:
            break;
        }
    }
    crash_state files() const {
        crash_state out;
        for (const auto& [name, inode] : names) {
            auto it = content.find(inode);
            out[name] = it == content.end() ? std::string() : it->second;
        }
        return out;
    }
};

// The prefixes of a file's pending writes a crash may keep.
std::vector<std::size_t> prefixes(std::size_t n) {
    std::vector<std::size_t> v{0, n};
    if (n > 1)
        v.insert(v.end(), {1, n / 2, n - 1});
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

} // namespace

crash_report explore_crashes(const fs_trace& trace, const fs_image& initial,
                             const std::function<std::string(const crash_state&, bool)>& check,
                             long ignored_fsync) {
    crash_report report;
    disk start;
    for (const auto& [path, content] : initial.files) {
        const int inode = trace.initial_inodes.at(path);
        start.names[path] = inode;
        start.content[inode] = content;
    }
    const auto& ops = trace.ops;
    std::set<crash_state> seen; // checked already (many crash choices leave the same files)
    for (std::size_t k = 0; k <= ops.size(); ++k) {
        ++report.crash_points;
        // Which of ops[0, k) are durable at a crash right after op k-1.
        std::vector<bool> durable(k, false);
        for (std::size_t j = 0; j < k; ++j) {
            const auto& b = ops[j];
            if ((b.kind != fs_op_kind::fsync_file && b.kind != fs_op_kind::fsync_dir) ||
                static_cast<long>(j) == ignored_fsync)
                continue;
            for (std::size_t i = 0; i < j; ++i)
                if (!durable[i] && covers(b, ops[i]))
                    durable[i] = true;
        }
        std::vector<std::size_t> pending_meta;
        std::map<int, std::vector<std::size_t>> pending_data; // inode -> its pending writes, in order
        for (std::size_t i = 0; i < k; ++i) {
            if (durable[i])
                continue;
            if (is_metadata(ops[i].kind))
                pending_meta.push_back(i);
            else if (ops[i].kind == fs_op_kind::write || ops[i].kind == fs_op_kind::truncate)
                pending_data[ops[i].inode].push_back(i);
        }
        if (pending_meta.size() > 16)
            throw std::runtime_error(fmt::format(
                "{} directory operations pending at once: too many to explore", pending_meta.size()));
        std::vector<std::pair<int, std::vector<std::size_t>>> data_groups(pending_data.begin(),
                                                                          pending_data.end());
        std::vector<std::vector<std::size_t>> choices;
        for (const auto& g : data_groups)
            choices.push_back(prefixes(g.second.size()));
        std::vector<std::size_t> pick(choices.size(), 0);
        for (;;) {
            for (std::uint64_t mask = 0; mask < (std::uint64_t(1) << pending_meta.size()); ++mask) {
                std::vector<bool> keep(k, false);
                for (std::size_t i = 0; i < k; ++i)
                    keep[i] = durable[i];
                for (std::size_t m = 0; m < pending_meta.size(); ++m)
                    if (mask & (std::uint64_t(1) << m))
                        keep[pending_meta[m]] = true;
                for (std::size_t g = 0; g < data_groups.size(); ++g)
                    for (std::size_t w = 0; w < choices[g][pick[g]]; ++w)
                        keep[data_groups[g].second[w]] = true;
                disk d = start;
                for (std::size_t i = 0; i < k; ++i)
                    if (keep[i])
                        d.apply(ops[i]);
                const bool at_end = k == ops.size();
                auto files = d.files();
                if (!at_end && !seen.insert(files).second)
                    continue;
                ++report.states_checked;
                if (auto why = check(files, at_end); !why.empty()) {
                    if (report.violations++ == 0) {
                        std::string dropped;
                        std::size_t shown = 0;
                        for (std::size_t i = 0; i < k; ++i)
                            if (!keep[i] && ops[i].kind != fs_op_kind::fsync_file &&
                                ops[i].kind != fs_op_kind::fsync_dir && shown++ < 8)
                                dropped += "\n    dropped: " + ops[i].syscall.substr(0, 100);
                        report.first_violation =
                            fmt::format("crash after operation {} of {} ({}): {}{}", k, ops.size(),
                                        k ? ops[k - 1].syscall : "none yet", why, dropped);
                    }
                }
            }
            // The next combination of data prefixes.
            std::size_t g = 0;
            while (g < pick.size() && ++pick[g] == choices[g].size())
                pick[g++] = 0;
            if (g == pick.size())
                break;
        }
    }
    return report;
}

} // namespace lifeboat::test
