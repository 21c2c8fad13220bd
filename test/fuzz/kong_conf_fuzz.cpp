// Fuzz target: a kong.conf-style configuration file as `lifeboat run --conf` reads it
// (agent::load_config: `key = value` lines, comments, escapes, every key's value parser and the
// checks across keys), then the effective configuration rendered back (`lifeboat config`).
// The input is written to a memory file and read through its /proc/self/fd path, as the agent
// reads its file.
#include "agent/config.hpp"
#include "test/fuzz/fuzz_input.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace lifeboat;
    static const int fd = ::memfd_create("lifeboat-fuzz.conf", 0);
    if (fd < 0 || ::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
        std::abort();
    static const std::string path = "/proc/self/fd/" + std::to_string(fd);
    agent::config_sources sources;
    sources.conf_file = path;
    auto loaded = agent::load_config(sources);
    if (!loaded) {
        const auto line = loaded.error().to_string();
        if (line.empty() || line.find('\n') != std::string::npos)
            std::abort();
        return 0;
    }
    (void)agent::render_effective(*loaded);
    return 0;
}
