// The file-system calls of a recorded run (strace -f), reduced to what decides what a power loss
// leaves on disk: files created, written, truncated, renamed, linked, unlinked, and the fsyncs of
// files and directories. Only paths under one root are kept; every thread and child process is
// followed (threads share a file-descriptor table, children get a copy), so it does not matter
// which thread of a worker pool does a write.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lifeboat::test {

enum class fs_op_kind { create, write, truncate, rename, link, unlink, fsync_file, fsync_dir };

struct fs_op {
    fs_op_kind kind;
    std::string path;         // create, rename (from), link (from), unlink, fsync_dir (the directory)
    std::string to;           // rename, link
    int inode = -1;           // create, write, truncate, fsync_file
    std::uint64_t offset = 0; // write: where; truncate: the new size
    std::string data;         // write
    std::string syscall;      // the line it came from, shortened, for reports
};

// The files under the root before the recorded run: path -> content. Inode i is the i-th entry.
struct fs_image {
    std::map<std::string, std::string> files;
};
fs_image image_of(const std::vector<std::filesystem::path>& dirs);

struct fs_trace {
    std::vector<fs_op> ops;
    int inodes = 0; // inode ids used: those of the initial image, then one per created file
    std::map<std::string, int> initial_inodes;
};

// Parses the output of `strace -f -xx -s <big> -o <file>`; `cwd` resolves relative paths.
fs_trace parse_strace(const std::string& text, const std::filesystem::path& root,
                      const std::filesystem::path& cwd, const fs_image& initial);

// The strace options the parser expects, before the program's argv.
std::vector<std::string> strace_args(const std::filesystem::path& output);

} // namespace lifeboat::test
