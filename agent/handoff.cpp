#include "agent/handoff.hpp"

#include "backends/http/client.hpp"
#include "base/atomic_file.hpp"
#include "base/log.hpp"
#include "base/offload.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace lifeboat::agent {

namespace asio = boost::asio;

asio::awaitable<result<void, std::string>> run_command(const std::string& command,
                                                       std::chrono::milliseconds timeout) {
    // Output goes to a temporary file so a chatty command can never block on a full pipe.
    char out_template[] = "/tmp/lifeboat-reload-XXXXXX";
    const int out_fd = ::mkstemp(out_template);
    if (out_fd < 0)
        co_return failure{
            fmt::format("cannot create a file for the command's output: {}", std::strerror(errno))};
    ::unlink(out_template);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP); // its own group: a timeout kills it all
    posix_spawnattr_setpgroup(&attr, 0);
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        ::close(out_fd);
        co_return failure{fmt::format("cannot start /bin/sh: {}", std::strerror(rc))};
    }

    auto output_tail = [&] {
        std::string text(512, '\0');
        const off_t end = ::lseek(out_fd, 0, SEEK_END);
        const off_t from = end > 512 ? end - 512 : 0;
        const ssize_t n = ::pread(out_fd, text.data(), text.size(), from);
        text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        for (auto& c : text)
            if (c == '\n' || c == '\r')
                c = ' ';
        while (!text.empty() && text.back() == ' ')
            text.pop_back();
        return text;
    };

    // Poll for the exit: cheap (a reload takes seconds at most) and needs no SIGCHLD handler that
    // would interfere with other children.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex);
    int status = 0;
    for (auto wait = std::chrono::milliseconds(2);;
         wait = std::min(wait * 2, std::chrono::milliseconds(50))) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            auto tail = output_tail();
            ::close(out_fd);
            co_return failure{fmt::format("reload command timed out after {} ms and was killed{}{}",
                                          timeout.count(), tail.empty() ? "" : ": ", tail)};
        }
        timer.expires_after(wait);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) { // cancelled: do not leave the child behind
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            ::close(out_fd);
            throw boost::system::system_error(ec);
        }
    }
    auto tail = output_tail();
    ::close(out_fd);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        co_return ok_v;
    const auto how = WIFEXITED(status) ? fmt::format("exited with {}", WEXITSTATUS(status))
                                       : fmt::format("was killed by signal {}", WTERMSIG(status));
    co_return failure{fmt::format("reload command {}{}{}", how, tail.empty() ? "" : ": ", tail)};
}

namespace {

// 0640: the gateway usually reads its file as another user of the same group; the config holds
// credentials, so never world-readable. (Its own file, never a link to the 0600 cache.)
constexpr mode_t gateway_file_mode = 0640;

struct file_target {
    std::filesystem::path path;
    std::string reload;
    std::chrono::milliseconds timeout;

    asio::awaitable<result<void, std::string>> reload_gateway() const {
        if (reload.empty())
            co_return ok_v;
        co_return co_await run_command(reload, timeout);
    }
    // The gateway's directory is the operator's to make, never lifeboat's: it is often Kong's
    // prefix, which Kong creates as its own user at its first start (one made by the lifeboat user
    // would lock Kong out of it), and systemd's ReadWritePaths needs it to exist anyway. A missing
    // one gets a message naming it; the hand-off is retried until it appears.
    result<void, std::string> check_directory() const {
        const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
        std::error_code ec;
        const auto st = std::filesystem::status(dir, ec);
        if (st.type() == std::filesystem::file_type::not_found)
            return failure{
                fmt::format("the gateway's directory {} does not exist (gateway_config_path = {}): "
                            "create it, writable by lifeboat",
                            dir.string(), path.string())};
        if (!ec && st.type() != std::filesystem::file_type::directory)
            return failure{
                fmt::format("the gateway's directory {} is not a directory (gateway_config_path = {})",
                            dir.string(), path.string())};
        return ok_v; // anything else: the write says what is wrong
    }
    // The whole config from memory: written atomically (on the disk pool: seconds for a large
    // config, which the event loop must not wait for), then the reload.
    asio::awaitable<result<void, std::string>>
    deliver_whole(const protocol::config_snapshot& snapshot) const {
        auto written = co_await offload([&]() -> result<void, std::string> {
            if (auto dir = check_directory(); !dir)
                return dir;
            return write_file_atomically(path, snapshot.config_json, gateway_file_mode);
        });
        if (!written)
            co_return failure{written.error()};
        co_return co_await reload_gateway();
    }
};

class file_stage final : public handoff_stage {
public:
    explicit file_stage(const file_target& target) : target_(target), file_(target.path, gateway_file_mode) {}

