#include "backends/doctor.hpp"

#include "backends/layout.hpp"
#include "backends/probe.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <cmath>
#include <random>
#include <set>

namespace lifeboat::backends {
namespace {

std::string age(wall_clock::duration d) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s < 0)
        return "in the future";
    if (s < 120)
        return fmt::format("{} s ago", s);
    if (s < 120 * 60)
        return fmt::format("{} min ago", s / 60);
    if (s < 48 * 3600)
        return fmt::format("{} h ago", s / 3600);
    return fmt::format("{} days ago", s / 86400);
}

std::string role(const doctor_input& in) {
    if (in.import_enabled && in.export_enabled)
        return "this node imports and exports";
    if (in.import_enabled)
        return "this node imports only";
    if (in.export_enabled)
        return "this node exports only";
    return "this node neither imports nor exports (cluster_fallback_config_import/export are off)";
}

bool unreachable(const store_error& e) {
    return e.code == store_errc::network || e.code == store_errc::timeout ||
           e.code == store_errc::bad_credentials;
}

bool denied(const store_error& e) {
    return e.code == store_errc::access_denied || e.code == store_errc::bad_credentials;
}

std::string random_hex() {
    std::random_device rd;
    return fmt::format("{:08x}{:08x}", rd(), rd());
}

} // namespace

const char* to_string(verdict v) {
    switch (v) {
    case verdict::ok:
        return "ok";
    case verdict::warn:
        return "warn";
    case verdict::fail:
        return "fail";
    }
    return "?";
}

verdict doctor_report::overall() const {
    verdict worst = verdict::ok;
    for (const auto& c : checks)
        worst = std::max(worst, c.level);
    return worst;
}

std::string doctor_report::render() const {
    std::string out;
    int warnings = 0, failures = 0;
    for (const auto& c : checks) {
        out += fmt::format("{:<5} {:<12} {}\n", to_string(c.level), c.name, c.reason);
        warnings += c.level == verdict::warn;
        failures += c.level == verdict::fail;
    }
    if (failures)
        out += fmt::format("verdict: fail ({} failed, {} warning{})\n", failures, warnings,
                           warnings == 1 ? "" : "s");
    else if (warnings)
        out += fmt::format("verdict: warn ({} warning{})\n", warnings, warnings == 1 ? "" : "s");
    else
        out += "verdict: ok\n";
    return out;
}

