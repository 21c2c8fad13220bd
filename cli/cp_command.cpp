// `lifeboat cp`: the reference control plane (protocol/reference_cp.hpp). It serves one
// declarative config file to data planes the way a Kong 3.x CP does, and pushes it again when the
// file changes. For tests, demos and benchmarks; SIGINT or SIGTERM stop it.
#include "base/log.hpp"
#include "cli/command.hpp"
#include "protocol/reference_cp.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::cp_command {

namespace asio = boost::asio;
using namespace lifeboat;

protocol::reference_cp_options options;
std::string mtls = "shared";
std::string log_level = "info";
std::string log_format = "logfmt";

int run_cp() {
    log::level lvl{};
    log::format fmt{};
    log::parse_level(log_level, lvl);
    log::parse_format(log_format, fmt);
    log::set_level(lvl);
    log::set_format(fmt);
    options.mtls = mtls == "pki" ? protocol::cluster_mtls::pki : protocol::cluster_mtls::shared;

    asio::io_context io(1);
    protocol::reference_cp cp(io.get_executor(), options);
    if (auto opened = cp.open(); !opened) {
        std::fprintf(stderr, "lifeboat cp: %s\n", opened.error().c_str());
        return 1;
    }
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int sig) {
        if (ec)
            return;
        log::info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        io.stop();
    });
    int status = 0;
    asio::co_spawn(io, cp.run(), [&](std::exception_ptr e) {
        if (!e)
            return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            log::error("reference control plane failed", "error", x.what());
        }
        status = 1;
        io.stop();
    });
    io.run();
    return status;
}

const cli::command_registration reg{
    70, [](CLI::App& root) {
        auto* cmd = root.add_subcommand(
            "cp",
            "Run the reference control plane: serve a declarative config file to data planes (Kong hybrid "
            "mode, /v1/outlet)");
        cmd->add_option("--listen", options.listen, "HOST:PORT to listen on")->default_val("127.0.0.1:8005");
        cmd->add_option("--cert", options.cert, "Cluster certificate (PEM), as cluster_cert")
            ->required()
            ->check(CLI::ExistingFile);
        cmd->add_option("--key", options.key, "Its private key (PEM), as cluster_cert_key")
            ->required()
            ->check(CLI::ExistingFile);
        cmd->add_option("--ca", options.ca, "CA certificate that signs data-plane certificates (--mtls pki)")
            ->check(CLI::ExistingFile);
        cmd->add_option("--mtls", mtls,
                        "shared: data planes present this very certificate; pki: signed by --ca")
            ->default_val("shared")
            ->check(CLI::IsMember({"shared", "pki"}));
        cmd->add_option(
               "--config", options.config_file,
               "Declarative config (JSON, Kong's _format_version 3.0 shape); re-read when it changes")
            ->required()
            ->check(CLI::ExistingFile);
        cmd->add_option("--version", options.version,
                        "Kong version this control plane claims (X.Y.Z or X.Y.Z.W)")
            ->default_val("3.9.0.0");
        cmd->add_option("--plugin", options.plugins,
                        "A custom plugin this control plane has loaded, NAME:X.Y.Z (repeatable); the "
                        "bundled plugins follow --version")
            ->take_all();
        cmd->add_flag("--allow-inconsistent-data-plane-plugins", options.allow_inconsistent_plugins,
                      "Send configs to data planes that fail the plugin gate (Kong Enterprise's "
                      "allow_inconsistent_data_plane_plugins)");
        cmd->add_option("--log-level", log_level, "debug, info, warn or error")
            ->default_val("info")
            ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
        cmd->add_option("--log-format", log_format, "logfmt or json")
            ->default_val("logfmt")
            ->check(CLI::IsMember({"logfmt", "json"}));
        cmd->callback([] { cli::set_exit_code(run_cp()); });
    }};

} // namespace lifeboat::cli::cp_command
