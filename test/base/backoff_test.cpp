#include "base/backoff.hpp"

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace std::chrono;


TEST(backoff, uniform_is_continuous_and_within_bounds) {
    jitter j(42);
    int whole_seconds = 0;
    steady_duration lo = seconds(10), hi = seconds(0);
    for (int i = 0; i < 10000; ++i) {
        const auto d = j.uniform(seconds(5), seconds(10));
        ASSERT_GE(d, seconds(5));
        ASSERT_LE(d, seconds(10));
        lo = std::min(lo, d);
        hi = std::max(hi, d);
        whole_seconds += d % seconds(1) == steady_duration::zero();
    }
    EXPECT_LT(lo, milliseconds(5100));
    EXPECT_GT(hi, milliseconds(9900));
    EXPECT_LT(whole_seconds, 5);
}

TEST(backoff, full_jitter_grows_to_the_cap_and_never_spins) {
    jitter j(1);
    backoff_policy p{milliseconds(100), seconds(2), milliseconds(20)};
    steady_duration previous_longest{};
    for (unsigned attempt = 0; attempt < 20; ++attempt) {
        const auto bound =
            std::min<steady_duration>(seconds(2), milliseconds(100) * (1u << std::min(attempt, 10u)));
        steady_duration longest{};
        for (int i = 0; i < 200; ++i) {
            const auto d = p.delay(attempt, j);
            ASSERT_GE(d, milliseconds(20));
            ASSERT_LE(d, bound);
            longest = std::max(longest, d);
        }
        // It grows: the longest of 200 full-jitter draws comes close to the attempt's bound, which
        // doubles until it reaches the cap (attempt 5: 3.2 s > 2 s) and then stays there.
        EXPECT_GE(longest, bound * 9 / 10) << "attempt " << attempt;
        if (attempt >= 1 && attempt <= 4)
            EXPECT_GT(longest, previous_longest * 3 / 2) << "attempt " << attempt;
        if (attempt >= 5)
            EXPECT_GE(longest, milliseconds(1800)) << "attempt " << attempt << " is at the cap";
        previous_longest = longest;
    }
}
