#include "backends/azure/azure_store.hpp"

#include "backends/azure/azure_protocol.hpp"
#include "backends/azure/shared_key.hpp"
#include "backends/http/store_errors.hpp"
#include "backends/shared_token.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "base/log.hpp"
#include "base/offload.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lifeboat::azure {

namespace asio = boost::asio;
using backends::object_data;
using backends::object_info;
using backends::store_errc;
using backends::store_error;
using backends::store_error_log;
template <class T>
using store_result = backends::store_result<T>;

// ---------------------------------------------------------------------------------------------
// Names and options

std::string account_name_problem(std::string_view account) {
    if (account.size() < 3 || account.size() > 24)
        return fmt::format("storage account \"{}\" must be 3 to 24 characters long", account);
    for (const char c : account)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return fmt::format(
                "storage account \"{}\" has the character '{}' (use lower-case letters and digits)", account,
                c);
    return {};
}

std::string container_name_problem(std::string_view container) {
    if (container.size() < 3 || container.size() > 63)
        return fmt::format("container \"{}\" must be 3 to 63 characters long", container);
    for (const char c : container)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return fmt::format(
                "container \"{}\" has the character '{}' (use lower-case letters, digits and '-')", container,
                c);
    if (container.front() == '-' || container.back() == '-' || container.find("--") != std::string_view::npos)
        return fmt::format("container \"{}\" must not start or end with '-' or hold \"--\"", container);
    return {};
}

result<void, std::string> azure_options::validate() const {
    if (auto p = account_name_problem(account); !p.empty())
        return failure{p};
    if (auto p = container_name_problem(container); !p.empty())
        return failure{p};
    auto url = http::split_url(endpoint);
    if (!url)
        return failure{fmt::format("Azure blob endpoint \"{}\": {}", endpoint, url.error())};
    if (url->target.find('?') != std::string::npos)
        return failure{fmt::format("Azure blob endpoint \"{}\" must not have a query", endpoint)};
    if (block_size < (std::uint64_t(1) << 20) || block_size > (std::uint64_t(4000) << 20))
        return failure{fmt::format("the Azure block size {} is outside 1 MiB to 4000 MiB", block_size)};
    if (single_put_limit > (std::uint64_t(5000) << 20))
        return failure{std::string("the single Put Blob limit is over Azure's 5000 MiB")};
    if (list_page_size == 0 || list_page_size > 5000)
        return failure{std::string("the List Blobs page size must be 1 to 5000")};
    return ok_v;
}

result<azure_options, std::string> azure_options::from_environment(std::string account, std::string container,
                                                                   const backends::store_environment& env) {
    azure_options o;
    o.account = std::move(account);
    o.container = std::move(container);
    if (auto p = account_name_problem(o.account); !p.empty())
        return failure{p};
    auto where = locate(o.account, env);
    if (!where)
        return failure{where.error()};
    o.endpoint = std::move(where->endpoint);
    o.creds = std::move(where->creds);
    if (auto ok = o.validate(); !ok)
        return failure{ok.error()};
    return o;
}

// ---------------------------------------------------------------------------------------------
// The store

namespace {

constexpr std::size_t max_key_bytes = 1024;
constexpr std::uint64_t max_blocks = 50000;
constexpr std::size_t small_body = 256 * 1024; // hashed on the event loop; larger bodies on the disk pool

struct azure_call {
    http::verb method = http::verb::get;
    std::string key;                                        // empty: the container itself
    std::vector<std::pair<std::string, std::string>> query; // decoded
    http::fields headers;
    http::request_body body;
    http::response_sink sink = http::to_memory{};
    bool idempotent = true;
};

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// A SAS signature must never reach a log line: request targets appear in HTTP error messages.
std::string redact_sas(std::string text) {
    for (std::size_t at = 0; (at = text.find("sig=", at)) != std::string::npos;) {
        const auto end = text.find_first_of("& )\"", at + 4);
        text.replace(at + 4, (end == std::string::npos ? text.size() : end) - at - 4, "***");
        at += 7;
    }
    return text;
}

// MD5 of a file range, read in 1 MiB pieces. Blocking: callers run it on the disk pool.
result<std::string, std::string> md5_of_file(const std::filesystem::path& path, std::uint64_t offset,
                                             std::uint64_t length) {
    digest d(digest_kind::md5);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return failure{errno_message("open", path, errno)};
    auto buf = std::make_unique_for_overwrite<char[]>(1 << 20);
    std::uint64_t left = length, pos = offset;
    while (left > 0) {
        const ssize_t n =
            ::pread(fd, buf.get(), std::min<std::uint64_t>(left, 1 << 20), static_cast<off_t>(pos));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : 0;
            ::close(fd);
            return failure{err ? errno_message("read", path, err)
                               : fmt::format("{} is shorter than expected", path.string())};
        }
        d.update(buf.get(), static_cast<std::size_t>(n));
        left -= static_cast<std::uint64_t>(n);
        pos += static_cast<std::uint64_t>(n);
    }
    ::close(fd);
    return d.finish();
}

