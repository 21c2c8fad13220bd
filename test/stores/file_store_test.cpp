// The file:// store against a real directory: round trips, conditions, listing, key checks, and
// concurrent writers (threads and forked processes) racing on one key.
#include "backends/file/beneath.hpp"
#include "backends/file/file_store.hpp"
#include "base/atomic_file.hpp"
#include "harness/recording_sink.hpp"
#include "harness/test_env.hpp"
#include "stores/sync.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <optional>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <thread>
#include <unistd.h>

namespace lifeboat::backends {
namespace {

namespace fs = std::filesystem;
using test::run_sync;

store_result<object_info> put_text(object_store& store, std::string key, std::string text,
                                   put_options options = {}) {
    return run_sync(store.put(std::move(key), body_source::from_string(std::move(text)), std::move(options)));
}

std::string read_text(const fs::path& path) {
    auto r = read_whole_file(path);
    return r ? *r : std::string("<missing>");
}

std::vector<std::string> keys_of(const std::vector<object_info>& infos) {
    std::vector<std::string> out;
    for (const auto& i : infos)
        out.push_back(i.key);
    return out;
}

TEST(file_store, put_get_head_round_trip_with_metadata) {
    const auto root = test::scratch_dir() / "store";
    auto store = make_file_store(root);
    EXPECT_EQ(store->kind(), store_kind::file);
    EXPECT_EQ(store->describe(), "file://" + root.string());

    put_options options;
    options.content_type = "application/json";
    options.metadata = {{"Node-Id", "n1"}, {"term", "7"}};
    auto put = put_text(*store, "p/3.9.0.0/config.json", R"({"a":1})", options);
    ASSERT_TRUE(put) << put.error().to_string();
    EXPECT_EQ(put->size, 7u);
    EXPECT_FALSE(put->etag.empty());
    EXPECT_TRUE(put->generation.empty());
    EXPECT_EQ(read_text(root / "p/3.9.0.0/config.json"), R"({"a":1})"); // readable with cat

    auto got = run_sync(store->get("p/3.9.0.0/config.json"));
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->bytes, R"({"a":1})");
    EXPECT_EQ(got->info.etag, put->etag);
    EXPECT_EQ(got->info.content_type, "application/json");
    EXPECT_EQ(got->info.metadata, (std::map<std::string, std::string>{{"node-id", "n1"}, {"term", "7"}}));
    EXPECT_LE(got->info.last_modified, wall_clock::now());
    EXPECT_GT(got->info.last_modified, wall_clock::now() - std::chrono::minutes(1));

    auto head = run_sync(store->head("p/3.9.0.0/config.json"));
    ASSERT_TRUE(head);
    EXPECT_EQ(head->size, 7u);
    EXPECT_EQ(version_token(*head), put->etag);
    EXPECT_FALSE(store->last_server_date().has_value());
}

TEST(file_store, every_write_gets_a_new_version_even_with_the_same_bytes) {
    auto store = make_file_store(test::scratch_dir());
    auto a = put_text(*store, "k", "same");
    auto b = put_text(*store, "k", "same");
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->etag, b->etag);
    EXPECT_EQ(run_sync(store->head("k"))->etag, b->etag);
}

TEST(file_store, missing_objects_are_not_found) {
    auto store = make_file_store(test::scratch_dir() / "never-created");
    auto head = run_sync(store->head("x/y"));
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, store_errc::not_found);
    auto get = run_sync(store->get("x"));
    ASSERT_FALSE(get);
    EXPECT_EQ(get.error().code, store_errc::not_found);
    auto list = run_sync(store->list(""));
    ASSERT_TRUE(list);
    EXPECT_TRUE(list->empty());
    EXPECT_TRUE(run_sync(store->remove("x")));
}

TEST(file_store, get_is_refused_past_max_size) {
    auto store = make_file_store(test::scratch_dir());
    ASSERT_TRUE(put_text(*store, "big", std::string(1000, 'x')));
    auto got = run_sync(store->get("big", 999));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, store_errc::too_large);
    EXPECT_TRUE(run_sync(store->get("big", 1000)));
}

