#include "base/offload.hpp"

namespace lifeboat {

boost::asio::thread_pool& disk_pool() {
    // Built on first use, joined at exit (after main returns, when no coroutine waits any more).
    static boost::asio::thread_pool pool(disk_pool_threads);
    return pool;
}

} // namespace lifeboat
