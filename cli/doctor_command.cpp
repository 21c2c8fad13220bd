// `lifeboat doctor`: checks the fallback-config storage as this node sees it (backends/doctor.hpp)
// and exits 1 when a check fails.
#include "agent/backup_inspection.hpp"
#include "backends/doctor.hpp"
#include "backends/layout.hpp"
#include "backends/store_factory.hpp"
#include "base/ed25519.hpp"
#include "cli/command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::doctor_command {

using namespace lifeboat;

cli::conf_options options;

// The signature checks (docs/security.md), informational when no keys are configured (signing is
// opt-in): what an importer would decide about the backup, and
// whether an exporter's signing key is one the configured trusted keys accept.
boost::asio::awaitable<std::vector<backends::doctor_check>> trust_checks(backends::object_store& store,
                                                                         const std::string& key,
                                                                         const agent::settings& s,
                                                                         const agent::trust_policy& policy) {
    using backends::verdict;
    std::vector<backends::doctor_check> out;
    if (s.cluster_fallback_config_export) {
        if (s.cluster_fallback_config_signing_key.empty()) {
            out.push_back({"signing", verdict::ok,
                           "uploads are not signed (cluster_fallback_config_signing_key is not set)"});
        } else if (auto k = ed25519::private_key::load(s.cluster_fallback_config_signing_key); !k) {
            out.push_back({"signing", verdict::fail, "cluster_fallback_config_signing_key: " + k.error()});
        } else {
            const auto& id = k->public_part().id();
            const bool trusted = std::any_of(policy.trusted_keys.begin(), policy.trusted_keys.end(),
                                             [&](const ed25519::public_key& t) { return t.id() == id; });
            if (policy.enabled() && !trusted)
                out.push_back(
                    {"signing", verdict::fail,
                     fmt::format("signing with key {}, which is not in cluster_fallback_config_trusted_keys",
                                 id)});
            else
                out.push_back({"signing", verdict::ok, fmt::format("uploads are signed with key {}", id)});
        }
    }
    if (!s.cluster_fallback_config_import && !s.cluster_fallback_config_export)
        co_return out;
    auto seen = co_await agent::inspect_backup(store, key, policy, s.cluster_max_config_size, std::nullopt);
    if (seen.read_error)
        co_return out; // the read check above reports why the backup cannot be read
    const auto what = seen.describe(wall_clock::now());
    if (!policy.enabled()) {
        out.push_back({"signature", verdict::ok,
                       "not verified (cluster_fallback_config_trusted_keys is not set): " + what});
    } else if (seen.refused) {
        out.push_back({"signature", verdict::fail,
                       fmt::format("an importer refuses the backup ({}): {}",
                                   agent::to_string(seen.refused->reason), seen.refused->detail)});
    } else if (!seen.verified) {
        out.push_back(
            {"signature", verdict::fail, seen.error.empty() ? "could not be verified" : seen.error});
    } else {
        out.push_back({"signature", verdict::ok, "verified: " + what});
    }
    co_return out;
}

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

    auto policy = agent::trust_policy_of(s);
    if (!policy)
        return fail(policy.error());

    std::optional<backends::doctor_report> report;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
            auto r = co_await backends::run_doctor(store, input);
            for (auto& c :
                 co_await trust_checks(store, backends::config_key(url.prefix, s.node_version), s, *policy))
                r.checks.push_back(std::move(c));
            report = std::move(r);
        },
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
