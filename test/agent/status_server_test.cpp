// The status endpoint over real sockets: a flood of clients is shed (bounded connections and
// memory) while a new probe is still answered; header, body and idle limits; HEAD; the unix
// socket's mode. The server runs on its own io_context thread, as in the agent; its counters are
// read on that thread.
#include "agent/status.hpp"
#include "agent/status_server.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <netinet/in.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace lifeboat;
using namespace lifeboat::agent;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

class running_server {
public:
    explicit running_server(status_server_limits limits, std::string listen = "127.0.0.1:0")
        : server_(io_.get_executor(), listen, status_, endpoint_, limits) {
        status_.config.source = "cache";
        asio::co_spawn(io_, server_.run(), asio::bind_cancellation_slot(stop_.slot(), asio::detached));
        thread_ = std::thread([this] { io_.run(); });
    }
    // As the agent stops it: cancel run(), which closes every connection; the thread ends when
    // the last coroutine has, so no coroutine outlives the server.
    ~running_server() {
        asio::post(io_, [this] { stop_.emit(asio::cancellation_type::terminal); });
        thread_.join();
    }

    // A copy of the server's counters, taken on its thread.
    status_endpoint_status counters() {
        std::promise<status_endpoint_status> copy;
        asio::post(io_, [&] { copy.set_value(endpoint_); });
        return copy.get_future().get();
    }

    unsigned short port() const {
        const auto address = server_.local_address();
        return static_cast<unsigned short>(std::stoi(address.substr(address.rfind(':') + 1)));
    }

private:
    asio::io_context io_{1};
    agent_status status_;
    status_endpoint_status endpoint_;
    status_server server_;
    asio::cancellation_signal stop_;
    std::thread thread_;
};

// A flood from another process (one process may hold only 20,000 descriptors here): `count`
// connections, the last `slow` of them sending half a request header, all held open until the
// parent closes `hold`. Writes one byte to `ready` once every connection is up; plain system
// calls only, as the child of a process with threads.
pid_t start_flood(unsigned short port, int count, int slow, int ready, int hold, int parents_end_of_hold) {
    const pid_t pid = ::fork();
    if (pid != 0)
        return pid;
    ::close(parents_end_of_hold); // else this process would keep its own `hold` open
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static constexpr char half_header[] = "GET /status HTTP/1.1\r\nHost: loc";
    for (int i = 0; i < count; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
            ::_exit(1);
        if (i >= count - slow)
            (void)!::send(fd, half_header, sizeof half_header - 1, MSG_NOSIGNAL);
    }
    (void)!::write(ready, "x", 1);
    char byte;
    (void)!::read(hold, &byte, 1); // returns when the parent closes its end
    ::_exit(0);
}

int connect_to(unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0)
        << std::strerror(errno);
    timeval timeout{10, 0}; // a failure bound, not a performance claim
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    return fd;
}

void send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0)
            return; // the server closed: the caller looks at what it read
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Everything the server sends until it closes the connection (or the receive bound passes).
std::string read_until_close(int fd) {
    std::string out;
    char chunk[4096];
    for (;;) {
        const auto n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0)
            return out;
        out.append(chunk, static_cast<std::size_t>(n));
    }
}

std::string request(unsigned short port, std::string_view text) {
    const int fd = connect_to(port);
    send_all(fd, text);
    auto answer = read_until_close(fd);
    ::close(fd);
    return answer;
}

} // namespace

