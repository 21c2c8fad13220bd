// The HTTP/1.1 client the object stores share (S3, GCS, credential endpoints), on Boost.Beast.
//
//   http::client web(executor, {.ca_bundle = env.aws_ca_bundle});
//   http::request req;
//   req.method = http::verb::get;
//   req.server = http::origin::parse("https://storage.googleapis.com").value();
//   req.target = "/storage/v1/b/bkt/o?prefix=x";          // origin-form, already percent-encoded
//   req.headers.set(http::field::authorization, "Bearer ...");
//   auto res = co_await web.send(std::move(req));         // result<response, error>
//
// What it does for every caller:
// - plain TCP and TLS (verification on, SNI, host name check; the system CA store, or a PEM
//   bundle given by client_options::ca_bundle, which the stores fill from AWS_CA_BUNDLE);
// - keep-alive: a few idle connections per origin are kept and reused;
// - timeouts: connect, idle (no progress on a read or write) and total (the whole send(),
//   retries and back-off waits included);
// - retries with full-jitter exponential back-off (base/backoff.hpp) on network errors, 5xx and
//   429 (a store may widen that with retry_policy::retryable_response), within a budget of
//   attempts and time. A request that is not idempotent is never re-sent once any of it may
//   have reached the server;
// - streaming: a body is sent from memory (shared, never copied) or from file ranges in 256 KiB
//   chunks, and a response is kept in memory up to a cap, streamed into a file crash-safely
//   (base/atomic_file.hpp) or handed to the caller chunk by chunk. A body shorter than its
//   Content-Length is an error, never a success.
//
// Every HTTP response, whatever its status, is a `response` (the caller maps statuses); an
// `error` means no complete response was received. Not thread-safe: use one client from one
// executor (the agent has one io_context thread).
#pragma once

#include "base/backoff.hpp"
#include "base/result.hpp"
#include "base/time_format.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <variant>
#include <vector>

namespace lifeboat::http {

using verb = boost::beast::http::verb;
using field = boost::beast::http::field;
using fields = boost::beast::http::fields;

// Where to connect: scheme, host and port. `host` is a DNS name or an IP literal (IPv6 without
// brackets).
struct origin {
    bool tls = false;
    std::string host;
    std::uint16_t port = 80;

    // "http://127.0.0.1:17480", "https://s3.eu-west-1.amazonaws.com" (a path, if any, is
    // refused: use split_url for full URLs). One-line error naming what was wrong.
    static result<origin, std::string> parse(std::string_view url);
    // The Host header: "host", or "host:port" when the port is not the scheme's default.
    std::string host_header() const;
    // "https://host:port", for logs.
    std::string to_string() const;
    bool operator==(const origin&) const = default;
};

// "https://host:port/a/b?x=y" -> origin and origin-form target "/a/b?x=y" (kept as given).
struct split_url_result {
    origin server;
    std::string target;
};
result<split_url_result, std::string> split_url(std::string_view url);

// One piece of a request body: bytes in memory or a range of a file.
struct memory_part {
    std::shared_ptr<const std::string> bytes;
};
struct file_part {
    std::filesystem::path path;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};
using body_part = std::variant<memory_part, file_part>;

// A request body: parts sent one after the other (a GCS multipart/related upload can put a file
// between two memory parts). Empty: no body.
struct request_body {
    std::vector<body_part> parts;

