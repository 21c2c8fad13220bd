#include "cli/command.hpp"

#include <boost/version.hpp>

#include <openssl/opensslv.h>
#include <zlib.h>

#include <cstdio>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::version_command {
const lifeboat::cli::command_registration reg{
    90, [](CLI::App& root) {
        auto* cmd =
            root.add_subcommand("version", "Print lifeboat's version and the libraries it was built with");
        static bool verbose = false;
        cmd->add_flag("-v,--verbose", verbose, "Also print library versions");
        cmd->callback([] {
            std::printf("lifeboat %s\n", LIFEBOAT_VERSION);
            if (verbose)
                std::printf("boost %d.%d.%d\nopenssl %s\nzlib %s\n", BOOST_VERSION / 100000,
                            BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100, OPENSSL_FULL_VERSION_STR,
                            ZLIB_VERSION);
        });
    }};
} // namespace lifeboat::cli::version_command
