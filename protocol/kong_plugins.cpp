#include "protocol/kong_plugins.hpp"

#include "base/kong_version.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace lifeboat::protocol {

namespace {

// The plugins bundled with Kong Gateway 3.4 to 3.15 (facts, no code):
//  - open source: the `plugins` table of kong/constants.lua in Kong/kong at the tags 3.4.0 to 3.9.3
//    and master 22246ef (after 3.9.3; Kong Enterprise 3.10+ bundles the same open-source set), with
//    each handler's VERSION (kong_meta.version, except opentelemetry's "0.1.0" up to 3.7.x);
//  - Enterprise: Kong/developer.konghq.com app/_kong_plugins/*/index.md at bc1cd7426 (2026-08-21),
//    every plugin with `publisher: kong-inc`, `tier: enterprise` or `tier: ai_gateway_enterprise`,
//    `works_on: on-prem`, first bundled in `min_version: gateway` (an earlier one than 3.4 is 3.4
//    here). Enterprise plugins carry the gateway's version as the open-source ones do.
// Plugins Kong ships only for Konnect (`ace`) and partner plugins are not bundled; plugins that
// are not listed (a custom plugin, a plugin Kong added after this list) go in dp_plugins as
// +name:x.y.z.
constexpr std::array<catalogued_plugin, 111> catalogue{{
    // open source (kong/constants.lua)
    {"acl", 4, plugin_edition::oss},
    {"acme", 4, plugin_edition::oss},
    {"aws-lambda", 4, plugin_edition::oss},
    {"azure-functions", 4, plugin_edition::oss},
    {"basic-auth", 4, plugin_edition::oss},
    {"bot-detection", 4, plugin_edition::oss},
    {"correlation-id", 4, plugin_edition::oss},
    {"cors", 4, plugin_edition::oss},
    {"datadog", 4, plugin_edition::oss},
    {"file-log", 4, plugin_edition::oss},
    {"grpc-gateway", 4, plugin_edition::oss},
    {"grpc-web", 4, plugin_edition::oss},
    {"hmac-auth", 4, plugin_edition::oss},
    {"http-log", 4, plugin_edition::oss},
    {"ip-restriction", 4, plugin_edition::oss},
    {"jwt", 4, plugin_edition::oss},
    {"key-auth", 4, plugin_edition::oss},
    {"ldap-auth", 4, plugin_edition::oss},
    {"loggly", 4, plugin_edition::oss},
    {"oauth2", 4, plugin_edition::oss},
    {"opentelemetry", 4, plugin_edition::oss},
    {"post-function", 4, plugin_edition::oss},
    {"pre-function", 4, plugin_edition::oss},
    {"prometheus", 4, plugin_edition::oss},
    {"proxy-cache", 4, plugin_edition::oss},
    {"rate-limiting", 4, plugin_edition::oss},
    {"request-size-limiting", 4, plugin_edition::oss},
    {"request-termination", 4, plugin_edition::oss},
    {"request-transformer", 4, plugin_edition::oss},
    {"response-ratelimiting", 4, plugin_edition::oss},
    {"response-transformer", 4, plugin_edition::oss},
    {"session", 4, plugin_edition::oss},
    {"statsd", 4, plugin_edition::oss},
    {"syslog", 4, plugin_edition::oss},
    {"tcp-log", 4, plugin_edition::oss},
    {"udp-log", 4, plugin_edition::oss},
    {"zipkin", 4, plugin_edition::oss},
    {"ai-prompt-decorator", 6, plugin_edition::oss},
    {"ai-prompt-guard", 6, plugin_edition::oss},
    {"ai-prompt-template", 6, plugin_edition::oss},
    {"ai-proxy", 6, plugin_edition::oss},
    {"ai-request-transformer", 6, plugin_edition::oss},
    {"ai-response-transformer", 6, plugin_edition::oss},
    {"standard-webhooks", 8, plugin_edition::oss},
    {"redirect", 9, plugin_edition::oss},
    // Enterprise (developer.konghq.com)
    {"app-dynamics", 4, plugin_edition::enterprise},
    {"canary", 4, plugin_edition::enterprise},
    {"degraphql", 4, plugin_edition::enterprise},
    {"exit-transformer", 4, plugin_edition::enterprise},
    {"forward-proxy", 4, plugin_edition::enterprise},
    {"graphql-proxy-cache-advanced", 4, plugin_edition::enterprise},
    {"graphql-rate-limiting-advanced", 4, plugin_edition::enterprise},
    {"jq", 4, plugin_edition::enterprise},
    {"jwe-decrypt", 4, plugin_edition::enterprise},
    {"jwt-signer", 4, plugin_edition::enterprise},
    {"kafka-log", 4, plugin_edition::enterprise},
    {"kafka-upstream", 4, plugin_edition::enterprise},
    {"key-auth-enc", 4, plugin_edition::enterprise},
    {"ldap-auth-advanced", 4, plugin_edition::enterprise},
    {"mocking", 4, plugin_edition::enterprise},
    {"mtls-auth", 4, plugin_edition::enterprise},
    {"oas-validation", 4, plugin_edition::enterprise},
    {"oauth2-introspection", 4, plugin_edition::enterprise},
    {"opa", 4, plugin_edition::enterprise},
    {"openid-connect", 4, plugin_edition::enterprise},
    {"proxy-cache-advanced", 4, plugin_edition::enterprise},
    {"rate-limiting-advanced", 4, plugin_edition::enterprise},
    {"request-transformer-advanced", 4, plugin_edition::enterprise},
    {"request-validator", 4, plugin_edition::enterprise},
    {"response-transformer-advanced", 4, plugin_edition::enterprise},
    {"route-by-header", 4, plugin_edition::enterprise},
    {"route-transformer-advanced", 4, plugin_edition::enterprise},
    {"saml", 4, plugin_edition::enterprise},
    {"tls-handshake-modifier", 4, plugin_edition::enterprise},
    {"tls-metadata-headers", 4, plugin_edition::enterprise},
    {"upstream-timeout", 4, plugin_edition::enterprise},
    {"vault-auth", 4, plugin_edition::enterprise},
    {"websocket-size-limit", 4, plugin_edition::enterprise},
    {"websocket-validator", 4, plugin_edition::enterprise},
    {"xml-threat-protection", 4, plugin_edition::enterprise},
    {"ai-azure-content-safety", 7, plugin_edition::enterprise},
    {"ai-rate-limiting-advanced", 7, plugin_edition::enterprise},
    {"ai-proxy-advanced", 8, plugin_edition::enterprise},
    {"ai-semantic-cache", 8, plugin_edition::enterprise},
    {"ai-semantic-prompt-guard", 8, plugin_edition::enterprise},
    {"confluent", 8, plugin_edition::enterprise},
    {"header-cert-auth", 8, plugin_edition::enterprise},
    {"json-threat-protection", 8, plugin_edition::enterprise},
    {"upstream-oauth", 8, plugin_edition::enterprise},
    {"injection-protection", 9, plugin_edition::enterprise},
    {"service-protection", 9, plugin_edition::enterprise},
    {"ai-rag-injector", 10, plugin_edition::enterprise},
    {"ai-sanitizer", 10, plugin_edition::enterprise},
    {"confluent-consume", 10, plugin_edition::enterprise},
    {"kafka-consume", 10, plugin_edition::enterprise},
    {"request-callout", 10, plugin_edition::enterprise},
    {"ai-aws-guardrails", 11, plugin_edition::enterprise},
    {"ai-prompt-compressor", 11, plugin_edition::enterprise},
    {"datakit", 11, plugin_edition::enterprise},
    {"solace-upstream", 11, plugin_edition::enterprise},
    {"ai-gcp-model-armor", 12, plugin_edition::enterprise},
    {"ai-llm-as-judge", 12, plugin_edition::enterprise},
    {"ai-mcp-oauth2", 12, plugin_edition::enterprise},
    {"ai-mcp-proxy", 12, plugin_edition::enterprise},
    {"ai-semantic-response-guard", 12, plugin_edition::enterprise},
    {"solace-consume", 12, plugin_edition::enterprise},
    {"solace-log", 12, plugin_edition::enterprise},
    {"ai-lakera-guard", 13, plugin_edition::enterprise},
    {"ai-a2a-proxy", 14, plugin_edition::enterprise},
    {"ai-custom-guardrail", 14, plugin_edition::enterprise},
    {"metering-and-billing", 14, plugin_edition::enterprise},
}};

} // namespace

