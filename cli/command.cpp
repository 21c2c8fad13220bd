#include "cli/command.hpp"

#include "base/log.hpp"

#include <algorithm>
#include <cstdio>

namespace lifeboat::cli {
namespace {

struct entry {
    int order;
    add_command_fn add;
};

std::vector<entry>& registry() {
    static std::vector<entry> r;
    return r;
}

int g_exit_code = 0;

} // namespace

command_registration::command_registration(int order, add_command_fn add) {
    registry().push_back({order, add});
}

void add_registered_commands(CLI::App& root) {
    auto& r = registry();
    std::stable_sort(r.begin(), r.end(), [](const entry& a, const entry& b) { return a.order < b.order; });
    for (const auto& e : r)
        e.add(root);
}

void set_exit_code(int code) {
    g_exit_code = code;
}
int exit_code() {
    return g_exit_code;
}

void add_conf_options(CLI::App& cmd, conf_options& options) {
    cmd.add_option("-c,--conf", options.conf_file, "Configuration file (kong.conf style: key = value)");
    cmd.add_option("--set", options.sets,
                   "Override one key, KEY=VALUE (repeatable; wins over file and KONG_*)");
}

result<agent::loaded_config, std::string> load_config(const conf_options& options) {
    agent::config_sources sources;
    if (!options.conf_file.empty())
        sources.conf_file = options.conf_file;
    sources.environment = agent::process_environment();
    for (const auto& s : options.sets) {
        const auto eq = s.find('=');
        if (eq == std::string::npos || eq == 0)
            return failure{fmt::format("--set {}: expected KEY=VALUE", s)};
        sources.overrides.emplace_back(s.substr(0, eq), s.substr(eq + 1));
    }
    auto loaded = agent::load_config(sources);
    if (!loaded)
        return failure{loaded.error().to_string()};
    for (const auto& w : loaded->warnings)
        log::warn(w);
    return std::move(loaded).value();
}

std::optional<agent::loaded_config> load_config_or_report(const conf_options& options) {
    auto loaded = load_config(options);
    if (!loaded) {
        std::fprintf(stderr, "lifeboat: %s\n", loaded.error().c_str());
        return std::nullopt;
    }
    return std::move(loaded).value();
}

result<fallback_store, std::string> open_fallback_store(boost::asio::any_io_executor executor,
                                                        const agent::settings& s) {
    if (s.cluster_fallback_config_storage.empty())
        return failure(std::string("cluster_fallback_config_storage is not set: there is no storage to use"));
    auto url = backends::parse_storage_url(s.cluster_fallback_config_storage);
    if (!url)
        return failure("cluster_fallback_config_storage: " + url.error());
    auto store = backends::make_object_store(executor, *url, s.storage_env);
    if (!store)
        return failure(store.error());
    return fallback_store{std::move(url).value(), std::move(store).value()};
}

} // namespace lifeboat::cli