TEST(status_server, a_flood_of_connections_is_shed_and_a_new_probe_is_still_answered) {
    // 20,000 idle connections and 1,000 slow-header clients, from two processes.
    constexpr int per_process = 10500;
    constexpr int slow_per_process = 500;
    running_server server(status_server_limits{.max_connections = 256});

    int ready[2], hold[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(hold), 0);
    const pid_t first = start_flood(server.port(), per_process, slow_per_process, ready[1], hold[0], hold[1]);
    const pid_t second =
        start_flood(server.port(), per_process, slow_per_process, ready[1], hold[0], hold[1]);
    ::close(ready[1]);
    ::close(hold[0]);
    char bytes[2];
    ASSERT_EQ(::read(ready[0], bytes, 1), 1) << "a flood process could not open its connections";
    ASSERT_EQ(::read(ready[0], bytes + 1, 1), 1) << "a flood process could not open its connections";

    for (int probe = 0; probe < 20; ++probe) {
        const auto answer =
            request(server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        ASSERT_TRUE(answer.starts_with("HTTP/1.1 200 OK")) << "probe " << probe << ": '" << answer << "'";
        EXPECT_TRUE(answer.ends_with("ok\n"));
    }

    const auto during = server.counters();
    EXPECT_LE(during.open_connections, 256u);
    EXPECT_GE(during.accepted_total, std::uint64_t(2 * per_process + 20));
    EXPECT_GE(during.shed_total, std::uint64_t(2 * per_process - 256));

    ::close(hold[1]); // the flood processes exit, closing every connection
    int status = 0;
    ASSERT_EQ(::waitpid(first, &status, 0), first);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_EQ(::waitpid(second, &status, 0), second);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ::close(ready[0]);
    // Every connection the server still held sees EOF and goes.
    for (int i = 0; i < 500 && server.counters().open_connections != 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(server.counters().open_connections, 0u);
}

TEST(status_server, an_idle_client_is_dropped_after_the_idle_timeout) {
    running_server server(status_server_limits{.idle_timeout = 200ms});
    const int fd = connect_to(server.port());
    send_all(fd, "GET /healthz HTTP/1.1\r\n"); // never finished
    EXPECT_EQ(read_until_close(fd), "");       // closed by the server, well before the 10 s receive bound
    ::close(fd);
    EXPECT_EQ(server.counters().open_connections, 0u);
}

TEST(status_server, a_header_over_the_limit_is_refused) {
    running_server server(status_server_limits{});
    const std::string big(9 * 1024, 'a');
    const auto answer =
        request(server.port(), "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n");
    EXPECT_EQ(answer, "");
    // Just under the limit is served.
    const std::string fits(7 * 1024, 'a');
    EXPECT_TRUE(
        request(server.port(), "GET /healthz HTTP/1.1\r\nX-Fits: " + fits + "\r\nConnection: close\r\n\r\n")
            .starts_with("HTTP/1.1 200 OK"));
}

TEST(status_server, a_request_with_a_body_is_refused) {
    running_server server(status_server_limits{});
    const auto answer =
        request(server.port(),
                "GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    EXPECT_EQ(answer, "");
}

TEST(status_server, head_has_the_length_of_get_and_no_body) {
    running_server server(status_server_limits{});
    const auto get = request(server.port(), "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto head = request(server.port(), "HEAD /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto get_body = get.substr(get.find("\r\n\r\n") + 4);
    ASSERT_TRUE(head.starts_with("HTTP/1.1 200 OK")) << head;
    EXPECT_TRUE(head.ends_with("\r\n\r\n")) << "no body after the header: " << head;
    EXPECT_NE(head.find("Content-Length: " + std::to_string(get_body.size()) + "\r\n"), std::string::npos)
        << head;
}

TEST(status_server, the_unix_socket_is_for_its_owner_and_group_only) {
    const auto path =
        std::filesystem::temp_directory_path() / ("lifeboat-status-" + std::to_string(::getpid()) + ".sock");
    {
        running_server server(status_server_limits{}, "unix:" + path.string());
        struct stat info {};
        ASSERT_EQ(::stat(path.c_str(), &info), 0);
        EXPECT_TRUE(S_ISSOCK(info.st_mode));
        EXPECT_EQ(info.st_mode & 0777, 0660u);
    }
    EXPECT_FALSE(std::filesystem::exists(path)) << "removed when the server goes";
}
