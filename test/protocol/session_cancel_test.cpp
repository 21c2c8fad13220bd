// Terminal cancellation of dp_session::run() must end it wherever it lands. `lifeboat doctor`
// ends its CP probe with `run() || verdict`, i.e. a terminal cancel at the instant the verdict
// is in (a refusal, a withheld config, a config): often while the driver's writer has a write
// that completed but has not resumed it yet. A cancellation emitted then reaches no pending
// operation; it is only recorded in the coroutine's cancellation state, and a loop that waits on
// a signal of its own without looking at that state sleeps for ever (the doctor hung in
// epoll_wait about one run in three). This test sweeps the moment of the cancel across the
// first exchange with a real `lifeboat cp`: after the trigger, k hops through the io_context
// queue (k = 0..max_hops), then the terminal cancel; run() must return every time.
#include "cluster_fixture.hpp"
#include "harness/test_env.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>

using namespace lifeboat;
using namespace lifeboat::test;
using namespace std::chrono_literals;
using protocol::cluster_mtls;
using protocol::session_state;
namespace asio = boost::asio;

namespace {

constexpr int max_hops = 40;

// Calls `fire` once, when `trigger` first holds for a status the session reports.
struct triggering_observer : protocol::dp_session_observer {
    std::function<bool(const protocol::session_status&)> trigger;
    std::function<void()> fire;
    bool fired = false;
    void on_status(const protocol::session_status& s) override {
        if (!fired && trigger(s)) {
            fired = true;
            fire();
        }
    }
    asio::awaitable<bool> on_config(protocol::snapshot_ptr) override {
        if (!fired && trigger_on_config) {
            fired = true;
            fire();
        }
        co_return true;
    }
    bool trigger_on_config = false;
};

// Posts `hops` times, then emits terminal cancellation.
void emit_after(asio::io_context& io, asio::cancellation_signal& signal, int hops) {
    if (hops == 0) {
        signal.emit(asio::cancellation_type::terminal);
        return;
    }
    asio::post(io, [&io, &signal, hops] { emit_after(io, signal, hops - 1); });
}

// One session, cancelled `hops` hops after the trigger. Returns "" or what went wrong.
std::string cancel_after(const protocol::dp_session_options& options,
                         std::function<bool(const protocol::session_status&)> trigger, bool on_config,
                         int hops) {
    asio::io_context io{1};
    asio::cancellation_signal signal;
    triggering_observer observer;
    observer.trigger = std::move(trigger);
    observer.trigger_on_config = on_config;
    observer.fire = [&] { emit_after(io, signal, hops); };
    protocol::dp_session session(io.get_executor(), options, observer);
    bool finished = false;
    asio::co_spawn(io, session.run(),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr) { finished = true; }));
    // Generous: the point is that run() ends, not how fast (a loaded 2-core machine).
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!finished && std::chrono::steady_clock::now() < deadline) {
        io.run_for(20ms);
        if (io.stopped())
            io.restart();
    }
    if (!observer.fired)
        return "the trigger never held";
    if (!finished) {
        // Unblock what can be unblocked before the frames are torn down with the io_context.
        signal.emit(asio::cancellation_type::terminal);
        io.run_for(100ms);
        return "run() did not return after a terminal cancel";
    }
    return {};
}

struct session_cancel : ::testing::Test {
    std::filesystem::path dir = scratch_dir();
    std::filesystem::path config = dir / "kong.json";
    void SetUp() override { write_atomically(config, sample_config(2, {"key-auth"})); }

    void sweep(const cp_process& cp, const protocol::dp_session_options& options,
               std::function<bool(const protocol::session_status&)> trigger, bool on_config = false) {
        for (int hops = 0; hops <= max_hops; ++hops) {
            const auto what = cancel_after(options, trigger, on_config, hops);
            ASSERT_EQ(what, "") << "cancelled " << hops << " hops after the trigger\n" << cp.log();
        }
    }
};

std::string loopback() {
    return fmt::format("127.0.0.1:{}", free_port());
}

} // namespace

// Right after the upgrade: the writer sends basic_info and the first ping meanwhile.
TEST_F(session_cancel, a_terminal_cancel_during_the_first_writes_ends_run) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    auto options = dp_options(cp.address, cluster_mtls::shared);
    sweep(cp, options, [](const protocol::session_status& s) { return s.state == session_state::connected; });
}

// The verdict "withheld" arrives with a ping due at the same wake-up (doctor: the third ping).
TEST_F(session_cancel, a_terminal_cancel_when_the_config_is_withheld_ends_run) {
    // The DP advertises the bundled plugins only: the CP withholds a config that uses a custom one.
    write_atomically(config, sample_config(2, {"key-auth", "my-header-auth"}));
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    auto options = dp_options(cp.address, cluster_mtls::shared);
    options.timing.ping_interval = 100ms;
    sweep(cp, options, [](const protocol::session_status& s) { return s.config_withheld; });
}

// Kong's refusal: a close frame right after basic_info, while the node still answers it.
TEST_F(session_cancel, a_terminal_cancel_when_the_node_is_refused_ends_run) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    auto options = dp_options(cp.address, cluster_mtls::shared);
    options.node_version = "3.10.0.0";
    sweep(cp, options, [](const protocol::session_status& s) { return s.refused; });
}

// A config handed over (doctor: "admitted").
TEST_F(session_cancel, a_terminal_cancel_when_a_config_arrives_ends_run) {
    auto cp = start_cp("cp", loopback(), cluster_mtls::shared, config);
    auto options = dp_options(cp.address, cluster_mtls::shared);
    sweep(
        cp, options, [](const protocol::session_status&) { return false; }, true);
}