class azure_store final : public backends::object_store {
public:
    azure_store(asio::any_io_executor executor, azure_options options, http::origin server,
                std::string base_path)
        : options_(std::move(options))
        , server_(std::move(server))
        , base_path_(std::move(base_path))
        , web_(executor, client_options_for(options_))
        , tokens_(executor, options_.token_refresh_margin) {}

    backends::store_kind kind() const override { return backends::store_kind::azure; }

    std::string describe() const override {
        const bool default_endpoint =
            options_.endpoint == fmt::format("https://{}.blob.core.windows.net", options_.account);
        return default_endpoint ? fmt::format("azure://{}/{}", options_.account, options_.container)
                                : fmt::format("azure://{}/{} at {}", options_.account, options_.container,
                                              options_.endpoint);
    }

    std::optional<wall_clock::time_point> last_server_date() const override { return last_date_; }

    // Account keys, SAS tokens and client secrets come from the environment, which does not
    // change; a bearer token is fetched again, which reads a rotated federated token file.
    result<void, std::string> reload_credentials() override {
        tokens_.forget();
        return ok_v;
    }

    asio::awaitable<store_result<object_info>> head(std::string key) override {
        const auto operation = op("HEAD", key);
        if (auto bad = check_key(key, operation))
            co_return failure{*bad};
        azure_call c;
        c.method = http::verb::head;
        c.key = key;
        auto res = co_await execute(std::move(c), operation);
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{failed(*res, operation)};
        co_return info_from_headers(*res, std::move(key));
    }

    asio::awaitable<store_result<object_data>> get(std::string key, std::size_t max_size) override {
        const auto operation = op("GET", key);
        if (auto bad = check_key(key, operation))
            co_return failure{*bad};
        azure_call c;
        c.key = key;
        c.sink = http::to_memory{max_size};
        auto res = co_await execute(std::move(c), operation);
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{failed(*res, operation)};
        if (auto bad = check_md5(*res, md5(res->body), operation))
            co_return failure{*bad};
        object_data out;
        out.info = info_from_headers(*res, std::move(key));
        out.info.size = res->body.size();
        out.bytes = std::move(res->body);
        co_return out;
    }

    asio::awaitable<store_result<object_info>> get_streamed(std::string key, std::uint64_t max_size,
                                                            backends::object_sink sink) override {
        const auto operation = op("GET", key);
        if (auto bad = check_key(key, operation))
            co_return failure{*bad};
        // The body is hashed while it streams past, so that a blob stored with its MD5 is checked
        // before the caller is told it has the whole object.
        auto hash = std::make_shared<digest>(digest_kind::md5);
        azure_call c;
        c.key = key;
        c.sink = http::to_stream{max_size,
                                 [hash, start = std::move(sink.start)](std::optional<std::uint64_t> size) {
                                     hash->reset();
                                     if (start)
                                         start(size);
                                 },
                                 [hash, write = std::move(sink.write)](std::string_view bytes) {
                                     hash->update(bytes);
                                     return write(bytes);
                                 },
                                 std::move(sink.ready)};
        auto res = co_await execute(std::move(c), operation);
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{failed(*res, operation)};
        if (auto bad = check_md5(*res, hash->finish(), operation))
            co_return failure{*bad};
        auto info = info_from_headers(*res, std::move(key));
        info.size = res->body_bytes;
        co_return info;
    }

