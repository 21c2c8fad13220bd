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
//
// A config that arrives in pieces (a streamed import) is written into a cache_stage as it
// arrives; commit() then does what store() does, with the config file already on disk.
#pragma once

#include "base/atomic_file.hpp"
#include "base/result.hpp"
#include "protocol/config_snapshot.hpp"

#include <filesystem>
#include <string>
#include <string_view>

namespace lifeboat::agent {

enum class cache_load_status { loaded, empty, corrupt };

struct cache_load_result {
    cache_load_status status = cache_load_status::empty;
    protocol::snapshot_ptr snapshot;                                       // source `cache`; set when loaded
    protocol::config_source stored_source = protocol::config_source::none; // where it first came from
    std::string error;                                                     // why it is corrupt
};

// The config file of a cache entry while its config still arrives: a temporary file in the
// prefix, with write-behind so that the commit's fsync finds little left. Not visible to load()
// before commit(); dropped, it leaves nothing.
class cache_stage {
public:
    // Starts (again) from an empty file.
    void restart() { file_.restart(); }
    void write(std::string_view bytes) { file_.write(bytes); }
    // Why the file could not be written; commit() then writes the snapshot's bytes instead.
    const std::string& error() const { return file_.error(); }

private:
    friend class config_cache;
    // The entry's name needs the config's hash, known once all of it is in: commit() renames.
    explicit cache_stage(const std::filesystem::path& prefix)
        : file_(prefix / "config-incoming.json", 0600) {}

    staged_file file_;
};

class config_cache {
public:
    explicit config_cache(std::filesystem::path prefix);

    cache_load_result load(std::size_t max_size) const;
    // `sha256_hex`, when given, receives the config's SHA-256 that the manifest records (a
    // signing exporter names it in its manifest instead of hashing the config again).
    result<void, std::string> store(const protocol::config_snapshot& snapshot,
                                    std::string* sha256_hex = nullptr) const;

    // A config file written piece by piece; commit() makes it the cache entry of `snapshot`,
    // exactly as store(snapshot) would. `written` is what the stage was given, in memory: the
    // manifest's SHA-256 is computed over it then, not while the pieces arrive, so that a config
    // handed to the gateway before it is cached (Kong's object) does not wait for it.
    cache_stage stage() const;
    result<void, std::string> commit(cache_stage& stage, const protocol::config_snapshot& snapshot,
                                     std::string_view written, std::string* sha256_hex = nullptr) const;

    std::filesystem::path manifest_path() const { return prefix_ / "cache.json"; }

private:
    std::filesystem::path prefix_;
};

} // namespace lifeboat::agent
