// The storage doctor's verdicts, against the file store (with bent_store for what a test cannot
// make the file store do as root: refuse writes, skew its clock) and the fake GCS.
#include "backends/doctor.hpp"
#include "backends/file/file_store.hpp"
#include "backends/gcs/gcs_store.hpp"
#include "base/atomic_file.hpp"
#include "harness/test_env.hpp"
#include "stores/bent_store.hpp"
#include "stores/fake_gcs.hpp"
#include "stores/sync.hpp"

#include <gtest/gtest.h>

namespace lifeboat::backends {
namespace {

using test::run_sync;

doctor_input input_for(const std::string& url, bool import, bool export_) {
    doctor_input in;
    in.storage_url = url;
    in.key_prefix = "p";
    in.node_version = "3.9.0.0";
    in.import_enabled = import;
    in.export_enabled = export_;
    return in;
}

const doctor_check& check(const doctor_report& r, const std::string& name) {
    for (const auto& c : r.checks)
        if (c.name == name)
            return c;
    static const doctor_check missing{"missing", verdict::fail, "no such check"};
    ADD_FAILURE() << "no check " << name;
    return missing;
}

void put_backup(object_store& store, const std::string& key, const std::string& body,
                boost::asio::io_context* io = nullptr) {
    auto task = store.put(key, body_source::from_string(body), {});
    ASSERT_TRUE(io ? run_sync(*io, std::move(task)) : run_sync(std::move(task)));
}

store_error denied() {
    return store_error{store_errc::access_denied, 403, "AccessDenied", "Access Denied", "PUT"};
}

TEST(doctor, a_healthy_exporter_on_the_file_store) {
    const auto root = test::scratch_dir();
    auto store = make_file_store(root);
    put_backup(*store, "p/3.9.0.0/config.json", R"({"_format_version":"3.0"})");
    auto report = run_sync(run_doctor(*store, input_for("file://" + root.string(), true, true)));
    EXPECT_EQ(report.overall(), verdict::ok) << report.render();
    EXPECT_EQ(check(report, "store").reason, "file://" + root.string() + ", this node imports and exports");
    EXPECT_EQ(check(report, "list").reason, "1 object under p/3.9.0.0/");
    EXPECT_NE(check(report, "read backup").reason.find("p/3.9.0.0/config.json: 25 bytes of JSON, written "),
              std::string::npos);
    EXPECT_EQ(check(report, "write").reason, "can write (a scratch object was written and removed)");
    EXPECT_EQ(check(report, "conditional").reason,
              "the store enforces create-if-absent and compare-and-swap");
    EXPECT_EQ(check(report, "clock").reason, "the file store shares this machine's clock");
    EXPECT_EQ(report.render().substr(report.render().rfind("verdict")), "verdict: ok\n");
    // Nothing but the backup is left behind.
    EXPECT_EQ(run_sync(store->list(""))->size(), 1u);
}

TEST(doctor, an_importer_that_can_write_is_warned) {
    auto store = make_file_store(test::scratch_dir());
    put_backup(*store, "p/3.9.0.0/config.json", "{}");
    auto report = run_sync(run_doctor(*store, input_for("file:///x", true, false)));
    EXPECT_EQ(report.overall(), verdict::warn) << report.render();
    EXPECT_EQ(check(report, "write").level, verdict::warn);
    EXPECT_NE(check(report, "write").reason.find("give importers read-only access"), std::string::npos);
    EXPECT_NE(report.render().find("verdict: warn (1 warning)"), std::string::npos) << report.render();
}

TEST(doctor, an_importer_with_read_only_credentials_is_fine) {
    bent_store store(make_file_store(test::scratch_dir()));
    put_backup(store, "p/3.9.0.0/config.json", "{}");
    store.fail_put = [](const put_options&) { return std::optional<store_error>(denied()); };
    auto report = run_sync(run_doctor(store, input_for("s3://b/p", true, false)));
    EXPECT_EQ(report.overall(), verdict::ok) << report.render();
    EXPECT_EQ(
        check(report, "write").reason,
        "cannot write (access denied: HTTP 403 AccessDenied), as a node that does not export should not");
    EXPECT_EQ(check(report, "conditional").reason, "not checked: this node cannot write");
}

TEST(doctor, an_exporter_that_cannot_write_fails) {
    bent_store store(make_file_store(test::scratch_dir()));
    store.fail_put = [](const put_options&) { return std::optional<store_error>(denied()); };
    auto report = run_sync(run_doctor(store, input_for("s3://b/p", false, true)));
    EXPECT_EQ(report.overall(), verdict::fail) << report.render();
    EXPECT_EQ(check(report, "write").level, verdict::fail);
    EXPECT_NE(check(report, "write").reason.find("an exporter must write p/3.9.0.0/config.json"),
              std::string::npos);
    EXPECT_EQ(check(report, "conditional").level, verdict::fail);
    EXPECT_EQ(check(report, "read backup").level, verdict::warn); // the exporter will write it
}

TEST(doctor, a_missing_backup_fails_an_importer_and_names_the_versions_that_exist) {
    auto store = make_file_store(test::scratch_dir());
    put_backup(*store, "p/3.8.0.0/config.json", "{}");
    put_backup(*store, "p/3.10.0.0/config.json", "{}");
    put_backup(*store, "p/3.10.0.0/election/n1", "{}");
    auto report = run_sync(run_doctor(*store, input_for("file:///x", true, false)));
    EXPECT_EQ(report.overall(), verdict::fail);
    const auto& read = check(report, "read backup");
    EXPECT_EQ(read.level, verdict::fail);
    EXPECT_EQ(read.reason,
              "no backup at p/3.9.0.0/config.json (the bucket has backups for 3.10.0.0, 3.8.0.0; the "
              "key follows node_version exactly): a new node could not provision itself from the bucket");
    EXPECT_EQ(check(report, "list").reason, "no objects under p/3.9.0.0/ yet");
}

TEST(doctor, a_backup_that_is_not_json_fails) {
    auto store = make_file_store(test::scratch_dir());
    put_backup(*store, "p/3.9.0.0/config.json", "{\"truncated\":");
    auto report = run_sync(run_doctor(*store, input_for("file:///x", true, true)));
    EXPECT_EQ(check(report, "read backup").level, verdict::fail);
    EXPECT_NE(check(report, "read backup").reason.find("not JSON"), std::string::npos);
}

TEST(doctor, a_store_that_ignores_conditions_warns_an_exporter) {
    bent_store store(make_file_store(test::scratch_dir()));
    store.rewrite_put = [](put_options& o) { o.condition = write_condition::none; };
    auto report = run_sync(run_doctor(store, input_for("s3://b/p", false, true)));
    EXPECT_EQ(check(report, "conditional").level, verdict::warn);
    EXPECT_NE(check(report, "conditional").reason.find("leader terms cannot be fenced"), std::string::npos);
    auto importer = run_sync(run_doctor(store, input_for("s3://b/p", true, false)));
    EXPECT_EQ(check(importer, "conditional").level, verdict::ok);
}

TEST(doctor, an_unreachable_store_fails_every_check_without_noise) {
    bent_store store(make_file_store(test::scratch_dir()));
    store.fail_list = [] {
        return std::optional<store_error>(
            store_error{store_errc::network, 0, "", "connect 127.0.0.1:1: connection refused", "LIST"});
    };
    auto report = run_sync(run_doctor(store, input_for("s3://b/p", true, true)));
    EXPECT_EQ(report.overall(), verdict::fail);
    EXPECT_NE(check(report, "list").reason.find("connection refused"), std::string::npos);
    EXPECT_EQ(check(report, "write").reason,
              "not checked: the store cannot be reached with these credentials");
}

TEST(doctor, clock_skew_against_the_store_date) {
    const auto now = wall_clock::time_point(std::chrono::seconds(1'800'000'000));
    auto verdict_for = [&](std::chrono::milliseconds store_ahead) {
        bent_store store(make_file_store(test::scratch_dir()));
        store.kind_override = store_kind::s3;
        store.server_date = now + store_ahead - std::chrono::milliseconds(500);
        auto in = input_for("s3://b/p", false, true);
        in.now = [&] { return now; };
        auto report = run_sync(run_doctor(store, in));
        return check(report, "clock");
    };
    auto ok = verdict_for(std::chrono::milliseconds(1200));
    EXPECT_EQ(ok.level, verdict::ok);
    EXPECT_EQ(ok.reason, "1.2 s behind the store's clock");
    auto warn = verdict_for(std::chrono::seconds(-10));
    EXPECT_EQ(warn.level, verdict::warn);
    EXPECT_NE(warn.reason.find("10.0 s ahead of the store's clock"), std::string::npos);
    auto fail = verdict_for(std::chrono::minutes(20));
    EXPECT_EQ(fail.level, verdict::fail);
    EXPECT_NE(fail.reason.find("run NTP"), std::string::npos);
}

TEST(doctor, gcs_through_the_fake_reports_its_clock) {
    test::fake_gcs fake("bkt");
    fake.require_auth = false;
    fake.date = wall_clock::now() + std::chrono::seconds(42);
    boost::asio::io_context io;
    gcs_options o;
    o.bucket = "bkt";
    o.endpoint = fake.origin();
    o.credentials = gcs::anonymous{};
    auto store = make_gcs_store(io.get_executor(), o).value();
    put_backup(*store, "p/3.9.0.0/config.json", "{}", &io);
    auto report = run_sync(io, run_doctor(*store, input_for("gcs://bkt/p", true, true)));
    EXPECT_EQ(check(report, "read backup").level, verdict::ok) << report.render();
    EXPECT_EQ(check(report, "conditional").level, verdict::ok) << report.render();
    EXPECT_EQ(check(report, "clock").level, verdict::warn) << report.render();
    EXPECT_NE(check(report, "clock").reason.find("behind the store's clock"), std::string::npos);
}

} // namespace
} // namespace lifeboat::backends
