#include "crash_trace.hpp"

#include "base/atomic_file.hpp"

#include <fcntl.h>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

namespace lifeboat::test {

namespace fs = std::filesystem;

fs_image image_of(const std::vector<fs::path>& dirs) {
    fs_image image;
    for (const auto& dir : dirs)
        for (const auto& e : fs::directory_iterator(dir))
            if (e.is_regular_file())
                image.files[e.path().string()] = read_whole_file(e.path()).value();
    return image;
}

std::vector<std::string> strace_args(const fs::path& output) {
    return {"strace",
            "-f",
            "-qq",
            "-xx",
            "-s",
            "67108864",
            "-o",
            output.string(),
            "-e",
            "trace=open,openat,creat,write,pwrite64,writev,fsync,fdatasync,rename,renameat,renameat2,link,"
            "linkat,unlink,unlinkat,close,ftruncate,dup,dup2,dup3,fcntl,clone,clone3,fork,vfork"};
}

namespace {

// "\x7b\x22" -> the bytes; the first quoted string at or after `from`.
std::optional<std::string> quoted(const std::string& s, std::size_t& from) {
    const auto open = s.find('"', from);
    if (open == std::string::npos)
        return std::nullopt;
    std::string out;
    std::size_t i = open + 1;
    while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
            out.push_back(static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16)));
            i += 4;
        } else {
            out.push_back(s[i++]);
        }
    }
    from = i + 1;
    return out;
}

struct call {
    int pid = 0;
    std::string name, args;
    long long ret = -1;
    std::string line;
};

// One line per finished call; "<unfinished ...>" halves are joined with their "resumed" halves.
std::vector<call> calls_of(const std::string& text) {
    std::vector<call> out;
    std::map<int, std::string> unfinished;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto space = line.find(' ');
        if (space == std::string::npos)
            continue;
        const int pid = std::stoi(line.substr(0, space));
        // strace pads the pid column ("6815  openat(...)" but "16815 openat(...)").
        const auto name_at = line.find_first_not_of(' ', space);
        if (name_at == std::string::npos)
            continue;
        std::string rest = line.substr(name_at);
        if (rest.ends_with("<unfinished ...>")) {
            unfinished[pid] = rest.substr(0, rest.size() - 16);
            continue;
        }
        if (rest.starts_with("<... ")) {
            const auto resumed = rest.find(" resumed>");
            if (resumed == std::string::npos)
                continue;
            rest = unfinished[pid] + rest.substr(resumed + 9);
            unfinished.erase(pid);
        }
        // name(args)<padding> = result
        const auto paren = rest.find('(');
        const auto eq = rest.rfind(" = ");
        if (paren == std::string::npos || eq == std::string::npos || eq < paren)
            continue; // signals, exits
        const auto close = rest.find_last_not_of(' ', eq);
        if (close == std::string::npos || rest[close] != ')' || close <= paren)
            continue;
        call c;
        c.pid = pid;
        c.name = rest.substr(0, paren);
        c.args = rest.substr(paren + 1, close - paren - 1);
        try {
            c.ret = std::stoll(rest.substr(eq + 3), nullptr, 0);
        } catch (const std::exception&) {
            continue; // "= ?" of a call cut short by an exit
        }
        c.line = rest.size() > 160 ? rest.substr(0, 160) + "..." : rest;
        out.push_back(std::move(c));
    }
    return out;
}

struct open_file {
    int inode = -1;  // a file, or
    std::string dir; // a directory
    std::uint64_t offset = 0;
};
using fd_table = std::map<int, std::shared_ptr<open_file>>;

int first_int(const std::string& args) {
    return std::stoi(args);
}

} // namespace