    void restart() override { file_.restart(); }
    void write(std::string_view bytes) override { file_.write(bytes); }

    asio::awaitable<result<void, std::string>> deliver(const protocol::config_snapshot& snapshot) override {
        if (!file_.usable()) // writing the pieces failed: the whole config, from memory
            co_return co_await target_.deliver_whole(snapshot);
        auto committed = co_await offload([&] { return file_.commit(); });
        if (!committed)
            co_return failure{committed.error()};
        co_return co_await target_.reload_gateway();
    }

private:
    file_target target_;
    staged_file file_;
};

class file_handoff final : public gateway_handoff {
public:
    explicit file_handoff(const settings& s)
        : target_{s.gateway_config_path, s.gateway_reload_command, s.gateway_reload_timeout} {}

    const char* kind() const override { return "file"; }

    asio::awaitable<result<void, std::string>> deliver(const protocol::config_snapshot& snapshot) override {
        co_return co_await target_.deliver_whole(snapshot);
    }

    std::unique_ptr<handoff_stage> stage() override { return std::make_unique<file_stage>(target_); }

    void update(const settings& s) override {
        target_.reload = s.gateway_reload_command;
        target_.timeout = s.gateway_reload_timeout;
    }

private:
    file_target target_;
};

class admin_api_handoff final : public gateway_handoff {
public:
    admin_api_handoff(asio::any_io_executor executor, const settings& s)
        : client_(executor, {})
        , url_(s.gateway_admin_url)
        , token_(s.gateway_admin_token)
        , timeout_(s.gateway_admin_timeout) {}

    const char* kind() const override { return "admin_api"; }

    void update(const settings& s) override {
        token_ = s.gateway_admin_token;
        timeout_ = s.gateway_admin_timeout;
    }

    asio::awaitable<result<void, std::string>> deliver(const protocol::config_snapshot& snapshot) override {
        auto where = http::split_url(url_);
        if (!where)
            co_return failure{fmt::format("gateway_admin_url: {}", where.error())};
        http::request req;
        req.method = http::verb::post;
        req.server = where->server;
        auto base = where->target == "/" ? std::string() : where->target;
        if (base.ends_with('/'))
            base.pop_back();
        req.target = base + "/config";
        req.headers.set(http::field::content_type, "application/json");
        if (!token_.empty())
            req.headers.set("Kong-Admin-Token", token_);
        // The snapshot owns its bytes; the request shares them without a copy.
        req.body = http::request_body::from_shared(snapshot.shared_config_json());
        req.retry =
            http::retry_policy{6, backoff_policy{std::chrono::milliseconds(200), std::chrono::seconds(5),
                                                 std::chrono::milliseconds(50)}};
        // A Kong that accepts the connection and never answers must not hold the hand-off for
        // the client's default 5 minutes: the whole POST, quick retries included, gets timeout_.
        req.timeout = http::timeouts{.connect = std::min(timeout_, std::chrono::milliseconds(10'000)),
                                     .idle = timeout_,
                                     .total = timeout_};
        auto res = co_await client_.send(std::move(req));
        if (!res)
            co_return failure{fmt::format("POST {}/config: {}", url_, res.error().message)};
        if (res->status == 201 || res->status == 200)
            co_return ok_v;
        std::string message = res->body.substr(0, 300);
        boost::system::error_code ec;
        if (auto doc = boost::json::parse(res->body, ec); !ec && doc.is_object())
            if (auto* m = doc.as_object().if_contains("message"); m && m->is_string())
                message = std::string(m->as_string());
        co_return failure{fmt::format("POST {}/config: HTTP {}: {}", url_, res->status, message)};
    }

private:
    http::client client_;
    std::string url_;
    std::string token_;
    std::chrono::milliseconds timeout_;
};

} // namespace

std::unique_ptr<gateway_handoff> make_handoff(asio::any_io_executor executor, const settings& s) {
    switch (s.gateway_handoff) {
    case handoff_kind::file:
        return std::make_unique<file_handoff>(s);
    case handoff_kind::admin_api:
        return std::make_unique<admin_api_handoff>(std::move(executor), s);
    case handoff_kind::none:
        return nullptr;
    }
    return nullptr;
}

} // namespace lifeboat::agent
