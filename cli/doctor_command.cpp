// `lifeboat doctor`: checks the fallback-config storage as this node sees it (backends/doctor.hpp)
// and exits 1 when a check fails.
#include "backends/doctor.hpp"
#include "backends/store_factory.hpp"
#include "cli/command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::doctor_command {

using namespace lifeboat;

cli::conf_options options;

int run_doctor_command() {
    auto loaded = cli::load_config_or_report(options);
    if (!loaded)
        return 1;
    const auto& s = loaded->values;
    auto fail = [](const std::string& reason) {
        std::printf("fail  %-12s %s\nverdict: fail (1 failed, 0 warnings)\n", "store", reason.c_str());
        return 1;
    };
    boost::asio::io_context io;
    auto opened = cli::open_fallback_store(io.get_executor(), s);
    if (!opened)
        return fail(opened.error());
    const auto& url = opened->url;
    auto& store = *opened->store;

    backends::doctor_input input;
    input.storage_url = s.cluster_fallback_config_storage;
    input.key_prefix = url.prefix;
    input.node_version = s.node_version;
    input.import_enabled = s.cluster_fallback_config_import;
    input.export_enabled = s.cluster_fallback_config_export;
    input.max_config_size = static_cast<std::size_t>(s.cluster_max_config_size);

    std::optional<backends::doctor_report> report;
    boost::asio::co_spawn(
        io, [&]() -> boost::asio::awaitable<void> { report = co_await backends::run_doctor(store, input); },
        boost::asio::detached);
    io.run();
    if (!report)
        return fail("the checks did not complete");
    std::fputs(report->render().c_str(), stdout);
    return report->overall() == backends::verdict::fail ? 1 : 0;
}

const cli::command_registration reg{
    50, [](CLI::App& root) {
        auto* cmd = root.add_subcommand(
            "doctor", "Check the fallback-config storage from this node's point of view: list, read the "
                      "backup for node_version, write (and whether this node should be able to), "
                      "conditional writes, clock skew. Prints ok/warn/fail lines; exit 1 on a failure");
        cli::add_conf_options(*cmd, options);
        cmd->callback([] { cli::set_exit_code(run_doctor_command()); });
    }};

} // namespace lifeboat::cli::doctor_command
