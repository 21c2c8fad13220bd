#include "backends/gcs/gcs_store.hpp"

#include "backends/gcs/gcs_api.hpp"
#include "backends/http/client.hpp"
#include "backends/shared_token.hpp"
#include "base/atomic_file.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <functional>
#include <limits>
#include <sys/stat.h>

namespace lifeboat::backends {
namespace {

namespace asio = boost::asio;

// A service-account or authorized-user JSON file (GOOGLE_APPLICATION_CREDENTIALS).
result<gcs::credentials, std::string> read_credentials_file(const std::string& path) {
    auto text = read_whole_file(path, std::size_t(1) << 20);
    if (!text)
        return failure{fmt::format("GOOGLE_APPLICATION_CREDENTIALS: {}", text.error())};
    return gcs::parse_credentials_json(*text, "GOOGLE_APPLICATION_CREDENTIALS " + path);
}

store_error from_http_error(const http::error& e, std::string operation) {
    store_errc code = store_errc::network;
    switch (e.code) {
    case http::errc::timeout:
        code = store_errc::timeout;
        break;
    case http::errc::too_large:
        code = store_errc::too_large;
        break;
    case http::errc::local_io:
        code = store_errc::local_io;
        break;
    case http::errc::invalid_request:
        code = store_errc::invalid_argument;
        break;
    case http::errc::cancelled:
        code = store_errc::cancelled;
        break;
    default:
        break;
    }
    return store_error{code, 0, "", e.message, std::move(operation)};
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Kept apart so that a long-lived store can share a token fetch among concurrent requests.
class gcs_store final : public object_store {
public:
    gcs_store(asio::any_io_executor executor, gcs_options options, http::origin server)
        : options_(std::move(options))
        , server_(std::move(server))
        , web_(executor, client_options_for(options_))
        , tokens_(executor, options_.token_refresh_margin) {}

    store_kind kind() const override { return store_kind::gcs; }
    std::string describe() const override { return "gcs://" + options_.bucket; }
    std::optional<wall_clock::time_point> last_server_date() const override { return last_date_; }

    result<void, std::string> reload_credentials() override {
        if (!options_.credentials_file.empty()) {
            auto c = read_credentials_file(options_.credentials_file);
            if (!c)
                return failure{c.error()};
            options_.credentials = std::move(c).value();
        }
        tokens_.forget();
        return ok_v;
    }

    asio::awaitable<store_result<object_info>> head(std::string key) override {
        const auto op = operation("HEAD", key);
        if (auto problem = gcs::object_name_problem(key); !problem.empty())
            co_return invalid(op, key, problem);
        co_return co_await fetch_metadata(key, op);
    }

    asio::awaitable<store_result<object_data>> get(std::string key, std::size_t max_size) override {
        // The streamed read, collected in memory; a transfer that starts over starts empty.
        object_data out;
        object_sink sink;
        sink.start = [&out](std::optional<std::uint64_t> size) {
            out.bytes.clear();
            if (size)
                out.bytes.reserve(static_cast<std::size_t>(*size));
        };
        sink.write = [&out](std::string_view bytes) -> std::optional<std::string> {
            out.bytes.append(bytes);
            return std::nullopt;
        };
        auto info = co_await get_streamed(std::move(key), max_size, std::move(sink));
        if (!info)
            co_return failure{info.error()};
        out.info = std::move(info).value();
        co_return out;
    }

    asio::awaitable<store_result<object_info>> get_streamed(std::string key, std::uint64_t max_size,
                                                            object_sink sink) override {
        const auto op = operation("GET", key);
        if (auto problem = gcs::object_name_problem(key); !problem.empty())
            co_return invalid(op, key, problem);
        co_return co_await read_generation(key, op, max_size, [&sink](const object_info& info) {
            // The size comes from the metadata: the sink learns it even when the media download
            // is sent without a Content-Length.
            const auto size = info.size;
            return http::response_sink{
                http::to_stream{size,
                                [start = sink.start, size](std::optional<std::uint64_t>) {
                                    if (start)
                                        start(size);
                                },
                                sink.write, sink.ready}};
        });
    }

    asio::awaitable<store_result<object_info>> get_to_file(std::string key,
                                                           std::filesystem::path target) override {
        const auto op = operation("GET", key);
        if (auto problem = gcs::object_name_problem(key); !problem.empty())
            co_return invalid(op, key, problem);
        co_return co_await read_generation(
            key, op, std::numeric_limits<std::uint64_t>::max(), [&target](const object_info& info) {
                http::to_file sink;
                sink.target = target;
                sink.max_bytes = info.size;
                sink.accept = [expected = info.size](const http::response& r) -> std::optional<std::string> {
                    if (r.body_bytes != expected)
                        return fmt::format("received {} bytes, the object has {}", r.body_bytes, expected);
                    return std::nullopt;
                };
                return http::response_sink{std::move(sink)};
            });
    }

    asio::awaitable<store_result<object_info>> put(std::string key, body_source body,
                                                   put_options options) override {
        const auto op = operation("PUT", key);
        if (auto problem = gcs::object_name_problem(key); !problem.empty())
            co_return invalid(op, key, problem);
        std::optional<std::string> precondition;
        if (options.condition == write_condition::if_absent)
            precondition = "0";
        else if (options.condition == write_condition::if_match) {
            if (!all_digits(options.expected_version))
                co_return failure{
                    store_error{store_errc::invalid_argument, 0, "",
                                fmt::format("if_match needs an object generation (digits), got \"{}\"",
                                            options.expected_version),
                                op}};
            precondition = options.expected_version;
        }
        const std::string content_type =
            options.content_type.empty() ? std::string("application/octet-stream") : options.content_type;

        // A media upload sets the content type from its Content-Type header; user metadata needs
        // the multipart form, with the object resource as its first part.
        const bool multipart = !options.metadata.empty();
        http::request req =
            make_request(http::verb::post, gcs::upload_target(options_.bucket, key, multipart, precondition));
        http::request_body payload;
        if (const auto* bytes = std::get_if<std::shared_ptr<const std::string>>(&body.data))
            payload =
                http::request_body::from_shared(*bytes ? *bytes : std::make_shared<const std::string>());
        else {
            const auto& path = std::get<std::filesystem::path>(body.data);
            struct stat st {};
            if (::stat(path.c_str(), &st) != 0)
                co_return failure{
                    store_error{store_errc::local_io, 0, "", errno_message("stat", path, errno), op}};
            payload = http::request_body::from_file_range(path, 0, static_cast<std::uint64_t>(st.st_size));
        }
        if (multipart) {
            std::map<std::string, std::string> metadata;
            for (const auto& [k, v] : options.metadata) {
                std::string name = k;
                for (char& c : name)
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                metadata[name] = v;
            }
            auto parts = gcs::make_multipart(key, content_type, metadata, gcs::random_boundary());
            req.headers.set(http::field::content_type, parts.content_type);
            http::request_body whole;
            whole.parts.push_back(
                http::memory_part{std::make_shared<const std::string>(std::move(parts.head))});
            for (auto& p : payload.parts)
                whole.parts.push_back(std::move(p));
            whole.parts.push_back(
                http::memory_part{std::make_shared<const std::string>(std::move(parts.tail))});
            req.body = std::move(whole);
        } else {
            req.headers.set(http::field::content_type, content_type);
            req.body = std::move(payload);
        }
        // A conditional write is never re-sent once it may have reached GCS: a retry of a write
        // that won would come back 412 and turn the win into a false loss.
        req.idempotent = !precondition.has_value();
        auto res = co_await call(std::move(req), op);
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{gcs::error_from_response(res->status, res->body, op)};
        auto info = gcs::parse_object_resource(res->body);
        if (!info)
            co_return failure{
                store_error{store_errc::protocol, static_cast<int>(res->status), "", info.error(), op}};
        co_return std::move(info).value();
    }

    asio::awaitable<store_result<void>> remove(std::string key, std::string expected_version) override {
        const auto op = operation("DELETE", key);
        if (auto problem = gcs::object_name_problem(key); !problem.empty())
            co_return invalid(op, key, problem);
        if (!expected_version.empty() && !all_digits(expected_version))
            co_return failure{store_error{
                store_errc::invalid_argument, 0, "",
                fmt::format("a conditional delete needs an object generation (digits), got \"{}\"",
                            expected_version),
                op}};
        http::request req =
            make_request(http::verb::delete_, gcs::delete_target(options_.bucket, key, expected_version));
        req.idempotent = expected_version.empty();
        auto res = co_await call(std::move(req), op);
        if (!res)
            co_return failure{res.error()};
        if (res->ok() || res->status == 404)
            co_return ok_v;
        co_return failure{gcs::error_from_response(res->status, res->body, op)};
    }

    asio::awaitable<store_result<std::vector<object_info>>> list(std::string prefix,
                                                                 std::size_t max_keys) override {
        const auto op = operation("LIST", prefix);
        std::vector<object_info> out;
        std::string page_token;
        while (out.size() < max_keys) {
            const auto want = std::min(options_.list_page_size, max_keys - out.size());
            auto res = co_await call(
                make_request(http::verb::get, gcs::list_target(options_.bucket, prefix, want, page_token)),
                op);
            if (!res)
                co_return failure{res.error()};
            if (!res->ok())
                co_return failure{gcs::error_from_response(res->status, res->body, op)};
            auto page = gcs::parse_list_page(res->body);
            if (!page)
                co_return failure{
                    store_error{store_errc::protocol, static_cast<int>(res->status), "", page.error(), op}};
            for (auto& item : page->items) {
                if (out.size() >= max_keys)
                    break;
                out.push_back(std::move(item));
            }
            if (page->next_page_token.empty())
                break;
            if (page->next_page_token == page_token)
                co_return failure{store_error{store_errc::protocol, static_cast<int>(res->status), "",
                                              "the list's page token did not advance", op}};
            page_token = std::move(page->next_page_token);
        }
        co_return out;
    }

private:
    // Metadata first, then the bytes of exactly that generation (into the sink made for it), so
    // that content, metadata and version always belong together. A 404 on the second request
    // means the object was replaced in between: start again.
    asio::awaitable<store_result<object_info>>
    read_generation(const std::string& key, const std::string& op, std::uint64_t max_size,
                    const std::function<http::response_sink(const object_info&)>& sink_for) {
        for (int attempt = 0; attempt < 3; ++attempt) {
            auto info = co_await fetch_metadata(key, op);
            if (!info)
                co_return failure{info.error()};
            if (info->size > max_size)
                co_return failure{
                    store_error{store_errc::too_large, 0, "",
                                fmt::format("{} bytes is over the limit of {}", info->size, max_size), op}};
            http::request req =
                make_request(http::verb::get, gcs::media_target(options_.bucket, key, info->generation));
            req.sink = sink_for(*info);
            auto res = co_await call(std::move(req), op);
            if (!res)
                co_return failure{res.error()};
            if (res->status == 404)
                continue;
            if (!res->ok())
                co_return failure{gcs::error_from_response(res->status, res->body, op)};
            if (res->body_bytes != info->size)
                co_return failure{store_error{
                    store_errc::protocol, 0, "",
                    fmt::format("received {} bytes, the object has {}", res->body_bytes, info->size), op}};
            co_return info;
        }
        co_return failure{
            store_error{store_errc::conflict, 0, "", "the object kept changing while being read", op}};
    }

    gcs_options options_;
    http::origin server_;
    http::client web_;
    backends::shared_token tokens_;
    std::optional<wall_clock::time_point> last_date_;

    static http::client_options client_options_for(const gcs_options& o) {
        http::client_options c;
        c.ca_bundle = o.ca_bundle;
        c.jitter_seed = o.jitter_seed;
        return c;
    }

    std::string operation(std::string_view verb, std::string_view key) const {
        return fmt::format("{} gcs://{}/{}", verb, options_.bucket, key);
    }

    static failure<store_error> invalid(const std::string& op, std::string_view key,
                                        std::string_view problem) {
        return failure{store_error{store_errc::invalid_argument, 0, "",
                                   fmt::format("object name \"{}\" {}", key, problem), op}};
    }

    http::request make_request(http::verb method, std::string target) const {
        http::request req;
        req.method = method;
        req.server = server_;
        req.target = std::move(target);
        return req;
    }

    asio::awaitable<store_result<object_info>> fetch_metadata(const std::string& key, const std::string& op) {
        auto res =
            co_await call(make_request(http::verb::get, gcs::metadata_target(options_.bucket, key)), op);
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{gcs::error_from_response(res->status, res->body, op)};
        auto info = gcs::parse_object_resource(res->body);
        if (!info)
            co_return failure{
                store_error{store_errc::protocol, static_cast<int>(res->status), "", info.error(), op}};
        co_return std::move(info).value();
    }

    // Sends one API request with a bearer token. A 401 means the token was revoked or expired
    // early: it is dropped and the request sent once more with a fresh one (GCS refused it
    // before acting, so even a conditional write may be repeated).
    asio::awaitable<store_result<http::response>> call(http::request req, const std::string& op) {
        for (int attempt = 0;; ++attempt) {
            auto token = co_await bearer_token(op);
            if (!token)
                co_return failure{token.error()};
            http::request copy = req;
            if (!token->empty())
                copy.headers.set(http::field::authorization, "Bearer " + *token);
            auto res = co_await web_.send(std::move(copy));
            if (!res)
                co_return failure{from_http_error(res.error(), op)};
            if (auto date = res->date())
                last_date_ = *date;
            if (res->status == 401 && attempt == 0 && !token->empty()) {
                tokens_.invalidate(*token);
                continue;
            }
            co_return std::move(res).value();
        }
    }

    // The current access token ("" for anonymous use), fetching one when the cache says so.
    // Concurrent callers share one fetch.
    asio::awaitable<store_result<std::string>> bearer_token(const std::string& op) {
        if (std::holds_alternative<gcs::anonymous>(options_.credentials))
            co_return std::string();
        co_return co_await tokens_.get(op, [this] { return fetch_token(); });
    }

    asio::awaitable<store_result<gcs::access_token>> fetch_token() {
        struct token_request {
            std::string url;
            http::request req;
            std::string source;
        };
        token_request t;
        t.req.idempotent = true;
        if (const auto* account = std::get_if<gcs::service_account>(&options_.credentials)) {
            auto assertion = gcs::make_jwt_assertion(*account, wall_clock::now());
            if (!assertion)
                co_return failure{
                    store_error{store_errc::bad_credentials, 0, "", assertion.error(), "token"}};
            t.url = account->token_uri;
            t.req.method = http::verb::post;
            t.req.headers.set(http::field::content_type, "application/x-www-form-urlencoded");
            t.req.body = http::request_body::from_string(gcs::jwt_grant_body(*assertion));
            t.source = "service account " + account->client_email;
        } else if (const auto* user = std::get_if<gcs::authorized_user>(&options_.credentials)) {
            t.url = user->token_uri;
            t.req.method = http::verb::post;
            t.req.headers.set(http::field::content_type, "application/x-www-form-urlencoded");
            t.req.body = http::request_body::from_string(gcs::refresh_grant_body(*user));
            t.source = "authorized user " + user->client_id;
        } else {
            const auto& server = std::get<gcs::metadata_server>(options_.credentials);
            t.url = server.endpoint + "/computeMetadata/v1/instance/service-accounts/default/token";
            t.req.method = http::verb::get;
            t.req.headers.set("Metadata-Flavor", "Google");
            // Off GCE the metadata server does not exist: fail fast rather than retry for minutes.
            t.req.timeout =
                http::timeouts{std::chrono::seconds(3), std::chrono::seconds(5), std::chrono::seconds(15)};
            http::retry_policy retry = web_.options().retry;
            retry.max_attempts = 3;
            t.req.retry = retry;
            t.source = "the metadata server " + server.endpoint;
        }
        const std::string op = "token from " + t.source;
        auto split = http::split_url(t.url);
        if (!split)
            co_return failure{store_error{store_errc::invalid_argument, 0, "", split.error(), op}};
        t.req.server = split->server;
        t.req.target = split->target;
        t.req.sink = http::to_memory{64 * 1024};
        auto res = co_await web_.send(std::move(t.req));
        if (!res) {
            auto e = from_http_error(res.error(), op);
            if (std::holds_alternative<gcs::metadata_server>(options_.credentials) &&
                (res.error().code == http::errc::resolve || res.error().code == http::errc::connect)) {
                e.code = store_errc::bad_credentials;
                e.message =
                    "no GCS credentials: GCP_SERVICE_ACCOUNT and GOOGLE_APPLICATION_CREDENTIALS are unset "
                    "and the metadata server does not answer (" +
                    e.message + ")";
            }
            co_return failure{std::move(e)};
        }
        if (auto date = res->date())
            last_date_ = *date;
        if (!res->ok()) {
            // {"error":"invalid_grant","error_description":"Invalid JWT Signature."}: no secrets.
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
            const auto code = res->status >= 500   ? store_errc::server_error
                              : res->status == 429 ? store_errc::throttled
                                                   : store_errc::bad_credentials;
            co_return failure{
                store_error{code, static_cast<int>(res->status), "",
                            detail.empty() ? "the token endpoint refused the credentials" : detail, op}};
        }
        auto token = gcs::parse_token_response(res->body);
        if (!token)
            co_return failure{
                store_error{store_errc::protocol, static_cast<int>(res->status), "", token.error(), op}};
        co_return std::move(token).value();
    }
};

} // namespace

result<gcs_options, std::string> gcs_options::from_environment(std::string bucket,
                                                               const store_environment& env) {
    gcs_options o;
    if (bucket.empty())
        return failure{std::string("GCS: no bucket given")};
    o.bucket = std::move(bucket);
    const bool emulator = !env.storage_emulator_host.empty();
    if (emulator) {
        const auto& host = env.storage_emulator_host;
        o.endpoint = host.find("://") == std::string::npos ? "http://" + host : host;
        while (!o.endpoint.empty() && o.endpoint.back() == '/')
            o.endpoint.pop_back();
        if (auto parsed = http::origin::parse(o.endpoint); !parsed)
            return failure{fmt::format("STORAGE_EMULATOR_HOST: {}", parsed.error())};
    }
    if (!env.gcp_service_account.empty()) {
        auto c = gcs::parse_credentials_json(env.gcp_service_account, "GCP_SERVICE_ACCOUNT");
        if (!c)
            return failure{c.error()};
        o.credentials = std::move(c).value();
    } else if (!env.google_application_credentials.empty()) {
        auto c = read_credentials_file(env.google_application_credentials);
        if (!c)
            return failure{c.error()};
        o.credentials = std::move(c).value();
        o.credentials_file = env.google_application_credentials;
    } else if (emulator) {
        o.credentials = gcs::anonymous{};
    } else {
        o.credentials = gcs::metadata_server{};
    }
    return o;
}

result<std::unique_ptr<object_store>, std::string> make_gcs_store(boost::asio::any_io_executor executor,
                                                                  gcs_options options) {
    auto server = http::origin::parse(options.endpoint);
    if (!server)
        return failure{fmt::format("GCS endpoint {}: {}", options.endpoint, server.error())};
    if (options.bucket.empty())
        return failure{std::string("GCS: no bucket given")};
    std::unique_ptr<object_store> store =
        std::make_unique<gcs_store>(std::move(executor), std::move(options), std::move(server).value());
    return store;
}

} // namespace lifeboat::backends
