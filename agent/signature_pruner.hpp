// Superseded signature objects (docs/security.md): each signed export writes
// <prefix>/<version>/signatures/<sha256>.sig next to config.json, and nothing else ever removes
// the old ones. The leader prunes them, a bounded number per round, under three rules:
// - never the signature of the config.json in the bucket (named by its lifeboat-object-sha256
//   metadata; a config.json without it, Kong's own, stops the pruning: which signature is current
//   is then unknown);
// - never before config.json has been in place for `grace`: a reader that fetched the previous
//   config.json just before it was overwritten hashes it to the end and only then fetches its
//   signature object, which must still be there (every older config was replaced no later than
//   the current one was, so the current one's age covers them all);
// - never a signature written after config.json (a newer export in flight writes its signature
//   first).
// Times are the store's own LastModified and the store's clock (its last Date header), so a
// skewed local clock changes nothing.
#pragma once

#include "backends/object_store.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace lifeboat::agent {

// How long a replaced config's signature stays readable: longer than any reader takes to
// download a backup (a 200 MiB config over a slow link) before it asks for the signature.
inline constexpr std::chrono::seconds superseded_signature_grace{std::chrono::hours(1)};
// Deletions per round: pruning is housekeeping and never crowds out an export.
inline constexpr std::size_t signature_prune_batch = 32;

// The decision, sans I/O: which of `listing` (the objects under signatures/) may go, given
// config.json's `current` HEAD, at most `bound` of them. `more` says some were left for later.
struct prune_plan {
    std::vector<std::string> keys;
    bool more = false;
};
prune_plan plan_signature_pruning(const std::vector<backends::object_info>& listing,
                                  const backends::object_info& current, wall_clock::time_point now,
                                  std::chrono::seconds grace, std::size_t bound);

struct prune_outcome {
    std::size_t deleted = 0;
    bool more = false; // the bound was reached: run another round soon
    std::string error; // empty on success
};
// HEADs `config_key`, lists its signatures/ folder and deletes what plan_signature_pruning allows.
boost::asio::awaitable<prune_outcome> prune_superseded_signatures(backends::object_store& store,
                                                                  const std::string& config_key,
                                                                  std::chrono::seconds grace,
                                                                  std::size_t bound = signature_prune_batch);

} // namespace lifeboat::agent
