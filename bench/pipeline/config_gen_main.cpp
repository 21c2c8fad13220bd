// pipeline_config_gen BYTES [SEED]: writes a synthetic Kong declarative config of about BYTES of
// compact JSON to stdout (bench/protocol/kong_config_gen.hpp), for bench/pipeline/run.sh.
#include "kong_config_gen.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: pipeline_config_gen BYTES [SEED]\n");
        return 2;
    }
    const auto bytes = std::strtoull(argv[1], nullptr, 10);
    const auto seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
    const std::string json = lifeboat::bench::make_kong_config(bytes, seed);
    return std::fwrite(json.data(), 1, json.size(), stdout) == json.size() ? 0 : 1;
}
