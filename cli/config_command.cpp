#include "agent/config_keys.hpp"
#include "cli/command.hpp"

#include <cstdio>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::config_command {
lifeboat::cli::conf_options options;

const lifeboat::cli::command_registration reg{
    40, [](CLI::App& root) {
        auto* config = root.add_subcommand("config", "Inspect the configuration");
        config->require_subcommand(1);
        auto* check = config->add_subcommand("check", "Validate the configuration and print the effective "
                                                      "values (secrets redacted); exit 1 if invalid");
        lifeboat::cli::add_conf_options(*check, options);
        check->callback([] {
            auto loaded = lifeboat::cli::load_config_or_report(options);
            if (!loaded) {
                lifeboat::cli::set_exit_code(1);
                return;
            }
            std::fputs(lifeboat::agent::render_effective(*loaded).c_str(), stdout);
            for (const auto& key : loaded->ignored_kong_keys)
                std::printf("# ignored: %s is a Kong key that lifeboat does not use\n", key.c_str());
        });
        auto* reference = config->add_subcommand(
            "reference",
            "Print the configuration reference (every key, default, environment variable) as Markdown");
        reference->callback(
            [] { std::fputs(lifeboat::agent::configuration_reference_markdown().c_str(), stdout); });
    }};
} // namespace lifeboat::cli::config_command
