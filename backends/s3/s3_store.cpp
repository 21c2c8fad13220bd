#include "backends/s3/s3_store.hpp"

#include "backends/http/store_errors.hpp"
#include "backends/http/xml.hpp"
#include "backends/s3/s3_protocol.hpp"
#include "backends/s3/sigv4.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "base/log.hpp"
#include "base/offload.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <limits>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace lifeboat::s3 {

namespace asio = boost::asio;
using backends::object_data;
using backends::object_info;
using backends::store_errc;
using backends::store_error;
using backends::store_error_log;
template <class T>
using store_result = backends::store_result<T>;

// ---------------------------------------------------------------------------------------------
// Options

namespace {

// S3 bucket naming rules, as far as they matter for addressing: 3-63 characters of lower-case
// letters, digits, '-' and '.'. Older buckets may hold '_' or upper case; path style serves them.
bool dns_compatible_bucket(std::string_view b) {
    if (b.size() < 3 || b.size() > 63)
        return false;
    for (const char c : b)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    return b.front() != '-' && b.front() != '.' && b.back() != '-' && b.back() != '.';
}

} // namespace

result<void, std::string> s3_options::validate() const {
    if (bucket.empty())
        return failure{std::string("the S3 bucket name is empty")};
    if (bucket.find_first_of("/?#% \t\r\n") != std::string::npos)
        return failure{fmt::format("'{}' is not a valid S3 bucket name", bucket)};
    if (region.empty())
        return failure{std::string("S3 region is not configured (set AWS_REGION or AWS_DEFAULT_REGION)")};
    if (region.find_first_of("/?#% \t\r\n") != std::string::npos)
        return failure{fmt::format("'{}' is not a valid S3 region", region)};
    if (!endpoint.empty()) {
        auto url = http::split_url(endpoint);
        if (!url)
            return failure{fmt::format("AWS_CONFIG_STORAGE_ENDPOINT: {}", url.error())};
        if (url->target != "/")
            return failure{fmt::format("AWS_CONFIG_STORAGE_ENDPOINT '{}' must not have a path", endpoint)};
    }
    if (bucket.size() < 3 || bucket.size() > 63)
        return failure{fmt::format("'{}' is not a valid S3 bucket name (3 to 63 characters)", bucket)};
    if (part_size < (std::uint64_t(5) << 20))
        return failure{fmt::format("the multipart part size {} is under the S3 minimum of 5 MiB", part_size)};
    if (multipart_threshold < part_size)
        return failure{std::string("the multipart threshold must be at least the part size")};
    if (streaming_chunk_size < 8 * 1024)
        return failure{fmt::format("the aws-chunked chunk size {} is under the S3 minimum of 8 KiB",
                                   streaming_chunk_size)};
    return ok_v;
}

result<s3_options, std::string> s3_options::from_environment(std::string bucket,
                                                             const backends::store_environment& env) {
    s3_options o;
    o.bucket = std::move(bucket);
    o.region = env.aws_region;
    o.endpoint = env.aws_endpoint;
    o.ca_bundle = env.aws_ca_bundle;
    o.unsigned_payload_over_tls = env.s3_unsigned_payload_over_tls;
    o.credentials.env = env;
    o.credentials.region = env.aws_region;
    if (auto ok = o.validate(); !ok)
        return failure{ok.error()};
    return o;
}

// ---------------------------------------------------------------------------------------------
// The store

