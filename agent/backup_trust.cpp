#include "agent/backup_trust.hpp"

#include "agent/backup_crypto.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace lifeboat::agent {

const char* to_string(refusal_reason r) {
    switch (r) {
    case refusal_reason::unsigned_backup:
        return "unsigned";
    case refusal_reason::malformed_signature:
        return "malformed_signature";
    case refusal_reason::unknown_key:
        return "unknown_key";
    case refusal_reason::bad_signature:
        return "bad_signature";
    case refusal_reason::size_mismatch:
        return "size_mismatch";
    case refusal_reason::content_mismatch:
        return "content_mismatch";
    case refusal_reason::wrong_version:
        return "wrong_version";
    case refusal_reason::too_old:
        return "too_old";
    case refusal_reason::signed_in_future:
        return "signed_in_future";
    case refusal_reason::encryption_mismatch:
        return "encryption_mismatch";
    case refusal_reason::no_identity:
        return "no_identity";
    case refusal_reason::not_a_recipient:
        return "not_a_recipient";
    case refusal_reason::decryption_failed:
        return "decryption_failed";
    }
    return "unknown";
}

namespace {

failure<refusal> refuse(refusal_reason r, std::string detail) {
    return failure{refusal{r, std::move(detail)}};
}

// Parses and verifies the signature of a signature object, without looking at the backup.
result<backends::signature_object, refusal> authentic(const trust_policy& policy, const std::string& bytes) {
    auto parsed = backends::parse_signature_object(bytes);
    if (!parsed)
        return refuse(refusal_reason::malformed_signature, parsed.error());
    const auto& id = parsed->manifest.key_id;
    auto key = std::find_if(policy.trusted_keys.begin(), policy.trusted_keys.end(),
                            [&](const ed25519::public_key& k) { return k.id() == id; });
    if (key == policy.trusted_keys.end())
        return refuse(
            refusal_reason::unknown_key,
            fmt::format("signed by key {}, which is not in cluster_fallback_config_trusted_keys", id));
    if (!key->verify(parsed->signed_line, parsed->signature))
        return refuse(refusal_reason::bad_signature,
                      fmt::format("the signature does not verify with key {}", id));
    return std::move(parsed).value();
}

} // namespace

std::optional<refusal> check_freshness(std::int64_t signed_at, std::chrono::seconds max_age,
                                       wall_clock::time_point now) {
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    const auto age = now_s - signed_at;
    if (age < -allowed_clock_skew.count())
        return refusal{refusal_reason::signed_in_future,
                       fmt::format("signed {} s in the future (this node's clock allows {} s of skew)", -age,
                                   allowed_clock_skew.count())};
    if (max_age.count() > 0 && age > max_age.count())
        return refusal{refusal_reason::too_old,
                       fmt::format("signed {} s ago, more than cluster_fallback_config_max_age = {} s", age,
                                   max_age.count())};
    return std::nullopt;
}

result<backends::backup_manifest, refusal> check_backup(const trust_policy& policy,
                                                        const received_backup& got,
                                                        const std::optional<std::string>& signature,
                                                        const std::optional<std::string>& claimed,
                                                        wall_clock::time_point now) {
    if (!signature) {
        // No signature for these bytes. If the metadata points at a genuine signature, the
        // object changed after it was signed: say how.
        if (claimed) {
            auto other = authentic(policy, *claimed);
            if (other) {
                const auto& m = other->manifest;
                if (m.object_size != got.size)
                    return refuse(
                        refusal_reason::size_mismatch,
                        fmt::format("the object has {} bytes, the signed one {} (cut short or altered)",
                                    got.size, m.object_size));
                return refuse(refusal_reason::content_mismatch,
                              fmt::format("the object's SHA-256 {} is not the signed {}", got.sha256_hex,
                                          m.object_sha256));
            }
        }
        return refuse(refusal_reason::unsigned_backup,
                      fmt::format("no signature for these bytes (SHA-256 {}); written by an exporter "
                                  "without cluster_fallback_config_signing_key, or altered",
                                  got.sha256_hex));
    }
    auto sig = authentic(policy, *signature);
    if (!sig)
        return failure{sig.error()};
    const auto& m = sig->manifest;
    if (m.object_size != got.size)
        return refuse(refusal_reason::size_mismatch,
                      fmt::format("the object has {} bytes, the signed one {}", got.size, m.object_size));
    if (m.object_sha256 != got.sha256_hex)
        return refuse(
            refusal_reason::content_mismatch,
            fmt::format("the object's SHA-256 {} is not the signed {}", got.sha256_hex, m.object_sha256));
    if (m.node_version != policy.node_version)
        return refuse(refusal_reason::wrong_version,
                      fmt::format("the manifest names node_version {}, this node reads {}", m.node_version,
                                  policy.node_version));
    if (m.encrypted != got.encrypted)
        return refuse(refusal_reason::encryption_mismatch,
                      m.encrypted ? "the manifest says encrypted, the object is not"
                                  : "the object is encrypted, the manifest says plain");
    if (auto stale = check_freshness(m.signed_at, policy.max_age, now))
        return failure{*stale};
    return m;
}

result<std::vector<ed25519::public_key>, std::string>
load_trusted_keys(const std::vector<std::filesystem::path>& paths) {
    if (paths.empty())
        return failure{std::string("no key file given")};
    std::vector<ed25519::public_key> keys;
    for (const auto& p : paths) {
        auto k = ed25519::public_key::load(p);
        if (!k)
            return failure{k.error()};
        keys.push_back(std::move(k).value());
    }
    return keys;
}

std::chrono::steady_clock::duration resign_schedule::interval() const {
    const auto quarter = std::chrono::duration_cast<std::chrono::steady_clock::duration>(max_age_) / 4;
    return std::clamp<std::chrono::steady_clock::duration>(quarter, std::chrono::seconds(1),
                                                           std::chrono::hours(1));
}

bool resign_schedule::due(std::chrono::steady_clock::time_point now, bool leader,
                          bool control_plane_up) const {
    return enabled() && leader && control_plane_up && last_ && now >= *last_ + interval();
}

std::chrono::steady_clock::time_point resign_schedule::next(bool leader, bool control_plane_up) const {
    if (!enabled() || !leader || !control_plane_up || !last_)
        return std::chrono::steady_clock::time_point::max();
    return *last_ + interval();
}

std::optional<key_problem> backup_key_problem(const settings& s, bool trusted_keys_set) {
    if (!s.cluster_fallback_config_signing_key.empty()) {
        if (auto k = ed25519::private_key::load(s.cluster_fallback_config_signing_key); !k)
            return key_problem{"cluster_fallback_config_signing_key",
                               "a readable PEM Ed25519 private key (" + k.error() + ")"};
    }
    if (trusted_keys_set) {
        if (s.cluster_fallback_config_trusted_keys.empty())
            return key_problem{"cluster_fallback_config_trusted_keys",
                               "one or more PEM Ed25519 public key files (it is set, but lists none)"};
        if (auto k = load_trusted_keys(s.cluster_fallback_config_trusted_keys); !k)
            return key_problem{"cluster_fallback_config_trusted_keys",
                               "readable PEM Ed25519 public keys (" + k.error() + ")"};
    }
    if (!s.cluster_fallback_config_decryption_identity.empty()) {
        if (auto ids = load_decryption_identity(s.cluster_fallback_config_decryption_identity); !ids)
            return key_problem{"cluster_fallback_config_decryption_identity",
                               "a readable age identity file (" + ids.error() + ")"};
    }
    return std::nullopt;
}

} // namespace lifeboat::agent
