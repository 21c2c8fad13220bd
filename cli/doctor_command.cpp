// `lifeboat doctor`: checks the control plane (agent/cp_doctor.hpp: one session, admitted, refused
// or config withheld) and the fallback-config storage (backends/doctor.hpp) as this node sees
// them, and exits 1 when a check fails.
#include "agent/cp_doctor.hpp"
#include "agent/gateway_mirror.hpp"
#include "backends/doctor.hpp"
#include "backends/store_factory.hpp"
#include "cli/command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <filesystem>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::doctor_command {

using namespace lifeboat;

cli::conf_options options;

double cp_wait_s = 10;

// A node id for the probe session: the node's own when it has one, else a fresh UUID (the doctor
// writes nothing under prefix).
std::string probe_node_id(const agent::settings& s) {
    if (!s.node_id.empty())
        return s.node_id;
    if (std::filesystem::exists(s.prefix / "node_id"))
        if (auto id = agent::ensure_node_id(s))
            return id.value();
    agent::settings scratch = s;
    scratch.prefix = std::filesystem::temp_directory_path() / "lifeboat-doctor-node-id";
    std::filesystem::remove(scratch.prefix / "node_id");
    auto id = agent::ensure_node_id(scratch);
    std::filesystem::remove_all(scratch.prefix);
    return id ? id.value() : std::string("00000000-0000-4000-8000-000000000000");
}

int run_doctor_command() {
    auto loaded = cli::load_config_or_report(options);
    if (!loaded)
        return 1;
    const auto& s = loaded->values;
    boost::asio::io_context io;
    std::vector<backends::doctor_check> checks;

    if (!s.cluster_control_plane.empty()) {
        agent::cp_check_input in{&s, probe_node_id(s),
                                 std::chrono::milliseconds(static_cast<long>(cp_wait_s * 1000))};
        boost::asio::co_spawn(
            io,
            [&]() -> boost::asio::awaitable<void> {
                checks.push_back(co_await agent::check_control_plane(in));
            },
            boost::asio::detached);
        io.run();
        io.restart();
        if (checks.empty())
            checks.push_back({"control plane", backends::verdict::fail, "the check did not complete"});
    }

    const bool storage_wanted = !s.cluster_fallback_config_storage.empty() || s.cluster_control_plane.empty();
    if (storage_wanted) {
        auto opened = cli::open_fallback_store(io.get_executor(), s);
        if (!opened) {
            checks.push_back({"store", backends::verdict::fail, opened.error()});
        } else {
            const auto& url = opened->url;
            auto& store = *opened->store;
            backends::doctor_input input;
            input.storage_url = s.cluster_fallback_config_storage;
            input.key_prefix = url.prefix;
            input.node_version = s.node_version_auto
                                     ? agent::read_advertisement(s, std::chrono::seconds(3)).node_version
                                     : s.node_version;
            input.import_enabled = s.cluster_fallback_config_import;
            input.export_enabled = s.cluster_fallback_config_export;
            input.max_config_size = static_cast<std::size_t>(s.cluster_max_config_size);
            std::optional<backends::doctor_report> report;
            boost::asio::co_spawn(
                io,
                [&]() -> boost::asio::awaitable<void> {
                    report = co_await backends::run_doctor(store, input);
                },
                boost::asio::detached);
            io.run();
            if (!report)
                checks.push_back({"store", backends::verdict::fail, "the checks did not complete"});
            else
                checks.insert(checks.end(), report->checks.begin(), report->checks.end());
        }
    }
    backends::doctor_report all{std::move(checks)};
    std::fputs(all.render().c_str(), stdout);
    return all.overall() == backends::verdict::fail ? 1 : 0;
}

const cli::command_registration reg{
    50, [](CLI::App& root) {
        auto* cmd = root.add_subcommand(
            "doctor",
            "Check the control plane and the fallback-config storage from this node's point of view: "
            "one CP session (admitted, refused for its version, or config withheld by the plugin "
            "gate, with the advertised plugins); list, read the backup for node_version, write (and "
            "whether this node should be able to), conditional writes, clock skew. Prints "
            "ok/warn/fail lines; exit 1 on a failure");
        cli::add_conf_options(*cmd, options);
        cmd->add_option("--cp-wait", cp_wait_s,
                        "Seconds to wait for the control plane's config before calling it withheld")
            ->default_val(10)
            ->check(CLI::Range(0.5, 600.0));
        cmd->callback([] { cli::set_exit_code(run_doctor_command()); });
    }};

} // namespace lifeboat::cli::doctor_command
