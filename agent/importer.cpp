#include "agent/importer.hpp"

#include "agent/backup_crypto.hpp"
#include "backends/layout.hpp"
#include "base/log.hpp"
#include "election/fenced_write.hpp"
#include "protocol/envelope.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <optional>
#include <string_view>

namespace lifeboat::agent {

namespace asio = boost::asio;

namespace {

// After the read (and, with trusted keys, an accepted signature): what decryption says. A read
// that failed is judged only when decryption stopped it; the last chunk goes downstream only
// after a complete read.
std::optional<refusal> decryption_verdict(backup_decryption& decryption, bool read_complete,
                                          std::optional<std::string>& downstream_error) {
    if (decryption.failure())
        return decryption.failure();
    if (!read_complete)
        return std::nullopt;
    return decryption.finish(downstream_error);
}

} // namespace

importer::importer(asio::any_io_executor executor, backends::object_store& store, std::string key,
                   std::size_t max_config_size, config_pipeline& pipeline, import_status& status,
                   trust_policy trust)
    : store_(store)
    , key_(std::move(key))
    , max_config_size_(max_config_size)
    , pipeline_(pipeline)
    , status_(status)
    , verifier_(std::move(trust))
    , wakeup_(executor) {
    status_.verification = verifier_.enabled();
    if (verifier_.enabled() || !verifier_.policy().identities.empty())
        for (std::size_t r = 0; r < refusal_reason_count; ++r)
            status_.refusals[to_string(static_cast<refusal_reason>(r))] = 0;
}

void importer::allow_versions(std::string prefix, std::string own_version, version_skew skew) {
    prefix_ = std::move(prefix);
    own_version_ = std::move(own_version);
    skew_ = skew;
    status_.versions = to_string(skew);
}

namespace {

std::vector<std::string> keys_of(const std::vector<backends::object_info>& listed) {
    std::vector<std::string> keys;
    keys.reserve(listed.size());
    for (const auto& o : listed)
        keys.push_back(o.key);
    return keys;
}

std::string join_versions(const std::vector<std::string>& versions) {
    std::string out;
    for (const auto& v : versions)
        out += (out.empty() ? "" : ", ") + v;
    return out;
}

} // namespace

asio::awaitable<importer::attempt_target> importer::pick_target() {
    attempt_target own;
    own.key = key_;
    own.version = own_version_;
    if (skew_ == version_skew::exact)
        co_return own;
    // A named local, not a temporary in the co_await: GCC 12 destroys those twice.
    std::string folder = prefix_.empty() ? std::string() : backends::join_key(prefix_, "");
    auto listed = co_await store_.list(std::move(folder));
    if (!listed) {
        // A store that refuses listing (no s3:ListBucket) still serves the own version's backup.
        if (!list_warned_)
            log::warn("cannot list the backups for version skew; reading this node's own version only",
                      "error", listed.error().to_string(), "cluster_fallback_config_import_versions",
                      to_string(skew_));
        list_warned_ = true;
        co_return own;
    }
    const auto keys = keys_of(*listed);
    if (auto choice = choose_backup(prefix_, own_version_, skew_, keys)) {
        own.key = std::move(choice->key);
        own.version = std::move(choice->version);
    }
    co_return own;
}

asio::awaitable<std::string> importer::explain_missing(const std::string& key) {
    // A named local, not a temporary in the co_await: GCC 12 destroys those twice.
    std::string folder = prefix_.empty() ? std::string() : backends::join_key(prefix_, "");
    auto listed = co_await store_.list(std::move(folder));
    const auto found = listed ? backup_versions_in(prefix_, keys_of(*listed)) : std::vector<std::string>{};
    if (skew_ == version_skew::exact) {
        if (found.empty())
            co_return "no backup at " + key + " (has an exporter with this node_version run yet?)";
        co_return "no backup at " + key + ": cluster_fallback_config_import_versions = exact takes only " +
            own_version_ + "; the bucket has backups for " + join_versions(found) +
            " (patch or minor would take a compatible one)";
    }
    co_return "no backup for node_version " + own_version_ + " or a version " + to_string(skew_) +
        " skew allows (cluster_fallback_config_import_versions = " + to_string(skew_) + ")" +
        (found.empty() ? std::string("; the bucket has none") : "; the bucket has " + join_versions(found));
}

void importer::control_plane_unreachable() {
    if (!go_) {
        go_ = true;
        wakeup_.wake();
    }
}

void importer::config_arrived() {
    wakeup_.wake();
}

asio::awaitable<void> importer::run() {
    status_.state = "waiting";
    while (!go_ && !pipeline_.has_config_beyond_local_file())
        co_await wakeup_.wait(std::chrono::hours(24));
    unsigned attempt = 0;
    while (!pipeline_.has_config_beyond_local_file()) {
        status_.state = "fetching";
        const auto target = co_await pick_target();
        const auto& key = target.key; // this attempt's: the own version's, or a compatible one's
        // A signed manifest names the version folder it was written for.
        if (!target.version.empty())
            verifier_.set_node_version(target.version);
        ++status_.attempts;
        status_.last_at = wall_clock::now();
        if (attempt == 0)
            log::info("control plane not reachable and no config: fetching the fallback config", "storage",
                      store_.describe(), "key", key);
        // The object streams into the pipeline: validated on the loop piece by piece, and written
        // to the cache's and the gateway's temporary files on the disk pool, while it downloads. Nothing is
        // visible before it is complete and valid; an invalid backup is refused at its first bad byte.
        auto incoming = pipeline_.receive();
        // An age-encrypted backup is decrypted between the verifier (which hashes the stored
        // bytes) and the pipeline: only authenticated plaintext reaches the staged files.
        backup_decryption decryption(verifier_.policy().identities);
        backends::object_sink sink =
            decryption.wrap({[&in = *incoming](std::optional<std::uint64_t> size) { in.start(size); },
                             [&in = *incoming](std::string_view bytes) { return in.write(bytes); }});
        // Hashed on the way only when verifying (SHA-256 costs a share of the download).
        if (verifier_.enabled())
            sink = verifier_.wrap(std::move(sink));
        // The pieces are written to the staged files on the disk pool; the store reads on only
        // while fewer than a few MiB of them wait (memory stays bounded, the loop stays free).
        sink.ready = [&in = *incoming] { return in.ready(); };
        // With trusted keys, the signature object is read while the backup downloads.
        auto download = [&]() -> asio::awaitable<backends::store_result<backends::object_info>> {
            co_return co_await store_.get_streamed(key, max_config_size_, std::move(sink));
        };
        backends::store_result<backends::object_info> got = backends::object_info{};
        if (verifier_.enabled()) {
            using namespace asio::experimental::awaitable_operators;
            got = co_await (download() && verifier_.prefetch(store_, key));
        } else {
            got = co_await download();
        }
        // With trusted keys, the signature is checked before anything else is decided: before
        // finish() and before apply_incoming() commits the staged cache and gateway files.
        std::optional<refusal> refused;
        std::string verify_error;
        std::string signed_config_hash;
        if (got && verifier_.enabled() && !pipeline_.has_config_beyond_local_file()) {
            auto verdict = co_await verifier_.check(store_, key, *got);
            if (verdict.refused)
                refused = std::move(verdict.refused);
            else if (!verdict.error.empty())
                verify_error = std::move(verdict.error);
            else {
                signed_config_hash = verdict.accepted->config_hash;
                status_.signed_by = verdict.accepted->key_id;
                status_.signed_at = wall_clock::time_point(std::chrono::seconds(verdict.accepted->signed_at));
            }
        }
        std::optional<std::string> last_chunk_error;
        // With trusted keys, decryption is judged only for a read the signature covered.
        if (!refused && verify_error.empty() && (got || !verifier_.enabled()))
            refused = decryption_verdict(decryption, got.ok(), last_chunk_error);
        if (pipeline_.has_config_beyond_local_file())
            break; // the CP answered meanwhile: its config wins
        std::string error;
        const auto invalid = [&](const std::string& why) {
            return "the backup at " + key + " is invalid: " + why;
        };
        if (refused) {
            const auto reason = to_string(refused->reason);
            error = "the backup at " + key + " is refused (" + reason + "): " + refused->detail;
            status_.last_refusal = import_refusal{reason, refused->detail, wall_clock::now()};
            ++status_.refusals[reason];
            log::error("fallback backup refused", "reason", reason, "key", key, "detail", refused->detail);
        } else if (!verify_error.empty()) {
            error = verify_error;
        } else if (got && verifier_.inner_error()) {
            error = invalid(*verifier_.inner_error());
        } else if (got && last_chunk_error) {
            error = invalid(*last_chunk_error);
        } else if (!got) {
            if (!incoming->invalid_reason().empty())
                error = invalid(incoming->invalid_reason());
            else if (got.error().code == backends::store_errc::not_found)
                error = co_await explain_missing(key);
            else
                error = got.error().to_string();
        } else if (auto finished = incoming->finish(); !finished) {
            error = invalid(finished.error());
        } else {
            // An object a lifeboat exporter wrote carries the hash it uploaded (fenced_write's
            // metadata): take it as the config's identity instead of computing Kong's hash over
            // the whole config, which costs more than the download (bench/pipeline). The JSON is
            // validated in full either way. A wrong hash would only make the CP push its own config.
            protocol::config_hashes known;
            const protocol::config_hashes* hashes = nullptr;
            if (verifier_.enabled()) {
                // Verified: the signed manifest names the hash, not the (unsigned) metadata.
                if (protocol::is_config_hash(signed_config_hash)) {
                    known.config = signed_config_hash;
                    hashes = &known;
                }
            } else if (auto it = got->metadata.find(election::metadata::config_hash);
                       it != got->metadata.end() && protocol::is_config_hash(it->second)) {
                known.config = it->second;
                hashes = &known;
            }
            const bool delivered = co_await pipeline_.apply_incoming(std::move(incoming), hashes);
            const auto current = pipeline_.current();
            if (current && current->source == protocol::config_source::fallback) {
                status_.state = "imported";
                status_.last_error.clear();
                if (got->last_modified != wall_clock::time_point{})
                    status_.backup_written_at = got->last_modified;
                status_.version = target.version;
                status_.key = key;
                log::info("fallback config applied", "hash", current->hash, "bytes", current->size(),
                          "handed_to_gateway", delivered, "version", target.version, "key", key,
                          "node_version", own_version_);
            }
            if (pipeline_.has_config_beyond_local_file())
                break; // the node has a config: the backup's, or the CP's that came first
            error = "the backup at " + key + " could not be applied (see the log)";
        }
        incoming.reset(); // its temporary files go now, not after the back-off
        status_.last_error = error;
        const auto delay = backoff_.delay(attempt++, jitter_);
        log::warn("fallback import failed; retrying", "error", error, "attempt", status_.attempts,
                  "retry_in_ms", std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
        co_await wakeup_.wait(delay);
    }
    if (status_.state != "imported")
        status_.state = "not_needed";
    // Done for the life of the process: the storage is not read again.
    for (;;)
        co_await wakeup_.wait(std::chrono::hours(24));
}

} // namespace lifeboat::agent