TEST(file_store, put_streams_a_file_body_and_get_to_file_writes_atomically) {
    const auto dir = test::scratch_dir();
    auto store = make_file_store(dir / "store");
    std::string big(3 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>(i * 7 + 3);
    ASSERT_TRUE(write_file_atomically(dir / "source.bin", big));
    auto put = run_sync(store->put("blob", body_source::from_file(dir / "source.bin"), {}));
    ASSERT_TRUE(put) << put.error().to_string();
    EXPECT_EQ(put->size, big.size());

    auto got = run_sync(store->get_to_file("blob", dir / "out.bin"));
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->etag, put->etag);
    EXPECT_EQ(read_text(dir / "out.bin"), big);

    // A failed download leaves the target as it was.
    ASSERT_TRUE(write_file_atomically(dir / "keep.txt", "old"));
    auto missing = run_sync(store->get_to_file("nope", dir / "keep.txt"));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, store_errc::not_found);
    EXPECT_EQ(read_text(dir / "keep.txt"), "old");

    auto bad_source = run_sync(store->put("x", body_source::from_file(dir / "no-such-file"), {}));
    ASSERT_FALSE(bad_source);
    EXPECT_EQ(bad_source.error().code, store_errc::local_io);
    EXPECT_NE(bad_source.error().message.find("no-such-file"), std::string::npos);
}

using streamed = test::recording_sink;

TEST(file_store, get_streamed_hands_the_object_over_in_pieces) {
    auto store = make_file_store(test::scratch_dir());
    std::string big(3 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>(i * 7 + 3);
    put_options options;
    options.metadata = {{"lifeboat-config-hash", "0123456789abcdef0123456789abcdef"}};
    ASSERT_TRUE(put_text(*store, "p/config.json", big, options));

    streamed seen;
    auto got = run_sync(store->get_streamed("p/config.json", big.size(), seen.sink()));
    ASSERT_TRUE(got) << got.error().to_string();
    EXPECT_EQ(got->size, big.size());
    EXPECT_EQ(got->metadata.at("lifeboat-config-hash"), "0123456789abcdef0123456789abcdef");
    ASSERT_EQ(seen.starts.size(), 1u);
    EXPECT_EQ(seen.starts[0], std::optional<std::uint64_t>(big.size()));
    EXPECT_TRUE(seen.bytes == big);
    EXPECT_GT(seen.pieces, 1u);

    streamed small;
    auto too_large = run_sync(store->get_streamed("p/config.json", big.size() - 1, small.sink()));
    ASSERT_FALSE(too_large);
    EXPECT_EQ(too_large.error().code, store_errc::too_large);
    EXPECT_TRUE(small.starts.empty()); // refused before a byte was read

    streamed none;
    auto missing = run_sync(store->get_streamed("p/none.json", big.size(), none.sink()));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, store_errc::not_found);
    EXPECT_TRUE(none.starts.empty());

    streamed refusing;
    refusing.refuse_after = 1;
    auto refused = run_sync(store->get_streamed("p/config.json", big.size(), refusing.sink()));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, store_errc::local_io);
    EXPECT_NE(refused.error().message.find("not a config"), std::string::npos);
    EXPECT_EQ(refusing.pieces, 1u); // stopped at once
}

TEST(file_store, create_if_absent_fails_when_the_object_exists) {
    auto store = make_file_store(test::scratch_dir());
    put_options create;
    create.condition = write_condition::if_absent;
    auto first = put_text(*store, "lock", "one", create);
    ASSERT_TRUE(first) << first.error().to_string();
    auto second = put_text(*store, "lock", "two", create);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, store_errc::precondition_failed);
    EXPECT_EQ(run_sync(store->get("lock"))->bytes, "one");
}

