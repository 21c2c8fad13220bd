// s3_transfer_bench: one S3 transfer with lifeboat's S3 store, as a process of its own so that
// bench/s3/run.sh can time it and read its peak RSS exactly as it does for curl, rclone and
// awscli (wall clock and max RSS of the whole process, start-up included).
//
//   s3_transfer_bench put FILE KEY    upload FILE (streamed from disk)
//   s3_transfer_bench get KEY FILE    download to FILE (streamed, crash-safe)
//
// Configuration from the environment, as the agent reads it: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_CONFIG_STORAGE_ENDPOINT, AWS_CA_BUNDLE, and
// S3_BENCH_BUCKET; S3_BENCH_UNSIGNED_PAYLOAD_OVER_TLS=on stands for the agent's
// s3_unsigned_payload_over_tls key. The other S3_BENCH_* knobs are for experiments.
#include "backends/s3/s3_store.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <sys/resource.h>

extern char** environ;

using namespace lifeboat;

int main(int argc, char** argv) {
    if (argc != 4 || (std::strcmp(argv[1], "put") != 0 && std::strcmp(argv[1], "get") != 0)) {
        std::fprintf(stderr, "usage: %s put FILE KEY | get KEY FILE\n", argv[0]);
        return 2;
    }
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
        const char* eq = std::strchr(*e, '=');
        if (eq)
            env.emplace(std::string(*e, static_cast<std::size_t>(eq - *e)), std::string(eq + 1));
    }
    const char* bucket = std::getenv("S3_BENCH_BUCKET");
    auto store_env = backends::store_environment::from(env);
    // The agent's s3_unsigned_payload_over_tls key, for the TLS rows.
    store_env.s3_unsigned_payload_over_tls = env["S3_BENCH_UNSIGNED_PAYLOAD_OVER_TLS"] == "on";
    auto options = s3::s3_options::from_environment(bucket ? bucket : "lifeboat-test", store_env);
    if (!options) {
        std::fprintf(stderr, "s3_transfer_bench: %s\n", options.error().c_str());
        return 2;
    }
    // Experiment knobs (sizes in MiB), to compare single PUTs with parallel multipart.
    if (const char* v = std::getenv("S3_BENCH_MULTIPART_THRESHOLD_MIB"))
        options->multipart_threshold = std::strtoull(v, nullptr, 10) << 20;
    if (const char* v = std::getenv("S3_BENCH_PART_SIZE_MIB"))
        options->part_size = std::strtoull(v, nullptr, 10) << 20;
    if (const char* v = std::getenv("S3_BENCH_CONCURRENCY"))
        options->multipart_concurrency = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    // And aws-chunked streaming against hashing the body first (a huge threshold: never stream).
    if (const char* v = std::getenv("S3_BENCH_STREAMING_THRESHOLD_MIB"))
        options->streaming_threshold = std::strtoull(v, nullptr, 10) << 20;
    if (const char* v = std::getenv("S3_BENCH_CHUNK_KIB"))
        options->streaming_chunk_size = std::strtoull(v, nullptr, 10) << 10;
    boost::asio::io_context ioc;
    auto store = s3::make_s3_store(ioc.get_executor(), std::move(*options));
    const bool put = std::strcmp(argv[1], "put") == 0;
    int rc = 1;
    const auto start = std::chrono::steady_clock::now();
    boost::asio::co_spawn(
        ioc,
        [&]() -> boost::asio::awaitable<void> {
            if (put) {
                auto body = backends::body_source::from_file(argv[2]);
                backends::put_options po;
                auto r = co_await store->put(argv[3], std::move(body), std::move(po));
                if (!r)
                    std::fprintf(stderr, "s3_transfer_bench: %s\n", r.error().to_string().c_str());
                rc = r ? 0 : 1;
            } else {
                auto r = co_await store->get_to_file(argv[2], argv[3]);
                if (!r)
                    std::fprintf(stderr, "s3_transfer_bench: %s\n", r.error().to_string().c_str());
                rc = r ? 0 : 1;
            }
        },
        boost::asio::detached);
    ioc.run();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::fprintf(stderr, "s3_transfer_bench: %s %.3f s in-process, peak RSS %ld KiB\n", argv[1], seconds,
                 ru.ru_maxrss);
    return rc;
}
