// The conditional-write probe: the file store and the (fake) GCS enforce conditions; wrapper
// stores that ignore them, in whole or in part, are caught.
#include "backends/file/file_store.hpp"
#include "backends/gcs/gcs_store.hpp"
#include "backends/probe.hpp"
#include "harness/test_env.hpp"
#include "stores/bent_store.hpp"
#include "stores/fake_gcs.hpp"
#include "stores/sync.hpp"

#include <gtest/gtest.h>

namespace lifeboat::backends {
namespace {

using test::run_sync;

std::size_t objects_in(object_store& store) {
    return run_sync(store.list(""))->size();
}

TEST(probe, the_file_store_enforces_conditional_writes_and_the_scratch_key_is_removed) {
    auto store = make_file_store(test::scratch_dir());
    auto report = run_sync(probe_conditional_writes_report(*store, "p/3.9.0.0/election/"));
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_TRUE(report->create_if_absent_enforced);
    EXPECT_TRUE(report->compare_and_swap_enforced);
    EXPECT_TRUE(report->enforced());
    EXPECT_TRUE(report->detail.empty()) << report->detail;
    EXPECT_TRUE(report->cleaned_up);
    EXPECT_EQ(report->scratch_key.rfind("p/3.9.0.0/election/conditional-write-probe-", 0), 0u);
    EXPECT_EQ(objects_in(*store), 0u);
    auto simple = run_sync(probe_conditional_writes(*store, "scratch"));
    ASSERT_TRUE(simple);
    EXPECT_TRUE(*simple);
}

TEST(probe, a_store_that_ignores_every_condition_is_caught) {
    bent_store store(make_file_store(test::scratch_dir()));
    store.rewrite_put = [](put_options& o) { o.condition = write_condition::none; };
    auto report = run_sync(probe_conditional_writes_report(store, "scratch/"));
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_FALSE(report->create_if_absent_enforced);
    EXPECT_FALSE(report->compare_and_swap_enforced);
    EXPECT_FALSE(report->enforced());
    EXPECT_NE(report->detail.find("a second create-if-absent write of one key succeeded"), std::string::npos);
    EXPECT_NE(report->detail.find("a compare-and-swap with a stale version succeeded"), std::string::npos);
    EXPECT_EQ(objects_in(store), 0u);
    EXPECT_FALSE(*run_sync(probe_conditional_writes(store, "scratch/")));
}

TEST(probe, a_store_that_ignores_only_if_match_is_caught) {
    bent_store store(make_file_store(test::scratch_dir()));
    store.rewrite_put = [](put_options& o) {
        if (o.condition == write_condition::if_match)
            o.condition = write_condition::none;
    };
    auto report = run_sync(probe_conditional_writes_report(store, "scratch/"));
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->create_if_absent_enforced);
    EXPECT_FALSE(report->compare_and_swap_enforced);
    EXPECT_EQ(report->detail, "a compare-and-swap with a stale version succeeded");
}

TEST(probe, a_store_that_refuses_even_the_right_version_is_not_usable) {
    bent_store store(make_file_store(test::scratch_dir()));
    store.rewrite_put = [](put_options& o) {
        if (o.condition == write_condition::if_match)
            o.expected_version = "wrong"; // like RGW's false 412 on a quoted ETag
    };
    auto report = run_sync(probe_conditional_writes_report(store, "scratch/"));
    ASSERT_TRUE(report);
    EXPECT_FALSE(report->compare_and_swap_enforced);
    EXPECT_NE(report->detail.find("a compare-and-swap with the current version was refused"),
              std::string::npos);
}

TEST(probe, a_version_that_never_changes_is_caught) {
    bent_store store(make_file_store(test::scratch_dir()));
    store.constant_version = true;
    auto report = run_sync(probe_conditional_writes_report(store, "scratch/"));
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->create_if_absent_enforced);
    EXPECT_FALSE(report->compare_and_swap_enforced);
    EXPECT_NE(report->detail.find("version did not change"), std::string::npos);
}

TEST(probe, a_store_without_conditional_headers_is_reported_not_failed) {
    bent_store store(make_file_store(test::scratch_dir()));
    store.fail_put = [](const put_options& o) -> std::optional<store_error> {
        if (o.condition == write_condition::none)
            return std::nullopt;
        return store_error{store_errc::server_error, 501, "NotImplemented",
                           "A header you provided implies "
                           "functionality that is not implemented",
                           "PUT x"};
    };
    auto report = run_sync(probe_conditional_writes_report(store, "scratch/"));
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_FALSE(report->enforced());
    EXPECT_NE(report->detail.find("NotImplemented"), std::string::npos);
}

TEST(probe, no_write_permission_is_an_error) {
    bent_store store(make_file_store(test::scratch_dir()));
    store.fail_put = [](const put_options&) -> std::optional<store_error> {
        return store_error{store_errc::access_denied, 403, "AccessDenied", "Access Denied", "PUT x"};
    };
    auto report = run_sync(probe_conditional_writes_report(store, "scratch/"));
    ASSERT_FALSE(report);
    EXPECT_EQ(report.error().code, store_errc::access_denied);
}

TEST(probe, a_scratch_key_that_cannot_be_removed_is_reported) {
    bent_store store(make_file_store(test::scratch_dir()));
    store.fail_remove = [] {
        return std::optional<store_error>(
            store_error{store_errc::access_denied, 403, "AccessDenied", "", "DELETE x"});
    };
    auto report = run_sync(probe_conditional_writes_report(store, "scratch/"));
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->enforced()); // the verdict stands
    EXPECT_FALSE(report->cleaned_up);
    EXPECT_NE(report->detail.find("could not be removed"), std::string::npos);
}

TEST(probe, gcs_generation_preconditions_pass_the_probe) {
    test::fake_gcs fake("bkt");
    fake.require_auth = false;
    boost::asio::io_context io;
    gcs_options o;
    o.bucket = "bkt";
    o.endpoint = fake.origin();
    o.credentials = gcs::anonymous{};
    auto store = make_gcs_store(io.get_executor(), o).value();
    auto report = run_sync(io, probe_conditional_writes_report(*store, "p/3.9.0.0/election/"));
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_TRUE(report->enforced()) << report->detail;
    EXPECT_TRUE(report->cleaned_up);
    EXPECT_TRUE((fake.lock(), fake.objects.empty()));
}

} // namespace
} // namespace lifeboat::backends
