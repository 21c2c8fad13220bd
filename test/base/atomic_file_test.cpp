#include "base/atomic_file.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

using namespace lifeboat;

TEST(atomic_file, replaces_whole_file_with_private_mode) {
    const auto dir = test::scratch_dir();
    const auto target = dir / "config.json";
    ASSERT_TRUE(write_file_atomically(target, "old"));
    ASSERT_TRUE(write_file_atomically(target, "new contents"));
    EXPECT_EQ(read_whole_file(target).value(), "new contents");
    struct stat st {};
    ASSERT_EQ(::stat(target.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // No temporary file is left behind.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(atomic_file, abandoned_writer_leaves_target_untouched) {
    const auto dir = test::scratch_dir();
    const auto target = dir / "cache";
    ASSERT_TRUE(write_file_atomically(target, "good"));
    {
        atomic_file_writer w;
        ASSERT_TRUE(w.open(target));
        ASSERT_TRUE(w.write("half"));
    }
    EXPECT_EQ(read_whole_file(target).value(), "good");
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(atomic_file, exclusive_commit_refuses_an_existing_target) {
    const auto dir = test::scratch_dir();
    const auto target = dir / "lock";
    atomic_file_writer a;
    ASSERT_TRUE(a.open(target));
    ASSERT_TRUE(a.write("a"));
    ASSERT_TRUE(a.commit(true));
    atomic_file_writer b;
    ASSERT_TRUE(b.open(target));
    ASSERT_TRUE(b.write("b"));
    auto r = b.commit(true);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("File exists"), std::string::npos) << r.error();
    EXPECT_EQ(read_whole_file(target).value(), "a");
}

TEST(atomic_file, errors_name_the_path) {
    auto r = read_whole_file("/nonexistent/dir/file");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "open /nonexistent/dir/file: No such file or directory");
}

// A download reserves the announced size and starts writeback as it goes (every
// write_behind_bytes): what commits is exactly what was written, whatever was reserved.
TEST(atomic_file, preallocated_and_written_behind_files_hold_exactly_what_was_written) {
    const auto dir = test::scratch_dir();
    const auto target = dir / "object";
    const std::string payload = test::random_bytes(3 * atomic_file_writer::write_behind_bytes + 12345, 4);
    atomic_file_writer w;
    ASSERT_TRUE(w.open(target));
    ASSERT_TRUE(w.preallocate(payload.size() + (1 << 20))); // more than will come
    struct stat st {};
    ASSERT_EQ(::fstat(w.fd(), &st), 0);
    EXPECT_EQ(st.st_size, 0); // reserved, not grown
    for (std::size_t off = 0; off < payload.size(); off += 256 * 1024)
        ASSERT_TRUE(w.write(std::string_view(payload).substr(off, 256 * 1024)));
    ASSERT_TRUE(w.commit());
    EXPECT_TRUE(read_whole_file(target).value() == payload);
    ASSERT_EQ(::stat(target.c_str(), &st), 0);
    EXPECT_EQ(static_cast<std::size_t>(st.st_size), payload.size());
}

TEST(atomic_file_retarget, commits_under_a_name_chosen_after_the_writing) {
    const auto dir = test::scratch_dir();
    atomic_file_writer w;
    ASSERT_TRUE(w.open(dir / "config-incoming.json"));
    ASSERT_TRUE(w.write("{}"));
    EXPECT_FALSE(w.retarget(dir / "elsewhere" / "config-abc.json")); // not where the temporary file is
    ASSERT_TRUE(w.retarget(dir / "config-abc.json"));
    ASSERT_TRUE(w.commit());
    EXPECT_EQ(read_whole_file(dir / "config-abc.json").value(), "{}");
    EXPECT_FALSE(std::filesystem::exists(dir / "config-incoming.json"));
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(staged_file, takes_pieces_starts_over_and_commits_only_what_it_was_given_since) {
    const auto dir = test::scratch_dir();
    staged_file f(dir / "config.json", 0600);
    f.write("{\"stale\":");
    f.restart(); // a download that starts over: the first attempt's bytes are gone
    f.write("{\"a\":");
    f.write("1}");
    EXPECT_TRUE(f.usable());
    EXPECT_EQ(f.size(), 7u);
    EXPECT_FALSE(std::filesystem::exists(dir / "config.json")); // nothing visible before commit
    ASSERT_TRUE(f.commit());
    EXPECT_FALSE(f.usable());
    EXPECT_EQ(read_whole_file(dir / "config.json").value(), "{\"a\":1}");
    struct stat st {};
    ASSERT_EQ(::stat((dir / "config.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(staged_file, a_file_that_cannot_be_written_is_reported_not_fatal) {
    staged_file f("/nonexistent/dir/config.json", 0600);
    f.write("{}"); // dropped: the caller writes the whole content from memory instead
    f.write("more");
    EXPECT_FALSE(f.usable());
    EXPECT_EQ(f.error(), "create /nonexistent/dir/config.json: No such file or directory");
}

TEST(read_whole_file, a_fifo_or_a_directory_is_refused_without_blocking) {
    const auto dir = test::scratch_dir();
    const auto fifo = dir / "config.json";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    // No writer ever opens it: a blocking open() would hang here (and the test time out).
    auto read = read_whole_file(fifo);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error(), fifo.string() + ": not a regular file");
    auto folder = read_whole_file(dir);
    ASSERT_FALSE(folder);
    EXPECT_EQ(folder.error(), dir.string() + ": not a regular file");
}
