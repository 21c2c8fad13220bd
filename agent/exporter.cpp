#include "agent/exporter.hpp"

#include "agent/signature_pruner.hpp"
#include "base/digest.hpp"
#include "base/log.hpp"
#include "base/offload.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <stdexcept>

namespace lifeboat::agent {

namespace asio = boost::asio;

exporter::exporter(asio::any_io_executor executor, const settings& s, std::string key, std::string node_id,
                   election::elector& elector, export_status& status, backends::object_store& store)
    : key_(std::move(key))
    , node_id_(std::move(node_id))
    , delay_(s.cluster_fallback_config_export_delay)
    , s3_fields_(s.cluster_fallback_export_s3_config)
    , elector_(elector)
    , status_(status)
    , store_(store)
    , resign_(s.cluster_fallback_config_max_age)
    , export_empty_(s.cluster_fallback_config_export_empty)
    , executor_(executor)
    , wakeup_(executor) {
    if (!s.cluster_fallback_config_signing_key.empty()) {
        // load_config() read this key already; failing here (the file went away) stops the start.
        auto key = ed25519::private_key::load(s.cluster_fallback_config_signing_key);
        if (!key)
            throw std::runtime_error("cluster_fallback_config_signing_key: " + key.error());
        signer_ = std::make_shared<const backup_signer>(std::move(key).value(), s.node_version);
        status_.signing = true;
        status_.signing_key_id = signer_->key_id();
    }
    auto encryption = backup_encryption::of(s);
    if (!encryption)
        throw std::runtime_error(encryption.error());
    if (*encryption)
        encryption_ = std::make_shared<const backup_encryption>(std::move(**encryption));
    status_.encryption_recipients = encryption_ ? encryption_->recipient_count() : 0;
    if (encryption_)
        encryption_->remove_leftovers();
}

struct exporter::prepared_pass {
    explicit prepared_pass(asio::any_io_executor executor) : finished(std::move(executor)) {}
    protocol::snapshot_ptr snapshot;
    std::shared_ptr<const backup_encryption> encryption; // null: signing only, the pass hashes
    bool done = false;
    bool wanted = true; // false: no export takes it; its file goes when the pass ends
    std::string sha256; // of the config (signing without encryption)
    std::optional<result<encrypted_object, std::string>> sealed;
    wakeup_timer finished;
};

namespace {

asio::awaitable<void> remove_scratch_file(std::filesystem::path path) {
    co_await offload([&] { backup_encryption::remove_scratch(path); });
}

} // namespace

exporter::~exporter() {
    if (prepared_)
        prepared_->wanted = false;
}

void exporter::prepare(const protocol::snapshot_ptr& snapshot) {
    if (snapshot->source != protocol::config_source::control_plane || !elector_.is_leader() ||
        (!encryption_ && !signer_))
        return;
    drop_prepared();
    auto p = std::make_shared<prepared_pass>(executor_);
    p->snapshot = snapshot;
    p->encryption = encryption_;
    prepared_ = p;
    // Parameters, not lambda captures: they live in the coroutine's frame.
    auto pass = [](std::shared_ptr<prepared_pass> state, std::shared_ptr<const std::string> bytes,
                   std::string tag) -> asio::awaitable<void> {
        try {
            if (state->encryption)
                state->sealed = co_await offload([&] { return state->encryption->seal(*bytes, tag); });
            else
                state->sha256 = co_await offload([&] { return sha256_hex(*bytes); });
        } catch (const std::exception& e) {
            if (state->encryption)
                state->sealed = failure(std::string(e.what()));
        }
        state->done = true;
        state->finished.wake();
        if (!state->wanted && state->sealed && *state->sealed) {
            auto path = (*state->sealed)->path;
            co_await remove_scratch_file(std::move(path));
        }
    };
    // Each sealed file has a name of its own: one being removed on the pool is never one that is
    // being written.
    auto bytes = snapshot->shared_config_json();
    auto tag = std::to_string(++seals_);
    asio::co_spawn(executor_, pass(p, std::move(bytes), std::move(tag)), asio::detached);
}

void exporter::drop_prepared() {
    auto p = std::exchange(prepared_, nullptr);
    if (!p)
        return;
    p->wanted = false;
    if (p->done && p->sealed && *p->sealed)
        asio::co_spawn(executor_, remove_scratch_file((*p->sealed)->path), asio::detached);
}

asio::awaitable<std::shared_ptr<exporter::prepared_pass>>
exporter::take_prepared(const protocol::snapshot_ptr& snap,
                        const std::shared_ptr<const backup_encryption>& encryption) {
    if (!prepared_ || prepared_->snapshot != snap)
        co_return nullptr;
    if (prepared_->encryption != encryption) { // sealed for the recipients before a SIGHUP
        drop_prepared();
        co_return nullptr;
    }
    auto p = std::exchange(prepared_, nullptr);
    while (!p->done)
        co_await p->finished.wait(std::chrono::hours(1));
    const bool ok = p->encryption ? p->sealed && p->sealed->ok() : !p->sha256.empty();
    if (!ok) // the export makes the pass itself, and reports its error if it fails again
        co_return nullptr;
    co_return p;
}

result<std::vector<std::string>, std::string> exporter::reload_keys(const settings& fresh) {
    std::vector<std::string> changed;
    auto signer = signer_;
    if (signer_ && !fresh.cluster_fallback_config_signing_key.empty()) {
        auto key = ed25519::private_key::load(fresh.cluster_fallback_config_signing_key);
        if (!key)
            return failure("cluster_fallback_config_signing_key: " + key.error());
        if (key->public_part().id() != signer_->key_id()) {
            signer = std::make_shared<const backup_signer>(std::move(key).value(), signer_->node_version());
            changed.emplace_back("cluster_fallback_config_signing_key");
        }
    }
    auto encryption = encryption_;
    if (encryption_ && !fresh.cluster_fallback_config_encryption_recipients.empty()) {
        auto e = backup_encryption::of(fresh);
        if (!e)
            return failure(e.error());
        if (*e && (*e)->recipient_list() != encryption_->recipient_list()) {
            encryption = std::make_shared<const backup_encryption>(std::move(**e));
            changed.emplace_back("cluster_fallback_config_encryption_recipients");
        }
    }
    signer_ = std::move(signer);
    encryption_ = std::move(encryption);
    if (signer_)
        status_.signing_key_id = signer_->key_id();
    status_.encryption_recipients = encryption_ ? encryption_->recipient_count() : 0;
    return changed;
}

void exporter::control_plane_changed(bool up) {
    if (up == control_plane_up_)
        return;
    control_plane_up_ = up;
    wakeup_.wake();
}

asio::awaitable<bool> exporter::skip_empty(const protocol::snapshot_ptr& snap) {
    if (export_empty_)
        co_return false;
    // On the disk pool: without the CP's section hashes this parses the whole config (seconds at
    // 200 MiB), which must not stop the pings and the election's rounds.
    const bool empty = co_await offload([&] { return is_empty_config(*snap); });
    if (!empty)
        co_return false;
    auto head = co_await store_.head(key_);
    if (!head && head.error().code == backends::store_errc::not_found)
        co_return false; // nothing to replace
    if (head && head->metadata.contains(empty_config_metadata))
        co_return false; // an empty backup may be replaced by another
    // A HEAD that failed otherwise: not exporting is the safe side; the next config retries.
    if (empty_skipped_hash_ != snap->hash) {
        empty_skipped_hash_ = snap->hash;
        ++status_.empty_skipped;
        log::warn("export skipped: the config has no services, routes or plugins and would replace a "
                  "backup that has (cluster_fallback_config_export_empty = off)",
                  "hash", snap->hash, "key", key_);
    }
    co_return true;
}

asio::awaitable<void> exporter::resign_if_due() {
    const bool leader = elector_.is_leader();
    if (!leader) {
        // Another node exports now; what this node signed may no longer be the backup.
        resign_.forget();
        signed_.reset();
        co_return;
    }
    if (!signer_ || !signed_ || pending_ ||
        !resign_.due(std::chrono::steady_clock::now(), leader, control_plane_up_))
        co_return;
    const auto signer = signer_;
    auto m = *signed_;
    m.term = elector_.status().my_term;
    auto r = co_await signer->write(store_, key_, m, wall_clock::now(), s3_fields_);
    if (!r) {
        // Retried at the next interval; max_age / 4 leaves room for a few failures.
        log::warn("re-signing the backup failed", "error", r.error().to_string());
        resign_.signed_now(std::chrono::steady_clock::now() - resign_.interval() / 2);
        co_return;
    }
    for (const auto& [key, version] : extra_) {
        auto extra = m;
        extra.node_version = version;
        if (auto e = co_await signer->write(store_, key, extra, wall_clock::now(), s3_fields_); !e)
            log::warn("re-signing an extra export version failed", "key", key, "error",
                      e.error().to_string());
    }
    signed_ = m;
    resign_.signed_now(std::chrono::steady_clock::now());
    ++status_.resigns;
    status_.signed_at = wall_clock::now();
    log::debug("backup re-signed", "sha256", m.object_sha256, "key_id", m.key_id);
}

asio::awaitable<void> exporter::prune_if_due() {
    if (!prune_due_ || std::chrono::steady_clock::now() < *prune_due_)
        co_return;
    if (!signer_ || !elector_.is_leader()) {
        prune_due_.reset(); // the next leader prunes after its own exports
        co_return;
    }
    std::vector<std::string> keys{key_};
    for (const auto& [key, version] : extra_)
        keys.push_back(key);
    bool more = false;
    std::size_t deleted = 0;
    for (const auto& key : keys) {
        auto r = co_await prune_superseded_signatures(store_, key, superseded_signature_grace);
        deleted += r.deleted;
        if (!r.error.empty()) {
            // Housekeeping only: the backup is fine; try again later.
            log::warn("deleting superseded signature objects failed", "key", key, "error", r.error);
            prune_due_ = std::chrono::steady_clock::now() + std::chrono::minutes(5);
            co_return;
        }
        more = more || r.more;
    }
    if (deleted > 0) {
        status_.signatures_pruned += deleted;
        log::info("superseded signature objects deleted", "count", deleted, "more", more);
    }
    if (more) // one bounded round at a time: the exports go first
        prune_due_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    else
        prune_due_.reset();
}

void exporter::also_export(std::vector<std::pair<std::string, std::string>> keys_and_versions) {
    extra_ = std::move(keys_and_versions);
    status_.extra_versions.clear();
    for (const auto& [key, version] : extra_)
        status_.extra_versions.push_back(version);
}

asio::awaitable<std::string> exporter::export_extra_versions(
    const protocol::snapshot_ptr& snap, const std::shared_ptr<const std::string>& bytes,
    const std::optional<std::filesystem::path>& sealed_path, const backends::put_options& opts,
    const std::optional<backends::backup_manifest>& manifest,
    const std::shared_ptr<const backup_signer>& signer) {
    for (const auto& [key, version] : extra_) {
        if (manifest) {
            // Its own signature: a manifest names the version folder it belongs to.
            auto m = *manifest;
            m.node_version = version;
            auto signed_put = co_await signer->write(store_, key, m, wall_clock::now(), s3_fields_);
            if (!signed_put)
                co_return key + ": signature: " + signed_put.error().to_string();
        }
        auto o = opts;
        election::config_version v{.cp_timestamp = snap->cp_timestamp,
                                   .hash = snap->hash,
                                   .replace_identical = sealed_path.has_value()};
        // Named locals, not temporaries in the co_await: GCC 12 destroys those twice.
        auto body = sealed_path ? backends::body_source::from_file(*sealed_path)
                                : backends::body_source::from_shared(bytes);
        auto r = co_await elector_.fenced_put(key, std::move(body), std::move(o), std::move(v),
                                              election::term_scope::other_version);
        using election::fenced_outcome;
        switch (r.outcome) {
        case fenced_outcome::uploaded:
        case fenced_outcome::unchanged:
            break;
        case fenced_outcome::superseded:
            // That version's own exporters wrote a newer config there: theirs stays.
            log::info("extra export version skipped: the bucket holds a newer config there", "key", key,
                      "detail", r.detail);
            break;
        case fenced_outcome::not_leader:
            co_return key + ": " + r.detail;
        case fenced_outcome::error:
            co_return r.error ? r.error->to_string() : key + ": " + r.detail;
        }
    }
    co_return std::string();
}

void exporter::offer(const protocol::snapshot_ptr& snapshot) {
    // Kong exports what the CP sends; a config from the cache or the bucket is not news to it.
    if (snapshot->source != protocol::config_source::control_plane)
        return;
    if (last_offered_.lock() == snapshot)
        return; // offered already, before its cache write: an upload of it may be under way or done
    last_offered_ = snapshot;
    pending_ = snapshot;
    status_.pending_hash = snapshot->hash;
    wakeup_.wake();
}

asio::awaitable<void> exporter::run() {
    unsigned failures = 0;
    for (;;) {
        while (!pending_) {
            co_await resign_if_due();
            co_await prune_if_due();
            if (pending_)
                break;
            auto next = resign_.next(elector_.is_leader(), control_plane_up_);
            if (prune_due_ && elector_.is_leader())
                next = std::min(next, *prune_due_);
            const auto now = std::chrono::steady_clock::now();
            co_await wakeup_.wait(next == std::chrono::steady_clock::time_point::max()
                                      ? std::chrono::steady_clock::duration(std::chrono::hours(24))
                                      : std::max<std::chrono::steady_clock::duration>(next - now, {}));
        }
        // Coalesce: whatever arrives within the delay replaces what we hold (the newest wins).
        const auto until = std::chrono::steady_clock::now() + delay_;
        while (std::chrono::steady_clock::now() < until)
            co_await wakeup_.wait(until - std::chrono::steady_clock::now());
        auto snap = pending_;
        if (!elector_.is_leader()) {
            // Another node exports. Keep the config: if this node becomes leader, it is uploaded then
            // (the elector's step wakes us: election_changed()). The hour is only a safety net.
            co_await wakeup_.wait(std::chrono::hours(1));
            continue;
        }
        const bool skip = co_await skip_empty(snap);
        if (skip) {
            if (prepared_ && prepared_->snapshot == snap)
                drop_prepared();
            if (pending_ == snap) {
                pending_.reset();
                status_.pending_hash.clear();
            }
            continue;
        }
        // This export's keys, whatever a SIGHUP does meanwhile.
        const auto signer = signer_;
        const auto encryption = encryption_;
        backends::put_options opts;
        opts.content_type = "application/json";
        opts.metadata["uploader"] = node_id_;
        opts.s3_fields = s3_fields_;
        const bool empty = co_await offload([&] { return is_empty_config(*snap); });
        if (empty)
            opts.metadata[empty_config_metadata] = "1";
        const auto bytes = snap->shared_config_json();
        const auto started = std::chrono::steady_clock::now();
        // Encrypted: the age file is what is signed and uploaded (from disk).
        std::optional<encrypted_object> sealed;
        // Started while the cache was written (prepare()): done by now, or soon.
        const auto prepared = co_await take_prepared(snap, encryption);
        if (encryption) {
            // On the disk pool: encrypting, hashing and writing a 200 MiB config takes a second or
            // more, which must not stop the pings, the election's rounds and /status.
            result<encrypted_object, std::string> e = failure(std::string("not sealed"));
            if (prepared)
                e = *prepared->sealed;
            else {
                // A named local, not a lambda capture in the co_await: GCC 12 destroys such
                // temporaries twice.
                const auto tag = std::to_string(++seals_);
                e = co_await offload([&] { return encryption->seal(*bytes, tag); });
            }
            if (!e) {
                ++status_.failures;
                ++status_.failures_total;
                status_.last_error = "encryption: " + e.error();
                const auto delay = backoff_.delay(failures++, jitter_);
                log::warn("export failed: the config could not be encrypted; retrying", "hash", snap->hash,
                          "error", status_.last_error);
                co_await wakeup_.wait(delay);
                continue;
            }
            sealed = std::move(e).value();
            opts.content_type = "application/octet-stream";
            opts.metadata[backends::signature_metadata::object_sha256] = sealed->sha256_hex;
            opts.payload_sha256 = sealed->sha256_hex; // hashed while it was encrypted
        }
        std::optional<backends::backup_manifest> manifest;
        if (signer) {
            // The signature object first, config.json second: a reader pairs the config.json it
            // reads with the signature of exactly its bytes, so a crash between the two writes
            // leaves the old pair (or an unused signature), never a mismatched one.
            const auto term = elector_.status().my_term;
            if (sealed)
                manifest = signer->describe(sealed->sha256_hex, sealed->size, true, *snap, term);
            else if (prepared)
                manifest = signer->describe(prepared->sha256, bytes->size(), false, *snap, term);
            else // hashes the whole config: on the disk pool, as the encryption above
                manifest = co_await offload([&] { return signer->describe(*bytes, *snap, term); });
            auto signed_put = co_await signer->write(store_, key_, *manifest, wall_clock::now(), s3_fields_);
            if (!signed_put) {
                ++status_.failures;
                ++status_.failures_total;
                status_.last_error = "signature: " + signed_put.error().to_string();
                const auto delay = backoff_.delay(failures++, jitter_);
                if (sealed) {
                    auto path = sealed->path; // a named local: see above
                    co_await remove_scratch_file(std::move(path));
                }
                log::warn("export failed: the signature could not be written; retrying", "hash", snap->hash,
                          "error", status_.last_error, "retry_in_ms",
                          std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
                co_await wakeup_.wait(delay);
                continue;
            }
            opts.metadata[backends::signature_metadata::object_sha256] = manifest->object_sha256;
            opts.payload_sha256 = manifest->object_sha256; // S3 signs it: no second hash of the body
        }
        auto body = sealed ? backends::body_source::from_file(sealed->path)
                           : backends::body_source::from_shared(bytes);
        // A named local, not a braced temporary in the co_await: GCC 12 destroys such temporaries
        // twice (a double free).
        election::config_version version{
            .cp_timestamp = snap->cp_timestamp, .hash = snap->hash, .replace_identical = sealed.has_value()};
        const auto extra_opts = extra_.empty() ? backends::put_options{} : opts;
        auto r = co_await elector_.fenced_put(key_, std::move(body), std::move(opts), std::move(version));
        if ((r.outcome == election::fenced_outcome::uploaded ||
             r.outcome == election::fenced_outcome::unchanged) &&
            !extra_.empty()) {
            // The main key holds it; the extra versions too, or the whole export is retried (the
            // main key then finds itself unchanged). Encrypted: the same age file goes there.
            std::optional<std::filesystem::path> sealed_path;
            if (sealed)
                sealed_path = sealed->path;
            if (auto failed =
                    co_await export_extra_versions(snap, bytes, sealed_path, extra_opts, manifest, signer);
                !failed.empty()) {
                r.outcome = election::fenced_outcome::error;
                r.error.reset();
                r.detail = "extra version " + failed;
            }
        }
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                .count();
        // The upload is over: the file goes on the pool while the export is booked and logged.
        if (sealed)
            asio::co_spawn(executor_, remove_scratch_file(sealed->path), asio::detached);
        using election::fenced_outcome;
        switch (r.outcome) {
        case fenced_outcome::uploaded:
        case fenced_outcome::unchanged:
            if (r.outcome == fenced_outcome::uploaded) {
                ++status_.uploads;
                if (on_exported)
                    on_exported();
            } else
                ++status_.skipped;
            status_.last_hash = snap->hash;
            status_.last_at = wall_clock::now();
            status_.failures = 0;
            status_.last_error.clear();
            failures = 0;
            if (manifest) {
                signed_ = manifest;
                resign_.signed_now(std::chrono::steady_clock::now());
                status_.signed_at = wall_clock::now();
                // The replaced config's signature stays for the grace (a reader may be midway
                // through the old config.json); then it goes, with any others left behind.
                prune_due_ =
                    std::chrono::steady_clock::now() + superseded_signature_grace + std::chrono::minutes(1);
            }
            log::info(r.outcome == fenced_outcome::uploaded ? "config exported"
                                                            : "export skipped: bucket already has it",
                      "hash", snap->hash, "key", key_, "term", r.term, "ms", ms);
            if (pending_ == snap) {
                pending_.reset();
                status_.pending_hash.clear();
            }
            break;
        case fenced_outcome::superseded:
            ++status_.skipped;
            signed_.reset(); // the bucket holds another config: never refresh this one's signature
            resign_.forget();
            log::warn("export skipped: the bucket holds a newer config", "hash", snap->hash, "detail",
                      r.detail);
            if (pending_ == snap) {
                pending_.reset();
                status_.pending_hash.clear();
            }
            break;
        case fenced_outcome::not_leader:
            log::info("export deferred: this node does not lead", "hash", snap->hash, "detail", r.detail);
            co_await wakeup_.wait(std::chrono::seconds(1));
            break;
        case fenced_outcome::error:
            ++status_.failures;
            ++status_.failures_total;
            status_.last_error = r.error ? r.error->to_string() : r.detail;
            {
                const auto delay = backoff_.delay(failures++, jitter_);
                log::warn("export failed; retrying", "hash", snap->hash, "error", status_.last_error,
                          "retry_in_ms",
                          std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
                co_await wakeup_.wait(delay);
            }
            break;
        }
    }
}

} // namespace lifeboat::agent
