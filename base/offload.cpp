#include "base/offload.hpp"

#include <mutex>
#include <unistd.h>

namespace lifeboat {

boost::asio::thread_pool& disk_pool() {
    // One pool per process, built on first use. A forked child (a test's child processes) has
    // none of its parent's threads, so it builds its own. Never destroyed: joining at exit could
    // wait on a thread of another process; the threads idle until the process ends.
    static std::mutex guard;
    static boost::asio::thread_pool* pool = nullptr;
    static pid_t owner = 0;
    std::lock_guard lock(guard);
    if (!pool || owner != ::getpid()) {
        pool = new boost::asio::thread_pool(disk_pool_threads);
        owner = ::getpid();
    }
    return *pool;
}

} // namespace lifeboat
