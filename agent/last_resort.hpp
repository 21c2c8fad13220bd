// When a node serves its local declarative_config file: the decision, with no I/O and no clock of
// its own (every call is given the time), so its timing is tested on a virtual clock.
//
// The file is the last resort of a node that has no cache (one with a cache never makes this
// object), whose control plane is unreachable (its first connection failed, or none is
// configured), and whose bucket gave nothing usable: the backup was absent, refused or out of
// reach for `import_timeout` since the control plane was found unreachable (an exporter starting
// with the fleet gets that long to upload). With no bucket configured, the file is due as soon as
// the control plane is unreachable. A config from anywhere else, before that, makes it unneeded.
// Once applied, the backup and the CP still replace it (config_pipeline).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace lifeboat::agent {

class last_resort_policy {
public:
    using clock = std::chrono::steady_clock;

    enum class phase {
        waiting_for_control_plane, // the CP has not failed yet
        waiting_for_bucket,        // the CP failed; the bucket has until due_at()
        due,                       // apply the file now
        applied,                   // the file is the node's config (or was, until replaced)
        not_needed                 // the node got a config from elsewhere first
    };

    last_resort_policy(bool bucket_configured, clock::duration import_timeout)
        : bucket_(bucket_configured)
        , timeout_(import_timeout) {}

    // The control plane could not be reached, or none is configured. Only the first call counts.
    void control_plane_unreachable(clock::time_point now) {
        if (phase_ != phase::waiting_for_control_plane)
            return;
        if (bucket_) {
            phase_ = phase::waiting_for_bucket;
            due_at_ = now + timeout_;
        } else {
            phase_ = phase::due;
            due_at_ = now;
        }
    }

    // The node got a config from the CP, the cache or the bucket before the file was applied.
    void config_arrived() {
        if (phase_ != phase::applied)
            phase_ = phase::not_needed;
    }

    // Advances the clock: returns true when the file is to be applied now.
    bool poll(clock::time_point now) {
        if (phase_ == phase::waiting_for_bucket && now >= *due_at_)
            phase_ = phase::due;
        return phase_ == phase::due;
    }

    // The file was applied (or the node got a config meanwhile): the decision is made for good.
    void applied() { phase_ = phase::applied; }
    // The file could not be applied (unreadable, invalid): it stays due, so a fixed file is taken.

    phase current() const { return phase_; }
    // When the file becomes due, once the control plane has failed.
    std::optional<clock::time_point> due_at() const { return due_at_; }

private:
    bool bucket_;
    clock::duration timeout_;
    phase phase_ = phase::waiting_for_control_plane;
    std::optional<clock::time_point> due_at_;
};

std::string_view to_string(last_resort_policy::phase p);

} // namespace lifeboat::agent