    asio::awaitable<store_result<object_info>> get_to_file(std::string key,
                                                           std::filesystem::path target) override {
        const auto operation = op("GET", key);
        if (auto bad = check_key(key, operation))
            co_return failure{*bad};
        auto hash = std::make_shared<digest>(digest_kind::md5);
        http::to_file sink;
        sink.target = std::move(target);
        sink.observe = [hash](std::uint64_t offset, std::string_view chunk) {
            if (offset == 0)
                hash->reset();
            hash->update(chunk);
        };
        // A mismatch discards the temporary file: the target is never replaced by a bad copy.
        sink.accept = [hash](const http::response& r) -> std::optional<std::string> {
            const auto stored = r.header(http::field::content_md5);
            if (stored.empty())
                return std::nullopt;
            std::string expected;
            if (!base64_decode(stored, expected) || expected != hash->finish())
                return std::string("the body does not match the blob's Content-MD5");
            return std::nullopt;
        };
        azure_call c;
        c.key = key;
        c.sink = std::move(sink);
        auto res = co_await execute(std::move(c), operation);
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{failed(*res, operation)};
        auto info = info_from_headers(*res, std::move(key));
        info.size = res->body_bytes;
        co_return info;
    }

    asio::awaitable<store_result<object_info>> put(std::string key, backends::body_source body,
                                                   backends::put_options options) override {
        const auto operation = op("PUT", key);
        if (auto bad = check_key(key, operation))
            co_return failure{*bad};
        auto invalid = [&](std::string message) {
            return failure{store_error{store_errc::invalid_argument, 0, {}, std::move(message), operation}};
        };
        if (options.condition == backends::write_condition::if_match && options.expected_version.empty())
            co_return invalid("a conditional write (if_match) needs the expected version");
        http::fields common; // what Put Blob and Put Block List both carry
        for (const auto& [name, value] : options.metadata) {
            auto azure_name = metadata_name_to_azure(name);
            if (!azure_name)
                co_return invalid(azure_name.error());
            // Header values travel as bytes that Azure reads as ASCII: anything else would be
            // signed one way and verified another.
            if (std::any_of(value.begin(), value.end(), [](char ch) {
                    return static_cast<unsigned char>(ch) >= 0x7f || (ch < 0x20 && ch != '\t');
                }))
                co_return invalid(
                    fmt::format("metadata \"{}\" is not printable ASCII, which Azure requires", name));
            common.set("x-ms-meta-" + *azure_name, value);
        }
        if (options.condition == backends::write_condition::if_absent)
            common.set(http::field::if_none_match, "*");
        else if (options.condition == backends::write_condition::if_match)
            common.set(http::field::if_match, quoted(options.expected_version));
        const std::string content_type =
            options.content_type.empty() ? std::string("application/octet-stream") : options.content_type;
        const bool conditional = options.condition != backends::write_condition::none;

        http::request_body payload;
        std::uint64_t size = 0;
        std::string body_md5;
        if (auto* shared = std::get_if<std::shared_ptr<const std::string>>(&body.data)) {
            auto bytes = *shared ? *shared : std::make_shared<const std::string>();
            size = bytes->size();
            // Hashing a large body would stall the event loop for tens of milliseconds. (No
            // co_await inside ?: : GCC 12 destroys its temporaries twice.)
            if (size > small_body)
                body_md5 = co_await offload([&] { return md5(*bytes); });
            else
                body_md5 = md5(*bytes);
            payload = http::request_body::from_shared(std::move(bytes));
        } else {
            const auto& path = std::get<std::filesystem::path>(body.data);
            struct stat st {};
            if (::stat(path.c_str(), &st) != 0)
                co_return failure{
                    store_error{store_errc::local_io, 0, {}, errno_message("stat", path, errno), operation}};
            size = static_cast<std::uint64_t>(st.st_size);
            if (size > options_.single_put_limit)
                co_return co_await put_blocks(std::move(key), path, size, std::move(common), content_type,
                                              options, operation);
            auto hash = co_await offload([&] { return md5_of_file(path, 0, size); });
            if (!hash)
                co_return failure{store_error{store_errc::local_io, 0, {}, hash.error(), operation}};
            body_md5 = std::move(*hash);
            payload = http::request_body::from_file_range(path, 0, size);
        }
        if (size > (std::uint64_t(5000) << 20))
            co_return invalid(fmt::format("{} bytes from memory is over the 5000 MiB of one Put Blob", size));

        azure_call c;
        c.method = http::verb::put;
        c.key = key;
        c.headers = common;
        c.headers.set("x-ms-blob-type", "BlockBlob");
        c.headers.set(http::field::content_type, content_type);
        c.headers.set(http::field::content_md5, base64_encode(body_md5));
        c.body = std::move(payload);
        c.idempotent = !conditional;
        const auto kind = conditional ? write_kind::conditional : write_kind::plain;
        auto res = co_await execute(std::move(c), operation, kind);
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{failed(*res, operation, kind)};
        co_return written(*res, std::move(key), size, content_type, options);
    }

