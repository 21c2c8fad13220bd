// `lifeboat doctor`: checks the control plane (agent/cp_doctor.hpp: one session, admitted, refused
// or config withheld) and the fallback-config storage (backends/doctor.hpp) as this node sees
// them, with the backup's signature (agent/backup_inspection.hpp), and exits 1 when a check fails.
#include "agent/backup_inspection.hpp"
#include "agent/cp_doctor.hpp"
#include "agent/gateway_mirror.hpp"
#include "backends/doctor.hpp"
#include "backends/layout.hpp"
#include "backends/store_factory.hpp"
#include "base/ed25519.hpp"
#include "cli/command.hpp"
#include "crypto/age.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::doctor_command {

using namespace lifeboat;

cli::conf_options options;

// An exporter's recipients (parsed when the configuration was loaded), and whether this node's
// own identity is one of them.
backends::doctor_check encryption_check(const agent::settings& s, const agent::trust_policy& policy) {
    using backends::verdict;
    if (s.cluster_fallback_config_encryption_recipients.empty())
        return {"encryption", verdict::ok,
                "uploads are not encrypted (cluster_fallback_config_encryption_recipients is not set)"};
    auto recipients = crypto::age_recipient::parse_list(s.cluster_fallback_config_encryption_recipients);
    if (!recipients)
        return {"encryption", verdict::fail,
                "cluster_fallback_config_encryption_recipients: " + recipients.error()};
    auto line = fmt::format("uploads are age-encrypted to {} recipient{}", recipients->size(),
                            recipients->size() == 1 ? "" : "s");
    if (!policy.identities.empty()) {
        const bool mine =
            std::any_of(policy.identities.begin(), policy.identities.end(), [&](const auto& id) {
                return std::find(recipients->begin(), recipients->end(), id.recipient()) != recipients->end();
            });
        if (!mine && s.cluster_fallback_config_import)
            return {"encryption", verdict::fail,
                    line + ", none of them cluster_fallback_config_decryption_identity: this node could "
                           "not import its own backup"};
    }
    return {"encryption", verdict::ok, line};
}

// What an importer's decryption makes of the backup (only when it is encrypted, or this node
// holds an identity).
std::optional<backends::doctor_check> decryption_check(const agent::settings& s,
                                                       const agent::backup_inspection& seen) {
    using backends::verdict;
    if (!seen.encrypted)
        return std::nullopt;
    if (!seen.decryption_refused)
        return backends::doctor_check{
            "decryption", verdict::ok,
            fmt::format("age-encrypted to {} recipient{}; decrypted with this node's identity",
                        seen.recipient_stanzas.size(), seen.recipient_stanzas.size() == 1 ? "" : "s")};
    // An exporter that does not import needs no identity.
    return backends::doctor_check{
        "decryption", s.cluster_fallback_config_import ? verdict::fail : verdict::ok,
        fmt::format("an importer with this configuration refuses the backup ({}): {}",
                    agent::to_string(seen.decryption_refused->reason), seen.decryption_refused->detail)};
}

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
    if (s.cluster_fallback_config_export)
        out.push_back(encryption_check(s, policy));
    if (!s.cluster_fallback_config_import && !s.cluster_fallback_config_export)
        co_return out;
    auto seen = co_await agent::inspect_backup(store, key, policy, s.cluster_max_config_size, std::nullopt);
    if (seen.read_error)
        co_return out; // the read check above reports why the backup cannot be read
    const auto what = seen.describe(wall_clock::now());
    if (auto c = decryption_check(s, seen))
        out.push_back(std::move(*c));
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
    // One directory per process: doctors run side by side (a test suite, a fleet's checks) must
    // not remove each other's, which threw out of remove_all and aborted one of them.
    scratch.prefix =
        std::filesystem::temp_directory_path() / fmt::format("lifeboat-doctor-node-id-{}", ::getpid());
    std::error_code ignored;
    std::filesystem::remove(scratch.prefix / "node_id", ignored);
    auto id = agent::ensure_node_id(scratch);
    std::filesystem::remove_all(scratch.prefix, ignored);
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

    auto policy = agent::trust_policy_of(s);
    if (!policy)
        checks.push_back({"trust", backends::verdict::fail, policy.error()});

    const bool storage_wanted = !s.cluster_fallback_config_storage.empty() || s.cluster_control_plane.empty();
    if (storage_wanted && policy) {
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
                    auto r = co_await backends::run_doctor(store, input);
                    for (auto& c : co_await trust_checks(store, backends::config_key(url.prefix, input.node_version),
                                                         s, *policy))
                        r.checks.push_back(std::move(c));
                    report = std::move(r);
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