namespace {

constexpr std::size_t max_key_bytes = 1024;

struct s3_call {
    http::verb method = http::verb::get;
    std::string key; // empty: the bucket itself
    std::vector<std::pair<std::string, std::string>> query;
    http::fields headers;
    http::request_body body;
    http::response_sink sink = http::to_memory{};
    bool idempotent = true;
    write_kind kind = write_kind::plain;
    std::string payload_sha256; // put_options::payload_sha256, checked to be 64 lower-case hex
};

// SHA-256 of a request body, streaming file parts in 1 MiB reads.
result<std::string, std::string> hash_body(const http::request_body& body) {
    digest d(digest_kind::sha256);
    std::unique_ptr<char[]> buf;
    for (const auto& part : body.parts) {
        if (const auto* m = std::get_if<http::memory_part>(&part)) {
            if (m->bytes)
                d.update(*m->bytes);
            continue;
        }
        const auto& f = std::get<http::file_part>(part);
        const int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return failure{errno_message("open", f.path, errno)};
        if (!buf)
            buf = std::make_unique<char[]>(1 << 20);
        std::uint64_t left = f.length, pos = f.offset;
        while (left > 0) {
            const ssize_t n =
                ::pread(fd, buf.get(), std::min<std::uint64_t>(left, 1 << 20), static_cast<off_t>(pos));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                const int err = n < 0 ? errno : 0;
                ::close(fd);
                return failure{err ? errno_message("read", f.path, err)
                                   : fmt::format("{} is shorter than expected", f.path.string())};
            }
            d.update(buf.get(), static_cast<std::size_t>(n));
            left -= static_cast<std::uint64_t>(n);
            pos += static_cast<std::uint64_t>(n);
        }
        ::close(fd);
    }
    return d.finish_hex();
}

// The body's length when every part says it (a whole-file part is sized only when sent).
std::optional<std::uint64_t> known_length(const http::request_body& body) {
    std::uint64_t total = 0;
    for (const auto& part : body.parts) {
        if (const auto* m = std::get_if<http::memory_part>(&part)) {
            total += m->bytes ? m->bytes->size() : 0;
            continue;
        }
        const auto& f = std::get<http::file_part>(part);
        if (f.length == std::numeric_limits<std::uint64_t>::max())
            return std::nullopt;
        total += f.length;
    }
    return total;
}

// The body as aws-chunked frames, each signed as the client sends it. before_send starts a new
// signature chain from each attempt's seed signature, so a retry re-signs from the first chunk.
class aws_chunked_framing final : public http::body_framing {
public:
    explicit aws_chunked_framing(std::size_t chunk_size) : chunk_size_(chunk_size) {}

    void restart(chunk_signer signer) { signer_.emplace(std::move(signer)); }

    std::size_t frame_size() const override { return chunk_size_; }
    std::uint64_t wire_length(std::uint64_t body_length) const override {
        return aws_chunked_length(body_length, chunk_size_);
    }
    std::pair<std::string, std::string> frame(std::string_view data) override {
        return {signer_->chunk_header(data), "\r\n"};
    }
    std::string finish() override { return signer_->chunk_header({}) + "\r\n"; }

private:
    std::size_t chunk_size_;
    std::optional<chunk_signer> signer_;
};

bool signable(std::string_view lower_name) {
    // Hop-by-hop and client-chosen headers stay out of the signature: a proxy may change them.
    return lower_name != "authorization" && lower_name != "user-agent" && lower_name != "content-length" &&
           lower_name != "expect" && lower_name != "connection" && lower_name != "transfer-encoding" &&
           lower_name != "accept-encoding" && lower_name != "x-amzn-trace-id";
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// The bucket's region when an answer says the request was signed for the wrong one: S3's 301
// PermanentRedirect and 400 AuthorizationHeaderMalformed name it in x-amz-bucket-region or in the
// error document's <Region>. nullopt when the answer names none, or nothing that looks like one.
std::optional<std::string> bucket_region_hint(const http::response& res, std::string_view code) {
    if (res.status != 301 && !(res.status == 400 && code == "AuthorizationHeaderMalformed"))
        return std::nullopt;
    std::string region(res.header("x-amz-bucket-region"));
    if (region.empty())
        region = xml::find_text(res.body, "Region").value_or("");
    const bool plausible =
        !region.empty() && region.size() <= 32 && std::all_of(region.begin(), region.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        });
    if (!plausible)
        return std::nullopt;
    return region;
}