fs_trace parse_strace(const std::string& text, const fs::path& root, const fs::path& cwd,
                      const fs_image& initial) {
    fs_trace trace;
    std::map<std::string, int> names; // what the directory entries name now
    for (const auto& [path, content] : initial.files) {
        names[path] = trace.inodes;
        trace.initial_inodes[path] = trace.inodes++;
    }
    const auto calls = calls_of(text);
    // Who shares whose descriptor table: from the results of clone/fork, known before the child's
    // first line (strace may print it before the parent's clone returns).
    std::map<int, std::pair<int, bool>> parent_of; // child -> {parent, shares the table}
    for (const auto& c : calls)
        if ((c.name == "clone" || c.name == "clone3" || c.name == "fork" || c.name == "vfork") && c.ret > 0)
            parent_of[static_cast<int>(c.ret)] = {c.pid, c.args.find("CLONE_FILES") != std::string::npos};
    std::map<int, std::shared_ptr<fd_table>> tables;
    auto table_of = [&](int pid) -> fd_table& {
        auto& t = tables[pid];
        if (!t) {
            if (auto p = parent_of.find(pid); p != parent_of.end() && tables.count(p->second.first))
                t = p->second.second ? tables[p->second.first]
                                     : std::make_shared<fd_table>(*tables[p->second.first]);
            else
                t = std::make_shared<fd_table>();
        }
        return *t;
    };
    const auto root_text = root.string() + "/";
    auto resolve = [&](const std::string& p) {
        return (p.starts_with("/") ? fs::path(p) : cwd / p).lexically_normal().string();
    };
    auto under_root = [&](const std::string& p) { return p.starts_with(root_text); };
    // What a report shows of the call: its name and decoded paths (strace's are hex).
    auto push = [&](fs_op op, const call& c) {
        op.syscall = c.name + " " + (op.path.empty() ? "inode " + std::to_string(op.inode) : op.path);
        if (!op.to.empty())
            op.syscall += " -> " + op.to;
        if (op.kind == fs_op_kind::write)
            op.syscall +=
                " (" + std::to_string(op.data.size()) + " bytes at " + std::to_string(op.offset) + ")";
        trace.ops.push_back(std::move(op));
    };

    for (const auto& c : calls) {
        auto& fds = table_of(c.pid);
        if (c.ret < 0)
            continue;
        std::size_t at = 0;
        if (c.name == "open" || c.name == "openat" || c.name == "creat") {
            if (c.name == "openat" && !c.args.starts_with("AT_FDCWD"))
                continue; // the code under test opens by path
            auto path = quoted(c.args, at);
            if (!path)
                continue;
            const auto p = resolve(*path);
            if (!under_root(p) && p != root.string()) {
                fds.erase(static_cast<int>(c.ret));
                continue;
            }
            const auto flags = c.args.substr(at);
            auto f = std::make_shared<open_file>();
            if (flags.find("O_DIRECTORY") != std::string::npos || fs::is_directory(p)) {
                f->dir = p;
            } else {
                auto it = names.find(p);
                if (it == names.end()) {
                    if (c.name != "creat" && flags.find("O_CREAT") == std::string::npos)
                        continue;
                    const int inode = trace.inodes++;
                    names[p] = inode;
                    push({.kind = fs_op_kind::create, .path = p, .inode = inode}, c);
                    it = names.find(p);
                } else if (c.name == "creat" || flags.find("O_TRUNC") != std::string::npos) {
                    push({.kind = fs_op_kind::truncate, .inode = it->second, .offset = 0}, c);
                }
                f->inode = it->second;
            }
            fds[static_cast<int>(c.ret)] = f;
        } else if (c.name == "write" || c.name == "pwrite64") {
            auto it = fds.find(first_int(c.args));
            if (it == fds.end() || it->second->inode < 0)
                continue;
            auto data = quoted(c.args, at);
            if (!data)
                throw std::runtime_error("unparsed write: " + c.line);
            data->resize(static_cast<std::size_t>(c.ret));
            std::uint64_t offset = it->second->offset;
            if (c.name == "pwrite64")
                offset = std::stoull(c.args.substr(c.args.rfind(',') + 1));
            else
                it->second->offset += static_cast<std::uint64_t>(c.ret);
            push({.kind = fs_op_kind::write,
                  .inode = it->second->inode,
                  .offset = offset,
                  .data = std::move(*data)},
                 c);
        } else if (c.name == "writev") {
            auto it = fds.find(first_int(c.args));
            if (it != fds.end() && it->second->inode >= 0)
                throw std::runtime_error("writev is not modelled: " + c.line);
        } else if (c.name == "ftruncate") {
            auto it = fds.find(first_int(c.args));
            if (it == fds.end() || it->second->inode < 0)
                continue;
            push({.kind = fs_op_kind::truncate,
                  .inode = it->second->inode,
                  .offset = std::stoull(c.args.substr(c.args.find(',') + 1))},
                 c);
        } else if (c.name == "fsync" || c.name == "fdatasync") {
            auto it = fds.find(first_int(c.args));
            if (it == fds.end())
                continue;
            if (it->second->inode >= 0)
                push({.kind = fs_op_kind::fsync_file, .inode = it->second->inode}, c);
            else
                push({.kind = fs_op_kind::fsync_dir, .path = it->second->dir}, c);
        } else if (c.name == "rename" || c.name == "renameat" || c.name == "renameat2" || c.name == "link" ||
                   c.name == "linkat") {
            auto from = quoted(c.args, at);
            auto to = quoted(c.args, at);
            if (!from || !to)
                continue;
            const auto f = resolve(*from), t = resolve(*to);
            if (!under_root(f) && !under_root(t))
                continue;
            const bool is_link = c.name.starts_with("link");
            if (!names.count(f))
                throw std::runtime_error("rename or link of a file the trace never saw: " + c.line);
            names[t] = names[f];
            if (!is_link)
                names.erase(f);
            push({.kind = is_link ? fs_op_kind::link : fs_op_kind::rename, .path = f, .to = t}, c);
        } else if (c.name == "unlink" || c.name == "unlinkat") {
            auto path = quoted(c.args, at);
            if (!path)
                continue;
            const auto p = resolve(*path);
            if (!under_root(p) || !names.count(p))
                continue;
            names.erase(p);
            push({.kind = fs_op_kind::unlink, .path = p}, c);
        } else if (c.name == "close") {
            fds.erase(first_int(c.args));
        } else if (c.name == "dup" || c.name == "dup2" || c.name == "dup3" ||
                   (c.name == "fcntl" && c.args.find("F_DUPFD") != std::string::npos)) {
            auto it = fds.find(first_int(c.args));
            if (it != fds.end())
                fds[static_cast<int>(c.ret)] = it->second;
            else
                fds.erase(static_cast<int>(c.ret));
        }
    }
    return trace;
}

} // namespace lifeboat::test
