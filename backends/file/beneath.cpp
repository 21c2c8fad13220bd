#include "backends/file/beneath.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace lifeboat::backends::beneath {
namespace {

// 1: use openat2; 0: the kernel refused it (ENOSYS, or EPERM from a seccomp filter); -1: a test
// turned it off.
std::atomic<int> openat2_state{1};

constexpr int folder_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

int retry_open(auto&& call) {
    int fd = -1;
    do {
        fd = call();
    } while (fd < 0 && errno == EINTR);
    return fd;
}

// Which component of `relative` beneath `root_fd` is not a folder (a link, a file, a FIFO...),
// for the one-line refusal. Walks without following anything. With `whole_path_is_folders`, the
// last component must be a folder too (a file there is named); otherwise only a link is.
refusal diagnose(int root_fd, std::string_view relative, int err, bool whole_path_is_folders) {
    refusal r{err, {}, 0};
    unique_fd current(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
    std::string_view rest = relative;
    std::string walked;
    while (current.valid()) {
        const auto slash = rest.find('/');
        const std::string segment(rest.substr(0, slash));
        walked += walked.empty() ? segment : "/" + segment;
        struct stat st {};
        if (::fstatat(current.get(), segment.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            return r;
        if (slash == std::string_view::npos || !S_ISDIR(st.st_mode)) {
            if (!S_ISDIR(st.st_mode) &&
                (slash != std::string_view::npos || whole_path_is_folders || S_ISLNK(st.st_mode))) {
                r.entry = walked;
                r.type = st.st_mode & S_IFMT;
            }
            return r;
        }
        current.reset(retry_open([&] { return ::openat(current.get(), segment.c_str(), folder_flags); }));
        rest.remove_prefix(slash + 1);
    }
    return r;
}

result<unique_fd, refusal> walk(int root_fd, std::string_view relative, bool create) {
    unique_fd current(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
    if (!current.valid())
        return failure{refusal{errno, {}, 0}};
    std::string_view rest = relative;
    while (!rest.empty()) {
        const auto slash = rest.find('/');
        const std::string segment(rest.substr(0, slash));
        int fd = retry_open([&] { return ::openat(current.get(), segment.c_str(), folder_flags); });
        if (fd < 0 && errno == ENOENT && create) {
            if (::mkdirat(current.get(), segment.c_str(), 0777) != 0 && errno != EEXIST)
                return failure{refusal{errno, {}, 0}};
            fd = retry_open([&] { return ::openat(current.get(), segment.c_str(), folder_flags); });
        }
        if (fd < 0) {
            const int err = errno;
            if (err == ENOTDIR || err == ELOOP)
                return failure{diagnose(
                    root_fd, relative.substr(0, relative.size() - rest.size() + segment.size()), err, true)};
            return failure{refusal{err, {}, 0}};
        }
        current.reset(fd);
        if (slash == std::string_view::npos)
            break;
        rest.remove_prefix(slash + 1);
    }
    return current;
}

} // namespace

void unique_fd::reset(int fd) {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = fd;
}

const char* type_name(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFLNK:
        return "a symbolic link";
    case S_IFIFO:
        return "a FIFO (named pipe)";
    case S_IFSOCK:
        return "a socket";
    case S_IFCHR:
        return "a character device";
    case S_IFBLK:
        return "a block device";
    case S_IFDIR:
        return "a folder";
    case S_IFREG:
        return "a regular file";
    default:
        return "an entry of unknown type";
    }
}

bool have_openat2() {
    return openat2_state.load() == 1;
}

void use_openat2(bool enabled) {
    openat2_state.store(enabled ? 1 : -1);
}

result<unique_fd, refusal> open_root(const std::filesystem::path& root, bool create,
                                     bool root_owned_links_only) {
    if (root_owned_links_only) {
        // One component at a time from "/": a link is followed only when root owns it.
        unique_fd current(retry_open([] { return ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC); }));
        if (!current.valid())
            return failure{refusal{errno, {}, 0}};
        std::filesystem::path walked = "/";
        for (const auto& part : root.relative_path()) {
            const std::string segment = part.string();
            if (segment.empty())
                continue;
            walked /= segment;
            int fd = retry_open([&] { return ::openat(current.get(), segment.c_str(), folder_flags); });
            if (fd < 0 && errno == ENOENT && create) {
                if (::mkdirat(current.get(), segment.c_str(), 0777) != 0 && errno != EEXIST)
                    return failure{refusal{errno, {}, 0}};
                fd = retry_open([&] { return ::openat(current.get(), segment.c_str(), folder_flags); });
            }
            if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
                const int err = errno;
                struct stat st {};
                if (::fstatat(current.get(), segment.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
                    return failure{refusal{err, {}, 0}};
                if (!S_ISLNK(st.st_mode) || st.st_uid != 0)
                    return failure{refusal{err, walked.string(), static_cast<mode_t>(st.st_mode & S_IFMT)}};
                fd = retry_open([&] {
                    return ::openat(current.get(), segment.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                });
            }
            if (fd < 0)
                return failure{refusal{errno, {}, 0}};
            current.reset(fd);
        }
        return current;
    }
    const auto open = [&] {
        return retry_open([&] { return ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
    };
    int fd = open();
    if (fd < 0 && errno == ENOENT && create) {
        std::error_code ec;
        std::filesystem::create_directories(root, ec);
        fd = open();
    }
    if (fd < 0)
        return failure{refusal{errno, {}, 0}};
    return unique_fd(fd);
}

result<unique_fd, refusal> open_folder(int root_fd, std::string_view relative, bool create) {
    return walk(root_fd, relative, create);
}

result<unique_fd, refusal> open_entry(int root_fd, std::string_view relative, int flags) {
    flags |= O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    if (openat2_state.load() == 1) {
        const std::string path(relative);
        open_how how{};
        how.flags = static_cast<std::uint64_t>(flags);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        const int fd = retry_open([&] {
            return static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
        });
        if (fd >= 0)
            return unique_fd(fd);
        const int err = errno;
        if (err == ELOOP || err == ENOTDIR || err == EXDEV)
            return failure{diagnose(root_fd, relative, err == EXDEV ? ELOOP : err, false)};
        if (err != ENOSYS && err != EPERM && err != E2BIG)
            return failure{refusal{err, {}, 0}};
        // ENOSYS: an older kernel; EPERM: a seccomp filter that does not know openat2 (openat2
        // itself reports a permission problem as EACCES). Either way the fallback is used from now.
        openat2_state.store(0);
    }
    const auto slash = relative.rfind('/');
    const std::string_view folder =
        slash == std::string_view::npos ? std::string_view() : relative.substr(0, slash);
    const std::string name(slash == std::string_view::npos ? relative : relative.substr(slash + 1));
    auto dir = walk(root_fd, folder, false);
    if (!dir)
        return failure{dir.error()};
    const int fd = retry_open([&] { return ::openat(dir->get(), name.c_str(), flags); });
    if (fd < 0) {
        const int err = errno;
        if (err == ELOOP || err == ENOTDIR)
            return failure{diagnose(root_fd, relative, err, false)};
        return failure{refusal{err, {}, 0}};
    }
    return unique_fd(fd);
}

} // namespace lifeboat::backends::beneath