std::span<const catalogued_plugin> kong_plugin_catalogue() {
    return catalogue;
}

std::vector<plugin_info> bundled_plugins(std::string_view node_version) {
    const auto v = parse_kong_version(node_version);
    const std::string version = v ? v->three : std::string(node_version);
    // Another major than 3 gets the newest set; an unreadable version the oldest.
    const int minor = !v ? 0 : v->major == 3 ? v->minor : (v->major > 3 ? 1000 : 0);
    std::vector<plugin_info> out;
    for (const auto& p : catalogue) {
        // Before 3.4 the catalogue says nothing more precise than "bundled by 3.4".
        if (p.since_minor > std::max(minor, catalogue_first_minor))
            continue;
        std::string reported = version;
        if (p.name == "opentelemetry" && v && v->major == 3 && v->minor <= 7)
            reported = "0.1.0"; // its handler's own VERSION until 3.8 made it kong_meta.version
        out.push_back({std::string(p.name), std::move(reported)});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
}

const char* to_string(plugin_source s) {
    switch (s) {
    case plugin_source::catalogue:
        return "catalogue";
    case plugin_source::gateway:
        return "gateway";
    case plugin_source::list:
        return "list";
    }
    return "catalogue";
}

namespace {

std::string_view trim_spaces(std::string_view e) {
    while (!e.empty() && (e.front() == ' ' || e.front() == '\t'))
        e.remove_prefix(1);
    while (!e.empty() && (e.back() == ' ' || e.back() == '\t'))
        e.remove_suffix(1);
    return e;
}

bool plugin_name_ok(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_';
    });
}

