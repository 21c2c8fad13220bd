// The retry decisions, stepped on a virtual clock with a seeded jitter: no sockets, no sleeping.
#include "backends/http/retry_state.hpp"

#include <gtest/gtest.h>

using namespace lifeboat;
using namespace lifeboat::http;
using namespace std::chrono_literals;

namespace {
retry_state::limits limits(unsigned attempts, std::chrono::steady_clock::duration total = 60s) {
    return {attempts, backoff_policy{100ms, 2s, 10ms}, total};
}
} // namespace

TEST(retry_state, backs_off_with_full_jitter_until_the_attempts_are_used) {
    jitter j(42);
    steady_time now{};
    retry_state s(limits(4), now, true);
    std::vector<std::chrono::steady_clock::duration> waits;
    for (int i = 0; i < 3; ++i) {
        s.on_attempt_start();
        auto d = s.on_failure(failure_kind::retryable_status, now, j);
        ASSERT_TRUE(d.retry) << i;
        waits.push_back(d.wait);
        now += d.wait;
    }
    s.on_attempt_start();
    auto last = s.on_failure(failure_kind::retryable_status, now, j);
    EXPECT_FALSE(last.retry);
    EXPECT_EQ(last.reason, "4 of 4 attempts used");
    // Each wait lies in [floor, base * 2^n].
    EXPECT_LE(waits[0], 100ms);
    EXPECT_LE(waits[1], 200ms);
    EXPECT_LE(waits[2], 400ms);
    for (auto w : waits)
        EXPECT_GE(w, 10ms);
}

TEST(retry_state, two_seeds_wait_differently) {
    jitter a(1), b(2);
    retry_state s1(limits(10), {}, true), s2(limits(10), {}, true);
    int differ = 0;
    for (int i = 0; i < 5; ++i) {
        s1.on_attempt_start();
        s2.on_attempt_start();
        differ += s1.on_failure(failure_kind::not_sent, {}, a).wait !=
                  s2.on_failure(failure_kind::not_sent, {}, b).wait;
    }
    EXPECT_GE(differ, 4);
}

TEST(retry_state, never_waits_past_the_total_budget) {
    jitter j(3);
    steady_time now{};
    retry_state s(limits(100, 1s), now, true);
    int retries = 0;
    for (;;) {
        s.on_attempt_start();
        auto d = s.on_failure(failure_kind::not_sent, now, j);
        if (!d.retry) {
            EXPECT_TRUE(d.reason.find("total timeout") != std::string::npos) << d.reason;
            break;
        }
        now += d.wait;
        EXPECT_LT(now, s.deadline());
        ++retries;
    }
    EXPECT_GT(retries, 2);
}

TEST(retry_state, retry_after_stretches_the_wait) {
    jitter j(3);
    retry_state s(limits(4), {}, true);
    s.on_attempt_start();
    auto d = s.on_failure(failure_kind::throttled, {}, j, 5s);
    ASSERT_TRUE(d.retry);
    EXPECT_EQ(d.wait, 5s);
}

TEST(retry_state, not_idempotent_requests_are_retried_only_when_nothing_was_sent) {
    jitter j(3);
    retry_state s(limits(4), {}, false);
    s.on_attempt_start();
    EXPECT_TRUE(s.on_failure(failure_kind::not_sent, {}, j).retry);
    s.on_attempt_start();
    EXPECT_TRUE(s.on_failure(failure_kind::throttled, {}, j).retry);
    s.on_attempt_start();
    auto d = s.on_failure(failure_kind::retryable_status, {}, j);
    EXPECT_FALSE(d.retry);
    EXPECT_NE(d.reason.find("not idempotent"), std::string::npos);
    retry_state s2(limits(4), {}, false);
    s2.on_attempt_start();
    EXPECT_FALSE(s2.on_failure(failure_kind::maybe_sent, {}, j).retry);
    retry_state s3(limits(4), {}, false);
    s3.on_attempt_start();
    EXPECT_FALSE(s3.on_failure(failure_kind::stale_connection, {}, j).retry);
}

TEST(retry_state, a_stale_keep_alive_connection_costs_no_attempt_once) {
    jitter j(3);
    retry_state s(limits(1), {}, true);
    s.on_attempt_start();
    auto d = s.on_failure(failure_kind::stale_connection, {}, j);
    ASSERT_TRUE(d.retry);
    EXPECT_EQ(d.wait, std::chrono::steady_clock::duration::zero());
    s.on_attempt_start();
    EXPECT_EQ(s.attempts(), 1u);
    EXPECT_FALSE(s.on_failure(failure_kind::stale_connection, {}, j).retry); // only once
}
