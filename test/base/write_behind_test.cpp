// write_behind: when it asks for writeback (every step bytes appended, from where it last
// asked), and that it never changes what the file holds. Whether the disk then works early is
// a matter of timing, measured in bench/pipeline, not here.
#include "base/atomic_file.hpp"
#include "base/write_behind.hpp"
#include "harness/test_env.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

using namespace lifeboat;

TEST(write_behind, starts_writeback_a_step_at_a_time_and_the_file_stays_exact) {
    const auto dir = test::scratch_dir();
    const std::string payload = test::random_bytes(5 * 1024 * 1024 + 77, 9);
    atomic_file_writer w;
    ASSERT_TRUE(w.open(dir / "growing"));
    write_behind behind(1 << 20);
    std::uint64_t written = 0;
    std::vector<std::uint64_t> kicks;
    for (std::size_t off = 0; off < payload.size(); off += 300 * 1000) {
        const auto piece = std::string_view(payload).substr(off, 300 * 1000);
        ASSERT_TRUE(w.write(piece));
        written += piece.size();
        const auto before = behind.started();
        behind.wrote(w.fd(), written);
        if (behind.started() != before)
            kicks.push_back(behind.started());
    }
    // 300 kB pieces against a 1 MiB step: a kick once at least 1 MiB has piled up since the last.
    ASSERT_FALSE(kicks.empty());
    std::uint64_t previous = 0;
    for (auto k : kicks) {
        EXPECT_GE(k - previous, std::uint64_t(1) << 20);
        EXPECT_LT(k - previous, (std::uint64_t(1) << 20) + 300 * 1000);
        previous = k;
    }
    EXPECT_GT(payload.size() - previous, 0u); // the tail is left to the commit's fsync
    ASSERT_TRUE(w.commit());
    EXPECT_TRUE(read_whole_file(dir / "growing").value() == payload);

    behind.reset();
    EXPECT_EQ(behind.started(), 0u);
}

TEST(write_behind, is_only_a_hint_on_what_cannot_be_written_back) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    write_behind behind(10);
    behind.wrote(fds[1], 100); // a pipe: sync_file_range fails, nothing else happens
    behind.wrote(-1, 200);
    EXPECT_EQ(behind.started(), 100u);
    ::close(fds[0]);
    ::close(fds[1]);
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