    asio::awaitable<store_result<void>> remove(std::string key, std::string expected_version) override {
        const auto operation = op("DELETE", key);
        if (auto bad = check_key(key, operation))
            co_return failure{*bad};
        const bool conditional = !expected_version.empty();
        const auto kind = conditional ? write_kind::conditional : write_kind::plain;
        azure_call c;
        c.method = http::verb::delete_;
        c.key = key;
        if (conditional) {
            c.headers.set(http::field::if_match, quoted(expected_version));
            c.idempotent = false;
        }
        auto res = co_await execute(std::move(c), operation, kind);
        if (!res)
            co_return failure{res.error()};
        if (res->ok())
            co_return ok_v;
        auto err = failed(*res, operation, kind);
        // A missing blob is success; a missing container is not (the URL is wrong).
        if (res->status == 404 && err.provider_code != "ContainerNotFound")
            co_return ok_v;
        co_return failure{std::move(err)};
    }

    asio::awaitable<store_result<std::vector<object_info>>> list(std::string prefix,
                                                                 std::size_t max_keys) override {
        const auto operation = fmt::format("LIST {}/{}", options_.container, prefix);
        std::vector<object_info> out;
        std::string marker;
        while (out.size() < max_keys) {
            azure_call c;
            c.query = {
                {"restype", "container"},
                {"comp", "list"},
                {"include", "metadata"},
                {"maxresults", std::to_string(std::min(options_.list_page_size, max_keys - out.size()))}};
            if (!prefix.empty())
                c.query.emplace_back("prefix", prefix);
            if (!marker.empty())
                c.query.emplace_back("marker", marker);
            auto res = co_await execute(std::move(c), operation);
            if (!res)
                co_return failure{res.error()};
            if (!res->ok())
                co_return failure{failed(*res, operation)};
            auto page = parse_list_page(res->body);
            if (!page)
                co_return failure{store_error{
                    store_errc::protocol, static_cast<int>(res->status), {}, page.error(), operation}};
            for (auto& blob : page->blobs)
                if (out.size() < max_keys)
                    out.push_back(std::move(blob));
            if (page->next_marker.empty())
                break;
            if (page->next_marker == marker)
                co_return failure{store_error{store_errc::protocol,
                                              static_cast<int>(res->status),
                                              {},
                                              "the listing repeats its marker",
                                              operation}};
            marker = std::move(page->next_marker);
        }
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
        co_return out;
    }

private:
    static http::client_options client_options_for(const azure_options& o) {
        http::client_options c;
        c.ca_bundle = o.ca_bundle;
        c.timeout = o.timeout;
        c.retry = o.retry;
        c.jitter_seed = o.jitter_seed;
        c.user_agent = "lifeboat/" LIFEBOAT_VERSION;
        return c;
    }

    static std::string quoted(std::string_view etag) {
        if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
            return std::string(etag);
        return "\"" + std::string(etag) + "\"";
    }

    std::string op(std::string_view verb, std::string_view key) const {
        return fmt::format("{} {}/{}", verb, options_.container, key);
    }

    std::optional<store_error> check_key(const std::string& key, const std::string& operation) const {
        if (key.empty())
            return store_error{store_errc::invalid_argument, 0, {}, "the blob name is empty", operation};
        if (key.size() > max_key_bytes)
            return store_error{store_errc::invalid_argument,
                               0,
                               {},
                               fmt::format("the blob name is {} bytes; Azure allows 1024", key.size()),
                               operation};
        if (key.back() == '.' || key.back() == '/')
            return store_error{store_errc::invalid_argument,
                               0,
                               {},
                               "a blob name must not end with '.' or '/' (Azure drops them)",
                               operation};
        return std::nullopt;
    }

