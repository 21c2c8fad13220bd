// Subcommands of `lifeboat` register themselves: a file `<name>_command.cpp` in cli/ defines
//
//   static const lifeboat::cli::command_registration reg{30, [](CLI::App& root) { ... }};
//
// and is picked up by the build (cli/CMakeLists.txt globs *_command.cpp). `order` sorts --help.
// A command's callback sets its exit code with set_exit_code(); main() returns it.
#pragma once

#include "agent/config.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace lifeboat::cli {

using add_command_fn = void (*)(CLI::App& root);

struct command_registration {
    command_registration(int order, add_command_fn add);
};

void add_registered_commands(CLI::App& root);

void set_exit_code(int code);
int exit_code();

// --conf FILE and --set KEY=VALUE, shared by every command that reads the configuration.
struct conf_options {
    std::string conf_file;
    std::vector<std::string> sets;
};
void add_conf_options(CLI::App& cmd, conf_options& options);

// Loads the configuration (file, KONG_* environment, --set). On a bad value prints the one-line
// error to stderr and returns nullopt; the caller exits 1. Warnings are logged.
std::optional<agent::loaded_config> load_config_or_report(const conf_options& options);

} // namespace lifeboat::cli