    static request_body from_string(std::string bytes);
    static request_body from_shared(std::shared_ptr<const std::string> bytes);
    // The file's current size is taken when the request is sent; a file that shrinks meanwhile
    // fails the request (local_io), it is never sent short.
    static request_body from_file(std::filesystem::path path);
    static request_body from_file_range(std::filesystem::path path, std::uint64_t offset,
                                        std::uint64_t length);
    bool empty() const { return parts.empty(); }
};

// Frames a request body on the wire as it is sent (S3's aws-chunked signing). The client reads
// the body in frames of frame_size() bytes (the last one shorter) and sends each as
// prefix + data + suffix (frame() returns both), then finish(); the header's Content-Length is
// wire_length(body length). State that must restart with every attempt (a signature chain) is
// the owner's to reset: before_send runs before each attempt, before any of its body is framed.
class body_framing {
public:
    virtual ~body_framing() = default;
    virtual std::size_t frame_size() const = 0;
    virtual std::uint64_t wire_length(std::uint64_t body_length) const = 0;
    virtual std::pair<std::string, std::string> frame(std::string_view data) = 0;
    virtual std::string finish() = 0;
};

struct response;

// Where a response body goes. Non-2xx bodies always go to memory (capped at error_body_cap) so
// that a file target only ever receives the object the caller asked for.
struct to_memory {
    std::size_t max_bytes = std::size_t(16) << 20; // more fails the request with too_large
};
struct to_file {
    std::filesystem::path target; // replaced atomically, only after the whole body was received
    mode_t mode = 0600;
    std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max();
    // Sees every body chunk as it arrives, e.g. to hash it; offset 0 starts a new attempt.
    std::function<void(std::uint64_t offset, std::string_view chunk)> observe;
    // Called when the whole body is in the temporary file, before it replaces the target. An
    // error string (a checksum mismatch, say) discards the file and fails the attempt as a
    // network error, which is retried like one.
    std::function<std::optional<std::string>(const response&)> accept;
};
// Hands the body to the caller chunk by chunk as it arrives; the client keeps none of it (the
// caller validates, hashes and writes it wherever it wants while the rest is still on the wire).
struct to_stream {
    std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max();
    // Called when a 2xx body starts, with its Content-Length when the server declared one. A
    // retried attempt calls it again: the caller drops what it got so far and starts over.
    std::function<void(std::optional<std::uint64_t> length)> start;
    // Each body chunk, in order. An error line stops the request at once; it fails with
    // local_io and is never retried (the caller refused the bytes, another attempt would too).
    std::function<std::optional<std::string>(std::string_view chunk)> write;
    // When set, awaited after each write() before the next read (backends::object_sink::ready).
    std::function<boost::asio::awaitable<void>()> ready;
};
using response_sink = std::variant<to_memory, to_file, to_stream>;

struct timeouts {
    std::chrono::milliseconds connect{10'000}; // TCP connect and TLS handshake, per attempt
    std::chrono::milliseconds idle{30'000};    // no progress on one read or write
    std::chrono::milliseconds total{300'000};  // the whole send(), retries and waits included
};

struct retry_policy {
    unsigned max_attempts = 4; // 1: never retry
    backoff_policy backoff{std::chrono::milliseconds(100), std::chrono::seconds(5),
                           std::chrono::milliseconds(20)};
    // Extra statuses/bodies worth retrying besides network errors, 5xx and 429 (S3's 400
    // RequestTimeout, for instance). Called with the complete response.
    std::function<bool(const response&)> retryable_response;
};

struct request {
    verb method = verb::get;
    origin server;
    std::string target = "/"; // origin-form, already percent-encoded
    fields headers;           // Host, Content-Length and User-Agent are set by the client
    request_body body;
    std::shared_ptr<body_framing> framing; // empty: the body is sent as it is
    response_sink sink = to_memory{};
    // false: never re-sent after any byte may have reached the server (conditional writes,
    // where a retry could turn a win into a false 412). Failures before that are still retried.
    bool idempotent = true;
    std::optional<timeouts> timeout;   // default: client_options::timeout
    std::optional<retry_policy> retry; // default: client_options::retry
    // Called before every attempt with the final header (Host, Content-Length set), e.g. to
    // sign it with a fresh date. Returning an error string aborts send() with invalid_request.
    std::function<std::optional<std::string>(const request&, fields& header)> before_send;
};

struct response {
    unsigned status = 0;
    fields headers;
    std::string body;             // memory sink; for a file sink, the error body of a non-2xx
    std::uint64_t body_bytes = 0; // body length received
    bool body_in_file = false;    // to_file: the target now holds the body
    unsigned attempts = 1;        // attempts made, the successful one included
    // The status line's reason phrase. Azure puts its error message there, the only place an
    // answer to HEAD (which has no body) can carry it.
    std::string reason;

    std::string_view header(field name) const;
    std::string_view header(std::string_view name) const;
    // The server's `Date`, when present and well-formed.
    std::optional<wall_clock::time_point> date() const;
    bool ok() const { return status >= 200 && status < 300; }
};

enum class errc {
    invalid_request, // bad origin/target/header, or before_send refused; nothing was sent
    resolve,         // DNS
    connect,         // TCP connect refused/unreachable
    tls,             // handshake or certificate verification failed
    network,         // reset, EOF, truncated body, malformed HTTP
    timeout,         // connect, idle or total timeout
    too_large,       // body over the sink's cap
    local_io,        // a body file could not be read or the target file written
    cancelled,
};
const char* to_string(errc code);

struct error {
    errc code = errc::network;
    std::string message; // one line: "GET 127.0.0.1:17480/x: connection reset (3 attempts)"
    unsigned attempts = 0;
    bool maybe_sent = false;             // some of the last attempt's request may have reached the server
    std::optional<unsigned> last_status; // the status of a response cut short, if it had one
};

template <class T>
using http_result = lifeboat::result<T, error>;

struct client_options {
    std::string ca_bundle; // PEM file of trusted CAs; empty: the system store
    timeouts timeout;
    retry_policy retry;
    std::size_t max_idle_per_origin = 4;
    std::chrono::seconds max_idle_age{20}; // older idle connections are closed, not reused
    std::size_t error_body_cap = 64 * 1024;
    std::string user_agent = "lifeboat";
    std::optional<std::uint64_t> jitter_seed; // deterministic back-off, for tests
};

class client {
public:
    explicit client(boost::asio::any_io_executor executor, client_options options = {});
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    boost::asio::awaitable<http_result<response>> send(request req);

    const client_options& options() const;
    boost::asio::any_io_executor get_executor() const;
    // Idle pooled connections (all origins), for tests and status.
    std::size_t idle_connections() const;
    // Connections opened since construction (a reused connection does not count), for tests.
    std::uint64_t connections_opened() const;
    void close_idle();

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

// Percent-encoding as RFC 3986 "unreserved" (A-Z a-z 0-9 - . _ ~ stay), which is what SigV4,
// GCS and most query strings want. keep_slash leaves '/' alone (S3 object keys in paths).
std::string percent_encode(std::string_view s, bool keep_slash = false);
// Decodes %XX (and nothing else: '+' stays '+'). Returns nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view s);

} // namespace lifeboat::http
