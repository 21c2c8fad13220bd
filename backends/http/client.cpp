#include "backends/http/client.hpp"

#include "backends/http/retry_state.hpp"
#include "base/atomic_file.hpp"
#include "base/percent_encoding.hpp"
#include "base/printable.hpp"
#include "base/offload.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lifeboat::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

// ---------------------------------------------------------------------------------------------
// Small value types

const char* to_string(errc code) {
    switch (code) {
    case errc::invalid_request:
        return "invalid request";
    case errc::resolve:
        return "cannot resolve host";
    case errc::connect:
        return "cannot connect";
    case errc::tls:
        return "TLS failure";
    case errc::network:
        return "network error";
    case errc::timeout:
        return "timed out";
    case errc::too_large:
        return "response too large";
    case errc::local_io:
        return "local I/O error";
    case errc::cancelled:
        return "cancelled";
    }
    return "unknown";
}

result<origin, std::string> origin::parse(std::string_view url) {
    auto split = split_url(url);
    if (!split)
        return failure{split.error()};
    if (split->target != "/")
        return failure{fmt::format("'{}' is not an origin (scheme://host[:port], without a path)", printable(url))};
    return split->server;
}

std::string origin::host_header() const {
    const bool v6 = host.find(':') != std::string::npos;
    std::string h = v6 ? "[" + host + "]" : host;
    if (port != (tls ? 443 : 80))
        h += ":" + std::to_string(port);
    return h;
}

std::string origin::to_string() const {
    return (tls ? "https://" : "http://") + host_header();
}

result<split_url_result, std::string> split_url(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed)
        return failure{fmt::format("'{}' is not a URL: {}", printable(url), parsed.error().message())};
    const auto& u = *parsed;
    split_url_result out;
    const auto scheme = u.scheme();
    if (scheme == "https")
        out.server.tls = true;
    else if (scheme != "http")
        return failure{fmt::format("'{}': the scheme must be http or https", printable(url))};
    if (u.has_userinfo())
        return failure{fmt::format("'{}': credentials in the URL are not supported", printable(scheme))};
    std::string host = u.host_address();
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host.empty())
        return failure{fmt::format("'{}' has no host", printable(url))};
    out.server.host = host;
    out.server.port = out.server.tls ? 443 : 80;
    if (u.has_port()) {
        const auto p = u.port();
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
        if (ec != std::errc() || ptr != p.data() + p.size() || value == 0 || value > 65535)
            return failure{fmt::format("'{}': bad port '{}'", printable(url), printable(p))};
        out.server.port = static_cast<std::uint16_t>(value);
    }
    out.target = std::string(u.encoded_path());
    if (out.target.empty())
        out.target = "/";
    if (u.has_query())
        out.target += "?" + std::string(u.encoded_query());
    return out;
}

// The one implementation is base/percent_encoding (on Boost.URL's encoders).
std::string percent_encode(std::string_view s, bool keep_slash) {
    return lifeboat::percent_encode(s, keep_slash);
}

std::optional<std::string> percent_decode(std::string_view s) {
    return lifeboat::percent_decode(s);
}

namespace {
constexpr std::uint64_t whole_file = std::numeric_limits<std::uint64_t>::max();
}

request_body request_body::from_string(std::string bytes) {
    return from_shared(std::make_shared<const std::string>(std::move(bytes)));
}
request_body request_body::from_shared(std::shared_ptr<const std::string> bytes) {
    request_body b;
    b.parts.push_back(memory_part{std::move(bytes)});
    return b;
}
request_body request_body::from_file(std::filesystem::path path) {
    request_body b;
    b.parts.push_back(file_part{std::move(path), 0, whole_file});
    return b;
}
request_body request_body::from_file_range(std::filesystem::path path, std::uint64_t offset,
                                           std::uint64_t length) {
    request_body b;
    b.parts.push_back(file_part{std::move(path), offset, length});
    return b;
}

std::string_view response::header(field name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string_view() : std::string_view(it->value());
}
std::string_view response::header(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string_view() : std::string_view(it->value());
}
std::optional<wall_clock::time_point> response::date() const {
    const auto d = header(field::date);
    if (d.empty())
        return std::nullopt;
    return parse_http_date(d);
}

// ---------------------------------------------------------------------------------------------
// Connections and the client

namespace {

struct connection {
    origin key;
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    steady::time_point idle_since{};
    bool reused = false;

    beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
    void close() {
        beast::error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().close();
    }
    // A keep-alive connection the peer closed (or sent something unasked on) reads as ready.
    bool looks_closed() {
        auto& sock = lowest().socket();
        if (!sock.is_open())
            return true;
        pollfd p{sock.native_handle(), POLLIN, 0};
        return ::poll(&p, 1, 0) != 0;
    }
};

// What went wrong in one attempt, before it is turned into an `error` or a retry.
struct attempt_failure {
    errc code = errc::network;
    std::string message;
    bool fatal = false; // never retried (TLS verification, local I/O, too large, ...)
    bool maybe_sent = false;
    bool stale = false; // a reused connection failed before any response byte
    std::optional<unsigned> status;
};

bool is_ssl_error(const beast::error_code& ec) {
    return ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated;
}

bool is_peer_close(const beast::error_code& ec) {
    return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::ssl::error::stream_truncated || ec == bhttp::error::partial_message;
}

struct file_reader {
    int fd = -1;
    ~file_reader() {
        if (fd >= 0)
            ::close(fd);
    }
};

// Reads a body's parts one after the other into one caller buffer, across part boundaries: a
// framed body is cut into frames of a fixed size whatever its parts are.
class body_reader {
public:
    explicit body_reader(const request_body& body) : body_(body) {}

    // Fills `want` bytes, fewer only at the end of the body (0: the end).
    result<std::size_t, attempt_failure> read(char* out, std::size_t want) {
        std::size_t got = 0;
        while (got < want && index_ < body_.parts.size()) {
            const auto& part = body_.parts[index_];
            if (const auto* m = std::get_if<memory_part>(&part)) {
                const std::size_t size = m->bytes ? m->bytes->size() : 0;
                const std::size_t n = std::min(want - got, size - static_cast<std::size_t>(offset_));
                if (n > 0)
                    std::memcpy(out + got, m->bytes->data() + offset_, n);
                got += n;
                offset_ += n;
                if (offset_ == size)
                    next_part();
                continue;
            }
            const auto& f = std::get<file_part>(part);
            if (offset_ == f.length) {
                next_part();
                continue;
            }
            if (file_.fd < 0) {
                file_.fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
                if (file_.fd < 0)
                    return failure{
                        attempt_failure{errc::local_io, errno_message("open", f.path, errno), true, true}};
            }
            const auto n = std::min<std::uint64_t>(want - got, f.length - offset_);
            const ssize_t r = ::pread(file_.fd, out + got, static_cast<std::size_t>(n),
                                      static_cast<off_t>(f.offset + offset_));
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return failure{
                    attempt_failure{errc::local_io, errno_message("read", f.path, errno), true, true}};
            if (r == 0)
                return failure{attempt_failure{
                    errc::local_io, fmt::format("{} shrank while it was being sent", f.path.string()), true,
                    true}};
            got += static_cast<std::size_t>(r);
            offset_ += static_cast<std::uint64_t>(r);
        }
        return got;
    }

private:
    void next_part() {
        if (file_.fd >= 0)
            ::close(file_.fd);
        file_.fd = -1;
        ++index_;
        offset_ = 0;
    }

    const request_body& body_;
    std::size_t index_ = 0;
    std::uint64_t offset_ = 0; // within the current part
    file_reader file_;
};

// The total length of a body, resolving whole-file parts to the file's current size.
result<std::uint64_t, std::string> resolve_body(request_body& body) {
    std::uint64_t total = 0;
    for (auto& part : body.parts) {
        if (auto* m = std::get_if<memory_part>(&part)) {
            total += m->bytes ? m->bytes->size() : 0;
            continue;
        }
        auto& f = std::get<file_part>(part);
        struct stat st {};
        if (::stat(f.path.c_str(), &st) != 0)
            return failure{errno_message("stat", f.path, errno)};
        const auto size = static_cast<std::uint64_t>(st.st_size);
        if (f.length == whole_file) {
            if (f.offset > size)
                return failure{
                    fmt::format("{}: offset {} is past the end ({} bytes)", f.path.string(), f.offset, size)};
            f.length = size - f.offset;
        } else if (f.offset + f.length > size) {
            return failure{fmt::format("{}: range {}+{} is past the end ({} bytes)", f.path.string(),
                                       f.offset, f.length, size)};
        }
        total += f.length;
    }
    return total;
}

std::optional<std::chrono::steady_clock::duration> parse_retry_after(std::string_view v) {
    unsigned seconds = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec != std::errc() || ptr != v.data() + v.size() || v.empty())
        return std::nullopt;
    return std::chrono::seconds(std::min(seconds, 3600u));
}