    // A body the service stored with its MD5 is checked against it before it counts as read.
    std::optional<store_error> check_md5(const http::response& res, const std::string& actual,
                                         const std::string& operation) const {
        const auto stored = res.header(http::field::content_md5);
        if (stored.empty() || res.header(http::field::content_range).size() > 0)
            return std::nullopt;
        std::string expected;
        if (base64_decode(stored, expected) && expected == actual)
            return std::nullopt;
        return report(store_error{store_errc::network, static_cast<int>(res.status), "Md5Mismatch",
                                  "the body received does not match the blob's Content-MD5", operation});
    }

    object_info written(const http::response& res, std::string key, std::uint64_t size,
                        const std::string& content_type, const backends::put_options& options) const {
        object_info info;
        info.key = std::move(key);
        info.size = size;
        auto etag = std::string(res.header(http::field::etag));
        if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
            etag = etag.substr(1, etag.size() - 2);
        info.etag = std::move(etag);
        info.content_type = content_type;
        for (const auto& [name, value] : options.metadata)
            info.metadata[lower(name)] = value;
        info.last_modified = parse_http_date(res.header(http::field::last_modified))
                                 .value_or(res.date().value_or(wall_clock::now()));
        return info;
    }

    store_error report(store_error e) const {
        e.message = redact_sas(std::move(e.message));
        return error_log_.report(std::move(e));
    }
    store_error failed(const http::response& res, std::string operation,
                       write_kind kind = write_kind::plain) const {
        return report(to_store_error(res, std::move(operation), kind));
    }
    store_error failed(const http::error& err, std::string operation,
                       write_kind kind = write_kind::plain) const {
        return report(to_store_error(err, std::move(operation), kind));
    }

    // Signs (or authorises) and sends one Blob service request. A bearer token the service
    // refuses (expired early, revoked) is dropped and the request sent once more with a new one:
    // the service refused it before acting, so even a conditional write may be repeated.
    asio::awaitable<result<http::response, store_error>>
    execute(azure_call call, const std::string& operation, write_kind kind = write_kind::plain) {
        std::string path = base_path_ + "/" + options_.container;
        if (!call.key.empty())
            path += "/" + http::percent_encode(call.key, true);
        std::string query;
        for (const auto& [name, value] : call.query)
            query +=
                (query.empty() ? "" : "&") + http::percent_encode(name) + "=" + http::percent_encode(value);
        if (const auto* sas = std::get_if<sas_token>(&options_.creds))
            query += (query.empty() ? "" : "&") + sas->query;
        const std::string target = query.empty() ? path : path + "?" + query;

        for (int attempt = 0;; ++attempt) {
            std::string token;
            if (uses_bearer_token(options_.creds)) {
                auto t = co_await bearer_token(operation);
                if (!t)
                    co_return failure{t.error()};
                token = std::move(t).value();
            }
            http::request req;
            req.method = call.method;
            req.server = server_;
            req.target = target;
            req.headers = call.headers;
            req.body = call.body;
            req.sink = call.sink;
            req.idempotent = call.idempotent;
            const auto& q = call.query;
            req.before_send = [this, &q, &path, token](const http::request& r,
                                                       http::fields& h) -> std::optional<std::string> {
                h.set("x-ms-date", format_http_date(wall_clock::now()));
                h.set("x-ms-version", api_version);
                if (const auto* key = std::get_if<shared_key>(&options_.creds)) {
                    shared_key_request in;
                    in.method = std::string(boost::beast::http::to_string(r.method));
                    in.account = key->account;
                    in.encoded_path = path;
                    in.query = q;
                    for (const auto& f : h)
                        in.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
                    h.set(http::field::authorization, shared_key_authorization(in, key->key));
                } else if (!token.empty()) {
                    h.set(http::field::authorization, "Bearer " + token);
                }
                return std::nullopt;
            };
            auto res = co_await web_.send(std::move(req));
            if (!res)
                co_return failure{failed(res.error(), operation, kind)};
            if (auto date = res->date())
                last_date_ = date;
            if (!token.empty() && attempt == 0 &&
                (res->status == 401 ||
                 (res->status == 403 && res->header("x-ms-error-code") == "AuthenticationFailed"))) {
                tokens_.invalidate(token);
                continue;
            }
            if (res->status == 403 && res->header("x-ms-error-code") == "AuthenticationFailed")
                log::warn("the Azure store refused the credentials", "store", describe(), "credentials",
                          azure::describe(options_.creds));
            co_return std::move(res).value();
        }
    }

