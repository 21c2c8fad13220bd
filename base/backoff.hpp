// Randomised delays. Every retry loop in lifeboat draws its waits here so that a fleet of agents
// never retries in lockstep. Sans-io state machines take a `jitter` by reference, so tests seed it.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace lifeboat {

using steady_duration = std::chrono::steady_clock::duration;

class jitter {
public:
    jitter();                            // seeded from std::random_device
    explicit jitter(std::uint64_t seed); // deterministic, for tests

    // Uniform in [lo, hi], continuous (nanosecond resolution, not whole seconds).
    steady_duration uniform(steady_duration lo, steady_duration hi);
    double uniform_real(double lo, double hi);

private:
    std::mt19937_64 rng_;
};

// "Full jitter" exponential back-off (AWS Architecture Blog, "Exponential Backoff and Jitter"):
// attempt n waits uniform(0, min(cap, base * 2^n)). The floor keeps a retry from ever spinning.
struct backoff_policy {
    steady_duration base = std::chrono::milliseconds(200);
    steady_duration cap = std::chrono::seconds(30);
    steady_duration floor = std::chrono::milliseconds(50);

    steady_duration delay(unsigned attempt, jitter& j) const;
};

} // namespace lifeboat
