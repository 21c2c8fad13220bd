// How long the event loop stands still, as the agent itself measures it (issue 14; issue 19
// item 2: CPU-heavy work never holds the loop for more than 50 ms). A timer ticks every `tick`;
// at each tick two figures are taken:
//   - late: how late the tick came (wall clock). A loop turn that runs long delays it, and so
//     does a machine too loaded to give the thread a CPU;
//   - busy: the CPU time the loop thread used past the tick's due time before the tick ran (its
//     CPU time since the previous tick, less one tick). A turn that works for a second (copying
//     or hashing a large config) shows as about a second; waiting for a CPU on a loaded machine
//     does not count, so this figure holds on a busy CI runner. Time blocked in a system call
//     is not CPU time: that shows in `late` only.
// Both keep their largest value since the agent started, in /status (`loop`) and /metrics. The
// figures are the agent's own (agent_status::loop), not the process's: an operator reads them as
// this agent's, and a process that runs several agents (the tests) keeps one set per agent, from
// the start of that agent's monitor. Agents that share a thread share what they measure: busy is
// that thread's CPU time, whichever agent's work it was.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>

namespace lifeboat::agent {

// The largest figures since the agent's start (served by /status `loop` and /metrics). The agent's
// monitor writes them and the status server reads them, both on that agent's loop thread.
struct loop_status {
    static constexpr double long_turn_ms = 50; // issue 19: no CPU-heavy work holds the loop longer
    double max_late_ms = 0;                    // a tick's lateness (wall clock; machine load counts)
    double max_busy_ms = 0;                    // CPU the loop used past a tick's due time
    std::uint64_t long_turns = 0;              // ticks with busy >= long_turn_ms
    std::uint64_t ticks = 0;
};

// The CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID: user and system).
std::chrono::nanoseconds thread_cpu_time();

inline constexpr std::chrono::milliseconds loop_monitor_tick{50};

// Ticks every `tick` on the executor it runs on (the loop it measures) until cancelled, keeping
// the figures in `status`.
boost::asio::awaitable<void> monitor_loop(loop_status& status,
                                          std::chrono::milliseconds tick = loop_monitor_tick);

} // namespace lifeboat::agent
