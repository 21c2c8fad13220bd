// A small scriptable HTTP/1.1 server on 127.0.0.1 for the tests that cannot use a real peer:
// faults (500/503, resets mid-body, stalls, truncated bodies) and the AWS credential endpoints
// that only exist inside AWS (STS, ECS container credentials, EC2 IMDSv2). It runs on the
// test's own io_context, next to the client under test. Test double, not a mock of S3: S3
// behaviour is always tested against Ceph RGW.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/fields.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lifeboat::test {

struct fake_request {
    std::string method;
    std::string target;
    boost::beast::http::fields headers;
    std::string body;
    std::size_t connection_index = 0; // which accepted connection carried it (0-based)
};

enum class fault {
    none,
    reset_mid_body,     // send cut_at body bytes, then RST
    truncate,           // send cut_at body bytes of a longer Content-Length, then FIN
    stall,              // send cut_at body bytes, sleep `stall`, then the rest
    close_before_reply, // read the request, then close without answering
};

struct fake_reply {
    unsigned status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    fault kind = fault::none;
    std::size_t cut_at = 0;
    std::chrono::milliseconds stall{0};
    bool close_after = false; // close the connection after this reply (without Connection: close)
};

using fake_handler = std::function<fake_reply(const fake_request&)>;

class fake_http_server {
public:
    // tls: serve HTTPS with this context (certificate loaded by the caller).
    fake_http_server(boost::asio::any_io_executor executor, fake_handler handler,
                     std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
    ~fake_http_server();

    unsigned short port() const;
    std::string origin() const; // "http://127.0.0.1:<port>" (https when TLS)
    std::size_t connections() const;
    std::size_t requests() const;
    void stop();

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

// Makes a throwaway CA and a server certificate signed by it (openssl CLI) in `dir`:
// ca.pem, server.pem, server.key. `san` is the subjectAltName ("DNS:localhost,IP:127.0.0.1").
struct test_pki {
    std::string ca_file, cert_file, key_file;
};
test_pki make_test_pki(const std::string& dir, const std::string& san);
std::shared_ptr<boost::asio::ssl::context> server_tls_context(const test_pki& pki);

} // namespace lifeboat::test
