// `lifeboat`: the agent (`run`), its status client, and the operator's tools. Each subcommand
// lives in its own *_command.cpp file and registers itself (command.hpp).
#include "base/log.hpp"
#include "cli/command.hpp"

int main(int argc, char** argv) {
    CLI::App app{"lifeboat: keeps gateway data planes provisioned through control-plane outages"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Help for every subcommand");
    lifeboat::cli::add_registered_commands(app);
    // The operator's one-shot tools print results and one-line errors; their progress notes would
    // be noise for scripts. `run` and `cp` set the configured level (log_level) themselves.
    lifeboat::log::set_level(lifeboat::log::level::warn);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return lifeboat::cli::exit_code();
}
