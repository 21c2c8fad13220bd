// Which backup an importer takes when its own version has none (version skew on import,
// cluster_fallback_config_import_versions), decided without I/O from the keys listed under the
// storage prefix. Kong couples importer and exporter by the exact version folder; a rolling
// upgrade (exporters on 3.9.0.0, new nodes on 3.9.0.1) then leaves new nodes with nothing.
#pragma once

#include <compare>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::agent {

// How far from its own version an importer may look.
enum class version_skew {
    exact, // only <prefix>/<node_version>/config.json (Kong's behaviour)
    patch, // else the newest backup of the same major.minor
    minor, // else the newest backup of the same major, at or below its own minor
};
const char* to_string(version_skew skew);
std::optional<version_skew> parse_version_skew(std::string_view text);

// A gateway version such as 3.9.0.1 or 3.9.1, compared part by part as numbers (a missing part is 0).
struct gateway_version {
    std::vector<unsigned long> parts;
    std::string text; // as written in the bucket

    static std::optional<gateway_version> parse(std::string_view text);
    unsigned long part(std::size_t i) const { return i < parts.size() ? parts[i] : 0; }
    std::strong_ordering operator<=>(const gateway_version& other) const;
    bool operator==(const gateway_version& other) const { return (*this <=> other) == 0; }
};

// Whether a backup written under `backup` may be imported by a node at `own` under `skew`.
bool compatible(const gateway_version& own, const gateway_version& backup, version_skew skew);

struct backup_choice {
    std::string version; // the version folder taken
    std::string key;     // <prefix>/<version>/config.json
};

// From the keys listed under `prefix` (any keys: registrations and signatures are ignored), the
// backup to import: this node's own version when it has one, else the newest compatible one;
// nullopt when there is none. `prefix` is the storage key prefix (empty for none).
std::optional<backup_choice> choose_backup(std::string_view prefix, std::string_view own_version,
                                           version_skew skew, std::span<const std::string> keys);

// The version folders holding a config.json under `prefix`, oldest first (for "says why").
std::vector<std::string> backup_versions_in(std::string_view prefix, std::span<const std::string> keys);

} // namespace lifeboat::agent