TEST(file_store, compare_and_swap_needs_the_current_version) {
    auto store = make_file_store(test::scratch_dir());
    auto v1 = put_text(*store, "k", "v1");
    ASSERT_TRUE(v1);
    put_options cas;
    cas.condition = write_condition::if_match;
    cas.expected_version = v1->etag;
    auto v2 = put_text(*store, "k", "v2", cas);
    ASSERT_TRUE(v2) << v2.error().to_string();

    auto stale = put_text(*store, "k", "v3", cas); // still expects v1
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().code, store_errc::precondition_failed);
    EXPECT_EQ(run_sync(store->get("k"))->bytes, "v2");

    auto on_missing = put_text(*store, "other", "x", cas);
    ASSERT_FALSE(on_missing);
    EXPECT_EQ(on_missing.error().code, store_errc::precondition_failed);

    put_options no_version;
    no_version.condition = write_condition::if_match;
    auto bad = put_text(*store, "k", "x", no_version);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, store_errc::invalid_argument);
}

TEST(file_store, conditional_remove) {
    auto store = make_file_store(test::scratch_dir());
    auto v1 = put_text(*store, "a/k", "v1");
    auto v2 = put_text(*store, "a/k", "v2");
    ASSERT_TRUE(v1 && v2);
    auto stale = run_sync(store->remove("a/k", v1->etag));
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().code, store_errc::precondition_failed);
    EXPECT_TRUE(run_sync(store->head("a/k")));
    ASSERT_TRUE(run_sync(store->remove("a/k", v2->etag)));
    EXPECT_EQ(run_sync(store->head("a/k")).error().code, store_errc::not_found);
    EXPECT_TRUE(run_sync(store->remove("a/k")));             // already gone: success
    EXPECT_TRUE(run_sync(store->remove("a/k", "whatever"))); // gone either way
}

TEST(file_store, list_returns_keys_under_a_prefix_in_key_order) {
    const auto root = test::scratch_dir();
    auto store = make_file_store(root);
    for (const char* key :
         {"p/3.9.0.0/election/n2", "p/3.9.0.0/config.json", "p/3.9.0.0/election/n1", "p/3.8.0.0/config.json",
          "q/x", "p/3.9.0.0/election-notes", "p/3.9.0.0/election/n10", "p/3.9.0.0/election/N0", "top"})
        ASSERT_TRUE(put_text(*store, key, key));
    // Debris that must never show up as objects: a temporary file of an unfinished write, the
    // lock files, a hidden folder, a symbolic link, an empty folder.
    ASSERT_TRUE(write_file_atomically(root / "p/3.9.0.0/election/.n3.tmp-1234abcd", "partial"));
    fs::create_directories(root / "p/.hidden");
    ASSERT_TRUE(write_file_atomically(root / "p/.hidden/x", "x"));
    fs::create_symlink(root / "top", root / "p/3.9.0.0/election/link");
    fs::create_directories(root / "p/3.9.0.0/election/empty");

    auto all = run_sync(store->list(""));
    ASSERT_TRUE(all) << all.error().to_string();
    EXPECT_EQ(keys_of(*all), (std::vector<std::string>{"p/3.8.0.0/config.json", "p/3.9.0.0/config.json",
                                                       "p/3.9.0.0/election-notes", "p/3.9.0.0/election/N0",
                                                       "p/3.9.0.0/election/n1", "p/3.9.0.0/election/n10",
                                                       "p/3.9.0.0/election/n2", "q/x", "top"}));

    auto election = run_sync(store->list("p/3.9.0.0/election/"));
    ASSERT_TRUE(election);
    EXPECT_EQ(keys_of(*election),
              (std::vector<std::string>{"p/3.9.0.0/election/N0", "p/3.9.0.0/election/n1",
                                        "p/3.9.0.0/election/n10", "p/3.9.0.0/election/n2"}));
    EXPECT_EQ((*election)[1].size, std::string("p/3.9.0.0/election/n1").size());

    auto partial = run_sync(store->list("p/3.9.0.0/elec"));
    ASSERT_TRUE(partial);
    EXPECT_EQ(partial->size(), 5u);
    EXPECT_EQ(partial->front().key, "p/3.9.0.0/election-notes");

    auto limited = run_sync(store->list("p/", 2));
    ASSERT_TRUE(limited);
    EXPECT_EQ(keys_of(*limited),
              (std::vector<std::string>{"p/3.8.0.0/config.json", "p/3.9.0.0/config.json"}));

    auto none = run_sync(store->list("p/4"));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
}