    // The current bearer token, fetching one when the cache says so; concurrent callers share
    // one fetch (backends/shared_token.hpp).
    asio::awaitable<store_result<std::string>> bearer_token(const std::string& operation) {
        co_return co_await tokens_.get(operation, [this] { return fetch_token(); });
    }

    asio::awaitable<store_result<backends::gcs::access_token>> fetch_token() {
        auto t = make_token_request(options_.creds);
        if (!t)
            co_return failure{store_error{store_errc::bad_credentials, 0, {}, t.error(), "token"}};
        const std::string operation = "token from " + t->source;
        auto split = http::split_url(t->url);
        if (!split)
            co_return failure{store_error{store_errc::invalid_argument, 0, {}, split.error(), operation}};
        http::request req;
        req.method = t->method;
        req.server = split->server;
        req.target = split->target;
        for (const auto& [name, value] : t->headers)
            req.headers.set(name, value);
        if (!t->body.empty())
            req.body = http::request_body::from_string(std::move(t->body));
        req.sink = http::to_memory{64 * 1024};
        const bool imds = std::holds_alternative<managed_identity>(options_.creds);
        if (imds) {
            // Off Azure there is no IMDS: fail in seconds rather than retry for minutes.
            req.timeout =
                http::timeouts{std::chrono::seconds(3), std::chrono::seconds(5), std::chrono::seconds(15)};
            http::retry_policy retry = web_.options().retry;
            retry.max_attempts = 3;
            req.retry = retry;
        }
        auto res = co_await web_.send(std::move(req));
        if (!res) {
            // The message names the token URL, which holds no secret (they travel in the body
            // or in headers).
            auto e = to_store_error(res.error(), operation);
            if (imds &&
                (res.error().code == http::errc::resolve || res.error().code == http::errc::connect)) {
                e.code = store_errc::bad_credentials;
                e.message =
                    "no Azure credentials: none of AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY, "
                    "AZURE_STORAGE_SAS_TOKEN, AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE is set and "
                    "the managed identity endpoint does not answer (" +
                    e.message + ")";
            }
            co_return failure{std::move(e)};
        }
        if (!res->ok()) {
            // {"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret..."}
            std::string detail;
            boost::system::error_code ec;
            auto v = boost::json::parse(res->body, ec);
            if (!ec && v.is_object()) {
                const auto& o = v.as_object();
                if (const auto* d = o.if_contains("error_description"); d && d->is_string())
                    detail = std::string(d->as_string());
                else if (const auto* er = o.if_contains("error"); er && er->is_string())
                    detail = std::string(er->as_string());
            }
            const auto nl = detail.find_first_of("\r\n");
            if (nl != std::string::npos)
                detail.resize(nl);
            const auto code = res->status >= 500   ? store_errc::server_error
                              : res->status == 429 ? store_errc::throttled
                                                   : store_errc::bad_credentials;
            co_return failure{store_error{
                code,
                static_cast<int>(res->status),
                {},
                detail.empty() ? fmt::format("the token endpoint answered {}", res->status) : detail,
                operation}};
        }
        auto token = parse_token_response(res->body, wall_clock::now());
        if (!token)
            co_return failure{store_error{
                store_errc::protocol, static_cast<int>(res->status), {}, token.error(), operation}};
        co_return std::move(token).value();
    }

