// An LD_PRELOAD shim that makes a disk fail with EIO, for the disk fault tests: while the file
// named by LIFEBOAT_EIO_SWITCH exists, write(2), pwrite(2), fsync(2) and fdatasync(2) on any file
// descriptor whose path starts with LIFEBOAT_EIO_DIR fail with EIO, as a dying disk's writeback
// errors do. Everything else goes to libc unchanged. The switch is a file so that a test turns the
// fault on and off while the agent runs, without signalling it.
#include <climits>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

namespace {

bool failing(int fd) {
    const char* dir = std::getenv("LIFEBOAT_EIO_DIR");
    const char* on = std::getenv("LIFEBOAT_EIO_SWITCH");
    if (!dir || !on || !*dir)
        return false;
    struct stat st {};
    if (::stat(on, &st) != 0)
        return false;
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    char path[PATH_MAX];
    const ssize_t n = ::readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return false;
    path[n] = '\0';
    return std::strncmp(path, dir, std::strlen(dir)) == 0;
}

template <class F>
F next(const char* name) {
    return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t count) {
    static auto real = next<ssize_t (*)(int, const void*, size_t)>("write");
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
    static auto real = next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, count, offset);
}

int fsync(int fd) {
    static auto real = next<int (*)(int)>("fsync");
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int fdatasync(int fd) {
    static auto real = next<int (*)(int)>("fdatasync");
    if (failing(fd)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

} // extern "C"
