// The elector scenarios (elector_scenarios.hpp) on the file store (a real directory shared by
// three store instances) and on the in-memory bucket, strict and lenient. The lenient bucket is
// the stand-in for stores that ignore conditional writes (s3rver, B2), which cannot run here.
#include "backends/file/file_store.hpp"
#include "election/elector_scenarios.hpp"
#include "election/memory_bucket.hpp"

#include <algorithm>
#include <unistd.h>

namespace lifeboat::test {
namespace {

// The bucket directory lives on tmpfs when there is one: three electors share one thread here,
// and the file store's fsyncs on a disk busy with parallel builds would stall them all (in
// production each process has its own thread). The code under test is the same.
std::filesystem::path file_bucket() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::filesystem::path shm = "/dev/shm";
    if (!std::filesystem::is_directory(shm) || !info)
        return scratch_dir() / "bucket";
    std::string name = info->name(); // "scenario/file"
    std::replace(name.begin(), name.end(), '/', '_');
    return shm / fmt::format("lifeboat-election-{}-{}", ::getpid(), name);
}

store_factory file_store() {
    return {"file", [](auto) { return backends::make_file_store(file_bucket()); }, true,
            [] {
                std::error_code ec;
                std::filesystem::remove_all(file_bucket(), ec);
            }};
}

store_factory memory(bool enforce) {
    // One bucket per test: the factory is called for each node of one fleet.
    auto bucket = std::make_shared<std::shared_ptr<memory_bucket>>();
    return {enforce ? "memory" : "memory_lenient",
            [bucket, enforce](boost::asio::any_io_executor) {
                const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
                static std::string owner;
                std::string me = info ? info->name() : "";
                if (!*bucket || owner != me) {
                    *bucket = std::make_shared<memory_bucket>();
                    (*bucket)->enforce_conditions = enforce;
                    owner = me;
                }
                return make_memory_store(*bucket);
            },
            enforce};
}

INSTANTIATE_TEST_SUITE_P(stores, elector_scenarios,
                         ::testing::Values(file_store(), memory(true), memory(false)),
                         [](const auto& info) { return info.param.name; });

} // namespace
} // namespace lifeboat::test