class s3_store final : public backends::object_store {
public:
    s3_store(asio::any_io_executor executor, s3_options options)
        : options_(std::move(options))
        , web_(executor, client_options(options_))
        , credentials_(web_, options_.credentials) {
        if (options_.endpoint.empty()) {
            aim_at_aws_region();
        } else {
            server_ = http::origin::parse(options_.endpoint).value(); // validated by s3_options
            path_prefix_ = "/" + options_.bucket;
        }
        unsigned_payload_ = server_.tls && options_.unsigned_payload_over_tls;
        // aws-chunked where a body would otherwise be read twice and where its integrity rests on
        // the signature alone. Over TLS a signed body carries its SHA-256, which every
        // S3-compatible store takes (not all of them take aws-chunked).
        stream_signed_bodies_ = !server_.tls;
        if_match_quoted_ = options_.if_match_quoted;
    }

    // AWS: the regional endpoint, virtual-hosted style except for names the wildcard certificate
    // cannot cover.
    void aim_at_aws_region() {
        const bool virtual_host =
            dns_compatible_bucket(options_.bucket) && options_.bucket.find('.') == std::string::npos;
        server_ = {true, fmt::format("s3.{}.amazonaws.com", options_.region), 443};
        if (virtual_host) {
            server_.host = options_.bucket + "." + server_.host;
        } else {
            path_prefix_ = "/" + options_.bucket;
        }
    }

    backends::store_kind kind() const override { return backends::store_kind::s3; }

    std::string describe() const override {
        return options_.endpoint.empty() ? fmt::format("s3://{}", options_.bucket)
                                         : fmt::format("s3://{} at {}", options_.bucket, server_.to_string());
    }

    std::optional<wall_clock::time_point> last_server_date() const override { return last_date_; }

    result<void, std::string> reload_credentials() override {
        credentials_.reread();
        return ok_v;
    }

    asio::awaitable<store_result<object_info>> head(std::string key) override {
        if (auto bad = check_key(key, "HEAD"))
            co_return failure{*bad};
        s3_call c;
        c.method = http::verb::head;
        c.key = key;
        auto res = co_await execute(std::move(c));
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{failed(*res, op("HEAD", key))};
        co_return info_from_headers(*res, std::move(key));
    }

    asio::awaitable<store_result<object_data>> get(std::string key, std::size_t max_size) override {
        if (auto bad = check_key(key, "GET"))
            co_return failure{*bad};
        s3_call c;
        c.key = key;
        c.sink = http::to_memory{max_size};
        auto res = co_await execute(std::move(c));
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{failed(*res, op("GET", key))};
        object_data out;
        out.info = info_from_headers(*res, key);
        out.info.size = res->body.size();
        out.bytes = std::move(res->body);
        co_return out;
    }

    asio::awaitable<store_result<object_info>> get_streamed(std::string key, std::uint64_t max_size,
                                                            backends::object_sink sink) override {
        if (auto bad = check_key(key, "GET"))
            co_return failure{*bad};
        s3_call c;
        c.key = key;
        c.sink =
            http::to_stream{max_size, std::move(sink.start), std::move(sink.write), std::move(sink.ready)};
        co_return co_await get_object(std::move(c));
    }

    asio::awaitable<store_result<object_info>> get_to_file(std::string key,
                                                           std::filesystem::path target) override {
        if (auto bad = check_key(key, "GET"))
            co_return failure{*bad};
        s3_call c;
        c.key = key;
        c.sink = http::to_file{std::move(target)};
        co_return co_await get_object(std::move(c));
    }

