#include "agent/backup_versions.hpp"

#include "backends/layout.hpp"

#include <algorithm>
#include <charconv>

namespace lifeboat::agent {

const char* to_string(version_skew skew) {
    switch (skew) {
    case version_skew::exact:
        return "exact";
    case version_skew::patch:
        return "patch";
    case version_skew::minor:
        return "minor";
    }
    return "exact";
}

std::optional<version_skew> parse_version_skew(std::string_view text) {
    for (auto s : {version_skew::exact, version_skew::patch, version_skew::minor})
        if (text == to_string(s))
            return s;
    return std::nullopt;
}

std::optional<gateway_version> gateway_version::parse(std::string_view text) {
    gateway_version v;
    v.text = std::string(text);
    std::string_view rest = text;
    for (;;) {
        unsigned long n = 0;
        auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
        if (ec != std::errc() || end == rest.data())
            return std::nullopt;
        v.parts.push_back(n);
        rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
        if (rest.empty())
            break;
        if (rest.front() != '.' || v.parts.size() >= 4)
            return std::nullopt;
        rest.remove_prefix(1);
    }
    if (v.parts.size() < 2)
        return std::nullopt; // a major.minor at least: "3" says nothing to compare
    return v;
}

std::strong_ordering gateway_version::operator<=>(const gateway_version& other) const {
    for (std::size_t i = 0; i < 4; ++i)
        if (auto c = part(i) <=> other.part(i); c != 0)
            return c;
    return std::strong_ordering::equal;
}

bool compatible(const gateway_version& own, const gateway_version& backup, version_skew skew) {
    if (own == backup)
        return true;
    switch (skew) {
    case version_skew::exact:
        return false;
    case version_skew::patch:
        return backup.part(0) == own.part(0) && backup.part(1) == own.part(1);
    case version_skew::minor:
        // Kong's CP serves a DP of its major whose minor is not newer: the same rule in reverse,
        // a config exported by an older minor of the same major is one this node can run.
        return backup.part(0) == own.part(0) && backup.part(1) <= own.part(1);
    }
    return false;
}

namespace {

// The version folder of `key` when it is <prefix>/<version>/config.json, else nullopt.
std::optional<gateway_version> version_of(std::string_view prefix, const std::string& key) {
    const auto base = prefix.empty() ? std::string() : backends::join_key(prefix, "");
    if (!key.starts_with(base))
        return std::nullopt;
    std::string_view rest(key);
    rest.remove_prefix(base.size());
    constexpr std::string_view tail = "/config.json";
    if (!rest.ends_with(tail))
        return std::nullopt;
    rest.remove_suffix(tail.size());
    if (rest.find('/') != std::string_view::npos)
        return std::nullopt;
    return gateway_version::parse(rest);
}

} // namespace

std::optional<backup_choice> choose_backup(std::string_view prefix, std::string_view own_version,
                                           version_skew skew, std::span<const std::string> keys) {
    const auto own = gateway_version::parse(own_version);
    std::optional<gateway_version> best;
    for (const auto& key : keys) {
        auto v = version_of(prefix, key);
        if (!v)
            continue;
        if (v->text == own_version)
            return backup_choice{v->text, key}; // its own version always wins
        if (!own || !compatible(*own, *v, skew))
            continue;
        if (!best || *v > *best || (*v == *best && v->text > best->text))
            best = std::move(v);
    }
    if (!best)
        return std::nullopt;
    return backup_choice{best->text, backends::config_key(prefix, best->text)};
}

std::vector<std::string> backup_versions_in(std::string_view prefix, std::span<const std::string> keys) {
    std::vector<gateway_version> found;
    for (const auto& key : keys)
        if (auto v = version_of(prefix, key))
            found.push_back(std::move(*v));
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a < b; });
    std::vector<std::string> out;
    for (auto& v : found)
        out.push_back(std::move(v.text));
    return out;
}

} // namespace lifeboat::agent
