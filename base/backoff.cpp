#include "base/backoff.hpp"

#include <algorithm>

namespace lifeboat {

jitter::jitter() : rng_(std::random_device{}() ^ (std::uint64_t(std::random_device{}()) << 32)) {}
jitter::jitter(std::uint64_t seed) : rng_(seed) {}

steady_duration jitter::uniform(steady_duration lo, steady_duration hi) {
    if (hi <= lo)
        return lo;
    std::uniform_int_distribution<steady_duration::rep> dist(lo.count(), hi.count());
    return steady_duration(dist(rng_));
}

double jitter::uniform_real(double lo, double hi) {
    if (hi <= lo)
        return lo;
    return std::uniform_real_distribution<double>(lo, hi)(rng_);
}

steady_duration backoff_policy::delay(unsigned attempt, jitter& j) const {
    steady_duration ceiling = base;
    for (unsigned i = 0; i < attempt && ceiling < cap; ++i)
        ceiling *= 2;
    ceiling = std::min(ceiling, cap);
    return std::max(floor, j.uniform(steady_duration::zero(), ceiling));
}

} // namespace lifeboat