    asio::awaitable<store_result<object_info>> put(std::string key, backends::body_source body,
                                                   backends::put_options options) override {
        const auto operation = op("PUT", key);
        if (auto bad = check_key(key, "PUT"))
            co_return failure{*bad};
        auto invalid = [&](std::string message) {
            return failure{store_error{store_errc::invalid_argument, 0, {}, std::move(message), operation}};
        };
        if (auto ok = check_metadata(options.metadata); !ok)
            co_return invalid(ok.error());
        auto fields = put_fields_to_headers(options.s3_fields);
        if (!fields)
            co_return invalid(fields.error());
        if (options.condition == backends::write_condition::if_match && options.expected_version.empty())
            co_return invalid("a conditional write (if_match) needs the expected version");

        http::fields headers;
        headers.set(http::field::content_type,
                    options.content_type.empty() ? "application/octet-stream" : options.content_type);
        for (const auto& [name, value] : options.metadata)
            headers.set("x-amz-meta-" + lower(name), value);
        for (const auto& [name, value] : *fields) {
            // As Kong merges them: the fields never override what lifeboat set itself.
            if (lower(name) == "content-type" && !options.content_type.empty())
                continue;
            headers.set(name, value);
        }

        http::request_body request_body;
        std::uint64_t size = 0;
        if (auto* shared = std::get_if<std::shared_ptr<const std::string>>(&body.data)) {
            size = *shared ? (*shared)->size() : 0;
            request_body =
                http::request_body::from_shared(*shared ? *shared : std::make_shared<const std::string>());
        } else {
            const auto& path = std::get<std::filesystem::path>(body.data);
            struct stat st {};
            if (::stat(path.c_str(), &st) != 0)
                co_return failure{
                    store_error{store_errc::local_io, 0, {}, errno_message("stat", path, errno), operation}};
            size = static_cast<std::uint64_t>(st.st_size);
            request_body = http::request_body::from_file_range(path, 0, size);
            if (options.condition == backends::write_condition::none && size > options_.multipart_threshold)
                co_return co_await put_multipart(std::move(key), path, size, std::move(headers), options);
        }
        if (size > (std::uint64_t(5) << 30))
            co_return invalid(
                fmt::format("{} bytes is over the 5 GiB limit of a single S3 PUT (conditional writes "
                            "cannot use multipart upload)",
                            size));

        const bool conditional = options.condition != backends::write_condition::none;
        for (int round = 0;; ++round) {
            const auto kind = conditional ? write_kind::conditional : write_kind::plain;
            s3_call c;
            c.method = http::verb::put;
            c.key = key;
            c.headers = headers;
            c.body = request_body;
            c.idempotent = !conditional;
            c.kind = kind;
            if (options.payload_sha256.size() == 64 &&
                options.payload_sha256.find_first_not_of("0123456789abcdef") == std::string::npos)
                c.payload_sha256 = options.payload_sha256;
            if (options.condition == backends::write_condition::if_absent)
                c.headers.set(http::field::if_none_match, "*");
            if (options.condition == backends::write_condition::if_match)
                c.headers.set(http::field::if_match, etag_for_if_match(options.expected_version));
            auto res = co_await execute(std::move(c));
            if (!res)
                co_return failure{res.error()};
            if (res->ok()) {
                object_info info;
                info.key = key;
                info.size = size;
                info.etag = strip_etag_quotes(res->header(http::field::etag));
                info.content_type = std::string(headers[http::field::content_type]);
                info.metadata.clear();
                for (const auto& [name, value] : options.metadata)
                    info.metadata[lower(name)] = value;
                // PutObject does not return Last-Modified; the store's Date is within a second.
                info.last_modified = res->date().value_or(wall_clock::now());
                co_return info;
            }
            if (res->status == 412 && options.condition == backends::write_condition::if_match &&
                round == 0 && co_await false_precondition(key, options.expected_version)) {
                if_match_quoted_ = !if_match_quoted_;
                log::warn("S3 store answered 412 to If-Match with the current ETag; switching the ETag form",
                          "store", describe(), "quoted", if_match_quoted_);
                continue;
            }
            co_return failure{failed(*res, operation, kind)};
        }
    }

