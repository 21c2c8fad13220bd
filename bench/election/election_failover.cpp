// Failover time and request rate of the election, in-process, against a real store: N electors
// (each with its own store instance) elect a leader; the leader then either "crashes" (all its
// requests hang, so it neither renews nor deletes its registration, as after kill -9) or stops
// gracefully (deletes its registration). Measured: time until another node may export, time
// until the old leader stopped considering itself leader, and requests per node per minute.
//
//   election_failover --store file:///dev/shm/x | rgw [--nodes 3] [--interval-ms 5000]
//                     [--lease-rounds 2] [--trials 5] [--rate-intervals 6] [--header]
//
// Prints one markdown table row per scenario, with the bound the design promises side by side
// and Kong Enterprise's scheme at the same interval for comparison (a crashed Kong leader counts
// as fresh for interval + 5 s after its last refresh, and is noticed at the next round: 1-2
// intervals + 5 s). The bounds: a crashed leader is replaced lease - interval .. lease + interval
// after it died (a follower sees its last heartbeat up to an interval late, and runs an extra
// round the moment the lease ends), plus that round's 4 requests (PUT registration, LIST, PUT
// term, GET term); a stopped leader within an interval plus those 4 requests. "4 requests" is
// measured: 4 x the mean request time of the live nodes in steady state.
//
// Requests per node per minute are counted in steady state only: after every node finished two
// rounds (the first round adds the conditional-write probe, 6 requests, and the new leader a term,
// 2 requests), over --rate-intervals whole intervals. Failed rounds of live nodes (timeouts,
// errors) are counted and reported: the crashed node's own timeouts are expected and not shown.
#include "backends/file/file_store.hpp"
#include "backends/layout.hpp"
#include "backends/s3/s3_store.hpp"
#include "base/log.hpp"
#include "election/elector.hpp"
#include "test/election/gated_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace lifeboat;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

struct options {
    std::string store = "file:///dev/shm/lifeboat-election-bench";
    int nodes = 3;
    std::chrono::milliseconds interval{election::elector_options{}.interval};
    unsigned lease_rounds = election::elector_options{}.lease_rounds;
    int trials = 5;
    int rate_intervals = 6;
    bool header = false;
};

std::unique_ptr<backends::object_store> make_store(const options& o, boost::asio::any_io_executor ex) {
    if (o.store.starts_with("file://"))
        return backends::make_file_store(o.store.substr(7));
    // "rgw": the test fixture's Ceph RGW (test/harness/rgw.sh) on loopback.
    backends::store_environment env;
    env.aws_access_key_id = "AKIATESTTESTTEST0001";
    env.aws_secret_access_key = "testsecret0123456789";
    env.aws_region = "us-east-1";
    env.aws_endpoint = "http://127.0.0.1:17480";
    env.aws_ec2_metadata_disabled = true;
    auto s3o = s3::s3_options::from_environment("lifeboat-test", env);
    if (!s3o) {
        std::cerr << s3o.error() << "\n";
        std::exit(2);
    }
    return s3::make_s3_store(std::move(ex), std::move(*s3o));
}

struct fleet {
    boost::asio::io_context io;
    std::vector<std::unique_ptr<test::gated_store>> stores;
    std::vector<std::unique_ptr<election::elector>> electors;

    fleet(const options& o, const std::string& prefix) {
        for (int i = 0; i < o.nodes; ++i) {
            stores.push_back(std::make_unique<test::gated_store>(make_store(o, io.get_executor())));
            election::elector_options eo;
            eo.election_prefix = backends::election_prefix(prefix, "3.9.0.0");
            eo.node_id = fmt::format("bench-{}", i + 1);
            eo.interval = o.interval;
            eo.lease_rounds = o.lease_rounds;
            electors.push_back(std::make_unique<election::elector>(*stores.back(), eo));
            boost::asio::co_spawn(io, electors.back()->run(), boost::asio::detached);
        }
    }
    ~fleet() {
        for (auto& s : stores)
            s->held = false;
        for (auto& e : electors)
            e->stop();
        io.restart();
        io.run_for(3s);
    }

    std::vector<int> leaders() const {
        std::vector<int> out;
        for (int i = 0; i < int(electors.size()); ++i)
            if (electors[i]->is_leader())
                out.push_back(i);
        return out;
    }

    // Runs the io_context until pred() holds; the time it took, or nullopt after `limit`.
    template <class Pred>
    std::optional<clock_type::duration> until(Pred pred, clock_type::duration limit) {
        const auto start = clock_type::now();
        while (!pred()) {
            if (clock_type::now() - start > limit)
                return std::nullopt;
            io.restart();
            io.run_for(1ms);
        }
        return clock_type::now() - start;
    }

    std::size_t requests() const {
        std::size_t n = 0;
        for (const auto& s : stores)
            n += s->requests;
        return n;
    }
    clock_type::duration busy() const {
        clock_type::duration d{};
        for (const auto& s : stores)
            d += s->busy;
        return d;
    }
    std::uint64_t min_rounds() const {
        std::uint64_t m = UINT64_MAX;
        for (const auto& e : electors)
            m = std::min(m, e->status().counters.rounds);
        return m;
    }
    std::uint64_t failed_rounds(int except = -1) const {
        std::uint64_t n = 0;
        for (int i = 0; i < int(electors.size()); ++i)
            if (i != except)
                n += electors[i]->status().counters.failed_rounds;
        return n;
    }
};

