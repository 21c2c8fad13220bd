// Whether a backup read from the bucket may be applied: the decisions, without I/O. The importer
// hashes the object while it streams in, fetches the signature object of those bytes and asks
// check_backup() before anything is committed to the cache or handed to the gateway. Every
// refusal has a reason (an enum for status and metrics) and one line for the log.
//
// Also here: the freshness rules shared by importers (refuse a signature older than max_age) and
// the leading exporter (re-sign often enough that a live fleet never trips that limit).
#pragma once

#include "agent/config.hpp"
#include "backends/backup_signature.hpp"
#include "base/ed25519.hpp"
#include "base/result.hpp"
#include "base/time_format.hpp"
#include "crypto/age.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lifeboat::agent {

enum class refusal_reason {
    unsigned_backup,     // no signature object for these bytes
    malformed_signature, // a signature object that does not parse
    unknown_key,         // signed by a key not in cluster_fallback_config_trusted_keys
    bad_signature,       // the signature does not verify
    size_mismatch,       // the object's length is not the signed one (cut short, or grown)
    content_mismatch,    // the object's bytes are not the signed ones
    wrong_version,       // the manifest names another node_version
    too_old,             // signed longer ago than cluster_fallback_config_max_age
    signed_in_future,    // signed_at ahead of this node's clock by more than the allowed skew
    encryption_mismatch, // encrypted when the manifest says plain, or the other way round
    no_identity,         // age-encrypted, and cluster_fallback_config_decryption_identity is not set
    not_a_recipient,     // age-encrypted for other recipients than this node's identity
    decryption_failed,   // the age file is damaged, cut short or forged (header MAC, a chunk's tag)
};
inline constexpr std::size_t refusal_reason_count = 13;
const char* to_string(refusal_reason r); // "unsigned", "too_old", ... (metric labels)

struct refusal {
    refusal_reason reason;
    std::string detail; // one line, for the log and /status
};

// A clock difference between exporter and importer tolerated for signed_at in the future.
inline constexpr std::chrono::seconds allowed_clock_skew{300};

struct trust_policy {
    std::vector<ed25519::public_key> trusted_keys; // empty: verification off
    std::chrono::seconds max_age{0};               // 0: no limit
    std::string node_version;                      // the version folder this node reads
    // cluster_fallback_config_decryption_identity (empty: an encrypted backup is refused). Not part
    // of verification: a backup is verified over its encrypted bytes, then decrypted.
    std::vector<crypto::age_identity> identities;

    bool enabled() const { return !trusted_keys.empty(); }
};

// What the importer measured of the object it received.
struct received_backup {
    std::string sha256_hex;
    std::uint64_t size = 0;
    bool encrypted = false; // starts with the age header
};

// Decides on one backup. `signature` is the signature object found for the received bytes
// (nullopt when there is none). `claimed` is the signature object of the bytes the object's
// metadata claims (only when it differs from the received hash): when it verifies, the object
// was damaged or cut short after signing, which names the reason better than "unsigned".
result<backends::backup_manifest, refusal> check_backup(const trust_policy& policy,
                                                        const received_backup& got,
                                                        const std::optional<std::string>& signature,
                                                        const std::optional<std::string>& claimed,
                                                        wall_clock::time_point now);

// Freshness alone: nullopt when `signed_at` is acceptable at `now`.
std::optional<refusal> check_freshness(std::int64_t signed_at, std::chrono::seconds max_age,
                                       wall_clock::time_point now);

// Loads cluster_fallback_config_trusted_keys; a set but empty list, an unreadable file or a key
// that is not Ed25519 is an error (never "verification off").
result<std::vector<ed25519::public_key>, std::string>
load_trusted_keys(const std::vector<std::filesystem::path>& paths);

struct key_problem {
    std::string key;      // the configuration key at fault
    std::string expected; // what it should have been
};
// Loads the signing key and the trusted keys named by `s` and says what is wrong, if anything.
// `trusted_keys_set`: the key was given (a given but empty list is an error).
std::optional<key_problem> backup_key_problem(const settings& s, bool trusted_keys_set);

// When the leading exporter re-signs the backup it holds. A signature made at t is accepted
// until t + max_age; re-signing every max_age / 4 (at least every second, at most every hour)
// leaves three missed rounds of margin for a slow store before a live fleet's backup goes stale.
class resign_schedule {
public:
    explicit resign_schedule(std::chrono::seconds max_age) : max_age_(max_age) {}

    std::chrono::steady_clock::duration interval() const;
    bool enabled() const { return max_age_.count() > 0; }

    // A signature was written at `now` (an upload or a re-sign).
    void signed_now(std::chrono::steady_clock::time_point now) { last_ = now; }
    // The bucket no longer holds what this node signed (superseded, lost the lead).
    void forget() { last_.reset(); }
    bool has_signed() const { return last_.has_value(); }

    // Whether to re-sign now: only while this node leads and its CP session is up (an exporter
    // cut off from its CP must not keep an old config looking fresh).
    bool due(std::chrono::steady_clock::time_point now, bool leader, bool control_plane_up) const;
    // When due() may next turn true (time_point::max() when it cannot).
    std::chrono::steady_clock::time_point next(bool leader, bool control_plane_up) const;

private:
    std::chrono::seconds max_age_;
    std::optional<std::chrono::steady_clock::time_point> last_;
};

} // namespace lifeboat::agent
