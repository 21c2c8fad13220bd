// Opening files and folders strictly beneath a store's root folder: never through a symbolic
// link at any level, never blocking on a FIFO, and with the offending entry named when refused.
//
// A file-store bucket may be written by anyone with access to the folder, so an entry in it is
// untrusted: a symbolic link could lead a read, write or delete outside the bucket, and a FIFO or
// device could block the only thread in open(2). Everything is opened relative to a descriptor
// of the root with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where the kernel has it (Linux
// >= 5.6), otherwise one component at a time with O_NOFOLLOW; always with O_NONBLOCK, and the
// caller checks the type with fstat(2) on the descriptor it got. The root itself may be a link:
// the operator chose it.
#pragma once

#include "base/result.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace lifeboat::backends::beneath {

// An owned file descriptor.
class unique_fd {
public:
    explicit unique_fd(int fd = -1) : fd_(fd) {}
    ~unique_fd() { reset(-1); }
    unique_fd(unique_fd&& o) noexcept : fd_(o.release()) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o)
            reset(o.release());
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    void reset(int fd);
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }

private:
    int fd_;
};

// Why an entry could not be opened: the errno, and (when an entry of the wrong type was in the
// way) which one, relative to the root, and its type.
struct refusal {
    int err = 0;
    std::string entry; // relative path of the entry in the way; empty when none was identified
    mode_t type = 0;   // its S_IFMT bits, 0 when unknown
};

// "a symbolic link", "a FIFO (named pipe)", "a socket", "a directory", ...
const char* type_name(mode_t mode);

// The root folder (an absolute path). Links in its path are followed: any link (the operator's
// choice), or with `root_owned_links_only` only links owned by uid 0, so a link planted by
// whoever can write the bucket is refused (and named, as an absolute path). With `create`, it is
// created when missing.
result<unique_fd, refusal> open_root(const std::filesystem::path& root, bool create,
                                     bool root_owned_links_only = false);

// The folder `relative` ("" for the root itself, "a/b" otherwise) beneath `root_fd`. With
// `create`, missing folders are made (mode 0777 & ~umask, as mkdir -p). A component that is not
// a folder (a file, a link, a FIFO...) is refused and named.
result<unique_fd, refusal> open_folder(int root_fd, std::string_view relative, bool create);

// The entry `relative` ("a/b/c") beneath `root_fd`, opened with `flags` plus O_NOFOLLOW |
// O_NONBLOCK | O_CLOEXEC. The caller checks its type (fstat) before using it.
result<unique_fd, refusal> open_entry(int root_fd, std::string_view relative, int flags);

// Whether openat2(2) with RESOLVE_BENEATH is used (false: the kernel lacks it, or a test turned
// it off with use_openat2(false) to exercise the per-component fallback).
bool have_openat2();
void use_openat2(bool enabled);

} // namespace lifeboat::backends::beneath
