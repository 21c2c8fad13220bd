// The importer's side of trusted backups (I/O around the decisions in backup_trust.hpp): it
// hashes and measures the object while it streams into the pipeline, then fetches the signature
// object of exactly those bytes and decides, before incoming_config is committed.
#pragma once

#include "agent/backup_trust.hpp"
#include "backends/object_store.hpp"
#include "base/digest.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string>

namespace lifeboat::agent {

struct verification_outcome {
    std::optional<backends::backup_manifest> accepted; // verified
    std::optional<refusal> refused;                    // the backup must not be applied
    std::string error;                                 // the signature could not be read (retry)
    std::string sha256_hex;                            // of the bytes received
    std::uint64_t size = 0;
    std::optional<std::string> signature; // the signature object of those bytes
};

class backup_verifier {
public:
    explicit backup_verifier(trust_policy policy) : policy_(std::move(policy)) {}

    bool enabled() const { return policy_.enabled(); }
    const trust_policy& policy() const { return policy_; }
    // The version folder the next backup is read from (version skew): its manifest must name it.
    void set_node_version(std::string version) { policy_.node_version = std::move(version); }
    // SIGHUP: new trusted keys and identities for the next backup read (verification stays on).
    void replace_keys(std::vector<ed25519::public_key> trusted_keys,
                      std::vector<crypto::age_identity> identities) {
        policy_.trusted_keys = std::move(trusted_keys);
        policy_.identities = std::move(identities);
    }

    // `inner` wrapped: every byte is hashed and counted on its way. With verification on, a
    // piece the inner sink refuses (invalid JSON) does not stop the read: the rest is still
    // hashed, so that an altered backup is refused for what it is (its signature) first.
    backends::object_sink wrap(backends::object_sink inner);
    // What the inner sink refused, if it did (only with verification on).
    const std::optional<std::string>& inner_error() const { return state_->inner_error; }

    // While the object downloads: reads the signature object that the object's metadata names
    // (object_sha256, which a lifeboat exporter sets), so that check() need not wait for one more
    // request after the download. Only a guess, never trusted: check() takes it only when the
    // bytes received hash to that very name, and reads the signature object itself otherwise.
    boost::asio::awaitable<void> prefetch(backends::object_store& store, std::string config_key);

    // After a complete read: fetch the signature object and decide.
    boost::asio::awaitable<verification_outcome>
    check(backends::object_store& store, const std::string& config_key, const backends::object_info& info);

private:
    struct stream_state {
        digest hash{digest_kind::sha256};
        std::uint64_t size = 0;
        std::string head; // the first bytes, to recognise an age header
        std::optional<std::string> inner_error;
    };
    trust_policy policy_;
    std::shared_ptr<stream_state> state_ = std::make_shared<stream_state>();
    struct prefetched_signature {
        std::string key;                   // the signature object's key
        std::optional<std::string> object; // its bytes; nullopt: there was none
    };
    std::optional<prefetched_signature> prefetched_;
};

// The signature object at `key`: its bytes, nullopt when there is none, or an error line.
boost::asio::awaitable<result<std::optional<std::string>, std::string>>
read_signature_object(backends::object_store& store, std::string key);

} // namespace lifeboat::agent