bool default_retryable_status(unsigned status) {
    return status >= 500 || status == 429;
}

} // namespace

struct client::impl {
    asio::any_io_executor executor;
    client_options options;
    std::optional<asio::ssl::context> tls_context;
    std::vector<std::unique_ptr<connection>> idle;
    std::uint64_t opened = 0;
    jitter rng;

    impl(asio::any_io_executor ex, client_options opts)
        : executor(std::move(ex))
        , options(std::move(opts))
        , rng(options.jitter_seed ? jitter(*options.jitter_seed) : jitter()) {}

    result<asio::ssl::context*, std::string> tls() {
        if (tls_context)
            return &*tls_context;
        asio::ssl::context ctx(asio::ssl::context::tls_client);
        ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
        ctx.set_verify_mode(asio::ssl::verify_peer);
        beast::error_code ec;
        if (!options.ca_bundle.empty()) {
            ctx.load_verify_file(options.ca_bundle, ec);
            if (ec)
                return failure{
                    fmt::format("cannot load the CA bundle {}: {}", options.ca_bundle, ec.message())};
        } else {
            ctx.set_default_verify_paths(ec);
            if (ec)
                return failure{fmt::format("cannot load the system CA store: {}", ec.message())};
        }
        tls_context.emplace(std::move(ctx));
        return &*tls_context;
    }

    std::unique_ptr<connection> take_idle(const origin& key, bool idempotent) {
        const auto now = steady::now();
        // A request that must not be re-sent only takes a connection that was busy moments ago,
        // which a server is very unlikely to be closing right now.
        const auto max_age = idempotent
                                 ? std::chrono::duration_cast<steady::duration>(options.max_idle_age)
                                 : std::chrono::duration_cast<steady::duration>(std::chrono::seconds(2));
        for (auto it = idle.end(); it != idle.begin();) {
            --it;
            if (!((*it)->key == key))
                continue;
            auto conn = std::move(*it);
            it = idle.erase(it); // the next --it moves on to the element before
            if (now - conn->idle_since > max_age || conn->looks_closed()) {
                conn->close();
                continue;
            }
            conn->reused = true;
            return conn;
        }
        return nullptr;
    }

    void give_back(std::unique_ptr<connection> conn) {
        conn->idle_since = steady::now();
        const auto key = conn->key;
        idle.push_back(std::move(conn));
        std::size_t count = 0;
        for (auto it = idle.end(); it != idle.begin();) {
            --it;
            if ((*it)->key == key && ++count > options.max_idle_per_origin) {
                (*it)->close();
                it = idle.erase(it);
            }
        }
        // Drop connections nobody came back for.
        const auto now = steady::now();
        std::erase_if(idle, [&](auto& c) {
            if (now - c->idle_since <= options.max_idle_age)
                return false;
            c->close();
            return true;
        });
    }

    // The expiry for the next I/O: the idle timeout, cut short by the total deadline.
    static steady::duration io_budget(steady::duration idle_timeout, steady::time_point deadline) {
        const auto left = deadline - steady::now();
        return std::max(steady::duration::zero(), std::min(idle_timeout, left));
    }