// "name" or "name:x.y.z": checked, not yet resolved.
std::optional<std::string> check_entry(std::string_view e) {
    const auto colon = e.find(':');
    const std::string_view name = e.substr(0, colon);
    if (!plugin_name_ok(name))
        return fmt::format("dp_plugins: {:?} is not a plugin name", std::string(name));
    if (colon != std::string_view::npos && !parse_kong_version(e.substr(colon + 1)))
        return fmt::format("dp_plugins: version {:?} of {} is not x.y.z", std::string(e.substr(colon + 1)),
                           std::string(name));
    return std::nullopt;
}

void put(std::map<std::string, std::string>& by_name, std::string_view e,
         const std::string& default_version) {
    const auto colon = e.find(':');
    by_name[std::string(e.substr(0, colon))] =
        colon == std::string_view::npos ? default_version : std::string(e.substr(colon + 1));
}

} // namespace

result<plugin_selection, std::string> parse_plugin_selection(const std::vector<std::string>& entries) {
    plugin_selection out;
    bool saw_auto = false;
    for (const auto& raw : entries) {
        const std::string_view e = trim_spaces(raw);
        if (e.empty())
            continue;
        if (e == "auto") {
            saw_auto = true;
            continue;
        }
        if (e == "bundled") {
            out.with_catalogue = true;
            continue;
        }
        if (e.front() == '+') {
            if (auto bad = check_entry(e.substr(1)))
                return failure(std::move(*bad));
            out.added.emplace_back(e.substr(1));
            continue;
        }
        if (auto bad = check_entry(e))
            return failure(std::move(*bad));
        out.entries.emplace_back(e);
    }
    if (saw_auto && (!out.entries.empty() || out.with_catalogue))
        return failure(
            std::string("dp_plugins: auto mirrors the gateway's plugins and takes only +name:x.y.z "
                        "additions, not a list"));
    if (saw_auto)
        out.base = plugin_source::gateway;
    else if (!out.entries.empty())
        out.base = plugin_source::list;
    else
        out.with_catalogue = true; // "bundled" alone, or only additions: the catalogue is the base
    return out;
}

