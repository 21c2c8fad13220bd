// Subcommands of `lifeboat` register themselves: a file `<name>_command.cpp` in cli/ defines
//
//   static const lifeboat::cli::command_registration reg{30, [](CLI::App& root) { ... }};
//
// and is picked up by the build (cli/CMakeLists.txt globs *_command.cpp). `order` sorts --help.
// A command's callback sets its exit code with set_exit_code(); main() returns it.
#pragma once

#include "agent/config.hpp"
#include "backends/store_factory.hpp"
#include "base/result.hpp"

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
// The same, returning the one-line error instead of printing it (a re-read by a running agent).
result<agent::loaded_config, std::string> load_config(const conf_options& options);

// The store named by cluster_fallback_config_storage, opened with the configured credentials, or
// the one-line reason it cannot be (not set, a bad URL, bad credentials).
struct fallback_store {
    backends::storage_url url;
    std::unique_ptr<backends::object_store> store;
};
result<fallback_store, std::string> open_fallback_store(boost::asio::any_io_executor executor,
                                                        const agent::settings& s);

} // namespace lifeboat::cli
