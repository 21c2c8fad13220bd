// The elector scenarios (elector_scenarios.hpp) on the file store (a real directory shared by
// three store instances) and on the in-memory bucket, strict and lenient. The lenient bucket
// ignores conditional writes as s3rver does (elector_s3rver_test.cpp runs the same scenarios on
// the real s3rver) and as B2 and other S3-compatible stores may.
#include "backends/file/file_store.hpp"
#include "election/elector_scenarios.hpp"
#include "election/memory_bucket.hpp"

#include <algorithm>
#include <fcntl.h>
#include <sys/stat.h>
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

// Issue #19 on the file store, with the real "day": a registration whose file has not changed
// for two days (its mtime against this machine's clock, the store's clock here) is deleted by the
// leader at its first round; one 23 hours old is kept.
TEST(elector_file_store, the_leader_deletes_a_registration_stale_for_a_day) {
    fleet f(file_store(), 1);
    const auto stale = f.election_prefix + "1000-gone-two-days";
    const auto recent = f.election_prefix + "1001-gone-23-hours";
    const auto plant = [&](const std::string& key, std::chrono::hours age) {
        ASSERT_TRUE(f.await(f.stores[0]->put(key, backends::body_source::from_string(R"({"node_id":"x"})"),
                                             backends::put_options{})));
        const auto path = file_bucket() / key;
        const auto when = std::chrono::system_clock::now() - age;
        const timespec t{std::chrono::system_clock::to_time_t(when), 0};
        const timespec times[2] = {t, t};
        ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
    };
    plant(stale, std::chrono::hours(48));
    plant(recent, std::chrono::hours(23));
    ASSERT_TRUE(f.run_until([&] { return f[0].status().counters.forgotten_registrations >= 1; }, 10s));
    auto gone = f.await(f.stores[0]->head(stale));
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().code, backends::store_errc::not_found);
    f.run_for(2s);
    EXPECT_TRUE(f.await(f.stores[0]->head(recent)));
    EXPECT_EQ(f[0].status().counters.forgotten_registrations, 1u);
}

INSTANTIATE_TEST_SUITE_P(stores, elector_scenarios,
                         ::testing::Values(file_store(), memory(true), memory(false)),
                         [](const auto& info) { return info.param.name; });

} // namespace
} // namespace lifeboat::test