std::vector<plugin_info> resolve_plugins(const plugin_selection& selection, std::string_view node_version,
                                         const std::vector<plugin_info>* gateway) {
    const auto v = parse_kong_version(node_version);
    const std::string default_version = v ? v->three : std::string(node_version);
    std::map<std::string, std::string> by_name;
    if (selection.base == plugin_source::gateway && gateway) {
        for (const auto& p : *gateway)
            by_name[p.name] = p.version;
    } else if (selection.base == plugin_source::gateway || selection.with_catalogue) {
        for (auto& p : bundled_plugins(node_version))
            by_name[p.name] = p.version;
    }
    for (const auto& e : selection.entries)
        put(by_name, e, default_version);
    for (const auto& e : selection.added)
        put(by_name, e, default_version);
    std::vector<plugin_info> out;
    for (auto& [name, version] : by_name)
        out.push_back({name, version});
    return out;
}

result<std::vector<plugin_info>, std::string> plugin_list(const std::vector<std::string>& entries,
                                                          std::string_view node_version) {
    auto selection = parse_plugin_selection(entries);
    if (!selection)
        return failure(std::move(selection.error()));
    if (selection->base == plugin_source::gateway)
        return failure(std::string("dp_plugins: auto needs the gateway's Admin API"));
    return resolve_plugins(*selection, node_version);
}

// ---- the gate ----

plugin_map to_plugin_map(const std::vector<plugin_info>& plugins) {
    plugin_map out;
    for (const auto& p : plugins) {
        std::optional<plugin_version> version;
        if (const auto v = parse_kong_version(p.version))
            version = plugin_version{v->major, v->minor, p.version};
        out[p.name] = std::move(version);
    }
    return out;
}

const char* to_string(gate_verdict v) {
    switch (v) {
    case gate_verdict::normal:
        return "normal";
    case gate_verdict::plugin_set_incompatible:
        return "plugin_set_incompatible";
    case gate_verdict::plugin_version_incompatible:
        return "plugin_version_incompatible";
    }
    return "normal";
}

gate_result check_configuration_compatibility(const std::vector<plugin_info>& cp_plugins,
                                              const std::set<std::string, std::less<>>& configured,
                                              const plugin_map& dp_plugins) {
    for (const auto& cp_plugin : cp_plugins) {
        if (!configured.contains(cp_plugin.name))
            continue;
        const auto cp_version = parse_kong_version(cp_plugin.version);
        const auto dp = dp_plugins.find(cp_plugin.name);
        if (dp == dp_plugins.end()) {
            if (cp_version)
                return {gate_verdict::plugin_set_incompatible,
                        fmt::format("configured {} plugin {} is missing from data plane", cp_plugin.name,
                                    cp_plugin.version)};
            return {gate_verdict::plugin_set_incompatible,
                    fmt::format("configured {} plugin is missing from data plane", cp_plugin.name)};
        }
        if (!cp_version || !dp->second)
            continue;
        const auto& dp_version = *dp->second;
        // The first opentelemetry release said 0.1.0 and kept saying it; Kong accepts it.
        if (cp_plugin.name == "opentelemetry" && dp_version.major == 0 && dp_version.minor == 1)
            continue;
        if (cp_version->major != dp_version.major || cp_version->minor < dp_version.minor)
            return {gate_verdict::plugin_version_incompatible,
                    fmt::format("configured data plane {} plugin version {} is different to control plane "
                                "plugin version {}",
                                cp_plugin.name, dp_version.text, cp_plugin.version)};
    }
    return {};
}

} // namespace lifeboat::protocol
