#include "agent/cp_doctor.hpp"

#include "agent/gateway_mirror.hpp"
#include "protocol/dp_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

namespace lifeboat::agent {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

// Watches the session and wakes the check when the CP's verdict is in.
class probe_observer final : public protocol::dp_session_observer {
public:
    explicit probe_observer(asio::steady_timer& done) : done_(done) {}

    void on_status(const protocol::session_status& s) override {
        status = s;
        if (s.refused || s.config_withheld ||
            (s.state == protocol::session_state::disconnected && s.attempt >= 1))
            done_.cancel();
    }
    asio::awaitable<bool> on_config(protocol::snapshot_ptr snapshot) override {
        config = std::move(snapshot);
        done_.cancel();
        co_return true; // nothing is applied: the doctor only looks
    }

    protocol::session_status status;
    protocol::snapshot_ptr config;

private:
    asio::steady_timer& done_;
};

} // namespace

asio::awaitable<backends::doctor_check> check_control_plane(cp_check_input in) {
    const settings& s = *in.config;
    backends::doctor_check check{"control plane", backends::verdict::fail, {}};
    const auto advertised = read_advertisement(s, std::chrono::milliseconds(3000));

    auto o = session_options(s, in.node_id, advertised);
    // The bound is three ping intervals: the state machine's withheld rule then fires at it.
    o.timing.ping_interval = std::max<steady_duration>(in.bound / 3, std::chrono::milliseconds(100));
    o.timing.dead_after = std::max<steady_duration>(s.cluster_dead_after, in.bound * 2);

    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer done(ex, std::chrono::steady_clock::time_point::max());
    probe_observer observer(done);
    protocol::dp_session session(ex, o, observer);
    asio::steady_timer deadline(ex, in.bound + std::chrono::seconds(5));
    const auto waited = co_await (session.run() || [&]() -> asio::awaitable<void> {
        co_await (done.async_wait(asio::as_tuple(asio::use_awaitable)) ||
                  deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    }());
    (void)waited;

    const auto& st = observer.status;
    const std::string what = "advertising " + advertised.describe();
    if (observer.config) {
        check.level = backends::verdict::ok;
        check.reason =
            fmt::format("{} admitted this node and sent config {} ({} bytes); {}", s.cluster_control_plane,
                        observer.config->hash, observer.config->size(), what);
    } else if (st.refused) {
        check.reason =
            fmt::format("{} refused this node right after basic_info: its version check failed for "
                        "node_version {} (the CP's major version and a minor no newer than the "
                        "CP's are accepted); {}",
                        s.cluster_control_plane, advertised.node_version, what);
    } else if (st.config_withheld) {
        check.reason = fmt::format(
            "{} admitted this node and answers pings but sent no config within {} s: it withholds configs "
            "from data planes that lack a plugin the config uses or run another plugin version (its log "
            "names "
            "the plugin); {}. Fix with dp_plugins (+name:x.y.z or auto) or the CP's "
            "allow_inconsistent_data_plane_plugins",
            s.cluster_control_plane, std::chrono::duration<double>(in.bound).count(), what);
    } else if (st.state != protocol::session_state::connected) {
        check.reason = fmt::format("cannot hold a session with {}: {}", s.cluster_control_plane,
                                   st.last_error.empty() ? std::string("no answer") : st.last_error);
    } else {
        check.reason =
            fmt::format("{} connected but never answered a ping within {} s; {}", s.cluster_control_plane,
                        std::chrono::duration<double>(in.bound).count(), what);
    }
    co_return check;
}

} // namespace lifeboat::agent