TEST(file_store, keys_that_could_escape_the_root_are_refused) {
    const auto dir = test::scratch_dir();
    auto store = make_file_store(dir / "root");
    for (const char* key : {"../outside", "a/../../outside", "/etc/passwd", "", "a//b", "a/", "./a",
                            ".hidden", "a/.lifeboat.lock"}) {
        auto put = put_text(*store, key, "x");
        ASSERT_FALSE(put) << key;
        EXPECT_EQ(put.error().code, store_errc::invalid_argument) << key;
        EXPECT_NE(put.error().message.find("key \""), std::string::npos) << put.error().message;
        EXPECT_EQ(run_sync(store->get(key)).error().code, store_errc::invalid_argument) << key;
        EXPECT_EQ(run_sync(store->head(key)).error().code, store_errc::invalid_argument) << key;
        EXPECT_FALSE(run_sync(store->remove(key))) << key;
    }
    EXPECT_FALSE(fs::exists(dir / "outside"));
    EXPECT_EQ(file_key_problem("../x"), "has a '..' segment");
    EXPECT_EQ(file_key_problem("a/b.c/d"), "");
    for (const char* prefix : {"../", "a/../", "/abs", "..", "a//"}) {
        auto list = run_sync(store->list(prefix));
        ASSERT_FALSE(list) << prefix;
        EXPECT_EQ(list.error().code, store_errc::invalid_argument) << prefix;
    }
}

TEST(file_store, a_key_cannot_be_both_an_object_and_a_folder) {
    auto store = make_file_store(test::scratch_dir());
    ASSERT_TRUE(put_text(*store, "a", "x"));
    auto under = put_text(*store, "a/b", "y");
    ASSERT_FALSE(under);
    EXPECT_EQ(under.error().code, store_errc::invalid_argument);
    EXPECT_NE(under.error().message.find("needs the folder a"), std::string::npos) << under.error().message;

    ASSERT_TRUE(put_text(*store, "c/d", "x"));
    auto over = put_text(*store, "c", "y");
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code, store_errc::invalid_argument) << over.error().to_string();
    EXPECT_TRUE(run_sync(store->head("c/d")));
}

TEST(file_store, symbolic_links_are_not_followed) {
    const auto dir = test::scratch_dir();
    ASSERT_TRUE(write_file_atomically(dir / "secret", "s"));
    fs::create_directories(dir / "root");
    fs::create_symlink(dir / "secret", dir / "root" / "link");
    auto store = make_file_store(dir / "root");
    auto got = run_sync(store->get("link"));
    ASSERT_FALSE(got);
    EXPECT_NE(got.error().message.find("symbolic link"), std::string::npos);
}

TEST(file_store, files_placed_by_hand_are_objects_with_a_derived_version) {
    const auto root = test::scratch_dir();
    fs::create_directories(root / "p");
    ASSERT_TRUE(write_file_atomically(root / "p/config.json", "{}"));
    auto store = make_file_store(root);
    auto head = run_sync(store->head("p/config.json"));
    ASSERT_TRUE(head) << head.error().to_string();
    EXPECT_EQ(head->content_type, "application/octet-stream");
    EXPECT_FALSE(head->etag.empty());
    put_options cas;
    cas.condition = write_condition::if_match;
    cas.expected_version = head->etag;
    auto replaced = put_text(*store, "p/config.json", "{\"v\":2}", cas);
    ASSERT_TRUE(replaced) << replaced.error().to_string();
    auto stale = put_text(*store, "p/config.json", "{}", cas);
    EXPECT_EQ(stale.error().code, store_errc::precondition_failed);
}

