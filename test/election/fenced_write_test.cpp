// The decisions of one fenced upload, fed by hand.
#include "election/fenced_write.hpp"

#include <gtest/gtest.h>

namespace lifeboat::election {
namespace {

using backends::object_info;
using backends::store_errc;
using backends::store_error;
using backends::write_condition;

const std::string key = "p/3.9.0.0/config.json";

object_info bucket_object(std::string term, std::string cp, std::string hash = "h",
                          std::string etag = "etag-1") {
    object_info o;
    o.key = key;
    o.etag = std::move(etag);
    if (!term.empty())
        o.metadata["lifeboat-term"] = std::move(term);
    if (!cp.empty())
        o.metadata["lifeboat-cp-timestamp"] = std::move(cp);
    if (!hash.empty())
        o.metadata["lifeboat-config-hash"] = std::move(hash);
    return o;
}

store_error error(store_errc code, int status = 0) {
    store_error e;
    e.code = code;
    e.http_status = status;
    return e;
}

fenced_write writer(std::uint64_t term = 3, double cp = 1700000000.5, std::string hash = "h2",
                    bool conditional = true) {
    backends::put_options o;
    o.content_type = "application/json";
    o.metadata["custom"] = "kept";
    o.s3_fields["ServerSideEncryption"] = "aws:kms";
    return fenced_write(key, o, term, "node-1", {cp, std::move(hash)}, conditional);
}

fw::put as_put(const fenced_action& a) {
    EXPECT_TRUE(std::holds_alternative<fw::put>(a));
    return std::holds_alternative<fw::put>(a) ? std::get<fw::put>(a) : fw::put{};
}

fenced_put_result as_done(const fenced_action& a) {
    EXPECT_TRUE(std::holds_alternative<fw::done>(a));
    return std::holds_alternative<fw::done>(a) ? std::get<fw::done>(a).result : fenced_put_result{};
}

TEST(fenced_write, creates_the_object_only_if_it_is_still_absent) {
    auto w = writer();
    EXPECT_EQ(std::get<fw::head>(w.start()).key, key);
    auto put = as_put(w.on_head(lifeboat::failure{error(store_errc::not_found, 404)}));
    EXPECT_EQ(put.key, key);
    EXPECT_EQ(put.options.condition, write_condition::if_absent);
    EXPECT_EQ(put.options.content_type, "application/json");
    EXPECT_EQ(put.options.s3_fields.at("ServerSideEncryption"), "aws:kms");
    EXPECT_EQ(put.options.metadata.at("custom"), "kept");
    EXPECT_EQ(put.options.metadata.at("uploader"), "node-1"); // Kong's
    EXPECT_EQ(put.options.metadata.at("lifeboat-term"), "3");
    EXPECT_EQ(put.options.metadata.at("lifeboat-cp-timestamp"), "1700000000.5");
    EXPECT_EQ(put.options.metadata.at("lifeboat-config-hash"), "h2");
    object_info written;
    written.etag = "new";
    auto r = as_done(w.on_put(written));
    EXPECT_EQ(r.outcome, fenced_outcome::uploaded);
    EXPECT_EQ(r.object.etag, "new");
    EXPECT_TRUE(r.conditional);
    EXPECT_EQ(r.term, 3u);
}

TEST(fenced_write, replaces_an_older_config_with_a_compare_and_swap_on_the_version_read) {
    auto w = writer();
    (void)w.start();
    auto put = as_put(w.on_head(bucket_object("3", "1700000000.25", "h1", "etag-7")));
    EXPECT_EQ(put.options.condition, write_condition::if_match);
    EXPECT_EQ(put.options.expected_version, "etag-7");

    auto gcs = writer();
    (void)gcs.start();
    auto o = bucket_object("2", "1", "h1", "etag");
    o.generation = "1712345678901234";
    EXPECT_EQ(as_put(gcs.on_head(o)).options.expected_version, "1712345678901234");
}

TEST(fenced_write, a_higher_term_in_the_bucket_means_this_node_no_longer_leads) {
    auto w = writer(3);
    (void)w.start();
    auto r = as_done(w.on_head(bucket_object("4", "1600000000")));
    EXPECT_EQ(r.outcome, fenced_outcome::not_leader);
    EXPECT_EQ(r.bucket_term, 4u);
    EXPECT_NE(r.detail.find("term 4"), std::string::npos) << r.detail;
}

TEST(fenced_write, a_key_of_another_versions_folder_carries_and_compares_no_term) {
    // term 0 (term_scope::other_version): that folder's election wrote term 9; it is not ours to
    // compare, and the object must not carry a term that would depose that election's leader.
    auto w = writer(0, 1700000000.5);
    (void)w.start();
    auto put = as_put(w.on_head(bucket_object("9", "1700000000.25", "h1", "etag-9")));
    EXPECT_EQ(put.options.condition, write_condition::if_match);
    EXPECT_EQ(put.options.metadata.at("lifeboat-term"), "0");
    // The CP timestamp still orders it: never a newer config replaced.
    auto older = writer(0, 1600000000);
    (void)older.start();
    EXPECT_EQ(as_done(older.on_head(bucket_object("9", "1700000000.25"))).outcome,
              fenced_outcome::superseded);
}

TEST(fenced_write, never_replaces_a_newer_config) {
    auto w = writer(3, 1700000000.5);
    (void)w.start();
    auto r = as_done(w.on_head(bucket_object("2", "1700000000.75")));
    EXPECT_EQ(r.outcome, fenced_outcome::superseded);
    // An unknown timestamp (0) never replaces a known one.
    auto unknown = writer(3, 0);
    (void)unknown.start();
    EXPECT_EQ(as_done(unknown.on_head(bucket_object("3", "5"))).outcome, fenced_outcome::superseded);
}

TEST(fenced_write, an_identical_config_is_left_alone) {
    auto w = writer(3, 1700000000.5, "h2");
    (void)w.start();
    EXPECT_EQ(as_done(w.on_head(bucket_object("2", "1700000000.5", "h2"))).outcome,
              fenced_outcome::unchanged);
    // The same timestamp with another hash is written over.
    auto other = writer(3, 1700000000.5, "h3");
    (void)other.start();
    as_put(other.on_head(bucket_object("2", "1700000000.5", "h2")));
}

// An encrypted upload's bytes differ every time, and its signature is of the bytes this node
// uploads: the same config is written again instead of being left alone.
TEST(fenced_write, an_identical_config_is_written_again_when_asked_to) {
    backends::put_options o;
    fenced_write w(key, o, 3, "node-1",
                   {.cp_timestamp = 1700000000.5, .hash = "h2", .replace_identical = true}, true);
    (void)w.start();
    auto put = as_put(w.on_head(bucket_object("2", "1700000000.5", "h2", "etag-9")));
    EXPECT_EQ(put.options.condition, write_condition::if_match);
    EXPECT_EQ(put.options.expected_version, "etag-9");
    // Still never over a newer config.
    fenced_write older(key, o, 3, "node-1", {.cp_timestamp = 1.0, .hash = "h2", .replace_identical = true},
                       true);
    (void)older.start();
    EXPECT_EQ(as_done(older.on_head(bucket_object("2", "1700000000.5", "h2"))).outcome,
              fenced_outcome::superseded);
}

TEST(fenced_write, a_kong_upload_without_lifeboat_metadata_is_replaced) {
    auto w = writer();
    (void)w.start();
    object_info kong;
    kong.etag = "k";
    kong.metadata["uploader"] = "kong-node";
    auto put = as_put(w.on_head(kong));
    EXPECT_EQ(put.options.condition, write_condition::if_match);
    EXPECT_EQ(put.options.expected_version, "k");
}

TEST(fenced_write, a_lost_condition_reads_again_and_decides_again) {
    for (auto code : {store_errc::precondition_failed, store_errc::conflict, store_errc::not_found,
                      store_errc::server_error}) {
        auto w = writer(3);
        (void)w.start();
        (void)as_put(w.on_head(bucket_object("3", "1")));
        auto again = w.on_put(lifeboat::failure{error(code)});
        ASSERT_TRUE(std::holds_alternative<fw::head>(again)) << to_string(code);
        // A new leader wrote meanwhile.
        EXPECT_EQ(as_done(w.on_head(bucket_object("4", "2"))).outcome, fenced_outcome::not_leader);
    }
}

TEST(fenced_write, gives_up_after_a_few_lost_races) {
    auto w = writer();
    auto a = w.start();
    int puts = 0;
    while (!std::holds_alternative<fw::done>(a)) {
        if (std::holds_alternative<fw::head>(a))
            a = w.on_head(bucket_object("3", "1", "h", fmt::format("e{}", puts)));
        else {
            ++puts;
            a = w.on_put(lifeboat::failure{error(store_errc::precondition_failed, 412)});
        }
    }
    EXPECT_EQ(puts, 4);
    auto r = as_done(a);
    EXPECT_EQ(r.outcome, fenced_outcome::error);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code, store_errc::precondition_failed);
}

TEST(fenced_write, other_errors_end_the_upload) {
    auto w = writer();
    (void)w.start();
    auto r = as_done(w.on_head(lifeboat::failure{error(store_errc::access_denied, 403)}));
    EXPECT_EQ(r.outcome, fenced_outcome::error);
    EXPECT_EQ(r.error->code, store_errc::access_denied);

    auto p = writer();
    (void)p.start();
    (void)as_put(p.on_head(bucket_object("1", "1")));
    auto denied = as_done(p.on_put(lifeboat::failure{error(store_errc::bad_credentials, 403)}));
    EXPECT_EQ(denied.outcome, fenced_outcome::error);
}

TEST(fenced_write, without_conditional_writes_the_checks_run_but_the_put_is_plain) {
    auto w = writer(0, 10, "h", false);
    (void)w.start();
    auto put = as_put(w.on_head(bucket_object("", "9")));
    EXPECT_EQ(put.options.condition, write_condition::none);
    EXPECT_TRUE(put.options.expected_version.empty());
    // A 412 is not expected here; it ends the upload rather than loop.
    EXPECT_EQ(as_done(w.on_put(lifeboat::failure{error(store_errc::server_error, 500)})).outcome,
              fenced_outcome::error);

    auto absent = writer(0, 10, "h", false);
    (void)absent.start();
    EXPECT_EQ(as_put(absent.on_head(lifeboat::failure{error(store_errc::not_found)})).options.condition,
              write_condition::none);
}

} // namespace
} // namespace lifeboat::election