    asio::awaitable<result<std::unique_ptr<connection>, attempt_failure>>
    connect(const origin& key, steady::duration connect_timeout, steady::time_point deadline) {
        auto conn = std::make_unique<connection>();
        conn->key = key;
        conn->plain = std::make_unique<beast::tcp_stream>(executor);
        const auto budget = io_budget(connect_timeout, deadline);
        const auto where = fmt::format("{}:{}", key.host, key.port);

        std::vector<tcp::endpoint> endpoints;
        beast::error_code ec;
        const auto literal = asio::ip::make_address(key.host, ec);
        if (!ec) {
            endpoints.emplace_back(literal, key.port);
        } else {
            tcp::resolver resolver(executor);
            asio::steady_timer timer(executor, budget);
            auto outcome = co_await (resolver.async_resolve(key.host, std::to_string(key.port),
                                                            asio::as_tuple(asio::use_awaitable)) ||
                                     timer.async_wait(asio::as_tuple(asio::use_awaitable)));
            if (outcome.index() == 1)
                co_return failure{
                    attempt_failure{errc::timeout, fmt::format("resolving {} timed out", key.host)}};
            auto [rec, results] = std::get<0>(std::move(outcome));
            if (rec)
                co_return failure{
                    attempt_failure{errc::resolve, fmt::format("resolve {}: {}", key.host, rec.message())}};
            for (const auto& r : results)
                endpoints.push_back(r.endpoint());
        }

        conn->plain->expires_after(budget);
        auto [cec, ep] = co_await conn->plain->async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
        if (cec) {
            if (cec == beast::error::timeout)
                co_return failure{attempt_failure{errc::timeout, fmt::format("connect {} timed out", where)}};
            if (cec == asio::error::operation_aborted)
                co_return failure{attempt_failure{errc::cancelled, "cancelled", true}};
            co_return failure{
                attempt_failure{errc::connect, fmt::format("connect {}: {}", where, cec.message())}};
        }
        conn->plain->socket().set_option(tcp::no_delay(true), ec);
        ++opened;

        if (key.tls) {
            auto ctx = tls();
            if (!ctx)
                co_return failure{attempt_failure{errc::tls, ctx.error(), true}};
            conn->secure =
                std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*conn->plain), **ctx);
            conn->plain.reset();
            SSL* ssl = conn->secure->native_handle();
            beast::error_code aec;
            asio::ip::make_address(key.host, aec);
            if (aec) {
                // SNI, and OpenSSL's own host name check of the leaf certificate.
                SSL_set_tlsext_host_name(ssl, key.host.c_str());
                SSL_set1_host(ssl, key.host.c_str());
            } else {
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), key.host.c_str());
            }
            conn->lowest().expires_after(io_budget(connect_timeout, deadline));
            auto [hec] = co_await conn->secure->async_handshake(asio::ssl::stream_base::client,
                                                                asio::as_tuple(asio::use_awaitable));
            if (hec) {
                if (hec == beast::error::timeout)
                    co_return failure{attempt_failure{errc::timeout,
                                                      fmt::format("TLS handshake with {} timed out", where)}};
                const long verify = SSL_get_verify_result(ssl);
                if (verify != X509_V_OK)
                    co_return failure{
                        attempt_failure{errc::tls,
                                        fmt::format("TLS to {}: certificate verification failed: {}", where,
                                                    X509_verify_cert_error_string(verify)),
                                        true}};
                if (is_ssl_error(hec))
                    co_return failure{attempt_failure{
                        errc::tls, fmt::format("TLS handshake with {}: {}", where, hec.message()), true}};
                co_return failure{attempt_failure{
                    errc::network, fmt::format("TLS handshake with {}: {}", where, hec.message())}};
            }
        }
        co_return conn;
    }

    template <class Stream>
    asio::awaitable<result<response, attempt_failure>>
    exchange(Stream& stream, connection& conn, const request& req, bhttp::request<bhttp::buffer_body>& msg,
             std::uint64_t wire_length, const timeouts& limits, steady::time_point deadline,
             bool& keep_alive);

    asio::awaitable<http_result<response>> send(request req);
};

namespace {

attempt_failure io_failure(const beast::error_code& ec, std::string_view phase, const std::string& what,
                           steady::time_point deadline, bool sent) {
    attempt_failure f;
    f.maybe_sent = sent;
    if (ec == beast::error::timeout) {
        f.code = errc::timeout;
        f.message = steady::now() >= deadline
                        ? fmt::format("{}: total timeout while {}", what, phase)
                        : fmt::format("{}: no progress while {} (idle timeout)", what, phase);
    } else if (ec == asio::error::operation_aborted) {
        f.code = errc::cancelled;
        f.message = fmt::format("{}: cancelled", what);
        f.fatal = true;
    } else if (ec == bhttp::error::partial_message) {
        f.code = errc::network;
        f.message = fmt::format("{}: the connection closed before the whole body arrived", what);
    } else if (ec.category() == beast::error_code(bhttp::error::end_of_stream).category() &&
               ec != bhttp::error::end_of_stream) {
        f.code = errc::network;
        f.message = fmt::format("{}: malformed HTTP while {}: {}", what, phase, ec.message());
    } else {
        f.code = errc::network;
        f.message = fmt::format("{}: {} while {}", what, ec.message(), phase);
    }
    return f;
}

} // namespace