TEST(file_store, a_corrupt_attribute_is_a_clear_error) {
    const auto root = test::scratch_dir();
    auto store = make_file_store(root);
    ASSERT_TRUE(put_text(*store, "k", "x"));
    ASSERT_EQ(::setxattr((root / "k").c_str(), "user.lifeboat.object", "{nope", 5, 0), 0);
    auto head = run_sync(store->head("k"));
    ASSERT_FALSE(head);
    EXPECT_EQ(head.error().code, store_errc::protocol);
    EXPECT_NE(head.error().message.find("user.lifeboat.object"), std::string::npos);
}

TEST(file_store, oversized_or_badly_named_metadata_is_refused) {
    auto store = make_file_store(test::scratch_dir());
    put_options big;
    big.metadata["k"] = std::string(2048, 'v');
    EXPECT_EQ(put_text(*store, "k", "x", big).error().code, store_errc::invalid_argument);
    put_options bad_name;
    bad_name.metadata["bad name"] = "v";
    EXPECT_EQ(put_text(*store, "k", "x", bad_name).error().code, store_errc::invalid_argument);
    EXPECT_EQ(run_sync(store->head("k")).error().code, store_errc::not_found);
}

TEST(file_store, a_trailing_slash_on_the_root_is_ignored) {
    const auto root = test::scratch_dir();
    auto store = make_file_store(root.string() + "/");
    EXPECT_EQ(store->describe(), "file://" + root.string());
}

// Several threads, each with its own store object and io_context (as separate processes would
// have), race to create one key: exactly one wins, every other gets precondition_failed.
TEST(file_store, concurrent_create_if_absent_from_threads_has_exactly_one_winner) {
    const auto root = test::scratch_dir();
    for (int round = 0; round < 20; ++round) {
        const std::string key = "election/lock-" + std::to_string(round);
        std::atomic<int> winners{0}, losers{0}, others{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t)
            threads.emplace_back([&, t] {
                auto store = make_file_store(root);
                put_options create;
                create.condition = write_condition::if_absent;
                auto r = put_text(*store, key, "owner " + std::to_string(t), create);
                if (r)
                    ++winners;
                else if (r.error().code == store_errc::precondition_failed)
                    ++losers;
                else
                    ++others;
            });
        for (auto& t : threads)
            t.join();
        EXPECT_EQ(winners.load(), 1) << key;
        EXPECT_EQ(losers.load(), 7) << key;
        EXPECT_EQ(others.load(), 0) << key;
    }
}

// Forks `n` children running `body(child_index)`; returns their exit codes.
template <class Body>
std::vector<int> run_children(int n, Body body) {
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            int code = 99;
            try {
                code = body(i);
            } catch (...) {
            }
            ::_exit(code);
        }
        pids.push_back(pid);
    }
    std::vector<int> codes;
    for (pid_t pid : pids) {
        int status = 0;
        ::waitpid(pid, &status, 0);
        codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    return codes;
}

TEST(file_store, concurrent_create_if_absent_from_processes_has_exactly_one_winner) {
    const auto root = test::scratch_dir();
    for (int round = 0; round < 10; ++round) {
        const std::string key = "p/lock-" + std::to_string(round);
        auto codes = run_children(6, [&](int i) {
            auto store = make_file_store(root);
            put_options create;
            create.condition = write_condition::if_absent;
            auto r = put_text(*store, key, "owner " + std::to_string(i), create);
            return r ? 0 : r.error().code == store_errc::precondition_failed ? 1 : 2;
        });
        EXPECT_EQ(std::count(codes.begin(), codes.end(), 0), 1) << key;
        EXPECT_EQ(std::count(codes.begin(), codes.end(), 1), 5) << key;
    }
}

