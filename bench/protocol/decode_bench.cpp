// From a received reconfigure frame to a validated config snapshot, against the floor measured in
// the same run: zlib inflate plus a Boost.JSON parse of the same bytes (what any DP must do at
// least). Configs of 1 MiB and 50 MiB of JSON, gzipped at zlib's default level as Kong's CP does.
#include "base/gzip.hpp"
#include "bench/protocol/kong_config_gen.hpp"
#include "protocol/envelope.hpp"
#include "protocol/kong_hash.hpp"

#include <boost/json.hpp>

#include <benchmark/benchmark.h>

#include <map>
#include <memory>

using namespace lifeboat;

namespace {

constexpr std::size_t max_inflated = std::size_t(512) << 20;

struct fixture {
    std::string config;             // the config_table text
    std::string frame;              // gzip(envelope with config_hash), as a Kong CP sends it
    std::string frame_without_hash; // a CP that leaves the hash to the DP
};

const fixture& data(std::size_t mib) {
    static std::map<std::size_t, std::unique_ptr<fixture>> cache;
    auto& f = cache[mib];
    if (!f) {
        f = std::make_unique<fixture>();
        f->config = bench::make_kong_config(mib << 20);
        const auto hashes = protocol::kong_config_hashes(boost::json::parse(f->config).get_object());
        f->frame = gzip_compress(protocol::make_reconfigure_envelope(f->config, hashes, 1.7e9));
        f->frame_without_hash =
            gzip_compress(R"({"type":"reconfigure","timestamp":1.7e9,"config_table":)" + f->config + "}");
    }
    return *f;
}

void report(benchmark::State& state, const fixture& f, std::size_t frame_bytes) {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * f.config.size()));
    state.counters["json_bytes"] = static_cast<double>(f.config.size());
    state.counters["frame_bytes"] = static_cast<double>(frame_bytes);
}

// The floor: inflate the frame into a string, parse it into a DOM.
void BM_floor(benchmark::State& state) {
    const auto& f = data(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        std::string text;
        if (inflate_all(f.frame, max_inflated, text) != inflate_status::done)
            state.SkipWithError("inflate failed");
        auto v = boost::json::parse(text);
        benchmark::DoNotOptimize(v);
    }
    report(state, f, f.frame.size());
}

// lifeboat: streaming inflate into a validating SAX parse; the config stays as received text.
void BM_decode(benchmark::State& state) {
    const auto& f = data(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        auto r = protocol::decode_reconfigure_frame(f.frame, {max_inflated});
        if (!r)
            state.SkipWithError(r.error().c_str());
        benchmark::DoNotOptimize(r);
    }
    report(state, f, f.frame.size());
}

// The same without config_hash in the frame: Kong's hash computed by the DP (DOM + sorted MD5).
void BM_decode_computing_hash(benchmark::State& state) {
    const auto& f = data(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        auto r = protocol::decode_reconfigure_frame(f.frame_without_hash, {max_inflated});
        if (!r)
            state.SkipWithError(r.error().c_str());
        benchmark::DoNotOptimize(r);
    }
    report(state, f, f.frame_without_hash.size());
}

// A config read back from the cache or the fallback bucket: validated and hashed.
void BM_stored_config(benchmark::State& state) {
    const auto& f = data(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        auto r = protocol::snapshot_from_config_table(f.config, protocol::config_source::fallback);
        if (!r)
            state.SkipWithError(r.error().c_str());
        benchmark::DoNotOptimize(r);
    }
    report(state, f, f.config.size());
}

} // namespace

BENCHMARK(BM_floor)->Arg(1)->Arg(50)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_decode)->Arg(1)->Arg(50)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_decode_computing_hash)->Arg(1)->Arg(50)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_stored_config)->Arg(1)->Arg(50)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