    asio::awaitable<store_result<void>> remove(std::string key, std::string expected_version) override {
        const auto operation = op("DELETE", key);
        if (auto bad = check_key(key, "DELETE"))
            co_return failure{*bad};
        if (!expected_version.empty()) {
            // Some stores (RGW 16) ignore If-Match on DELETE: compare first, then ask anyway.
            auto current = co_await head(key);
            if (!current) {
                if (current.error().code == store_errc::not_found)
                    co_return ok_v;
                co_return failure{current.error()};
            }
            if (current->etag != expected_version)
                co_return failure{store_error{store_errc::precondition_failed, 412, "PreconditionFailed",
                                              "the object changed since it was read", operation}};
        }
        const auto kind = expected_version.empty() ? write_kind::plain : write_kind::conditional;
        s3_call c;
        c.method = http::verb::delete_;
        c.key = key;
        c.kind = kind;
        if (!expected_version.empty()) {
            c.headers.set(http::field::if_match, etag_for_if_match(expected_version));
            c.idempotent = false;
        }
        auto res = co_await execute(std::move(c));
        if (!res)
            co_return failure{res.error()};
        if (res->ok() || res->status == 404)
            co_return ok_v;
        co_return failure{failed(*res, operation, kind)};
    }

    asio::awaitable<store_result<std::vector<object_info>>> list(std::string prefix,
                                                                 std::size_t max_keys) override {
        std::vector<object_info> out;
        std::string token;
        const auto operation = fmt::format("LIST {}/{}", options_.bucket, prefix);
        while (out.size() < max_keys) {
            s3_call c;
            c.query = {{"list-type", "2"},
                       {"encoding-type", "url"},
                       {"max-keys", std::to_string(std::min<std::size_t>(1000, max_keys - out.size()))}};
            if (!prefix.empty())
                c.query.emplace_back("prefix", prefix);
            if (!token.empty())
                c.query.emplace_back("continuation-token", token);
            auto res = co_await execute(std::move(c));
            if (!res)
                co_return failure{res.error()};
            if (!res->ok())
                co_return failure{failed(*res, operation)};
            auto page = parse_list_page(res->body);
            if (!page)
                co_return failure{store_error{
                    store_errc::protocol, static_cast<int>(res->status), {}, page.error(), operation}};
            for (auto& o : page->objects)
                if (out.size() < max_keys)
                    out.push_back(std::move(o));
            if (!page->truncated)
                break;
            if (page->next_token == token)
                co_return failure{store_error{store_errc::protocol,
                                              static_cast<int>(res->status),
                                              {},
                                              "the listing repeats its continuation token",
                                              operation}};
            token = std::move(page->next_token);
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
        co_return out;
    }

private:
    // A GET whose body goes to `c.sink` (a stream or a file): the object's info from the headers.
    asio::awaitable<store_result<object_info>> get_object(s3_call c) {
        auto key = c.key;
        auto res = co_await execute(std::move(c));
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{failed(*res, op("GET", key))};
        auto info = info_from_headers(*res, std::move(key));
        info.size = res->body_bytes;
        co_return info;
    }

    static http::client_options client_options(const s3_options& o) {
        http::client_options c;
        c.ca_bundle = o.ca_bundle;
        c.timeout = o.timeout;
        c.retry = o.retry;
        if (!c.retry.retryable_response)
            c.retry.retryable_response = is_retryable_s3_response;
        c.user_agent = "lifeboat/" LIFEBOAT_VERSION;
        return c;
    }

    // An S3 error as the caller gets it, also written to the log (see store_error_log).
    store_error report(store_error e) const { return error_log_.report(std::move(e)); }
    store_error failed(const http::response& res, std::string operation,
                       write_kind kind = write_kind::plain) const {
        return report(to_store_error(res, std::move(operation), kind));
    }
    store_error failed(const http::error& err, std::string operation,
                       write_kind kind = write_kind::plain) const {
        return report(to_store_error(err, std::move(operation), kind));
    }

    std::string op(std::string_view verb, std::string_view key) const {
        return fmt::format("{} {}/{}", verb, options_.bucket, key);
    }

    std::optional<store_error> check_key(const std::string& key, std::string_view verb) const {
        if (key.empty())
            return store_error{store_errc::invalid_argument, 0, {}, "the object key is empty", op(verb, key)};
        if (key.size() > max_key_bytes)
            return store_error{store_errc::invalid_argument,
                               0,
                               {},
                               fmt::format("the object key is {} bytes; S3 allows 1024", key.size()),
                               op(verb, "...")};
        return std::nullopt;
    }

    std::string etag_for_if_match(const std::string& version) const {
        const auto bare = strip_etag_quotes(version);
        return if_match_quoted_ ? "\"" + bare + "\"" : bare;
    }

    // A 412 to If-Match while the object still carries exactly the expected ETag means the store
    // wanted the other ETag form (RGW 16 only matches the bare one).
    asio::awaitable<bool> false_precondition(const std::string& key, const std::string& expected) {
        auto current = co_await head(key);
        co_return current.ok() && current->etag == strip_etag_quotes(expected);
    }

    wall_clock::time_point now() const {
        const auto local = options_.clock ? options_.clock() : wall_clock::now();
        return local + clock_offset_;
    }

    // Signs and sends one S3 request: credentials from the chain, the payload hash, and the
    // retries that need S3 knowledge (clock skew, a session token that expired meanwhile).
    asio::awaitable<result<http::response, store_error>> execute(s3_call call) {
        const auto operation = op(std::string_view(boost::beast::http::to_string(call.method)), call.key);
        std::string payload_hash;
        std::shared_ptr<aws_chunked_framing> chunked;
        const auto body_length = known_length(call.body);
        if (call.body.empty()) {
            payload_hash =
                unsigned_payload_ ? std::string(unsigned_payload) : std::string(empty_payload_sha256);
        } else if (unsigned_payload_) {
            payload_hash = unsigned_payload;
        } else if (!call.payload_sha256.empty()) {
            // The caller hashed the body already: one pass over a large body, not two.
            payload_hash = call.payload_sha256;
        } else if (stream_signed_bodies_ && body_length && *body_length >= options_.streaming_threshold) {
            payload_hash = streaming_payload;
            chunked = std::make_shared<aws_chunked_framing>(options_.streaming_chunk_size);
            // No "Content-Encoding: aws-chunked": S3, RGW and MinIO recognise the framing from
            // x-amz-content-sha256, and with the header RGW 16 stores "aws-chunked" as the object's
            // encoding (S3 an empty one), which a GET then announces. The object's own encoding,
            // if any, goes as it is.
            call.headers.set("x-amz-decoded-content-length", std::to_string(*body_length));
        } else {
            // Hashing a 200 MiB body takes most of a second: on the disk pool, not the event loop.
            auto h = co_await offload([&] { return hash_body(call.body); });
            if (!h)
                co_return failure{store_error{store_errc::local_io, 0, {}, h.error(), operation}};
            payload_hash = std::move(*h);
        }
        const std::string canonical_uri = encode_path(path_prefix_ + "/" + call.key);
        const std::string query = canonical_query(call.query);

        bool skew_retried = false, credential_retried = false, region_retried = false;
        for (;;) {
            auto creds = co_await credentials_.get();
            if (!creds)
                co_return failure{store_error{store_errc::bad_credentials, 0, {}, creds.error(), operation}};
            http::request req;
            req.method = call.method;
            req.server = server_;
            req.target = query.empty() ? canonical_uri : canonical_uri + "?" + query;
            req.headers = call.headers;
            req.body = call.body;
            req.sink = call.sink;
            req.idempotent = call.idempotent;
            req.framing = chunked;
            const auto& q = call.query;
            req.before_send = [this, &q, &canonical_uri, &payload_hash, &chunked, c = *creds](
                                  const http::request& r, http::fields& h) -> std::optional<std::string> {
                const auto t = now();
                h.set("x-amz-date", format_amz_date(t));
                h.set("x-amz-content-sha256", payload_hash);
                if (!c.session_token.empty())
                    h.set("x-amz-security-token", c.session_token);
                canonical_input in;
                in.method = std::string(boost::beast::http::to_string(r.method));
                in.canonical_uri = canonical_uri;
                in.query = q;
                in.payload_hash = payload_hash;
                for (const auto& f : h) {
                    auto name = lower(f.name_string());
                    if (signable(name))
                        in.headers.emplace_back(std::move(name), std::string(f.value()));
                }
                const scope sc{options_.region, "s3", t};
                auto signature = sign(in, c, sc);
                h.set(http::field::authorization, signature.authorization);
                if (chunked)
                    chunked->restart(chunk_signer(c, sc, std::move(signature.signature)));
                return std::nullopt;
            };
            auto res = co_await web_.send(std::move(req));
            if (!res)
                co_return failure{failed(res.error(), operation, call.kind)};
            if (auto date = res->date())
                last_date_ = date;
            if (res->status == 301 || res->status == 400) {
                // The bucket lives in another region: sign for that one (and, on AWS, send to
                // its endpoint) and try once more. The store remembers it for every later call.
                const auto doc = parse_error(res->body);
                const auto hint =
                    bucket_region_hint(*res, doc ? std::string_view(doc->code) : std::string_view());
                if (hint && *hint != options_.region && !region_retried) {
                    region_retried = true;
                    log::warn("the S3 bucket is in another region than configured; using the bucket's region",
                              "store", describe(), "configured", options_.region, "bucket_region", *hint);
                    options_.region = *hint;
                    if (options_.endpoint.empty())
                        aim_at_aws_region();
                    continue;
                }
            }
            if (res->status == 403 || res->status == 400) {
                auto doc = parse_error(res->body);
                const std::string code = doc ? doc->code : std::string();
                if (code == "RequestTimeTooSkewed" && !skew_retried) {
                    skew_retried = true;
                    std::optional<wall_clock::time_point> server_time = res->date();
                    if (!server_time && doc && !doc->server_time.empty())
                        server_time = parse_iso8601(doc->server_time);
                    if (server_time) {
                        const auto local = options_.clock ? options_.clock() : wall_clock::now();
                        clock_offset_ = *server_time - local;
                        log::warn(
                            "the local clock differs from the S3 store's; signing with the store's time",
                            "store", describe(), "offset_s",
                            std::chrono::duration_cast<std::chrono::seconds>(clock_offset_).count());
                        continue;
                    }
                }
                if ((code == "ExpiredToken" || code == "TokenRefreshRequired" || code == "InvalidToken") &&
                    !credential_retried && !credentials_.source().empty() &&
                    credentials_.source() != "environment") {
                    credential_retried = true;
                    credentials_.invalidate();
                    continue;
                }
                if (is_credential_code(code))
                    log::warn("the S3 store refused the credentials", "store", describe(), "code", code,
                              "credentials", credentials_.source());
            }
            co_return std::move(*res);
        }
    }

    asio::awaitable<store_result<object_info>> put_multipart(std::string key, std::filesystem::path path,
                                                             std::uint64_t size, http::fields headers,
                                                             const backends::put_options& options) {
        const auto operation = op("PUT", key) + " (multipart)";
        // S3 allows 10,000 parts: grow the part size for very large files.
        std::uint64_t part = options_.part_size;
        while ((size + part - 1) / part > 10000)
            part *= 2;

        s3_call create;
        create.method = http::verb::post;
        create.key = key;
        create.query = {{"uploads", ""}};
        create.headers = headers;
        auto created = co_await execute(std::move(create));
        if (!created)
            co_return failure{created.error()};
        if (!created->ok())
            co_return failure{failed(*created, operation)};
        const auto upload_id = xml::find_text(created->body, "UploadId").value_or("");
        if (upload_id.empty())
            co_return failure{store_error{store_errc::protocol,
                                          static_cast<int>(created->status),
                                          {},
                                          "CreateMultipartUpload answered without an UploadId",
                                          operation}};

        auto abort = [&]() -> asio::awaitable<void> {
            s3_call a;
            a.method = http::verb::delete_;
            a.key = key;
            a.query = {{"uploadId", upload_id}};
            auto r = co_await execute(std::move(a));
            if (!r || (!r->ok() && r->status != 404))
                log::warn("could not abort an S3 multipart upload; a lifecycle rule should clean it up",
                          "store", describe(), "key", key);
        };

        // Parts go up on several connections at once: while one part is being hashed, others
        // are on the wire, and the store writes them in parallel.
        const std::uint64_t count = (size + part - 1) / part;
        std::vector<std::string> etags(count);
        std::optional<store_error> first_error;
        std::uint64_t next = 0;
        auto worker = [&]() -> asio::awaitable<void> {
            while (!first_error && next < count) {
                const std::uint64_t index = next++;
                const std::uint64_t offset = index * part;
                const auto number = std::to_string(index + 1);
                s3_call up;
                up.method = http::verb::put;
                up.key = key;
                up.query = {{"partNumber", number}, {"uploadId", upload_id}};
                up.body = http::request_body::from_file_range(path, offset, std::min(part, size - offset));
                auto r = co_await execute(std::move(up));
                if (!r || !r->ok()) {
                    if (!first_error)
                        first_error =
                            r ? failed(*r, fmt::format("{} part {}", operation, number)) : r.error();
                    co_return;
                }
                etags[index] = strip_etag_quotes(r->header(http::field::etag));
                if (etags[index].empty() && !first_error)
                    first_error =
                        store_error{store_errc::protocol, static_cast<int>(r->status), "",
                                    fmt::format("part {} was stored without an ETag", number), operation};
            }
        };
        using namespace asio::experimental::awaitable_operators;
        if (options_.multipart_concurrency >= 4 && count >= 4)
            co_await (worker() && worker() && worker() && worker());
        else if (options_.multipart_concurrency >= 2 && count >= 2)
            co_await (worker() && worker());
        else
            co_await worker();
        if (first_error) {
            co_await abort();
            co_return failure{std::move(*first_error)};
        }

        s3_call complete;
        complete.method = http::verb::post;
        complete.key = key;
        complete.query = {{"uploadId", upload_id}};
        complete.headers.set(http::field::content_type, "application/xml");
        complete.body = http::request_body::from_string(complete_multipart_body(etags));
        auto done = co_await execute(std::move(complete));
        if (!done) {
            co_await abort();
            co_return failure{done.error()};
        }
        // CompleteMultipartUpload may answer 200 and still fail, with an <Error> in the body.
        if (!done->ok() || parse_error(done->body)) {
            auto err = failed(*done, operation);
            if (done->ok())
                err.code = store_errc::server_error;
            co_await abort();
            co_return failure{std::move(err)};
        }
        object_info info;
        info.key = key;
        info.size = size;
        info.etag = strip_etag_quotes(xml::find_text(done->body, "ETag").value_or(""));
        if (info.etag.empty())
            info.etag = strip_etag_quotes(done->header(http::field::etag));
        info.content_type = std::string(headers[http::field::content_type]);
        for (const auto& [name, value] : options.metadata)
            info.metadata[lower(name)] = value;
        info.last_modified = done->date().value_or(wall_clock::now());
        if (info.etag.empty()) {
            // RGW 16 answers CompleteMultipartUpload with an empty <ETag>: ask for it.
            auto current = co_await head(key);
            if (current && current->size == size)
                co_return std::move(*current);
        }
        co_return info;
    }

    s3_options options_;
    http::client web_;
    credential_chain credentials_;
    http::origin server_;
    std::string path_prefix_; // "/bucket" for path style, "" for virtual-hosted
    bool unsigned_payload_ = false;
    bool stream_signed_bodies_ = false; // plain HTTP: large signed bodies go aws-chunked
    bool if_match_quoted_ = false;
    wall_clock::duration clock_offset_{};
    std::optional<wall_clock::time_point> last_date_;
    store_error_log error_log_{"S3"};
};

} // namespace

std::unique_ptr<backends::object_store> make_s3_store(asio::any_io_executor executor, s3_options options) {
    return std::make_unique<s3_store>(std::move(executor), std::move(options));
}

} // namespace lifeboat::s3