// A counter incremented by read + compare-and-swap from several processes at once: any lost
// update (two swaps succeeding against one version) would leave the total short.
TEST(file_store, compare_and_swap_from_processes_loses_no_update) {
    const auto root = test::scratch_dir();
    {
        auto store = make_file_store(root);
        ASSERT_TRUE(put_text(*store, "counter", "0"));
    }
    constexpr int children = 4, increments = 25;
    auto codes = run_children(children, [&](int) {
        auto store = make_file_store(root);
        boost::asio::io_context io;
        for (int done = 0; done < increments;) {
            auto current = run_sync(io, store->get("counter"));
            if (!current)
                return 2;
            put_options cas;
            cas.condition = write_condition::if_match;
            cas.expected_version = current->info.etag;
            const auto next = std::to_string(std::stoi(current->bytes) + 1);
            auto r = run_sync(io, store->put("counter", body_source::from_string(next), cas));
            if (r)
                ++done;
            else if (r.error().code != store_errc::precondition_failed)
                return 3;
        }
        return 0;
    });
    for (int code : codes)
        EXPECT_EQ(code, 0);
    auto store = make_file_store(root);
    EXPECT_EQ(run_sync(store->get("counter"))->bytes, std::to_string(children * increments));
}

// --- A hostile bucket (issue #19): whoever can write the folder must not be able to make the
// store block, or read, write or delete outside it. Each case runs with openat2 and with the
// per-component fallback.

class hostile_bucket : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override { beneath::use_openat2(GetParam()); }
    void TearDown() override { beneath::use_openat2(true); }
};

// Runs `op` on a thread and fails (instead of hanging the test) when it does not finish in 5 s.
template <class F>
auto within_5s(F op) {
    auto done = std::make_shared<std::promise<decltype(op())>>();
    auto result = done->get_future();
    std::thread([done, op]() mutable { done->set_value(op()); }).detach();
    if (result.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
        ADD_FAILURE() << "the store blocked";
        std::_Exit(1); // the blocked thread cannot be joined
    }
    return result.get();
}

TEST_P(hostile_bucket, a_fifo_is_refused_at_once_naming_its_path_and_type) {
    const auto root = test::scratch_dir();
    fs::create_directories(root / "p/3.6.0.0");
    const auto fifo = root / "p/3.6.0.0/config.json";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
    auto store = make_file_store(root);

    auto got = within_5s([&] { return run_sync(store->get("p/3.6.0.0/config.json")); });
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, store_errc::local_io);
    EXPECT_NE(got.error().message.find(fifo.string() + " is a FIFO (named pipe)"), std::string::npos)
        << got.error().message;
    EXPECT_EQ(got.error().to_string().find('\n'), std::string::npos);
    auto head = within_5s([&] { return run_sync(store->head("p/3.6.0.0/config.json")); });
    ASSERT_FALSE(head);
    EXPECT_NE(head.error().message.find("FIFO"), std::string::npos);
    test::recording_sink sink;
    auto streamed = within_5s(
        [&] { return run_sync(store->get_streamed("p/3.6.0.0/config.json", 1 << 20, sink.sink())); });
    ASSERT_FALSE(streamed);
    EXPECT_NE(streamed.error().message.find("FIFO"), std::string::npos);
    auto to_file = within_5s(
        [&] { return run_sync(store->get_to_file("p/3.6.0.0/config.json", root.parent_path() / "copy")); });
    ASSERT_FALSE(to_file);

    // A writer replaces the FIFO (rename does not open it); a listing skips it until then.
    auto listed = within_5s([&] { return run_sync(store->list("p/")); });
    ASSERT_TRUE(listed) << listed.error().to_string();
    EXPECT_TRUE(listed->empty());
    ASSERT_TRUE(within_5s([&] { return put_text(*store, "p/3.6.0.0/config.json", "{}"); }));
    EXPECT_EQ(run_sync(store->get("p/3.6.0.0/config.json"))->bytes, "{}");
}

