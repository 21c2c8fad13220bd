// What a power loss can leave on disk at each point of a recorded run (crash_trace.hpp), in the
// model of the ALICE studies of crash consistency: an operation is durable once a later fsync
// covers it (a file's fsync its writes and truncations, a directory's fsync the entries created,
// renamed, linked or unlinked in it); everything not yet durable may or may not have reached the
// disk, independently and in any order: each directory operation separately, and each file's
// pending writes as any of a few prefixes (none, the first, half, all but the last, all).
#pragma once

#include "crash_trace.hpp"

#include <functional>
#include <set>
#include <string>

namespace lifeboat::test {

// The files a crash leaves: path -> content.
using crash_state = std::map<std::string, std::string>;

struct crash_report {
    std::size_t crash_points = 0;   // after each operation, and before the first
    std::size_t states_checked = 0; // distinct states handed to the checker
    std::size_t violations = 0;
    std::string first_violation; // the crash point, what was dropped, and what the checker said
};

// Calls `check(state, at_end)` on every distinct state a crash can leave; `check` returns an empty
// string when the state is acceptable, else why not. `at_end` is true for the states after the
// last operation (the run reported success: only the new state is acceptable there).
// `ignored_fsync`: the index in trace.ops of an fsync treated as if it were not there (a mutation
// that must make some state fail), or -1.
crash_report explore_crashes(const fs_trace& trace, const fs_image& initial,
                             const std::function<std::string(const crash_state&, bool at_end)>& check,
                             long ignored_fsync = -1);

} // namespace lifeboat::test
