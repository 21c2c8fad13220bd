// `lifeboat fetch`: downloads the fallback config this node would import
// (<prefix>/<node_version>/config.json in cluster_fallback_config_storage). With
// cluster_fallback_config_trusted_keys it verifies the backup as the importer would and writes
// nothing when it is refused; either way it says what it found (signer, signing time, age). An
// age-encrypted backup is decrypted with cluster_fallback_config_decryption_identity (after the
// signature check); one that cannot be is refused with its reason, and nothing is written.
#include "agent/backup_inspection.hpp"
#include "backends/layout.hpp"
#include "backends/store_factory.hpp"
#include "base/atomic_file.hpp"
#include "cli/command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

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

    auto policy = agent::trust_policy_of(s);
    if (!policy)
        return fail(policy.error());

    int code = 1;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            // Held in memory until verified: nothing unverified is written out when keys are set.
            std::string bytes;
            backends::object_sink keep{[&](std::optional<std::uint64_t> size) {
                                           bytes.clear();
                                           if (size)
                                               bytes.reserve(static_cast<std::size_t>(*size));
                                       },
                                       [&](std::string_view piece) -> std::optional<std::string> {
                                           bytes.append(piece);
                                           return std::nullopt;
                                       }};
            auto seen = co_await agent::inspect_backup(store, key, *policy, s.cluster_max_config_size,
                                                       std::move(keep));
            if (seen.read_error) {
                code = fail(seen.read_error->to_string());
                co_return;
            }
            const auto what = seen.describe(wall_clock::now());
            if (policy->enabled()) {
                if (seen.refused) {
                    code = fail(fmt::format("{}/{} refused ({}): {}", store.describe(), key,
                                            agent::to_string(seen.refused->reason), seen.refused->detail));
                    co_return;
                }
                if (!seen.verified) {
                    code = fail(seen.error.empty() ? "the backup could not be verified" : seen.error);
                    co_return;
                }
                std::fprintf(stderr, "verified: %s\n", what.c_str());
            } else {
                std::fprintf(stderr, "not verified (cluster_fallback_config_trusted_keys is not set): %s\n",
                             what.c_str());
            }
            if (seen.decryption_refused) {
                code = fail(fmt::format("{}/{} cannot be decrypted ({}): {}", store.describe(), key,
                                        agent::to_string(seen.decryption_refused->reason),
                                        seen.decryption_refused->detail));
                co_return;
            }
            if (output == "-") {
                if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() ||
                    std::fflush(stdout) != 0) {
                    code = fail("writing to standard output failed");
                    co_return;
                }
                code = 0;
            } else {
                if (auto w = write_file_atomically(output, bytes, 0644); !w) {
                    code = fail(w.error());
                    co_return;
                }
                std::fprintf(stderr, "fetched %s/%s (%llu bytes, written %s) to %s\n",
                             store.describe().c_str(), key.c_str(),
                             static_cast<unsigned long long>(seen.info.size),
                             format_iso8601(seen.info.last_modified).c_str(), output.c_str());
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
