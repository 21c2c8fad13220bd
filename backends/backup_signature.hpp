// The signature that travels with a backup: a small object next to config.json, named by the
// SHA-256 of the backup's bytes, holding a one-line JSON manifest and its Ed25519 signature:
//
//   <prefix>/<version>/signatures/<sha256 of config.json's bytes>.sig
//     {"format":"lifeboat-backup-signature/1","node_version":...,"config_hash":...,...}\n
//     <base64 of the Ed25519 signature over the first line, its "\n" included>\n
//
// Why this shape:
// - config.json stays byte for byte what Kong's exporter writes (Kong importers keep working).
// - S3 cannot write two objects at once. The exporter writes the signature object first, then
//   config.json. A reader hashes the config.json it read and fetches the signature object of
//   exactly those bytes, so it never pairs a config with another config's signature, whatever
//   point an exporter was killed at: before config.json is replaced, the old config's own
//   signature object is still there.
// - Re-signing for freshness rewrites only this small object (one PUT, no copy of the config).
// - A standard tool checks it: the first line is the signed message (`head -n1`), the second the
//   signature (`tail -n1 | base64 -d`), for `openssl pkeyutl -verify -rawin` (docs/security.md).
#pragma once

#include "base/ed25519.hpp"
#include "base/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace lifeboat::backends {

inline constexpr std::string_view signature_format = "lifeboat-backup-signature/1";
inline constexpr std::size_t max_signature_object_size = 4096;

// Object metadata an exporter puts on config.json: which bytes it signed. Not trusted (anyone
// who can write the bucket can set it); a reader uses it only to tell a damaged or cut-short
// backup from an unsigned one, and to name the reason.
namespace signature_metadata {
inline constexpr const char* object_sha256 = "lifeboat-object-sha256";
} // namespace signature_metadata

struct backup_manifest {
    std::string node_version;  // the version folder the backup belongs to
    std::string config_hash;   // Kong's config hash (32 hex), empty when unknown
    std::string object_sha256; // of the object's bytes as stored (the ciphertext when encrypted)
    std::uint64_t object_size = 0;
    bool encrypted = false;     // the object is age-encrypted
    double cp_timestamp = 0;    // the CP's envelope timestamp
    std::int64_t signed_at = 0; // unix seconds
    std::string key_id;         // ed25519::public_key::id() of the signer
    std::uint64_t term = 0;     // the exporter's election term
};

// `t`, or the nearest value to it that prints and reads back unchanged; make_signature_object()
// signs only such timestamps, and decode_manifest() returns only them, so that a decoded
// manifest encodes to a line that decodes to the same manifest.
double canonical_timestamp(double t);

// The manifest as its one signed line (no newline): fixed field order, no spaces.
std::string encode_manifest(const backup_manifest& m);
result<backup_manifest, std::string> decode_manifest(std::string_view line);

// `<dir of config_key>/signatures/<object_sha256>.sig`.
std::string signature_key(std::string_view config_key, std::string_view object_sha256);

// Signs `m` (its key_id is set from the key) and returns the signature object's bytes.
std::string make_signature_object(backup_manifest m, const ed25519::private_key& key);

struct signature_object {
    std::string signed_line; // the first line with its "\n": the bytes the signature covers
    std::string signature;   // 64 raw bytes
    backup_manifest manifest;
};
// Parses (does not verify) a signature object; the error says what is malformed.
result<signature_object, std::string> parse_signature_object(std::string_view bytes);

} // namespace lifeboat::backends
