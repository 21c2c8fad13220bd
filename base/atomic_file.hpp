// Crash-safe file replacement: write a temporary file next to the target, fsync it, rename it
// over the target, fsync the directory. A reader (or a restart after kill -9 or power loss) sees
// the old file or the new one, never a mix.
#pragma once

#include "base/result.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace lifeboat {

// Streams content into a temporary file; commit() makes it visible under the final name. If the
// writer is destroyed without commit(), the temporary file is removed and the target untouched.
class atomic_file_writer {
public:
    atomic_file_writer() = default;
    ~atomic_file_writer();
    atomic_file_writer(atomic_file_writer&&) noexcept;
    atomic_file_writer& operator=(atomic_file_writer&&) noexcept;

    // Creates the temporary file with `mode` (0600 keeps configs private by default).
    result<void, std::string> open(const std::filesystem::path& target, mode_t mode = 0600);
    result<void, std::string> write(std::string_view bytes);
    // fsync, rename over the target, fsync the directory. With `exclusive`, fails (EEXIST) when
    // the target already exists: link(2) instead of rename(2), for create-if-absent.
    result<void, std::string> commit(bool exclusive = false);
    void abort();

    const std::filesystem::path& temp_path() const { return temp_; }
    int fd() const { return fd_; }

private:
    std::filesystem::path target_;
    std::filesystem::path temp_;
    int fd_ = -1;
};

result<void, std::string> write_file_atomically(const std::filesystem::path& target, std::string_view content,
                                                mode_t mode = 0600);

result<std::string, std::string> read_whole_file(const std::filesystem::path& path,
                                                 std::size_t max_size = std::size_t(1) << 31);

result<void, std::string> fsync_directory(const std::filesystem::path& dir);

// "open /x/y: Permission denied"
std::string errno_message(std::string_view what, const std::filesystem::path& path, int err);

} // namespace lifeboat
