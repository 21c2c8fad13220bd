// The exporter's side of trusted backups: the signature object for an upload (written before
// config.json, see backends/backup_signature.hpp), its re-signing for freshness, and the guard
// that keeps an empty config from replacing a backup that has services, routes or plugins.
#pragma once

#include "backends/backup_signature.hpp"
#include "backends/object_store.hpp"
#include "base/ed25519.hpp"
#include "protocol/config_snapshot.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>

namespace lifeboat::agent {

// Object metadata an exporter sets on an empty config, so that the next exporter may replace it
// without cluster_fallback_config_export_empty (an object without it is taken as non-empty: a
// Kong exporter's, or an older lifeboat's).
inline constexpr const char* empty_config_metadata = "lifeboat-empty-config";

// A config with no services, routes or plugins (Kong/kong#12861: a CP with pending migrations
// pushes one). Decided from Kong's per-section hashes when the CP sent them, from the JSON
// otherwise.
bool is_empty_config(const protocol::config_snapshot& snapshot);

class backup_signer {
public:
    backup_signer(ed25519::private_key key, std::string node_version)
        : key_(std::move(key))
        , node_version_(std::move(node_version)) {}

    const std::string& key_id() const { return key_.public_part().id(); }
    const std::string& node_version() const { return node_version_; }

    // The manifest of `bytes` (hashed here), not yet signed.
    backends::backup_manifest describe(std::string_view bytes, const protocol::config_snapshot& snapshot,
                                       std::uint64_t term) const;
    // The manifest of an object already hashed (an encrypted one, written to a file).
    backends::backup_manifest describe(std::string object_sha256, std::uint64_t object_size, bool encrypted,
                                       const protocol::config_snapshot& snapshot, std::uint64_t term) const;
    // Signs `m` at `now` and writes its signature object next to `config_key`.
    boost::asio::awaitable<backends::store_result<backends::object_info>>
    write(backends::object_store& store, const std::string& config_key, backends::backup_manifest& m,
          wall_clock::time_point now, const std::map<std::string, std::string>& s3_fields) const;

private:
    ed25519::private_key key_;
    std::string node_version_;
};

} // namespace lifeboat::agent
