// Write-behind for a file that is still growing: every `step` bytes, the kernel is asked to
// start writing what was appended (sync_file_range SYNC_FILE_RANGE_WRITE, which does not wait),
// so the disk works while the rest is still arriving and the fsync of the commit finds little
// left to do. Only a hint: an I/O error it meets is reported by that fsync.
#pragma once

#include <cstdint>

namespace lifeboat {

class write_behind {
public:
    explicit write_behind(std::uint64_t step = std::uint64_t(1) << 20) : step_(step) {}

    // After each append; `end` is the file's size now.
    void wrote(int fd, std::uint64_t end);
    // The file was emptied (a download that starts over).
    void reset() { started_ = 0; }
    // Writeback was started for the bytes before this offset.
    std::uint64_t started() const { return started_; }

private:
    std::uint64_t step_;
    std::uint64_t started_ = 0;
};

} // namespace lifeboat
