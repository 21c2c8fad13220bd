// Crash-safe file replacement: write a temporary file next to the target, fsync it, rename it
// over the target, fsync the directory. A reader (or a restart after kill -9 or power loss) sees
// the old file or the new one, never a mix.
#pragma once

#include "base/result.hpp"

#include <cstdint>
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
    // Reserves disk space for `size` bytes (the file's size is unchanged): a full disk fails here,
    // before any byte is fetched, and the file's blocks are allocated in one go. A no-op on file
    // systems that cannot.
    result<void, std::string> preallocate(std::uint64_t size);
    // Every write_behind_bytes written, the kernel is asked to start writing them to disk
    // (sync_file_range, which does not wait): commit()'s fsync then finds little left to do,
    // because the disk worked while the data was still arriving.
    result<void, std::string> write(std::string_view bytes);
    static constexpr std::uint64_t write_behind_bytes = std::uint64_t(4) << 20;
    // fsync, rename over the target, fsync the directory. With `exclusive`, fails (EEXIST) when
    // the target already exists: link(2) instead of rename(2), for create-if-absent.
    result<void, std::string> commit(bool exclusive = false);
    void abort();
    // commit() will replace `target` instead, for content whose name is known only once all of
    // it is written (config-<hash>.json). It must be in the same directory as the temporary file.
    result<void, std::string> retarget(const std::filesystem::path& target);

    const std::filesystem::path& temp_path() const { return temp_; }
    int fd() const { return fd_; }

private:
    std::filesystem::path target_;
    std::filesystem::path temp_;
    int fd_ = -1;
    std::uint64_t written_ = 0;
    std::uint64_t written_back_ = 0; // writeback was started up to here
};

// A file filled piece by piece while its content still arrives (a streamed download), committed
// once all of it is in. A failing write is remembered, not fatal: later pieces are dropped, and the
// caller may write the whole content from memory at the end instead (a full disk should cost
// speed, not the config). Nothing is visible at `target` before commit().
class staged_file {
public:
    staged_file(std::filesystem::path target, mode_t mode) : target_(std::move(target)), mode_(mode) {}

    // Starts (again) from an empty temporary file: what was written before is dropped.
    void restart();
    // Appends `bytes`; the first write opens the temporary file.
    void write(std::string_view bytes);
    // Open, and every write so far succeeded.
    bool usable() const { return open_; }
    std::uint64_t size() const { return size_; }
    // Why the file could not be written (empty while usable()).
    const std::string& error() const { return error_; }
    // Commits under another name in the same directory (atomic_file_writer::retarget).
    result<void, std::string> retarget(const std::filesystem::path& target) { return file_.retarget(target); }
    // fsync, rename, fsync of the directory; the stage is used up either way.
    result<void, std::string> commit();
    void abort();

private:
    std::filesystem::path target_;
    mode_t mode_;
    atomic_file_writer file_;
    std::uint64_t size_ = 0;
    bool open_ = false;
    std::string error_;
};

result<void, std::string> write_file_atomically(const std::filesystem::path& target, std::string_view content,
                                                mode_t mode = 0600);

result<std::string, std::string> read_whole_file(const std::filesystem::path& path,
                                                 std::size_t max_size = std::size_t(1) << 31);

result<void, std::string> fsync_directory(const std::filesystem::path& dir);

// "open /x/y: Permission denied"
std::string errno_message(std::string_view what, const std::filesystem::path& path, int err);

} // namespace lifeboat
