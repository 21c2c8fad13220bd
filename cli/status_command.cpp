// `lifeboat status`: asks a running agent what it is doing. Exit codes for scripts and probes:
// 0 healthy, 1 degraded, 2 agent unreachable.
#include "cli/command.hpp"
#include "cli/status_client.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <cstdio>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::status_command {

namespace json = boost::json;
using namespace lifeboat;

cli::conf_options options;
std::string addr;
bool as_json = false;
double timeout_s = 3.0;

std::string str(const json::object& o, std::string_view key, std::string_view fallback = "-") {
    if (auto* v = o.if_contains(key); v && v->is_string())
        return std::string(v->as_string());
    return std::string(fallback);
}
std::string num(const json::object& o, std::string_view key) {
    if (auto* v = o.if_contains(key)) {
        if (v->is_int64())
            return std::to_string(v->as_int64());
        if (v->is_uint64())
            return std::to_string(v->as_uint64());
        if (v->is_double())
            return fmt::format("{:.1f}", v->as_double());
        if (v->is_bool())
            return v->as_bool() ? "yes" : "no";
    }
    return "-";
}
const json::object& sub(const json::object& o, std::string_view key) {
    static const json::object empty;
    if (auto* v = o.if_contains(key); v && v->is_object())
        return v->as_object();
    return empty;
}
std::string short_hash(const std::string& h) {
    return h.size() > 12 ? h.substr(0, 12) : h;
}

// election       follower, leader node-b, term 3, fenced; candidates node-a*, node-b, node-c (dead); next
// round in 2.1 s
void print_election(const json::object& el) {
    std::string candidates;
    if (auto* cs = el.if_contains("candidates"); cs && cs->is_array())
        for (const auto& c : cs->as_array()) {
            if (!c.is_object())
                continue;
            const auto& o = c.as_object();
            candidates +=
                fmt::format("{}{}{}{}", candidates.empty() ? "" : ", ", str(o, "node_id"),
                            num(o, "self") == "yes" ? "*" : "", num(o, "alive") == "yes" ? "" : " (dead)");
        }
    if (const auto more = num(el, "candidates_not_shown"); more != "-" && more != "0")
        candidates += fmt::format(" and {} more", more);
    std::string fencing = str(el, "fencing_state", num(el, "fencing") == "yes" ? "enforced" : "unknown");
    fencing = fencing == "enforced" ? "fenced"
              : fencing == "unknown"
                  ? "fencing not probed yet"
                  : fmt::format("NOT fenced ({})", str(el, "note", "the store ignores conditional writes"));
    std::printf("election       %s, leader %s, term %s, %s; candidates %s; next round in %s s\n",
                str(el, "role").c_str(), str(el, "leader").c_str(), num(el, "term").c_str(), fencing.c_str(),
                candidates.empty() ? "none seen" : candidates.c_str(), num(el, "next_round_in_s").c_str());
    if (!str(el, "last_error", "").empty())
        std::printf("               last failed round: %s\n", str(el, "last_error").c_str());
}

