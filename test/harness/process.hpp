// A child process for integration tests: real `lifeboat` agents, CPs and peer tools (curl, aws,
// rclone). Output goes to files so a test can wait for a log line and show it on failure.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lifeboat::test {

struct process_options {
    std::vector<std::string> args;          // args[0] is the program (PATH is searched)
    std::map<std::string, std::string> env; // added to (or replacing in) the inherited environment
    std::vector<std::string> unset_env;     // removed from the inherited environment
    std::filesystem::path work_dir;         // where stdout.log/stderr.log go (default: scratch)
    std::string name = "proc";              // file name stem for the logs
    std::optional<std::string> stdin_data;  // written to the child's stdin, then closed
};

class process {
public:
    explicit process(process_options options);
    ~process(); // SIGKILLs a child that is still running
    process(const process&) = delete;
    process& operator=(const process&) = delete;

    int pid() const { return pid_; }
    bool running();
    void signal(int sig);
    // Waits for exit; returns the exit code (128+signal when killed), or nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    // Polls stderr+stdout until `needle` appears; false on timeout or early exit.
    bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout);
    std::string out() const; // stdout so far
    std::string err() const; // stderr so far
    std::filesystem::path stdout_path() const { return stdout_; }
    std::filesystem::path stderr_path() const { return stderr_; }

private:
    int pid_ = -1;
    std::optional<int> exit_code_;
    std::filesystem::path stdout_, stderr_;
};

struct run_result {
    int exit_code = -1;
    std::string out, err;
};

// Runs to completion (killed after `timeout`, exit_code -1).
run_result run(process_options options, std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Polls `predicate` every 20 ms until it holds or `timeout` passes.
template <class Pred>
bool eventually(Pred predicate, std::chrono::milliseconds timeout);

} // namespace lifeboat::test

#include <thread>

template <class Pred>
bool lifeboat::test::eventually(Pred predicate, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (predicate())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return predicate();
}
