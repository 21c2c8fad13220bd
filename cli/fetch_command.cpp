// `lifeboat fetch`: downloads the fallback config this node would import
// (<prefix>/<node_version>/config.json in cluster_fallback_config_storage).
#include "backends/layout.hpp"
#include "backends/store_factory.hpp"
#include "cli/command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::fetch_command {

using namespace lifeboat;

cli::conf_options options;
std::string output = "-";

int fail(const std::string& message) {
    std::fprintf(stderr, "lifeboat fetch: %s\n", message.c_str());
    return 1;
}

int run_fetch() {
    auto loaded = cli::load_config_or_report(options);
    if (!loaded)
        return 1;
    const auto& s = loaded->values;
    boost::asio::io_context io;
    auto opened = cli::open_fallback_store(io.get_executor(), s);
    if (!opened)
        return fail(opened.error());
    const auto& url = opened->url;
    auto& store = *opened->store;
    const auto key = backends::config_key(url.prefix, s.node_version);

    int code = 1;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            if (output == "-") {
                auto got = co_await store.get(key, static_cast<std::size_t>(s.cluster_max_config_size));
                if (!got) {
                    code = fail(got.error().to_string());
                    co_return;
                }
                if (std::fwrite(got->bytes.data(), 1, got->bytes.size(), stdout) != got->bytes.size() ||
                    std::fflush(stdout) != 0) {
                    code = fail("writing to standard output failed");
                    co_return;
                }
                code = 0;
            } else {
                auto got = co_await store.get_to_file(key, output);
                if (!got) {
                    code = fail(got.error().to_string());
                    co_return;
                }
                std::fprintf(stderr, "fetched %s/%s (%llu bytes, written %s) to %s\n",
                             store.describe().c_str(), key.c_str(),
                             static_cast<unsigned long long>(got->size),
                             format_iso8601(got->last_modified).c_str(), output.c_str());
                code = 0;
            }
        },
        boost::asio::detached);
    io.run();
    return code;
}

const cli::command_registration reg{
    55, [](CLI::App& root) {
        auto* cmd = root.add_subcommand(
            "fetch",
            "Download the fallback config this node would import: "
            "<prefix>/<node_version>/config.json from cluster_fallback_config_storage. Exit 1 on failure");
        cli::add_conf_options(*cmd, options);
        cmd->add_option("-o,--output", output,
                        "Where to write it: a file (replaced atomically) or - for stdout")
            ->default_val("-");
        cmd->callback([] { cli::set_exit_code(run_fetch()); });
    }};

} // namespace lifeboat::cli::fetch_command
