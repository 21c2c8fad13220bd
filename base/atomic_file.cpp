#include "base/atomic_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

namespace lifeboat {

std::string errno_message(std::string_view what, const std::filesystem::path& path, int err) {
    return fmt::format("{} {}: {}", what, path.string(), std::strerror(err));
}

result<void, std::string> fsync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return failure{errno_message("open directory", dir, errno)};
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0)
        return failure{errno_message("fsync directory", dir, err)};
    return ok_v;
}

atomic_file_writer::~atomic_file_writer() {
    abort();
}

atomic_file_writer::atomic_file_writer(atomic_file_writer&& o) noexcept
    : target_(std::move(o.target_))
    , temp_(std::move(o.temp_))
    , fd_(std::exchange(o.fd_, -1))
    , written_(o.written_)
    , written_back_(o.written_back_) {}

atomic_file_writer& atomic_file_writer::operator=(atomic_file_writer&& o) noexcept {
    if (this != &o) {
        abort();
        target_ = std::move(o.target_);
        temp_ = std::move(o.temp_);
        fd_ = std::exchange(o.fd_, -1);
        written_ = o.written_;
        written_back_ = o.written_back_;
    }
    return *this;
}

result<void, std::string> atomic_file_writer::open(const std::filesystem::path& target, mode_t mode) {
    abort();
    target_ = target;
    // A random suffix keeps concurrent writers (two processes sharing a directory) apart; the
    // leading dot keeps half-written files out of directory listings of the file store.
    std::random_device rd;
    const auto dir = target.parent_path();
    temp_ = dir / fmt::format(".{}.tmp-{:08x}", target.filename().string(), rd());
    written_ = written_back_ = 0;
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd_ < 0) {
        const int err = errno;
        temp_.clear();
        return failure{errno_message("create", dir / target.filename(), err)};
    }
    return ok_v;
}

result<void, std::string> atomic_file_writer::preallocate(std::uint64_t size) {
    if (fd_ < 0 || size == 0)
        return ok_v;
    int rc = 0;
    do {
        rc = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(size));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EOPNOTSUPP && errno != ENOSYS)
        return failure{
            fmt::format("cannot reserve {} bytes for {}: {}", size, target_.string(), std::strerror(errno))};
    return ok_v;
}

result<void, std::string> atomic_file_writer::write(std::string_view bytes) {
    written_ += bytes.size();
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return failure{errno_message("write", temp_, errno)};
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    if (written_ - written_back_ >= write_behind_bytes) {
        // Only starts the writeback; an I/O error it meets is reported by commit()'s fsync.
        ::sync_file_range(fd_, static_cast<off_t>(written_back_),
                          static_cast<off_t>(written_ - written_back_), SYNC_FILE_RANGE_WRITE);
        written_back_ = written_;
    }
    return ok_v;
}

result<void, std::string> atomic_file_writer::commit(bool exclusive) {
    if (fd_ < 0)
        return failure{std::string("commit without an open file")};
    if (::fsync(fd_) != 0) {
        const int err = errno;
        abort();
        return failure{errno_message("fsync", target_, err)};
    }
    ::close(fd_);
    fd_ = -1;
    if (exclusive) {
        if (::link(temp_.c_str(), target_.c_str()) != 0) {
            const int err = errno;
            abort();
            return failure{errno_message("create", target_, err)};
        }
        ::unlink(temp_.c_str());
    } else if (::rename(temp_.c_str(), target_.c_str()) != 0) {
        const int err = errno;
        abort();
        return failure{errno_message("rename onto", target_, err)};
    }
    temp_.clear();
    return fsync_directory(target_.parent_path());
}

void atomic_file_writer::abort() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    if (!temp_.empty()) {
        ::unlink(temp_.c_str());
        temp_.clear();
    }
}

result<void, std::string> atomic_file_writer::retarget(const std::filesystem::path& target) {
    if (target.parent_path() != target_.parent_path())
        return failure{fmt::format("{} is not in the directory of {}", target.string(), target_.string())};
    target_ = target;
    return ok_v;
}

void staged_file::restart() {
    error_.clear();
    size_ = 0;
    open_ = false;
    if (auto r = file_.open(target_, mode_); !r) {
        error_ = r.error();
        return;
    }
    open_ = true;
}

void staged_file::write(std::string_view bytes) {
    if (!open_ && error_.empty())
        restart();
    if (!open_)
        return;
    if (auto r = file_.write(bytes); !r) {
        error_ = r.error();
        abort();
        return;
    }
    size_ += bytes.size();
}

result<void, std::string> staged_file::commit() {
    open_ = false;
    return file_.commit();
}

void staged_file::abort() {
    file_.abort();
    open_ = false;
}

result<void, std::string> write_file_atomically(const std::filesystem::path& target, std::string_view content,
                                                mode_t mode) {
    atomic_file_writer w;
    if (auto r = w.open(target, mode); !r)
        return r;
    if (auto r = w.write(content); !r)
        return r;
    return w.commit();
}

result<std::string, std::string> read_whole_file(const std::filesystem::path& path, std::size_t max_size) {
    // O_NONBLOCK: a FIFO planted where a file is expected (a cache entry, a declarative_config
    // file, a token file) must not block the agent's only thread in open(); it is refused below.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return failure{errno_message("open", path, errno)};
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return failure{errno_message("stat", path, err)};
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return failure{fmt::format("{}: not a regular file", path.string())};
    }
    if (static_cast<std::size_t>(st.st_size) > max_size) {
        ::close(fd);
        return failure{
            fmt::format("{}: {} bytes is over the limit of {}", path.string(), st.st_size, max_size)};
    }
    std::string out;
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            ::close(fd);
            return failure{errno_message("read", path, err)};
        }
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return out;
}

} // namespace lifeboat
