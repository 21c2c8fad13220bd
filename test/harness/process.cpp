#include "harness/process.hpp"

#include "base/atomic_file.hpp"
#include "harness/test_env.hpp"

#include <fmt/format.h>

#include <cstring>
#include <fcntl.h>
#include <signal.h>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace lifeboat::test {
namespace {

std::string slurp(const std::filesystem::path& p) {
    auto r = read_whole_file(p);
    return r ? std::move(r.value()) : std::string();
}

} // namespace

process::process(process_options o) {
    auto dir = o.work_dir.empty() ? scratch_dir() : o.work_dir;
    std::filesystem::create_directories(dir);
    stdout_ = dir / (o.name + ".stdout.log");
    stderr_ = dir / (o.name + ".stderr.log");

    // Build the environment before fork: nothing after fork may allocate.
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        const auto eq = kv.find('=');
        if (eq != std::string::npos)
            env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& k : o.unset_env)
        env.erase(k);
    for (const auto& [k, v] : o.env)
        env[k] = v;
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env)
        env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, argv;
    for (auto& s : env_strings)
        envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto& a : o.args)
        argv.push_back(a.data());
    argv.push_back(nullptr);

    int in_pipe[2] = {-1, -1};
    if (o.stdin_data && ::pipe(in_pipe) != 0)
        throw std::runtime_error("pipe failed");
    const int out_fd = ::open(stdout_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err_fd = ::open(stderr_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = ::fork();
    if (pid_ < 0)
        throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::setpgid(0, 0);
        if (o.stdin_data) {
            ::dup2(in_pipe[0], 0);
            ::close(in_pipe[1]);
        } else {
            const int devnull = ::open("/dev/null", O_RDONLY);
            ::dup2(devnull, 0);
        }
        ::dup2(out_fd, 1);
        ::dup2(err_fd, 2);
        ::execvpe(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(out_fd);
    ::close(err_fd);
    if (o.stdin_data) {
        ::close(in_pipe[0]);
        std::string_view data = *o.stdin_data;
        while (!data.empty()) {
            const ssize_t n = ::write(in_pipe[1], data.data(), data.size());
            if (n <= 0)
                break;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        ::close(in_pipe[1]);
    }
}

process::~process() {
    if (running()) {
        ::kill(pid_, SIGKILL);
        wait(std::chrono::seconds(5));
    }
}

bool process::running() {
    if (exit_code_ || pid_ <= 0)
        return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return false;
    }
    return true;
}

void process::signal(int sig) {
    if (running())
        ::kill(pid_, sig);
}

std::optional<int> process::wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return exit_code_;
}

bool process::wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) {
    return eventually(
        [&] {
            if (err().find(needle) != std::string::npos || out().find(needle) != std::string::npos)
                return true;
            return false;
        },
        timeout);
}

std::string process::out() const {
    return slurp(stdout_);
}
std::string process::err() const {
    return slurp(stderr_);
}

run_result run(process_options options, std::chrono::milliseconds timeout) {
    process p(std::move(options));
    run_result r;
    const auto code = p.wait(timeout);
    if (!code) {
        p.signal(SIGKILL);
        p.wait(std::chrono::seconds(5));
    }
    r.exit_code = code.value_or(-1);
    r.out = p.out();
    r.err = p.err();
    return r;
}

} // namespace lifeboat::test
