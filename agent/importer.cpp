#include "agent/importer.hpp"

#include "agent/backup_crypto.hpp"
#include "base/log.hpp"
#include "election/fenced_write.hpp"
#include "protocol/envelope.hpp"

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
        ++status_.attempts;
        status_.last_at = wall_clock::now();
        if (attempt == 0)
            log::info("control plane not reachable and no config: fetching the fallback config", "storage",
                      store_.describe(), "key", key_);
        // The object streams into the pipeline: validated, and written to the cache's and the
        // gateway's temporary files, while it downloads. Nothing is visible before it is complete
        // and valid; an invalid backup is refused at its first bad byte.
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
        auto got = co_await store_.get_streamed(key_, max_config_size_, std::move(sink));
        // With trusted keys, the signature is checked before anything else is decided: before
        // finish() and before apply_incoming() commits the staged cache and gateway files.
        std::optional<refusal> refused;
        std::string verify_error;
        std::string signed_config_hash;
        if (got && verifier_.enabled() && !pipeline_.has_config_beyond_local_file()) {
            auto verdict = co_await verifier_.check(store_, key_, *got);
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
            return "the backup at " + key_ + " is invalid: " + why;
        };
        if (refused) {
            const auto reason = to_string(refused->reason);
            error = "the backup at " + key_ + " is refused (" + reason + "): " + refused->detail;
            status_.last_refusal = import_refusal{reason, refused->detail, wall_clock::now()};
            ++status_.refusals[reason];
            log::error("fallback backup refused", "reason", reason, "key", key_, "detail", refused->detail);
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
                error = "no backup at " + key_ + " (has an exporter with this node_version run yet?)";
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
                log::info("fallback config applied", "hash", current->hash, "bytes", current->size(),
                          "handed_to_gateway", delivered);
            }
            if (pipeline_.has_config_beyond_local_file())
                break; // the node has a config: the backup's, or the CP's that came first
            error = "the backup at " + key_ + " could not be applied (see the log)";
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
