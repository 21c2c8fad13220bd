// What `lifeboat fetch` and `lifeboat doctor` say about the bucket's backup and its signature,
// with this node's keys: read it (streamed, hashed as it comes), find its signature object and
// check it as an importer would. The same decisions as the importer (backup_trust.hpp).
#pragma once

#include "agent/backup_verifier.hpp"
#include "agent/config.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <string>

namespace lifeboat::agent {

struct backup_inspection {
    std::optional<backends::store_error> read_error; // the backup could not be read
    backends::object_info info;
    std::string sha256_hex;
    std::uint64_t size = 0;
    bool signature_found = false;                      // a signature object for these bytes exists
    std::optional<backends::backup_manifest> manifest; // parsed (verified only when `verified`)
    bool verified = false;                             // checked against trusted keys and accepted
    std::optional<refusal> refused;                    // checked and refused
    std::string error;                                 // the signature object could not be read
    bool encrypted = false;                            // an age file
    std::vector<std::string> recipient_stanzas;        // its header's stanza types
    std::optional<refusal> decryption_refused;         // could not be decrypted with this node's identity

    // "signed by key 3f0c... at 2026-12-05T21:00:00Z (42 s ago), term 3, 1234 bytes, sha256 ..."
    std::string describe(wall_clock::time_point now) const;
};

// `keep`: receives the object's bytes (nullopt: they are only hashed). The policy decides
// verification: with no trusted keys, the signature is only described, not judged.
boost::asio::awaitable<backup_inspection> inspect_backup(backends::object_store& store,
                                                         const std::string& config_key,
                                                         const trust_policy& policy, std::uint64_t max_size,
                                                         std::optional<backends::object_sink> keep);

// The policy of `s`: trusted keys loaded, max_age, node_version. An error names the key at fault.
result<trust_policy, std::string> trust_policy_of(const settings& s);

} // namespace lifeboat::agent
