// `lifeboat run`: the agent process. SIGTERM or SIGINT stop it gracefully (polite cancel, grace
// period, hard cancel; exit 0); a second signal stops it at once (exit 1). SIGHUP re-reads the
// configuration: the keys that can change live are applied, the others are logged as waiting for
// a restart, and a configuration that no longer loads is refused; the agent never stops for it.
#include "agent/agent.hpp"
#include "base/log.hpp"
#include "cli/command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <functional>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::run_command {

namespace asio = boost::asio;
using namespace lifeboat;

cli::conf_options options;
double grace_seconds = 1.0;

std::string join(const std::vector<std::string>& keys) {
    std::string out;
    for (const auto& k : keys)
        out += (out.empty() ? "" : ",") + k;
    return out;
}

void reread_configuration(agent::agent& a) {
    log::info("SIGHUP: re-reading the configuration", "conf",
              options.conf_file.empty() ? std::string("(none)") : options.conf_file);
    auto fresh = cli::load_config(options);
    if (!fresh) {
        log::error("the configuration was not reloaded; the running one stays", "reason", fresh.error());
        return;
    }
    const auto plan = a.reload(fresh->values);
    if (plan.empty())
        log::info("configuration reloaded: nothing changed");
    if (!plan.live.empty())
        log::info("configuration reloaded", "applied", join(plan.live));
    if (!plan.need_restart.empty())
        log::warn("configuration changes wait for a restart", "keys", join(plan.need_restart));
}

int run_agent() {
    auto loaded = cli::load_config_or_report(options);
    if (!loaded)
        return 1;
    auto& cfg = loaded->values;
    log::level lvl{};
    log::format fmt{};
    log::parse_level(cfg.log_level, lvl);
    log::parse_format(cfg.log_format, fmt);
    log::set_level(lvl);
    log::set_format(fmt);

    auto node_id = agent::ensure_node_id(cfg);
    if (!node_id) {
        std::fprintf(stderr, "lifeboat: %s\n", node_id.error().c_str());
        return 1;
    }

    asio::io_context io(1); // one thread: every task runs here, so tasks share state without locks
    std::unique_ptr<agent::agent> a;
    try {
        a = std::make_unique<agent::agent>(io.get_executor(), cfg, node_id.value());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lifeboat: %s\n", e.what());
        return 1;
    }

    asio::signal_set signals(io, SIGINT, SIGTERM);
    asio::signal_set hangups(io, SIGHUP); // `systemctl reload`: never the default (terminate)
    std::function<void()> wait_for_hangup = [&] {
        hangups.async_wait([&](boost::system::error_code ec, int) {
            if (ec)
                return;
            reread_configuration(*a);
            wait_for_hangup();
        });
    };
    wait_for_hangup();
    bool hard_stop = false;
    const auto grace =
        std::chrono::duration_cast<steady_duration>(std::chrono::duration<double>(grace_seconds));
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            const int sig = co_await signals.async_wait(asio::use_awaitable);
            log::info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            // A second signal while we wind down means "now".
            signals.async_wait([&](boost::system::error_code ec, int) {
                if (ec)
                    return;
                log::warn("second signal: stopping at once");
                hard_stop = true;
                a->stop_now();
                io.stop();
            });
            co_await a->shutdown(grace);
            signals.cancel();
            hangups.cancel();
        },
        asio::detached);

    a->start();
    io.run();
    if (!hard_stop)
        log::info("stopped");
    return hard_stop ? 1 : 0;
}

const cli::command_registration reg{
    10, [](CLI::App& root) {
        auto* cmd = root.add_subcommand(
            "run",
            "Run the agent (stops gracefully on SIGTERM or SIGINT; SIGHUP re-reads the configuration)");
        cli::add_conf_options(*cmd, options);
        cmd->add_option("--grace", grace_seconds, "Seconds tasks get to finish after the first signal")
            ->default_val(1.0)
            ->check(CLI::Range(0.0, 60.0));
        cmd->callback([] { cli::set_exit_code(run_agent()); });
    }};

} // namespace lifeboat::cli::run_command