    // A large file in blocks: each Put Block reads its range from the file and carries its MD5;
    // one Put Block List commits them with the content type, metadata and condition. The hashing
    // runs on the disk pool (base/offload.hpp), so it overlaps the sending: while one block is on
    // the wire the next one is hashed, and the whole blob's MD5 is computed alongside.
    asio::awaitable<store_result<object_info>>
    put_blocks(std::string key, std::filesystem::path path, std::uint64_t size, http::fields common,
               std::string content_type, const backends::put_options& options, std::string operation) {
        std::uint64_t block = options_.block_size;
        while ((size + block - 1) / block > max_blocks)
            block *= 2;
        const std::uint64_t count = (size + block - 1) / block;
        const auto tag = random_upload_tag();
        std::vector<std::string> ids(count);
        for (std::uint64_t i = 0; i < count; ++i)
            ids[i] = block_id(tag, i);

        std::optional<store_error> first_error;
        std::uint64_t next = 0;
        auto worker = [&]() -> asio::awaitable<void> {
            while (!first_error && next < count) {
                const std::uint64_t index = next++;
                const std::uint64_t offset = index * block;
                const std::uint64_t length = std::min(block, size - offset);
                const auto block_op = fmt::format("{} block {}", operation, index);
                auto hash = co_await offload([&] { return md5_of_file(path, offset, length); });
                if (!hash) {
                    if (!first_error)
                        first_error = store_error{store_errc::local_io, 0, {}, hash.error(), block_op};
                    co_return;
                }
                if (first_error)
                    co_return;
                azure_call c;
                c.method = http::verb::put;
                c.key = key;
                c.query = {{"comp", "block"}, {"blockid", ids[index]}};
                c.headers.set(http::field::content_md5, base64_encode(*hash));
                c.body = http::request_body::from_file_range(path, offset, length);
                auto r = co_await execute(std::move(c), block_op);
                if (!r || !r->ok()) {
                    if (!first_error)
                        first_error = r ? failed(*r, block_op) : r.error();
                    co_return;
                }
            }
        };
        // The whole blob's MD5, stored with it by Put Block List (x-ms-blob-content-md5) so that
        // downloads are checked as for a single Put Blob: one pass over the file on a pool thread
        // of its own while the blocks go up.
        result<std::string, std::string> whole = failure{std::string()};
        auto whole_md5 = [&]() -> asio::awaitable<void> {
            whole = co_await offload([&] { return md5_of_file(path, 0, size); });
        };
        using namespace asio::experimental::awaitable_operators;
        if (options_.block_concurrency >= 2 && count >= 2)
            co_await (whole_md5() && worker() && worker());
        else
            co_await (whole_md5() && worker());
        if (!first_error && !whole)
            first_error = store_error{store_errc::local_io, 0, {}, whole.error(), operation};
        if (first_error)
            co_return failure{std::move(*first_error)}; // uncommitted blocks expire in a week

        const bool conditional = options.condition != backends::write_condition::none;
        const auto kind = conditional ? write_kind::conditional : write_kind::plain;
        azure_call commit;
        commit.method = http::verb::put;
        commit.key = key;
        commit.query = {{"comp", "blocklist"}};
        commit.headers = std::move(common);
        commit.headers.set("x-ms-blob-content-type", content_type);
        commit.headers.set("x-ms-blob-content-md5", base64_encode(*whole));
        commit.headers.set(http::field::content_type, "application/xml");
        auto list = block_list_body(ids);
        commit.headers.set(http::field::content_md5, base64_encode(md5(list)));
        commit.body = http::request_body::from_string(std::move(list));
        commit.idempotent = !conditional;
        auto res = co_await execute(std::move(commit), operation, kind);
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{failed(*res, operation, kind)};
        co_return written(*res, std::move(key), size, content_type, options);
    }

    azure_options options_;
    http::origin server_;
    std::string base_path_; // the endpoint's path: "" for Azure, "/devstoreaccount1" for Azurite
    http::client web_;
    backends::shared_token tokens_;
    std::optional<wall_clock::time_point> last_date_;
    store_error_log error_log_{"Azure"};
};

} // namespace

result<std::unique_ptr<backends::object_store>, std::string> make_azure_store(asio::any_io_executor executor,
                                                                              azure_options options) {
    if (auto ok = options.validate(); !ok)
        return failure{ok.error()};
    auto url = http::split_url(options.endpoint).value();
    std::string base_path = url.target;
    while (!base_path.empty() && base_path.back() == '/')
        base_path.pop_back();
    std::unique_ptr<backends::object_store> store = std::make_unique<azure_store>(
        std::move(executor), std::move(options), std::move(url.server), std::move(base_path));
    return store;
}

} // namespace lifeboat::azure
