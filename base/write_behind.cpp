#include "base/write_behind.hpp"

#include <fcntl.h>

namespace lifeboat {

void write_behind::wrote(int fd, std::uint64_t end) {
    if (fd < 0 || end < started_ + step_)
        return;
    ::sync_file_range(fd, static_cast<off_t>(started_), static_cast<off_t>(end - started_),
                      SYNC_FILE_RANGE_WRITE);
    started_ = end;
}

} // namespace lifeboat
