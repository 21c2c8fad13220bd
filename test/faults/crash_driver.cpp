// The program whose file-system calls crash_consistency_test records (strace -f) and replays: it
// runs one config through the agent's own pipeline, exactly as `lifeboat run` would, and exits.
//
//   crash_driver apply  <prefix> <gateway file> <config file>   a config from the CP: cached
//                                                                (config_cache::store), then
//                                                                handed to a file gateway
//   crash_driver import <prefix> <gateway file> <config file>   a streamed import from the bucket:
//                                                                pieces into the staged cache and
//                                                                gateway files, then committed
//
// Exits 0 once the pipeline reported the config cached and at the gateway, 1 otherwise.
#include "agent/config_pipeline.hpp"
#include "agent/handoff.hpp"
#include "base/atomic_file.hpp"
#include "stores/sync.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <string_view>

using namespace lifeboat;

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: crash_driver apply|import <prefix> <gateway file> <config file>\n");
        return 2;
    }
    const std::string_view mode = argv[1];
    auto text = read_whole_file(argv[4]);
    if (!text) {
        std::fprintf(stderr, "%s\n", text.error().c_str());
        return 2;
    }
    boost::asio::io_context io;
    agent::settings s;
    s.prefix = argv[2];
    s.gateway_handoff = agent::handoff_kind::file;
    s.gateway_config_path = argv[3];
    s.gateway_reload_command = "true";
    agent::agent_status status;
    agent::config_pipeline pipeline(io.get_executor(), s, status, agent::make_handoff(io.get_executor(), s));

    bool ok = false;
    if (mode == "apply") {
        auto snapshot =
            protocol::snapshot_from_config_table(text.value(), protocol::config_source::control_plane);
        if (!snapshot) {
            std::fprintf(stderr, "%s\n", snapshot.error().c_str());
            return 2;
        }
        ok = test::run_sync(io, pipeline.apply(snapshot.value()));
    } else if (mode == "import") {
        auto in = pipeline.receive();
        const std::string_view all = text.value();
        in->start(all.size());
        for (std::size_t at = 0; at < all.size(); at += 4096)
            if (auto refused = in->write(all.substr(at, 4096))) {
                std::fprintf(stderr, "refused: %s\n", refused->c_str());
                return 2;
            }
        if (auto r = in->finish(); !r) {
            std::fprintf(stderr, "refused: %s\n", r.error().c_str());
            return 2;
        }
        ok = test::run_sync(io, pipeline.apply_incoming(std::move(in), nullptr));
    } else {
        std::fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    ok = ok && status.cache.state == "written" && status.handoff.state == "ok";
    std::printf("%s %s cache=%s handoff=%s\n", ok ? "ok" : "failed", status.config.hash.c_str(),
                status.cache.state.c_str(), status.handoff.state.c_str());
    return ok ? 0 : 1;
}
