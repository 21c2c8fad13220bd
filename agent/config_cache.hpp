// The crash-safe local config cache in <prefix>:
//
//   config-<hash>.json   the declarative config_table, exactly as received (mode 0600)
//   cache.json           the manifest: which file, its SHA-256 and size, the hash and hashes,
//                        where it came from and when (mode 0600)
//
// store() writes the config file (temporary file, fsync, rename, fsync of the directory), then the
// manifest the same way, then removes older config files. A crash at any moment leaves a manifest
// that names a complete file: the old config or the new one. load() checks the manifest's SHA-256
// and size against the file, so a torn or corrupted cache is detected, reported, and never applied.
// The content stays plain JSON so an operator can read it with jq.
#pragma once

#include "base/result.hpp"
#include "protocol/config_snapshot.hpp"

#include <filesystem>
#include <string>

namespace lifeboat::agent {

enum class cache_load_status { loaded, empty, corrupt };

struct cache_load_result {
    cache_load_status status = cache_load_status::empty;
    protocol::snapshot_ptr snapshot;                                       // source `cache`; set when loaded
    protocol::config_source stored_source = protocol::config_source::none; // where it first came from
    std::string error;                                                     // why it is corrupt
};

class config_cache {
public:
    explicit config_cache(std::filesystem::path prefix);

    cache_load_result load(std::size_t max_size) const;
    result<void, std::string> store(const protocol::config_snapshot& snapshot) const;

    std::filesystem::path manifest_path() const { return prefix_ / "cache.json"; }

private:
    std::filesystem::path prefix_;
};

} // namespace lifeboat::agent