TEST_P(hostile_bucket, links_to_folders_are_never_followed_at_any_level) {
    const auto dir = test::scratch_dir();
    const auto root = dir / "bucket";
    const auto outside = dir / "outside";
    fs::create_directories(root / "p");
    fs::create_directories(outside);
    ASSERT_TRUE(write_file_atomically(outside / "keep", "keep"));
    ASSERT_TRUE(write_file_atomically(outside / "config.json", "{}"));
    fs::create_directory_symlink(outside, root / "p/3.6.0.0"); // a version folder
    fs::create_directory_symlink(outside, root / "q");         // a top folder
    auto store = make_file_store(root);

    for (const std::string key : {"p/3.6.0.0/keep", "q/keep"}) {
        const auto link = root / key.substr(0, key.rfind('/'));
        auto got = run_sync(store->get(key));
        ASSERT_FALSE(got) << key;
        EXPECT_NE(got.error().message.find(link.string() + " is a symbolic link"), std::string::npos)
            << got.error().message;
        EXPECT_FALSE(run_sync(store->head(key))) << key;

        auto put = put_text(*store, key.substr(0, key.rfind('/')) + "/config.json", "hostile");
        ASSERT_FALSE(put) << key;
        EXPECT_NE(put.error().message.find(link.string() + " is a symbolic link"), std::string::npos)
            << put.error().message;
        auto put_deeper = put_text(*store, key.substr(0, key.rfind('/')) + "/election/1.0-n1", "x");
        ASSERT_FALSE(put_deeper) << key;

        auto rm = run_sync(store->remove(key));
        ASSERT_FALSE(rm) << key;
        EXPECT_NE(rm.error().message.find("symbolic link"), std::string::npos) << rm.error().message;

        auto listed = run_sync(store->list(key.substr(0, key.rfind('/') + 1)));
        ASSERT_FALSE(listed) << key;
        EXPECT_NE(listed.error().message.find("symbolic link"), std::string::npos);
    }
    auto all = run_sync(store->list(""));
    ASSERT_TRUE(all) << all.error().to_string();
    EXPECT_TRUE(all->empty()); // nothing under the links is listed

    // Outside is untouched: same files, same content, nothing new.
    EXPECT_EQ(read_text(outside / "keep"), "keep");
    EXPECT_EQ(read_text(outside / "config.json"), "{}");
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(outside))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"config.json", "keep"}));

    // The store's own root may be a link (the operator chose it).
    fs::create_directory_symlink(root, dir / "root-link");
    auto via_link = make_file_store(dir / "root-link");
    ASSERT_TRUE(put_text(*via_link, "r/config.json", "ok"));
    EXPECT_EQ(read_text(root / "r/config.json"), "ok");
}

TEST_P(hostile_bucket, odd_entries_under_a_listed_folder_are_skipped_never_fatal) {
    const auto root = test::scratch_dir();
    auto store = make_file_store(root);
    ASSERT_TRUE(put_text(*store, "p/3.6.0.0/election/1.0-n1", "{}"));
    const auto election = root / "p/3.6.0.0/election";
    ASSERT_EQ(::mkfifo((election / "2.0-fifo").c_str(), 0644), 0);
    fs::create_directories(election / "3.0-folder");
    fs::create_symlink("/etc/hostname", election / "4.0-link");
    ASSERT_TRUE(write_file_atomically(election / "5.0-bad-attribute", "x"));
    ASSERT_EQ(::setxattr((election / "5.0-bad-attribute").c_str(), "user.lifeboat.object", "{", 1, 0), 0);
    // A chain of folders 5,000 deep (deeper than PATH_MAX as one path), with a file at the end.
    {
        int fd = ::open(election.c_str(), O_RDONLY | O_DIRECTORY);
        for (int i = 0; i < 5000 && fd >= 0; ++i) {
            ASSERT_EQ(::mkdirat(fd, "d", 0755), 0);
            const int next = ::openat(fd, "d", O_RDONLY | O_DIRECTORY);
            ::close(fd);
            fd = next;
        }
        ASSERT_GE(fd, 0);
        const int file = ::openat(fd, "x", O_WRONLY | O_CREAT, 0644);
        ASSERT_GE(file, 0);
        ::close(file);
        ::close(fd);
    }
    auto listed = within_5s([&] { return run_sync(store->list("p/3.6.0.0/election/")); });
    ASSERT_TRUE(listed) << listed.error().to_string();
    EXPECT_EQ(keys_of(*listed), (std::vector<std::string>{"p/3.6.0.0/election/1.0-n1"}));
}

INSTANTIATE_TEST_SUITE_P(openat2_and_fallback, hostile_bucket, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "openat2" : "per_component"; });

} // namespace
} // namespace lifeboat::backends
