// A loopback stand-in for the Admin API of a DB-less Kong, which cannot run here: it serves
// POST /config on 127.0.0.1 from its own thread, records every request, and answers what the test
// scripts (201, a 4xx with Kong's JSON error, a 5xx, or nothing for a while). The agent under
// test is a real `lifeboat run` process talking to it over TCP.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lifeboat::test {

struct admin_request {
    std::string method, target, body;
    std::map<std::string, std::string> headers; // names lower-cased
};

struct admin_reply {
    unsigned status = 201;
    std::string body = "{}";
    std::chrono::milliseconds delay{0}; // wait this long before answering (a hanging Kong)
};

class fake_kong_admin {
public:
    // port 0: any free port. Otherwise that port (a test can start Kong "late" on a port the
    // agent already dials).
    explicit fake_kong_admin(unsigned short port = 0);
    ~fake_kong_admin();
    fake_kong_admin(const fake_kong_admin&) = delete;
    fake_kong_admin& operator=(const fake_kong_admin&) = delete;

    // How to answer from now on (thread-safe). Default: 201 {}.
    void answer(std::function<admin_reply(const admin_request&)> handler);
    std::vector<admin_request> requests() const;
    unsigned short port() const;
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace lifeboat::test