template <class Stream>
asio::awaitable<result<response, attempt_failure>>
client::impl::exchange(Stream& stream, connection& conn, const request& req,
                       bhttp::request<bhttp::buffer_body>& msg, std::uint64_t wire_length,
                       const timeouts& limits, steady::time_point deadline, bool& keep_alive) {
    keep_alive = false;
    const auto what = fmt::format("{} {}{}", std::string_view(bhttp::to_string(req.method)),
                                  req.server.host_header(), req.target.substr(0, 200));
    const auto idle_timeout = std::chrono::duration_cast<steady::duration>(limits.idle);
    auto arm = [&] { conn.lowest().expires_after(io_budget(idle_timeout, deadline)); };
    bool sent = false;

    // --- request: header, then the body parts in chunks ---
    bhttp::request_serializer<bhttp::buffer_body> sr(msg);
    msg.body().data = nullptr;
    msg.body().size = 0;
    msg.body().more = wire_length > 0;
    arm();
    {
        auto [ec, n] = co_await bhttp::async_write_header(stream, sr, asio::as_tuple(asio::use_awaitable));
        sent = true;
        if (ec) {
            auto f = io_failure(ec, "sending the request", what, deadline, sent);
            f.stale = conn.reused && is_peer_close(ec);
            co_return failure{std::move(f)};
        }
    }
    if (wire_length > 0) {
        std::unique_ptr<char[]> chunk;
        constexpr std::size_t chunk_size = 256 * 1024;
        std::uint64_t written = 0;
        auto write_chunk = [&](const char* data, std::size_t size) -> asio::awaitable<beast::error_code> {
            msg.body().data = const_cast<char*>(data);
            msg.body().size = size;
            msg.body().more = true;
            arm();
            auto [ec, n] = co_await bhttp::async_write(stream, sr, asio::as_tuple(asio::use_awaitable));
            if (ec == bhttp::error::need_buffer)
                ec = {};
            co_return ec;
        };
        auto send_failure = [&](const beast::error_code& ec) {
            auto f = io_failure(ec, "sending the body", what, deadline, true);
            f.stale = conn.reused && is_peer_close(ec);
            return f;
        };
        if (req.framing) {
            // One buffer per frame with room for the framing on both sides: one write per frame.
            body_framing& framing = *req.framing;
            const std::size_t frame_size = std::max<std::size_t>(framing.frame_size(), 1);
            constexpr std::size_t headroom = 128, tailroom = 64;
            chunk = std::make_unique<char[]>(headroom + frame_size + tailroom);
            char* const data = chunk.get() + headroom;
            body_reader reader(req.body);
            for (;;) {
                auto got = reader.read(data, frame_size);
                if (!got)
                    co_return failure{std::move(got.error())};
                if (*got == 0)
                    break;
                const auto [prefix, suffix] = framing.frame(std::string_view(data, *got));
                if (prefix.size() <= headroom && suffix.size() <= tailroom) {
                    std::memcpy(data - prefix.size(), prefix.data(), prefix.size());
                    std::memcpy(data + *got, suffix.data(), suffix.size());
                    if (auto ec =
                            co_await write_chunk(data - prefix.size(), prefix.size() + *got + suffix.size()))
                        co_return failure{send_failure(ec)};
                } else {
                    for (const std::string_view piece :
                         {std::string_view(prefix), std::string_view(data, *got), std::string_view(suffix)})
                        if (auto ec = co_await write_chunk(piece.data(), piece.size()))
                            co_return failure{send_failure(ec)};
                }
                written += prefix.size() + *got + suffix.size();
                if (*got < frame_size)
                    break;
            }
            const std::string tail = framing.finish();
            if (auto ec = co_await write_chunk(tail.data(), tail.size()))
                co_return failure{send_failure(ec)};
            written += tail.size();
            if (written != wire_length)
                co_return failure{
                    attempt_failure{errc::local_io,
                                    fmt::format("{}: the framed body is {} bytes, not the {} announced", what,
                                                written, wire_length),
                                    true, true}};
        } else {
            for (const auto& part : req.body.parts) {
                if (const auto* m = std::get_if<memory_part>(&part)) {
                    if (!m->bytes)
                        continue;
                    const std::string& s = *m->bytes;
                    for (std::size_t off = 0; off < s.size(); off += 4 * chunk_size) {
                        const auto n = std::min(s.size() - off, 4 * chunk_size);
                        if (auto ec = co_await write_chunk(s.data() + off, n))
                            co_return failure{send_failure(ec)};
                        written += n;
                    }
                    continue;
                }
                const auto& fp = std::get<file_part>(part);
                file_reader file;
                file.fd = ::open(fp.path.c_str(), O_RDONLY | O_CLOEXEC);
                if (file.fd < 0)
                    co_return failure{
                        attempt_failure{errc::local_io, errno_message("open", fp.path, errno), true, true}};
                if (!chunk)
                    chunk = std::make_unique<char[]>(chunk_size);
                std::uint64_t left = fp.length, pos = fp.offset;
                while (left > 0) {
                    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk_size));
                    const ssize_t got = ::pread(file.fd, chunk.get(), want, static_cast<off_t>(pos));
                    if (got < 0 && errno == EINTR)
                        continue;
                    if (got < 0)
                        co_return failure{attempt_failure{errc::local_io,
                                                          errno_message("read", fp.path, errno), true, true}};
                    if (got == 0)
                        co_return failure{attempt_failure{
                            errc::local_io,
                            fmt::format("{} shrank while it was being sent", fp.path.string()), true, true}};
                    if (auto ec = co_await write_chunk(chunk.get(), static_cast<std::size_t>(got)))
                        co_return failure{send_failure(ec)};
                    left -= static_cast<std::uint64_t>(got);
                    pos += static_cast<std::uint64_t>(got);
                    written += static_cast<std::uint64_t>(got);
                }
            }
        }
        msg.body().data = nullptr;
        msg.body().size = 0;
        msg.body().more = false;
        arm();
        auto [ec, n] = co_await bhttp::async_write(stream, sr, asio::as_tuple(asio::use_awaitable));
        if (ec)
            co_return failure{io_failure(ec, "sending the body", what, deadline, true)};
        (void)written;
    }

    // --- response header ---
    bhttp::response_parser<bhttp::buffer_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(boost::none);
    if (req.method == verb::head)
        parser.skip(true);
    arm();
    {
        auto [ec, n] = co_await bhttp::async_read_header(stream, conn.buffer, parser,
                                                         asio::as_tuple(asio::use_awaitable));
        if (ec) {
            auto f = io_failure(ec, "waiting for the response", what, deadline, true);
            f.stale = conn.reused && !parser.got_some() && is_peer_close(ec);
            co_return failure{std::move(f)};
        }
    }
    response res;
    res.status = parser.get().result_int();
    res.reason = std::string(parser.get().reason());
    for (const auto& h : parser.get().base())
        res.headers.insert(h.name_string(), h.value());

    // --- response body into its sink ---
    const bool success = res.ok();
    const auto* file_sink = success ? std::get_if<to_file>(&req.sink) : nullptr;
    const auto* stream_sink = success ? std::get_if<to_stream>(&req.sink) : nullptr;
    const auto* memory_sink = std::get_if<to_memory>(&req.sink);
    const std::uint64_t memory_cap = !success      ? options.error_body_cap
                                     : memory_sink ? memory_sink->max_bytes
                                                   : 0;
    const auto declared = parser.content_length();
    if (success && !parser.is_done() && declared) {
        const std::uint64_t cap = file_sink     ? file_sink->max_bytes
                                  : stream_sink ? stream_sink->max_bytes
                                                : memory_cap;
        if (*declared > cap)
            co_return failure{attempt_failure{
                errc::too_large,
                fmt::format("{}: the body is {} bytes, over the limit of {}", what, *declared, cap), true,
                true, false, res.status}};
    }
    atomic_file_writer writer;
    if (file_sink) {
        if (auto r = writer.open(file_sink->target, file_sink->mode); !r)
            co_return failure{attempt_failure{errc::local_io, r.error(), true, true, false, res.status}};
        if (declared)
            if (auto r = writer.preallocate(*declared); !r)
                co_return failure{attempt_failure{errc::local_io, r.error(), true, true, false, res.status}};
    } else if (success && declared && *declared <= memory_cap) {
        res.body.reserve(static_cast<std::size_t>(*declared));
    }

    std::array<char, 64 * 1024> small_buffer;
    std::unique_ptr<char[]> big_buffer;
    char* buf = small_buffer.data();
    std::size_t buf_size = small_buffer.size();
    if (file_sink || stream_sink || (declared && *declared > small_buffer.size())) {
        big_buffer = std::make_unique<char[]>(256 * 1024);
        buf = big_buffer.get();
        buf_size = 256 * 1024;
    }
    if (stream_sink && stream_sink->start)
        stream_sink->start(declared ? std::optional<std::uint64_t>(*declared) : std::nullopt);
    // Beast reads as much as the connection's buffer can hold: a large body read through the
    // 512-byte header buffer would cost one syscall per 512 bytes.
    const bool bulk = !declared || *declared > 64 * 1024;
    if (bulk)
        conn.buffer.reserve(256 * 1024);
    std::uint64_t received = 0;
    while (!parser.is_done()) {
        parser.get().body().data = buf;
        parser.get().body().size = buf_size;
        arm();
        auto [ec, n] =
            co_await bhttp::async_read(stream, conn.buffer, parser, asio::as_tuple(asio::use_awaitable));
        if (ec == bhttp::error::need_buffer)
            ec = {};
        const std::size_t got = buf_size - parser.get().body().size;
        received += got;
        if (got > 0) {
            if (file_sink) {
                if (received > file_sink->max_bytes)
                    co_return failure{attempt_failure{
                        errc::too_large,
                        fmt::format("{}: the body is over the limit of {} bytes", what, file_sink->max_bytes),
                        true, true, false, res.status}};
                if (file_sink->observe)
                    file_sink->observe(received - got, std::string_view(buf, got));
                if (auto r = writer.write(std::string_view(buf, got)); !r)
                    co_return failure{
                        attempt_failure{errc::local_io, r.error(), true, true, false, res.status}};
            } else if (stream_sink) {
                if (received > stream_sink->max_bytes)
                    co_return failure{
                        attempt_failure{errc::too_large,
                                        fmt::format("{}: the body is over the limit of {} bytes", what,
                                                    stream_sink->max_bytes),
                                        true, true, false, res.status}};
                if (auto refused =
                        stream_sink->write ? stream_sink->write(std::string_view(buf, got)) : std::nullopt)
                    co_return failure{attempt_failure{errc::local_io, fmt::format("{}: {}", what, *refused),
                                                      true, true, false, res.status}};
                if (stream_sink->ready)
                    co_await stream_sink->ready();
            } else if (res.body.size() < memory_cap) {
                const auto room = static_cast<std::size_t>(memory_cap - res.body.size());
                if (got > room && success)
                    co_return failure{attempt_failure{
                        errc::too_large,
                        fmt::format("{}: the body is over the limit of {} bytes", what, memory_cap), true,
                        true, false, res.status}};
                res.body.append(buf, std::min(got, room)); // error bodies past the cap are dropped
            } else if (success) {
                co_return failure{attempt_failure{
                    errc::too_large,
                    fmt::format("{}: the body is over the limit of {} bytes", what, memory_cap), true, true,
                    false, res.status}};
            }
        }
        if (ec) {
            auto f = io_failure(ec, "reading the response body", what, deadline, true);
            f.status = res.status;
            co_return failure{std::move(f)};
        }
    }
    if (bulk && conn.buffer.size() == 0)
        conn.buffer.shrink_to_fit(); // idle pooled connections stay small
    res.body_bytes = received;
    if (file_sink) {
        if (file_sink->accept) {
            if (auto refused = file_sink->accept(res)) {
                attempt_failure f{errc::network, fmt::format("{}: {}", what, *refused), false, true, false,
                                  res.status};
                co_return failure{std::move(f)};
            }
        }
        // The fsync of a large download takes seconds: on the disk pool, not the event loop.
        auto committed = co_await offload([&] { return writer.commit(); });
        if (!committed)
            co_return failure{
                attempt_failure{errc::local_io, committed.error(), true, true, false, res.status}};
        res.body_in_file = true;
    }
    keep_alive = parser.keep_alive();
    co_return res;
}

