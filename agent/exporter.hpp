// Fallback export (cluster_fallback_config_export = on): each new config from the control plane
// is uploaded to <prefix>/<node_version>/config.json as the plain JSON config_table (content type
// application/json, metadata uploader = <node_id>, plus cluster_fallback_export_s3_config), the
// same object Kong Enterprise writes. Only the elected leader uploads, through the elector's
// fenced put, so a deposed or paused leader never overwrites a newer config.
//
// Configs are coalesced over cluster_fallback_config_export_delay (the newest wins); failures are
// retried with back-off; the newest config always ends up in the bucket once this node leads.
#pragma once

#include "agent/backup_crypto.hpp"
#include "agent/backup_signer.hpp"
#include "agent/backup_trust.hpp"
#include "agent/config.hpp"
#include "agent/status.hpp"
#include "agent/wakeup_timer.hpp"
#include "base/backoff.hpp"
#include "election/elector.hpp"
#include "protocol/config_snapshot.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>

namespace lifeboat::agent {

class exporter {
public:
    ~exporter();
    // `key`: <prefix>/<node_version>/config.json in the storage (backends::config_key).
    exporter(boost::asio::any_io_executor executor, const settings& s, std::string key, std::string node_id,
             election::elector& elector, export_status& status, backends::object_store& store);

    // A config was accepted: remember it (the newest wins) and wake the loop.
    // The elector took a step: this node may have started leading (wakes a waiting follower).
    void election_changed() { wakeup_.wake(); }
    // A configuration re-read (SIGHUP): the export delay and the PutObject fields take effect
    // from the next upload.
    void update(const settings& s) {
        delay_ = s.cluster_fallback_config_export_delay;
        s3_fields_ = s.cluster_fallback_export_s3_config;
    }

    // SIGHUP: reads the signing key and the recipients of `fresh` again (same path or a new one),
    // while signing or encryption stays on (turning either on or off waits for a restart). Both or
    // neither are replaced: an error line naming the key, and the running ones stay. On success
    // the keys whose material changed; the next upload or re-signing uses them.
    result<std::vector<std::string>, std::string> reload_keys(const settings& fresh);

    // cluster_fallback_config_export_versions: each backup is also written to these keys
    // (<prefix>/<version>/config.json, with the version), fenced like the main key.
    void also_export(std::vector<std::pair<std::string, std::string>> keys_and_versions);

    // The pipeline offers each config twice (before its cache write and once accepted): the
    // second offer of the same snapshot is ignored, so it is uploaded once.
    void offer(const protocol::snapshot_ptr& snapshot);
    // A config from the CP was validated (config_pipeline::on_validated), just before offer(): a
    // leader that encrypts starts the encryption into the file the upload needs, and one that only
    // signs the SHA-256 its manifest names, on the disk pool now, while the cache is written and
    // fsynced. Nothing is written to the bucket before offer().
    void prepare(const protocol::snapshot_ptr& snapshot);
    // The CP session went up or down: the backup is re-signed for freshness only while it is up.
    void control_plane_changed(bool up);

    boost::asio::awaitable<void> run();

    // Called after each upload that wrote the backup (the backup watcher reads it back).
    std::function<void()> on_exported;

private:
    // An empty config that must not replace the bucket's backup: true when it is skipped.
    boost::asio::awaitable<bool> skip_empty(const protocol::snapshot_ptr& snap);
    // The extra version keys, after the main key was written: an error line, empty on success.
    boost::asio::awaitable<std::string>
    export_extra_versions(const protocol::snapshot_ptr& snap, const std::shared_ptr<const std::string>& bytes,
                          const std::optional<std::filesystem::path>& sealed_path,
                          const backends::put_options& opts,
                          const std::optional<backends::backup_manifest>& manifest,
                          const std::shared_ptr<const backup_signer>& signer);
    // The pass prepare() started for `snap` with these keys, once finished; null when there is
    // none (then the export does the pass itself).
    struct prepared_pass;
    boost::asio::awaitable<std::shared_ptr<prepared_pass>>
    take_prepared(const protocol::snapshot_ptr& snap,
                  const std::shared_ptr<const backup_encryption>& encryption);
    void drop_prepared();
    // Writes a fresh signature for what this node signed last, when due.
    boost::asio::awaitable<void> resign_if_due();
    // Deletes superseded signature objects (agent/signature_pruner.hpp), when due.
    boost::asio::awaitable<void> prune_if_due();

    std::string key_;
    std::vector<std::pair<std::string, std::string>> extra_; // key, version
    std::string node_id_;
    std::chrono::milliseconds delay_;
    std::map<std::string, std::string> s3_fields_;
    election::elector& elector_;
    export_status& status_;
    backends::object_store& store_;
    // Shared, and copied by each export and re-signing before its first co_await: a SIGHUP that
    // replaces them (reload_keys) never pulls them from under a write or the disk pool's encryption.
    std::shared_ptr<const backup_signer> signer_;
    std::shared_ptr<const backup_encryption> encryption_; // cluster_fallback_config_encryption_recipients
    resign_schedule resign_;
    std::optional<backends::backup_manifest> signed_; // what this node signed last (to re-sign)
    bool control_plane_up_ = false;
    // When superseded signatures may be pruned next (a grace after this node's last export).
    std::optional<std::chrono::steady_clock::time_point> prune_due_;
    bool export_empty_;
    std::string empty_skipped_hash_; // logged once per config
    protocol::snapshot_ptr pending_;
    // The snapshot offered last; weak, so an exported config's buffer is not kept alive by it.
    std::weak_ptr<const protocol::config_snapshot> last_offered_;
    std::shared_ptr<prepared_pass> prepared_; // the newest prepare()
    std::uint64_t seals_ = 0;                 // names each sealed file
    boost::asio::any_io_executor executor_;
    wakeup_timer wakeup_;
    backoff_policy backoff_{std::chrono::milliseconds(500), std::chrono::seconds(30),
                            std::chrono::milliseconds(200)};
    jitter jitter_;
};

} // namespace lifeboat::agent
