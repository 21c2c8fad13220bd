#include "agent/agent.hpp"

#include "agent/backup_crypto.hpp"
#include "agent/backup_watch.hpp"
#include "agent/declarative_fallback.hpp"
#include "agent/exporter.hpp"
#include "agent/importer.hpp"
#include "agent/loop_monitor.hpp"
#include "backends/layout.hpp"
#include "backends/store_factory.hpp"
#include "base/log.hpp"
#include "election/elector.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

namespace lifeboat::agent {

namespace asio = boost::asio;

namespace {

// How long start-up waits for the gateway's Admin API (dp_plugins = auto, node_version = auto).
constexpr std::chrono::milliseconds gateway_read_timeout{3000};
// How often the gateway's answer is read again to notice a restart with other plugins.
constexpr std::chrono::seconds gateway_reread_interval{30};

std::optional<wall_time> to_wall(std::optional<std::chrono::steady_clock::time_point> t) {
    if (!t)
        return std::nullopt;
    return wall_clock::now() -
           std::chrono::duration_cast<wall_clock::duration>(std::chrono::steady_clock::now() - *t);
}

} // namespace

agent::agent(asio::any_io_executor executor, settings config, std::string node_id)
    : executor_(executor)
    , config_(std::move(config))
    , supervisor_(executor) {
    // What basic_info advertises: read before anything is keyed by node_version.
    advertised_ = read_advertisement(config_, gateway_read_timeout);
    gateway_unreachable_ = !advertised_.note.empty();
    config_.node_version = advertised_.node_version;
    show_advertisement();
    status_.control_plane.config_wait_pings = config_wait_pings;
    status_.node_id = node_id;
    status_.node_version = config_.node_version;
    status_.hostname = config_.node_hostname;
    status_.storage = config_.cluster_fallback_config_storage;
    status_.import.enabled = config_.cluster_fallback_config_import;
    status_.exporter.enabled = config_.cluster_fallback_config_export;
    status_.election.enabled = config_.cluster_fallback_config_export;
    status_.control_plane.endpoint = config_.cluster_control_plane;
    status_.control_plane.state = config_.cluster_control_plane.empty() ? "disabled" : "connecting";
    supervisor_.on_restart = [this](const std::string&) { status_.task_restarts = supervisor_.restarts(); };

    // Storage: only import and export need it.
    if (config_.cluster_fallback_config_import || config_.cluster_fallback_config_export) {
        auto store = backends::make_object_store(executor_, config_.cluster_fallback_config_storage,
                                                 config_.storage_env);
        if (!store)
            throw std::runtime_error("cluster_fallback_config_storage: " + store.error());
        store_ = std::move(store).value();
    }

    auto handoff = make_handoff(executor_, config_);
    status_.handoff.kind = handoff ? handoff->kind() : "none";
    pipeline_ = std::make_unique<config_pipeline>(executor_, config_, status_, std::move(handoff));
    // The cache is loaded by start(), on the disk pool (seconds for a 200 MiB config): the parts
    // that depend on it are built here as if there were none, and settled once it is loaded
    // (start_after_cache()). The session does not run before then.

    if (!config_.cluster_control_plane.empty()) {
        session_ =
            std::make_unique<protocol::dp_session>(executor_, session_options(config_, node_id, advertised_),
                                                   static_cast<protocol::dp_session_observer&>(*this));
        pipeline_->on_delivered_late = [this](const std::string& hash) { session_->set_current_hash(hash); };
    }

    // The key prefix is the part of the storage URL after the bucket (empty for the file store,
    // whose keys are relative to its directory).
    const auto url = backends::parse_storage_url(config_.cluster_fallback_config_storage);
    const std::string key_prefix = url ? url->prefix : std::string();
    const std::string config_key = backends::config_key(key_prefix, config_.node_version);
    if (config_.cluster_fallback_config_import) {
        // Built (and its key files read) whatever the cache holds: a cache found corrupt needs it.
        trust_policy trust;
        trust.max_age = config_.cluster_fallback_config_max_age;
        trust.node_version = config_.node_version;
        if (!config_.cluster_fallback_config_trusted_keys.empty()) {
            auto keys = load_trusted_keys(config_.cluster_fallback_config_trusted_keys);
            if (!keys)
                throw std::runtime_error("cluster_fallback_config_trusted_keys: " + keys.error());
            trust.trusted_keys = std::move(keys).value();
        }
        if (!config_.cluster_fallback_config_decryption_identity.empty()) {
            auto ids = load_decryption_identity(config_.cluster_fallback_config_decryption_identity);
            if (!ids)
                throw std::runtime_error("cluster_fallback_config_decryption_identity: " + ids.error());
            trust.identities = std::move(ids).value();
        }
        importer_ =
            std::make_unique<importer>(executor_, *store_, config_key, config_.cluster_max_config_size,
                                       *pipeline_, status_.import, std::move(trust));
        importer_->allow_versions(key_prefix, config_.node_version,
                                  config_.cluster_fallback_config_import_versions);
    }
    if (!config_.declarative_config.empty()) {
        last_resort_ = std::make_unique<declarative_fallback>(
            executor_, config_.declarative_config, config_.cluster_max_config_size, importer_ != nullptr,
            config_.cluster_fallback_config_import_timeout, *pipeline_, status_.declarative);
    }
    if (config_.cluster_fallback_config_export) {
        election::elector_options eo;
        eo.election_prefix = backends::election_prefix(key_prefix, config_.node_version);
        eo.node_id = node_id;
        eo.hostname = config_.node_hostname;
        eo.interval = config_.election_interval;
        elector_ = std::make_unique<election::elector>(*store_, eo);
        exporter_ = std::make_unique<exporter>(executor_, config_, config_key, node_id, *elector_,
                                               status_.exporter, *store_);
        std::vector<std::pair<std::string, std::string>> extra;
        for (const auto& version : config_.cluster_fallback_config_export_versions)
            if (version != config_.node_version)
                extra.emplace_back(backends::config_key(key_prefix, version), version);
        exporter_->also_export(std::move(extra));
        elector_->on_step = [this] {
            refresh_election_status();
            exporter_->election_changed();
        };
    }
    if (store_ && config_.cluster_fallback_config_watch_interval.count() > 0) {
        backup_watcher_ = std::make_unique<backup_watcher>(
            executor_, *store_, config_key, config_.cluster_fallback_config_watch_interval, status_.backup);
        if (exporter_)
            exporter_->on_exported = [this] { backup_watcher_->poke(); };
    }
    // The export starts before the cache write, alongside it (offer() ignores the second offer);
    // a signing or encrypting leader first starts its pass over the bytes on the disk pool.
    pipeline_->on_validated = [this](const protocol::snapshot_ptr& s) {
        if (exporter_) {
            exporter_->prepare(s);
            exporter_->offer(s);
        }
    };
    pipeline_->on_applied = [this](const protocol::snapshot_ptr& s) {
        if (exporter_)
            exporter_->offer(s);
        if (importer_)
            importer_->config_arrived();
        // An importer that took another version's backup (version skew) watches that one.
        if (backup_watcher_ && s->source == protocol::config_source::fallback && !status_.import.key.empty())
            backup_watcher_->watch(status_.import.key);
        if (last_resort_ && s->source != protocol::config_source::declarative_config)
            last_resort_->config_arrived();
        // A config from the backup or the local file is what this node runs now: its pings carry
        // that hash, as a Kong DP's do after a fallback import.
        if (session_ && (s->source == protocol::config_source::fallback ||
                         s->source == protocol::config_source::declarative_config))
            session_->set_current_hash(s->hash);
    };

    status_server_ =
        std::make_unique<status_server>(executor_, config_.status_listen, status_, status_.endpoint);
    if (elector_)
        status_server_->before_answer = [this] { refresh_election_status(); };
}

agent::~agent() = default;

void agent::start() {
    supervisor_.spawn("status_server", [this] { return status_server_->run(); });
    supervisor_.spawn("handoff_retries", [this] { return pipeline_->run_handoff_retries(); });
    supervisor_.spawn("loop_monitor", [this] { return monitor_loop(status_.loop); });
    supervisor_.spawn(
        "load_cache",
        [this]() -> asio::awaitable<void> {
            cached_ = co_await pipeline_->load_cache();
            start_after_cache();
        },
        supervisor::kind::one_shot);
    if (session_ && mirrors_gateway(config_))
        supervisor_.spawn("gateway_mirror", [this]() -> asio::awaitable<void> {
            asio::steady_timer timer(executor_);
            for (;;) {
                timer.expires_after(gateway_reread_interval);
                auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
                if (ec)
                    co_return; // shutting down
                co_await reread_gateway();
            }
        });
    if (elector_) {
        supervisor_.spawn("election", [this]() -> asio::awaitable<void> {
            // Status refresh rides along: the election changes only once per round.
            co_await elector_->run();
        });
        supervisor_.spawn("exporter", [this] { return exporter_->run(); });
    }
    if (backup_watcher_)
        supervisor_.spawn("backup_watcher", [this] { return backup_watcher_->run(); });
    log::info("lifeboat agent started", "node_id", status_.node_id, "node_version", status_.node_version,
              "status", status_server_->local_address(), "control_plane",
              config_.cluster_control_plane.empty() ? "(none)" : config_.cluster_control_plane, "import",
              config_.cluster_fallback_config_import ? "on" : "off", "export",
              config_.cluster_fallback_config_export ? "on" : "off", "storage",
              store_ ? store_->describe() : "(none)", "cache", status_.cache.state);
}

void agent::start_after_cache() {
    if (cached_) {
        // The session's first pings name the cached config, so that a CP with the same one does
        // not send it again: built again with its hash (it has not run yet).
        if (session_) {
            auto options = session_options(config_, status_.node_id, advertised_);
            options.initial_config_hash = cached_->hash;
            session_ = std::make_unique<protocol::dp_session>(
                executor_, std::move(options), static_cast<protocol::dp_session_observer&>(*this));
        }
        // A restarted node serves its cache; the bucket and the local file are not read.
        if (importer_) {
            importer_.reset();
            status_.import = import_status{};
            status_.import.enabled = true;
            status_.import.state = "not_needed";
        }
        if (last_resort_) {
            last_resort_.reset();
            status_.declarative = declarative_status{};
            status_.declarative.enabled = true;
            status_.declarative.path = config_.declarative_config.string();
            status_.declarative.state = "not_needed";
        }
        // A restarted node serves its last config at once, even while the CP is down.
        supervisor_.spawn(
            "apply_cache",
            [this]() -> asio::awaitable<void> {
                if (!pipeline_->has_config())
                    co_await pipeline_->apply(cached_);
            },
            supervisor::kind::one_shot);
    }
    if (session_)
        supervisor_.spawn("cp_session", [this] { return session_->run(); });
    if (importer_) {
        supervisor_.spawn("importer", [this] { return importer_->run(); });
        if (!session_)
            importer_->control_plane_unreachable(); // no CP to wait for
    }
    if (last_resort_) {
        supervisor_.spawn("declarative_config", [this] { return last_resort_->run(); });
        if (!session_)
            last_resort_->control_plane_unreachable(); // no CP to wait for
    }
}

asio::awaitable<void> agent::shutdown(steady_duration grace) {
    // A leader that stops gracefully deletes its registration so a successor takes over at once.
    if (elector_)
        elector_->stop();
    co_await supervisor_.shutdown(grace);
}

reload_plan agent::reload(const settings& fresh) {
    auto plan = plan_reload(config_, fresh);
    reload_backup_keys(fresh, plan);
    config_ = with_live_values(std::move(config_), fresh);
    log::level lvl{};
    log::format fmt{};
    if (log::parse_level(config_.log_level, lvl))
        log::set_level(lvl);
    if (log::parse_format(config_.log_format, fmt))
        log::set_format(fmt);
    pipeline_->update_handoff(config_);
    if (exporter_)
        exporter_->update(config_);
    if (elector_)
        elector_->set_interval(config_.election_interval);
    // Rotated credential files (the usual way keys change under a running node) are read again.
    if (store_) {
        if (auto reread = store_->reload_credentials(); !reread)
            log::error("SIGHUP: the storage credentials were not read again; the running ones stay", "reason",
                       reread.error());
    }
    for (const auto& hook : on_reload)
        hook(config_);
    // The gateway next to the node may have been upgraded or given plugins: read its Admin API
    // root again now rather than at the next 30 s re-read.
    if (session_ && mirrors_gateway(config_))
        asio::co_spawn(executor_, reread_gateway(), [](std::exception_ptr failed) {
            if (failed)
                log::warn("re-reading the gateway after SIGHUP failed");
        });
    return plan;
}

void agent::reload_backup_keys(const settings& fresh, reload_plan& plan) {
    // A key file may have been replaced under the same path (the usual rotation): read the files
    // whenever the feature stays on. Turning signing, encryption or verification on or off stays
    // a restart (plan.need_restart). load_config() checked the files already, so an error here is
    // a file that changed since; either way the running keys stay.
    auto applied = [&](std::string_view key, bool material_changed) {
        const auto waiting = std::find(plan.need_restart.begin(), plan.need_restart.end(), key);
        const bool path_changed = waiting != plan.need_restart.end();
        if (path_changed)
            plan.need_restart.erase(waiting);
        if ((path_changed || material_changed) &&
            std::find(plan.live.begin(), plan.live.end(), key) == plan.live.end())
            plan.live.emplace_back(key);
    };
    if (exporter_) {
        auto changed = exporter_->reload_keys(fresh);
        if (!changed) {
            log::error("SIGHUP: the backup keys were not reloaded; the running ones stay", "reason",
                       changed.error());
        } else {
            auto has = [&](std::string_view k) {
                return std::find(changed->begin(), changed->end(), k) != changed->end();
            };
            if (!config_.cluster_fallback_config_signing_key.empty() &&
                !fresh.cluster_fallback_config_signing_key.empty()) {
                applied("cluster_fallback_config_signing_key", has("cluster_fallback_config_signing_key"));
                config_.cluster_fallback_config_signing_key = fresh.cluster_fallback_config_signing_key;
            }
            if (!config_.cluster_fallback_config_encryption_recipients.empty() &&
                !fresh.cluster_fallback_config_encryption_recipients.empty()) {
                applied("cluster_fallback_config_encryption_recipients",
                        has("cluster_fallback_config_encryption_recipients"));
                config_.cluster_fallback_config_encryption_recipients =
                    fresh.cluster_fallback_config_encryption_recipients;
            }
        }
    }
    const auto stays = [&](const auto& running, const auto& next) {
        return !running.empty() && !next.empty();
    };
    const bool keys_stay =
        stays(config_.cluster_fallback_config_trusted_keys, fresh.cluster_fallback_config_trusted_keys);
    const bool ids_stay = stays(config_.cluster_fallback_config_decryption_identity,
                                fresh.cluster_fallback_config_decryption_identity);
    if (importer_ && (keys_stay || ids_stay)) {
        auto keys = importer_->trust().trusted_keys;
        auto ids = importer_->trust().identities;
        std::string error;
        if (keys_stay) {
            auto loaded = load_trusted_keys(fresh.cluster_fallback_config_trusted_keys);
            if (loaded)
                keys = std::move(loaded).value();
            else
                error = "cluster_fallback_config_trusted_keys: " + loaded.error();
        }
        if (error.empty() && ids_stay) {
            auto loaded = load_decryption_identity(fresh.cluster_fallback_config_decryption_identity);
            if (loaded)
                ids = std::move(loaded).value();
            else
                error = "cluster_fallback_config_decryption_identity: " + loaded.error();
        }
        if (!error.empty()) {
            log::error("SIGHUP: the backup keys were not reloaded; the running ones stay", "reason", error);
        } else {
            // What changed, by public parts only (key ids, recipients): never compare or log a secret.
            auto key_ids = [](const std::vector<ed25519::public_key>& v) {
                std::vector<std::string> out;
                for (const auto& k : v)
                    out.push_back(k.id());
                return out;
            };
            auto recipients = [](const std::vector<crypto::age_identity>& v) {
                std::vector<std::string> out;
                for (const auto& id : v)
                    out.push_back(id.recipient().to_string());
                return out;
            };
            const bool keys_changed = key_ids(keys) != key_ids(importer_->trust().trusted_keys);
            const bool ids_changed = recipients(ids) != recipients(importer_->trust().identities);
            importer_->replace_keys(std::move(keys), std::move(ids));
            if (keys_stay) {
                applied("cluster_fallback_config_trusted_keys", keys_changed);
                config_.cluster_fallback_config_trusted_keys = fresh.cluster_fallback_config_trusted_keys;
            }
            if (ids_stay) {
                applied("cluster_fallback_config_decryption_identity", ids_changed);
                config_.cluster_fallback_config_decryption_identity =
                    fresh.cluster_fallback_config_decryption_identity;
            }
        }
    }
}

void agent::show_advertisement() {
    auto& cp = status_.control_plane;
    cp.node_version = advertised_.node_version;
    cp.advertised_plugins = advertised_.plugins.size();
    cp.plugins_source = protocol::to_string(advertised_.source);
    cp.advertised = advertised_.describe();
}

asio::awaitable<void> agent::reread_gateway() {
    if (!mirrors_gateway(config_))
        co_return;
    if (!gateway_client_)
        gateway_client_ = std::make_unique<http::client>(executor_);
    auto answer = co_await read_admin_root(*gateway_client_, config_, gateway_read_timeout);
    if (!answer) {
        // Keep advertising what the gateway said last (or the catalogue): a gateway restarting
        // for a moment must not make the node drop its session.
        if (!gateway_unreachable_)
            log::warn("cannot read the gateway's Admin API; keeping the advertised plugins", "error",
                      answer.error(), "advertised", advertised_.describe());
        gateway_unreachable_ = true;
        co_return;
    }
    gateway_unreachable_ = false;
    auto next = decide_advertisement(config_, &answer);
    if (next == advertised_)
        co_return;
    log::info("the gateway's answer changed; advertising it to the control plane", "advertised",
              next.describe(), "before", advertised_.describe());
    if (next.node_version != config_.node_version)
        log::warn(
            "the gateway's version changed; the fallback backup stays keyed by the version read at start "
            "until lifeboat restarts",
            "node_version", next.node_version, "backup_version", config_.node_version);
    advertised_ = std::move(next);
    show_advertisement();
    if (session_)
        session_->readvertise(advertised_.node_version, advertised_.plugins);
}

void agent::on_status(const protocol::session_status& s) {
    auto& cp = status_.control_plane;
    cp.state = protocol::to_string(s.state);
    cp.since = to_wall(s.since);
    cp.last_pong = to_wall(s.last_pong);
    if (s.round_trip)
        cp.rtt_ms = std::chrono::duration<double, std::milli>(*s.round_trip).count();
    cp.reconnects = s.reconnects;
    cp.attempts = s.attempt;
    cp.next_attempt_at = to_wall(s.next_attempt_at);
    cp.next_attempt_delay_s =
        s.next_attempt_at ? std::optional<double>(std::chrono::duration<double>(s.next_attempt_delay).count())
                          : std::nullopt;
    cp.last_error = s.last_error;
    cp.refused = s.refused;
    cp.refusals = s.refusals;
    cp.config_withheld = s.config_withheld;
    cp.withheld_total = s.withheld_total;
    status_.config.rejected = s.rejected_configs;
    status_.config.last_rejection = s.last_rejection;
    // The first failed connection is the importer's cue (as Kong's DP imports when connect_cp
    // fails): `disconnected` with an attempt counted, i.e. a connect that failed or a session lost
    // before any config came. Not `connecting`: the first attempt is counted as it starts, and a
    // CP that is about to answer must not be raced by the bucket.
    if (s.state == protocol::session_state::disconnected && s.attempt >= 1) {
        if (importer_)
            importer_->control_plane_unreachable();
        if (last_resort_)
            last_resort_->control_plane_unreachable();
    }
    if (exporter_)
        exporter_->control_plane_changed(s.state == protocol::session_state::connected);
}

asio::awaitable<bool> agent::on_config(protocol::snapshot_ptr snapshot) {
    co_return co_await pipeline_->apply(std::move(snapshot));
}

void agent::refresh_election_status() {
    const auto e = elector_->status();
    auto& out = status_.election;
    out.role = election::to_string(e.my_role);
    out.leader = e.leader ? e.leader->node_id : std::string();
    out.is_leader = elector_->is_leader();
    out.term = e.term;
    out.my_term = e.my_term;
    out.fencing = e.fencing == election::fencing_state::enforced;
    out.fencing_state = election::to_string(e.fencing);
    out.candidates.clear();
    for (const auto& c : e.candidates)
        out.candidates.push_back({.node_id = c.node_id,
                                  .registration = c.registration,
                                  .alive = c.alive,
                                  .self = c.self,
                                  .kong = c.kong,
                                  .since_change_s = std::chrono::duration<double>(c.since_change).count()});
    out.next_round_in_s = e.next_round_in
                              ? std::optional<double>(std::chrono::duration<double>(*e.next_round_in).count())
                              : std::nullopt;
    out.interval_s = std::chrono::duration<double>(e.interval).count();
    out.lease_s = std::chrono::duration<double>(e.lease).count();
    out.rounds = e.counters.rounds;
    out.failed_rounds = e.counters.failed_rounds;
    out.elections_won = e.counters.elections_won;
    out.leader_changes = e.counters.leader_changes;
    out.term_changes = e.counters.term_changes;
    out.step_downs = e.counters.step_downs;
    out.forgotten_registrations = e.counters.forgotten_registrations;
    out.failing_rounds = e.failing_rounds;
    out.note = e.fencing_note;
    out.last_error = e.last_error;
}

} // namespace lifeboat::agent
