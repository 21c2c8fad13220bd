// The decisions of one fenced upload, without I/O: the protected write is itself conditional, so
// a leader that paused and lost its lease never overwrites what its successor wrote.
//
//   HEAD key
//     404                                  -> PUT with If-None-Match: * (create only)
//     its lifeboat-term > ours             -> not_leader (a newer leader wrote; step down)
//     its lifeboat-cp-timestamp > ours     -> superseded (the bucket is newer; never go back)
//     same timestamp and hash              -> unchanged
//     otherwise                            -> PUT with If-Match: <the ETag/generation just read>
//   PUT 412, 409, 404 or 5xx               -> HEAD again and decide again (a few times)
//
// Every upload carries its term, CP timestamp and hash as object metadata (and Kong's `uploader`),
// so the next writer, whoever it is, can decide. Where the store ignores conditions the same
// checks run but the PUT is plain (`conditional` false): Kong's guarantees, no better.
#pragma once

#include "backends/object_store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

namespace lifeboat::election {

namespace metadata {
inline constexpr const char* term = "lifeboat-term";
inline constexpr const char* cp_timestamp = "lifeboat-cp-timestamp";
inline constexpr const char* config_hash = "lifeboat-config-hash";
inline constexpr const char* uploader = "uploader"; // Kong's: the exporting node's id
} // namespace metadata

// Whose terms an upload is fenced by. A key in this node's own version folder carries its
// election's term and yields to a higher one. A key in another version's folder (the extra
// versions of cluster_fallback_config_export_versions) belongs to that version's election, whose
// terms mean nothing here: the upload carries term 0 and compares no terms (the lead is still
// checked before it, the write is still conditional and never replaces a newer CP timestamp).
enum class term_scope { own_election, other_version };

// Which config an upload holds, to order it against what the bucket has.
struct config_version {
    double cp_timestamp = 0; // the CP's envelope timestamp (seconds); 0: unknown, never replaces a known one
    std::string hash;        // the config hash, to recognise an identical upload
    // Upload even when the bucket holds this config: an encrypted upload's bytes differ every
    // time, and the signature this node writes is of the bytes it uploads, not of the bucket's.
    bool replace_identical = false;
};

enum class fenced_outcome {
    uploaded,   // written
    unchanged,  // the bucket already holds this config; nothing written
    not_leader, // this node does not lead (or a higher term was found): stop exporting
    superseded, // the bucket holds a newer config; nothing written
    error,      // the store failed; see `error` (retryable() says whether trying later may help)
};
const char* to_string(fenced_outcome o);

struct fenced_put_result {
    fenced_outcome outcome = fenced_outcome::error;
    std::uint64_t term = 0;        // the term this upload carried or would have carried
    std::uint64_t bucket_term = 0; // the term found on the object in the bucket
    bool conditional = false;      // the PUT was conditional (fencing enforced)
    std::string detail;            // one line for the log
    std::optional<backends::store_error> error;
    backends::object_info object; // what was written, for `uploaded`
};

namespace fw {
struct head {
    std::string key;
};
struct put {
    std::string key;
    backends::put_options options; // the caller's, plus condition and metadata
};
struct done {
    fenced_put_result result;
};
} // namespace fw

using fenced_action = std::variant<fw::head, fw::put, fw::done>;

class fenced_write {
public:
    // `options` is the caller's (content type, metadata, S3 fields); its condition is replaced.
    // `term` 0: term_scope::other_version (no term carried or compared).
    fenced_write(std::string key, backends::put_options options, std::uint64_t term, std::string node_id,
                 config_version version, bool conditional, unsigned max_attempts = 4);

    fenced_action start();
    fenced_action on_head(const backends::store_result<backends::object_info>& r);
    fenced_action on_put(const backends::store_result<backends::object_info>& r);

    // Ends the write (e.g. this node lost the lead between HEAD and PUT).
    fenced_action abandon(fenced_outcome outcome, std::string detail);

private:
    fenced_action done(fenced_outcome outcome, std::string detail);

    std::string key_;
    backends::put_options options_;
    std::uint64_t term_;
    config_version version_;
    bool conditional_;
    unsigned max_attempts_;
    unsigned attempts_ = 0;
    std::uint64_t bucket_term_ = 0;
};

} // namespace lifeboat::election