boost::asio::awaitable<doctor_report> run_doctor(object_store& store, doctor_input in) {
    doctor_report report;
    auto add = [&](std::string name, verdict level, std::string reason) {
        report.checks.push_back({std::move(name), level, std::move(reason)});
    };
    const bool import_only = in.import_enabled && !in.export_enabled;
    const std::string version_prefix = join_key(in.key_prefix, in.node_version) + "/";
    const std::string backup_key = config_key(in.key_prefix, in.node_version);

    const auto described = store.describe();
    add("store", verdict::ok,
        described == in.storage_url ? fmt::format("{}, {}", in.storage_url, role(in))
                                    : fmt::format("{} ({}), {}", in.storage_url, described, role(in)));

    // The clock is sampled right after a response; the Date header has whole seconds, so half a
    // second is added to the middle of its interval.
    std::optional<double> skew_seconds;
    auto sample_clock = [&] {
        if (auto date = store.last_server_date()) {
            const auto now = in.now();
            const double skew =
                std::chrono::duration<double>(now - (*date + std::chrono::milliseconds(500))).count();
            if (!skew_seconds || std::abs(skew) < std::abs(*skew_seconds))
                skew_seconds = skew;
        }
    };

    // 1. list
    bool reachable = true;
    auto listed = co_await store.list(version_prefix, 1000);
    sample_clock();
    if (listed)
        add("list", verdict::ok,
            listed->empty() ? fmt::format("no objects under {} yet", version_prefix)
                            : fmt::format("{} object{} under {}", listed->size(),
                                          listed->size() == 1 ? "" : "s", version_prefix));
    else {
        add("list", verdict::fail,
            fmt::format("cannot list {}: {}", version_prefix, listed.error().to_string()));
        reachable = !unreachable(listed.error());
    }
    if (!reachable) {
        for (const char* name : {"read backup", "write", "conditional"})
            add(name, verdict::fail, "not checked: the store cannot be reached with these credentials");
        add("clock", verdict::warn, "not checked: the store did not answer");
        co_return report;
    }

    // 2. read the backup this node's version would import
    auto backup = co_await store.get(backup_key, in.max_config_size);
    sample_clock();
    if (backup) {
        boost::system::error_code ec;
        boost::json::parse(backup->bytes, ec);
        const auto when = backup->info.last_modified;
        if (ec)
            add("read backup", verdict::fail,
                fmt::format("{}: {} bytes that are not JSON ({}); an import would fail", backup_key,
                            backup->bytes.size(), ec.message()));
        else
            add("read backup", verdict::ok,
                fmt::format("{}: {} bytes of JSON, written {} ({})", backup_key, backup->bytes.size(),
                            format_iso8601(when), age(in.now() - when)));
    } else if (backup.error().code == store_errc::not_found) {
        // Kong keys backups by the exact node version: show which versions do have one.
        std::set<std::string> versions;
        const std::string root = in.key_prefix.empty() ? std::string() : join_key(in.key_prefix, ""); // "p/"
        if (auto all = co_await store.list(root, 10000)) {
            for (const auto& o : *all) {
                const std::string_view k = o.key;
                const std::string_view tail = "/config.json";
                if (k.size() > root.size() + tail.size() && k.substr(k.size() - tail.size()) == tail) {
                    auto v = k.substr(root.size(), k.size() - root.size() - tail.size());
                    if (v.find('/') == std::string_view::npos)
                        versions.insert(std::string(v));
                }
            }
        }
        std::string others;
        for (const auto& v : versions)
            others += (others.empty() ? "" : ", ") + v;
        std::string reason = fmt::format("no backup at {}", backup_key);
        if (!others.empty())
            reason +=
                fmt::format(" (the bucket has backups for {}; the key follows node_version exactly)", others);
        if (import_only)
            add("read backup", verdict::fail,
                reason + ": a new node could not provision itself from the bucket");
        else if (in.export_enabled)
            add("read backup", verdict::warn, reason + ": the exporter writes it after its first config");
        else
            add("read backup", verdict::warn, reason);
    } else {
        add("read backup", verdict::fail,
            fmt::format("cannot read {}: {}", backup_key, backup.error().to_string()));
    }

    // 3. write, and whether this node should be able to
    const std::string scratch_prefix = version_prefix + "lifeboat-doctor/";
    const std::string scratch_key = scratch_prefix + "write-check-" + random_hex();
    put_options scratch_options;
    scratch_options.content_type = "text/plain";
    auto written = co_await store.put(scratch_key, body_source::from_string("lifeboat doctor write check"),
                                      scratch_options);
    sample_clock();
    const bool can_write = written.ok();
    if (written) {
        auto removed = co_await store.remove(scratch_key);
        const std::string cleanup = removed ? ""
                                            : fmt::format(" (the scratch key {} could not be removed: {})",
                                                          scratch_key, removed.error().to_string());
        if (import_only)
            add("write", verdict::warn,
                std::string(store.kind() == store_kind::file
                                ? "this node only imports, yet it can write to the folder: give importers "
                                  "read-only access"
                                : "this node only imports, yet its credentials can write: give importers "
                                  "read-only credentials") +
                    cleanup);
        else
            add("write", removed ? verdict::ok : verdict::warn,
                "can write (a scratch object was written and removed)" + cleanup);
    } else if (denied(written.error())) {
        if (in.export_enabled)
            add("write", verdict::fail,
                fmt::format("cannot write: {}; an exporter must write {} and its election objects",
                            written.error().to_string(), backup_key));
        else
            add("write", verdict::ok,
                fmt::format("cannot write ({}{}), as a node that does not export should not",
                            to_string(written.error().code),
                            written.error().http_status
                                ? fmt::format(": HTTP {}{}{}", written.error().http_status,
                                              written.error().provider_code.empty() ? "" : " ",
                                              written.error().provider_code)
                                : std::string()));
    } else {
        add("write", in.export_enabled ? verdict::fail : verdict::warn,
            fmt::format("the write check failed: {}", written.error().to_string()));
    }

    // 4. conditional writes (what leader election needs to fence)
    if (!can_write) {
        add("conditional", in.export_enabled ? verdict::fail : verdict::ok,
            "not checked: this node cannot write");
    } else {
        auto probe = co_await probe_conditional_writes_report(store, scratch_prefix);
        sample_clock();
        if (!probe)
            add("conditional", in.export_enabled ? verdict::warn : verdict::ok,
                fmt::format("could not probe: {}", probe.error().to_string()));
        else if (probe->enforced())
            add("conditional", verdict::ok,
                "the store enforces create-if-absent and compare-and-swap" +
                    (probe->cleaned_up ? std::string() : "; " + probe->detail));
        else if (in.export_enabled)
            add("conditional", verdict::warn,
                fmt::format(
                    "the store does not enforce conditional writes ({}): leader terms cannot be fenced, "
                    "so two exporters may both write for a while",
                    probe->detail));
        else
            add("conditional", verdict::ok,
                fmt::format("the store does not enforce conditional writes ({}); only exporters need them",
                            probe->detail));
    }

    // 5. clock skew against the store's Date
    if (store.kind() == store_kind::file)
        add("clock", verdict::ok, "the file store shares this machine's clock");
    else if (!skew_seconds)
        add("clock", verdict::warn, "the store sent no Date header: clock skew unknown");
    else {
        const double s = *skew_seconds;
        const auto text =
            fmt::format("{:.1f} s {} the store's clock", std::abs(s), s >= 0 ? "ahead of" : "behind");
        if (std::abs(s) < 3)
            add("clock", verdict::ok, text);
        else if (std::abs(s) < 60)
            add("clock", verdict::warn, text + ": election freshness has a 5 s margin; run NTP");
        else
            add("clock", verdict::fail,
                text +
                    ": elections misjudge freshness and S3 refuses requests skewed by over 15 min; run NTP");
    }
    co_return report;
}

} // namespace lifeboat::backends