asio::awaitable<http_result<response>> client::impl::send(request req) {
    const auto start = steady::now();
    const timeouts limits = req.timeout.value_or(options.timeout);
    const retry_policy policy = req.retry.value_or(options.retry);
    auto fail_now = [&](errc code, std::string message) {
        return failure{error{code, std::move(message), 0, false, std::nullopt}};
    };
    if (req.server.host.empty())
        co_return fail_now(errc::invalid_request, "the request has no host");
    if (req.target.empty() || req.target.front() != '/')
        co_return fail_now(errc::invalid_request,
                           fmt::format("the target '{}' must start with '/'", req.target));
    if (req.target.find_first_of(" \r\n") != std::string::npos)
        co_return fail_now(errc::invalid_request,
                           "the target contains a space or a line break (percent-encode it)");
    auto length = resolve_body(req.body);
    if (!length)
        co_return fail_now(errc::local_io, length.error());
    const std::uint64_t content_length = *length;
    const std::uint64_t wire_length = req.framing ? req.framing->wire_length(content_length) : content_length;

    retry_state state({policy.max_attempts, policy.backoff, limits.total}, start, req.idempotent);
    const auto deadline = state.deadline();
    const auto what = fmt::format("{} {}{}", std::string_view(bhttp::to_string(req.method)),
                                  req.server.host_header(), req.target.substr(0, 200));

    for (;;) {
        state.on_attempt_start();
        // The request header, rebuilt for every attempt so before_send can sign it afresh.
        bhttp::request<bhttp::buffer_body> msg{req.method, req.target, 11};
        for (const auto& h : req.headers)
            msg.insert(h.name_string(), h.value());
        msg.set(field::host, req.server.host_header());
        if (msg.find(field::user_agent) == msg.end() && !options.user_agent.empty())
            msg.set(field::user_agent, options.user_agent);
        if (wire_length > 0 || req.method == verb::put || req.method == verb::post ||
            req.method == verb::patch)
            msg.content_length(wire_length);
        if (req.before_send) {
            if (auto refused = req.before_send(req, msg.base()))
                co_return failure{
                    error{errc::invalid_request, *refused, state.attempts(), false, std::nullopt}};
        }

        std::optional<attempt_failure> failed;
        std::optional<response> answer;
        auto conn = take_idle(req.server, req.idempotent);
        if (!conn) {
            auto made = co_await connect(
                req.server, std::chrono::duration_cast<steady::duration>(limits.connect), deadline);
            if (made)
                conn = std::move(*made);
            else
                failed = std::move(made.error());
        }
        if (conn) {
            bool keep_alive = false;
            // (Two statements, not a ?: with a co_await in each arm: GCC 12 destroys the
            // result of such an expression too early.)
            std::optional<result<response, attempt_failure>> outcome;
            if (conn->secure)
                outcome.emplace(co_await exchange(*conn->secure, *conn, req, msg, wire_length, limits,
                                                  deadline, keep_alive));
            else
                outcome.emplace(co_await exchange(*conn->plain, *conn, req, msg, wire_length, limits,
                                                  deadline, keep_alive));
            if (outcome->ok()) {
                answer = std::move(outcome->value());
                if (keep_alive)
                    give_back(std::move(conn));
                else
                    conn->close();
            } else {
                failed = std::move(outcome->error());
                conn->close();
            }
        }

        std::optional<std::chrono::steady_clock::duration> retry_after;
        failure_kind kind;
        if (answer) {
            const bool retryable = default_retryable_status(answer->status) ||
                                   (policy.retryable_response && policy.retryable_response(*answer));
            if (!retryable) {
                answer->attempts = state.attempts();
                co_return std::move(*answer);
            }
            retry_after = parse_retry_after(answer->header(field::retry_after));
            kind = answer->status == 429 ? failure_kind::throttled : failure_kind::retryable_status;
        } else {
            if (failed->fatal)
                co_return failure{error{failed->code, failed->message, state.attempts(), failed->maybe_sent,
                                        failed->status}};
            kind = failed->stale        ? failure_kind::stale_connection
                   : failed->maybe_sent ? failure_kind::maybe_sent
                                        : failure_kind::not_sent;
        }
        const auto decision = state.on_failure(kind, steady::now(), rng, retry_after);
        if (!decision.retry) {
            if (answer) {
                // The server's own answer is the most useful thing to hand back.
                answer->attempts = state.attempts();
                co_return std::move(*answer);
            }
            const bool several = state.attempts() > 1;
            co_return failure{error{failed->code,
                                    several ? fmt::format("{} ({} attempts; {})", failed->message,
                                                          state.attempts(), decision.reason)
                                            : failed->message,
                                    state.attempts(), failed->maybe_sent, failed->status}};
        }
        if (decision.wait > steady::duration::zero()) {
            asio::steady_timer timer(executor, decision.wait);
            auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (ec)
                co_return failure{
                    error{errc::cancelled, what + ": cancelled", state.attempts(), false, std::nullopt}};
        }
    }
}

client::client(asio::any_io_executor executor, client_options options)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(options))) {}

client::~client() {
    if (impl_)
        impl_->idle.clear();
}

asio::awaitable<http_result<response>> client::send(request req) {
    auto self = impl_; // keeps the pool alive while the coroutine runs
    co_return co_await self->send(std::move(req));
}

const client_options& client::options() const {
    return impl_->options;
}
asio::any_io_executor client::get_executor() const {
    return impl_->executor;
}
std::size_t client::idle_connections() const {
    return impl_->idle.size();
}
std::uint64_t client::connections_opened() const {
    return impl_->opened;
}
void client::close_idle() {
    for (auto& c : impl_->idle)
        c->close();
    impl_->idle.clear();
}

} // namespace lifeboat::http