void print_summary(const json::object& s) {
    const auto& cp = sub(s, "control_plane");
    const auto& cfg = sub(s, "config");
    const auto& cache = sub(s, "cache");
    const auto& ho = sub(s, "handoff");
    const auto& imp = sub(s, "import");
    const auto& el = sub(s, "election");
    const auto& ex = sub(s, "export");
    std::printf("lifeboat %s  node %s  gateway %s  %s, %s\n", str(s, "version").c_str(),
                str(s, "node_id").c_str(), str(s, "node_version").c_str(), str(s, "health").c_str(),
                sub(s, "roles").empty() ? "" : (num(s, "ready") == "yes" ? "ready" : "not ready"));
    if (str(cp, "state") == "disabled")
        std::printf("control plane  none configured\n");
    else
        std::printf("control plane  %s %s since %s  (last pong %s, rtt %s ms, reconnects %s%s)\n",
                    str(cp, "state").c_str(), str(cp, "endpoint").c_str(), str(cp, "since").c_str(),
                    str(cp, "last_pong").c_str(), num(cp, "rtt_ms").c_str(), num(cp, "reconnects").c_str(),
                    str(cp, "state") == "connected"
                        ? ""
                        : fmt::format(", next attempt {}", str(cp, "next_attempt_at")).c_str());
    std::printf("config         %s from %s, applied %s, %s bytes\n", short_hash(str(cfg, "hash")).c_str(),
                str(cfg, "source").c_str(), str(cfg, "applied_at").c_str(), num(cfg, "size_bytes").c_str());
    std::printf("cache          %s %s\n", str(cache, "state").c_str(), str(cache, "path", "").c_str());
    std::printf("gateway        %s hand-off, %s%s\n", str(ho, "kind").c_str(), str(ho, "state").c_str(),
                str(ho, "last_error", "").empty() ? "" : (": " + str(ho, "last_error")).c_str());
    std::printf("import         %s\n",
                num(imp, "enabled") == "yes"
                    ? fmt::format("{} ({} attempts){}", str(imp, "state"), num(imp, "attempts"),
                                  str(imp, "backup_written_at", "").empty()
                                      ? ""
                                      : fmt::format(", backup written {} ({} s ago)",
                                                    str(imp, "backup_written_at"), num(imp, "backup_age_s")))
                          .c_str()
                    : "off");
    if (!str(imp, "version", "").empty() && str(imp, "version") != str(s, "node_version"))
        std::printf("               from version %s (cluster_fallback_config_import_versions = %s)\n",
                    str(imp, "version").c_str(), str(imp, "versions").c_str());
    if (num(el, "enabled") == "yes")
        print_election(el);
    std::printf("export         %s\n",
                num(ex, "enabled") == "yes"
                    ? fmt::format("last {} at {} ({} s ago), {} uploads, {} failing{}",
                                  short_hash(str(ex, "last_hash")), str(ex, "last_at"),
                                  num(ex, "last_success_age_s"), num(ex, "uploads"), num(ex, "failures"),
                                  num(ex, "current") == "yes" ? ", bucket holds the CP's config" : "")
                          .c_str()
                    : "off");
    if (const auto& bk = sub(s, "backup"); num(bk, "enabled") == "yes")
        std::printf(
            "backup         %s %s%s%s (read %s)%s\n", str(bk, "key").c_str(), str(bk, "state").c_str(),
            str(bk, "written_at", "").empty()
                ? ""
                : fmt::format(", written {} ({} s ago)", str(bk, "written_at"), num(bk, "age_s")).c_str(),
            num(bk, "holds_current") == "yes"  ? ", holds this node's config"
            : num(bk, "holds_current") == "no" ? ", NOT this node's config"
                                               : "",
            str(bk, "checked_at", "never").c_str(),
            str(bk, "last_error", "").empty() ? "" : (": " + str(bk, "last_error")).c_str());
    if (const auto& local = sub(s, "declarative_config"); num(local, "enabled") == "yes")
        std::printf("local file     %s %s%s\n", str(local, "path").c_str(), str(local, "state").c_str(),
                    str(local, "last_error", "").empty() ? "" : (": " + str(local, "last_error")).c_str());
    if (auto* reasons = s.if_contains("degraded_reasons"); reasons && reasons->is_array())
        for (const auto& r : reasons->as_array())
            if (r.is_string())
                std::printf("needs attention: %s\n", r.as_string().c_str());
}

int status_main() {
    std::string address = addr;
    if (address.empty()) {
        auto loaded = cli::load_config_or_report(options);
        if (!loaded)
            return 2;
        address = loaded->values.status_listen;
    }
    std::string error;
    auto reply = cli::get_status(address, "/status",
                                 std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)), error);
    if (!reply) {
        std::fprintf(stderr, "lifeboat status: agent unreachable at %s: %s\n", address.c_str(),
                     error.c_str());
        return 2;
    }
    // Whatever the server sends: an older agent may put bytes that are not UTF-8 in a name, so
    // they are accepted here rather than turning a running agent into "unreachable".
    boost::system::error_code ec;
    json::parse_options parse_options;
    parse_options.allow_invalid_utf8 = true;
    auto doc = json::parse(reply->body, ec, {}, parse_options);
    if (reply->status != 200 || ec || !doc.is_object()) {
        std::fprintf(stderr, "lifeboat status: %s answered HTTP %u with no status document\n",
                     address.c_str(), reply->status);
        return 2;
    }
    const auto& s = doc.as_object();
    if (as_json)
        std::printf("%s\n", reply->body.c_str() + (reply->body.empty() ? 0 : 0));
    else
        print_summary(s);
    return str(s, "health") == "healthy" ? 0 : 1;
}

const cli::command_registration reg{
    20, [](CLI::App& root) {
        auto* cmd = root.add_subcommand(
            "status",
            "Ask a running agent what it is doing. Exit code: 0 healthy, 1 degraded, 2 unreachable");
        cli::add_conf_options(*cmd, options);
        cmd->add_option("--addr", addr,
                        "The agent's status address, HOST:PORT or unix:/path (default: status_listen)");
        cmd->add_flag("--json", as_json, "Print the status document as JSON");
        cmd->add_option("--timeout", timeout_s, "Seconds to wait for the agent")->default_val(3.0);
        cmd->callback([] { cli::set_exit_code(status_main()); });
    }};

} // namespace lifeboat::cli::status_command
