#include "agent/backup_inspection.hpp"

#include "agent/backup_crypto.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace lifeboat::agent {

namespace asio = boost::asio;

std::string backup_inspection::describe(wall_clock::time_point now) const {
    std::string out = fmt::format("{} bytes, sha256 {}", size, sha256_hex);
    if (encrypted)
        out += fmt::format(", age-encrypted to {} recipient{} ({}), {}", recipient_stanzas.size(),
                           recipient_stanzas.size() == 1 ? "" : "s", fmt::join(recipient_stanzas, ", "),
                           decryption_refused ? "not decrypted" : "decrypted with this node's identity");
    if (!manifest)
        return out + (signature_found ? ", signature unreadable" : ", no signature");
    const auto& m = *manifest;
    const auto at = wall_clock::time_point(std::chrono::seconds(m.signed_at));
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - at).count();
    return fmt::format("{}, signed by key {} at {} ({} s ago), term {}, config hash {}{}", out, m.key_id,
                       format_iso8601(at), age, m.term, m.config_hash.empty() ? "(none)" : m.config_hash,
                       m.encrypted ? ", encrypted" : "");
}

asio::awaitable<backup_inspection> inspect_backup(backends::object_store& store,
                                                  const std::string& config_key, const trust_policy& policy,
                                                  std::uint64_t max_size,
                                                  std::optional<backends::object_sink> keep) {
    backup_inspection out;
    backup_verifier verifier(policy);
    backends::object_sink sink =
        keep ? std::move(*keep)
             : backends::object_sink{
                   [](std::optional<std::uint64_t>) {},
                   [](std::string_view) -> std::optional<std::string> { return std::nullopt; }};
    // As the importer: hashed as stored, then decrypted with this node's identity.
    backup_decryption decryption(policy.identities);
    auto decrypting = decryption.wrap(std::move(sink));
    // A backup that cannot be decrypted is still read to its end, to be hashed and described.
    backends::object_sink reading{std::move(decrypting.start),
                                  [&decryption, write = std::move(decrypting.write)](
                                      std::string_view bytes) -> std::optional<std::string> {
                                      auto e = write(bytes);
                                      return decryption.failure() ? std::nullopt : e;
                                  }};
    auto got = co_await store.get_streamed(config_key, max_size, verifier.wrap(std::move(reading)));
    out.encrypted = decryption.encrypted();
    out.recipient_stanzas = decryption.stanza_types();
    if (!got) {
        out.read_error = got.error();
        co_return out;
    }
    out.info = *got;
    // The verifier's decision when there are keys to judge with; the signature object's content
    // (unverified, and said so) when there are none.
    auto verdict = co_await verifier.check(store, config_key, *got);
    out.sha256_hex = verdict.sha256_hex;
    out.size = verdict.size;
    out.error = verdict.error;
    out.signature_found = verdict.signature.has_value();
    if (verdict.signature) {
        if (auto parsed = backends::parse_signature_object(*verdict.signature))
            out.manifest = parsed->manifest;
    }
    if (policy.enabled()) {
        if (verdict.accepted) {
            out.verified = true;
            out.manifest = verdict.accepted;
        }
        out.refused = verdict.refused;
    }
    std::optional<std::string> downstream_error;
    out.decryption_refused = decryption.finish(downstream_error);
    out.recipient_stanzas = decryption.stanza_types();
    co_return out;
}

result<trust_policy, std::string> trust_policy_of(const settings& s) {
    trust_policy p;
    p.max_age = s.cluster_fallback_config_max_age;
    p.node_version = s.node_version;
    if (!s.cluster_fallback_config_trusted_keys.empty()) {
        auto keys = load_trusted_keys(s.cluster_fallback_config_trusted_keys);
        if (!keys)
            return failure{"cluster_fallback_config_trusted_keys: " + keys.error()};
        p.trusted_keys = std::move(keys).value();
    }
    if (!s.cluster_fallback_config_decryption_identity.empty()) {
        auto ids = load_decryption_identity(s.cluster_fallback_config_decryption_identity);
        if (!ids)
            return failure{"cluster_fallback_config_decryption_identity: " + ids.error()};
        p.identities = std::move(ids).value();
    }
    return p;
}

} // namespace lifeboat::agent