double seconds(clock_type::duration d) {
    return std::chrono::duration<double>(d).count();
}

struct stats {
    std::vector<double> v;
    void add(double x) { v.push_back(x); }
    std::string summary() {
        if (v.empty())
            return "n/a";
        std::sort(v.begin(), v.end());
        return fmt::format("{:.2f} / {:.2f} / {:.2f}", v.front(), v[v.size() / 2], v.back());
    }
};

} // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--header") {
            o.header = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::cerr << "missing value for " << a << "\n";
            return 2;
        }
        std::string v = argv[++i];
        if (a == "--store")
            o.store = v;
        else if (a == "--nodes")
            o.nodes = std::stoi(v);
        else if (a == "--interval-ms")
            o.interval = std::chrono::milliseconds(std::stoi(v));
        else if (a == "--lease-rounds")
            o.lease_rounds = unsigned(std::stoi(v));
        else if (a == "--trials")
            o.trials = std::stoi(v);
        else if (a == "--rate-intervals")
            o.rate_intervals = std::stoi(v);
        else {
            std::cerr << "unknown option " << a << "\n";
            return 2;
        }
    }
    // The crashed node's requests time out by design; live nodes' failures are counted instead.
    log::set_level(log::level::error);
    const double interval_s = seconds(o.interval);
    const double lease_s = o.lease_rounds * interval_s;

    stats crash, step_down, graceful, first;
    double requests_per_node_minute = 0;
    double mean_request_s = 0;
    std::uint64_t live_failed_rounds = 0;
    std::mt19937 rng(std::random_device{}());
    for (int t = 0; t < o.trials; ++t) {
        const std::string prefix = fmt::format("election-bench/{:08x}", rng());
        fleet f(o, prefix);
        if (auto d = f.until([&] { return f.leaders().size() == 1; }, 60s))
            first.add(seconds(*d));
        else {
            std::cerr << "no leader elected within 60 s\n";
            return 1;
        }
        if (t == 0) {
            // Steady state: every node past its first two rounds, then whole intervals.
            f.until([&] { return f.min_rounds() >= 2; }, 60s);
            const auto before = f.requests();
            const auto busy_before = f.busy();
            const auto window = o.interval * o.rate_intervals;
            f.until([] { return false; }, window);
            const auto n = f.requests() - before;
            requests_per_node_minute = double(n) / o.nodes * (60.0 / seconds(window));
            mean_request_s = n ? seconds(f.busy() - busy_before) / double(n) : 0;
        }

        // Crash: the leader's requests hang from now on.
        int old = f.leaders().front();
        f.stores[old]->held = true;
        const auto crashed_at = clock_type::now();
        std::optional<clock_type::duration> old_gone;
        auto d = f.until(
            [&] {
                if (!old_gone && !f.electors[old]->is_leader())
                    old_gone = clock_type::now() - crashed_at;
                for (int i : f.leaders())
                    if (i != old)
                        return true;
                return false;
            },
            120s);
        if (!d) {
            std::cerr << "no failover within 120 s\n";
            return 1;
        }
        crash.add(seconds(*d));
        if (old_gone)
            step_down.add(seconds(*old_gone));

        // Graceful: the new leader stops.
        int next = -1;
        for (int i : f.leaders())
            if (i != old)
                next = i;
        f.electors[next]->stop();
        auto g = f.until(
            [&] {
                for (int i : f.leaders())
                    if (i != old && i != next)
                        return true;
                return false;
            },
            120s);
        if (g)
            graceful.add(seconds(*g));
        live_failed_rounds += f.failed_rounds(old);
    }

    const double round_s = 4 * mean_request_s;
    const double kong_lo = interval_s + 5, kong_hi = 2 * interval_s + 5;
    if (o.header) {
        std::cout << "| store | nodes | interval / lease | scenario | measured min / median / max (s) | "
                     "bound (s) | Kong EE at this interval (s) |\n";
        std::cout << "|---|---|---|---|---|---|---|\n";
    }
    const std::string store = o.store.starts_with("file://") ? "file (tmpfs)" : "Ceph RGW";
    auto row = [&](const std::string& scenario, const std::string& measured, std::string bound,
                   std::string kong) {
        std::cout << fmt::format("| {} | {} | {:g} s / {:g} s | {} | {} | {} | {} |\n", store, o.nodes,
                                 interval_s, lease_s, scenario, measured, bound, kong);
    };
    row("first election", first.summary(), fmt::format("<= {:g} + a round", std::min(interval_s, 5.0)), "-");
    row("crash: successor leads", crash.summary(),
        fmt::format("{:g} .. {:.2f}", lease_s - interval_s, lease_s + interval_s + round_s),
        fmt::format("{:g} .. {:g}", kong_lo, kong_hi));
    row("crash: old leader stops exporting", step_down.summary(),
        fmt::format("<= {:g}", lease_s - interval_s / 2), "never");
    row("graceful stop: successor leads", graceful.summary(), fmt::format("<= {:.2f}", interval_s + round_s),
        "as a crash");
    row("requests per node per minute (steady)", fmt::format("{:.1f}", requests_per_node_minute),
        fmt::format("{:g} (PUT + LIST per interval)", 2 * 60 / interval_s),
        fmt::format("{:.2f} at its default 600 s", 2 * 60 / 600.0));
    row("mean request; failed rounds of live nodes",
        fmt::format("{:.1f} ms; {}", mean_request_s * 1000, live_failed_rounds), "-; 0", "-");
    return 0;
}
