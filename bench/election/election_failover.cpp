// Failover time and request rate of the election, in-process, against a real store: N electors
// (each with its own store instance) elect a leader; the leader then either "crashes" (all its
// requests hang, so it neither renews nor deletes its registration, as after kill -9) or stops
// gracefully (deletes its registration). Measured: time until another node may export, time
// until the old leader stopped considering itself leader, and requests per node per minute.
//
//   election_failover --store file:///dev/shm/x | rgw [--nodes 3] [--interval-ms 1000] [--trials 5]
//
// Prints one markdown table row per scenario, with the bound the design promises side by side
// (lease + 2 intervals for a crash, one interval for a graceful stop) and Kong Enterprise's
// scheme at the same interval for comparison (a crashed Kong leader counts as fresh for
// interval + 5 s after its last refresh, and is noticed at the next round: 1-2 intervals + 5 s).
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
    std::chrono::milliseconds interval{1000};
    int trials = 5;
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
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i], v = argv[i + 1];
        if (a == "--store")
            o.store = v;
        else if (a == "--nodes")
            o.nodes = std::stoi(v);
        else if (a == "--interval-ms")
            o.interval = std::chrono::milliseconds(std::stoi(v));
        else if (a == "--trials")
            o.trials = std::stoi(v);
        else {
            std::cerr << "unknown option " << a << "\n";
            return 2;
        }
    }
    log::set_level(log::level::warn);
    const double interval_s = seconds(o.interval);
    const double lease_s = 3 * interval_s;

    stats crash, step_down, graceful, first;
    double requests_per_node_minute = 0;
    std::mt19937 rng(42);
    for (int t = 0; t < o.trials; ++t) {
        const std::string prefix = fmt::format("election-bench/{:08x}", rng());
        fleet f(o, prefix);
        if (auto d = f.until([&] { return f.leaders().size() == 1; }, 60s))
            first.add(seconds(*d));
        else {
            std::cerr << "no leader elected within 60 s\n";
            return 1;
        }
        // Steady state: count requests over three intervals.
        const auto before = f.requests();
        const auto steady = o.interval * 3;
        f.until([] { return false; }, steady);
        if (t == 0)
            requests_per_node_minute = double(f.requests() - before) / o.nodes * (60.0 / seconds(steady));

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
    }

    const double kong_lo = interval_s + 5, kong_hi = 2 * interval_s + 5;
    std::cout << fmt::format("| store | nodes | interval | scenario | measured min / median / max (s) | "
                             "bound (s) | Kong EE at this interval (s) |\n");
    std::cout << "|---|---|---|---|---|---|---|\n";
    auto row = [&](const char* scenario, stats& s, std::string bound, std::string kong) {
        std::cout << fmt::format("| {} | {} | {:g} s | {} | {} | {} | {} |\n", o.store, o.nodes, interval_s,
                                 scenario, s.summary(), bound, kong);
    };
    row("first election", first, fmt::format("<= {:g}", interval_s + 5), "-");
    row("crash: successor leads", crash,
        fmt::format("{:g} .. {:g}", lease_s - interval_s, lease_s + 2 * interval_s),
        fmt::format("{:g} .. {:g}", kong_lo, kong_hi));
    row("crash: old leader stops exporting", step_down, fmt::format("<= {:g}", lease_s - interval_s / 2),
        "never");
    row("graceful stop: successor leads", graceful, fmt::format("<= {:g}", interval_s), "as a crash");
    std::cout << fmt::format(
        "\nrequests per node per minute: {:.1f} (expected {:g}: PUT + LIST every interval)\n",
        requests_per_node_minute, 2 * 60 / interval_s);
    return 0;
}
