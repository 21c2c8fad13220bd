// pipeline_config_gen BYTES [SEED [HASH_FILE]]: writes a synthetic Kong declarative config of about
// BYTES of compact JSON to stdout (bench/protocol/kong_config_gen.hpp), for bench/pipeline/run.sh;
// with HASH_FILE, also Kong's config hash of it there (what a lifeboat exporter puts in the
// object's lifeboat-config-hash metadata).
#include "kong_config_gen.hpp"
#include "protocol/envelope.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: pipeline_config_gen BYTES [SEED [HASH_FILE]]\n");
        return 2;
    }
    const auto bytes = std::strtoull(argv[1], nullptr, 10);
    const auto seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
    const std::string json = lifeboat::bench::make_kong_config(bytes, seed);
    if (argc > 3) {
        auto snap =
            lifeboat::protocol::snapshot_from_config_table(json, lifeboat::protocol::config_source::none);
        if (!snap) {
            std::fprintf(stderr, "pipeline_config_gen: %s\n", snap.error().c_str());
            return 1;
        }
        std::ofstream(argv[3]) << snap.value()->hash << '\n';
    }
    return std::fwrite(json.data(), 1, json.size(), stdout) == json.size() ? 0 : 1;
}
