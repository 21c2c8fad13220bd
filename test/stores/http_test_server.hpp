// A small HTTP/1.1 server on 127.0.0.1 for tests of HTTP-speaking stores whose real peer cannot
// run here (GCS, its token endpoint, the GCE metadata server). It runs its own io_context on a
// thread, keeps connections alive, and answers each request with `handler`, which is called on
// the server thread one request at a time.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>
#include <memory>
#include <string>

namespace lifeboat::test {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

class http_test_server {
public:
    // A response carrying the header `x-test-fault: reset` is not sent: the connection is reset;
    // with `x-test-fault: truncate` the head and half the body are sent, then the connection closes.
    using handler = std::function<http_response(const http_request&)>;

    explicit http_test_server(handler h);
    ~http_test_server();
    http_test_server(const http_test_server&) = delete;
    http_test_server& operator=(const http_test_server&) = delete;

    unsigned short port() const;
    std::string origin() const; // "http://127.0.0.1:<port>"

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace lifeboat::test
