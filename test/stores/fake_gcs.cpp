#include "stores/fake_gcs.hpp"

#include "base/digest.hpp"
#include "base/time_format.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

namespace lifeboat::test {
namespace {

namespace json = boost::json;
namespace http = boost::beast::http;

bool base64url_decode(std::string_view in, std::string& out) {
    std::string s(in);
    for (char& c : s)
        c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (s.size() % 4)
        s.push_back('=');
    return base64_decode(s, out);
}

http_response reply(unsigned status, std::string body, std::string content_type = "application/json") {
    http_response res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    return res;
}

http_response json_error(unsigned status, std::string reason, std::string message) {
    json::object e{{"code", status},
                   {"message", message},
                   {"errors", json::array{json::object{{"reason", reason}, {"message", message}}}}};
    return reply(status, json::serialize(json::object{{"error", e}}));
}

std::map<std::string, std::string> parse_form(std::string_view body) {
    std::map<std::string, std::string> out;
    auto params = boost::urls::parse_query(body);
    if (params)
        for (auto p : *params)
            out[p.key.decode()] = p.value.decode();
    return out;
}

// Splits a multipart/related body into (headers, content) parts; empty on any deviation from
// the exact framing RFC 2387 / GCS expect.
std::vector<std::pair<std::string, std::string>> parse_multipart(std::string_view body,
                                                                 std::string_view boundary) {
    std::vector<std::pair<std::string, std::string>> parts;
    const std::string open = "--" + std::string(boundary) + "\r\n";
    const std::string next = "\r\n--" + std::string(boundary);
    if (body.substr(0, open.size()) != open)
        return {};
    std::size_t pos = open.size();
    for (;;) {
        const auto header_end = body.find("\r\n\r\n", pos);
        if (header_end == std::string_view::npos)
            return {};
        const auto end = body.find(next, header_end + 4);
        if (end == std::string_view::npos)
            return {};
        parts.emplace_back(std::string(body.substr(pos, header_end - pos)),
                           std::string(body.substr(header_end + 4, end - header_end - 4)));
        pos = end + next.size();
        if (body.substr(pos) == "--\r\n")
            return parts;
        if (body.substr(pos, 2) != "\r\n")
            return {};
        pos += 2;
    }
}

} // namespace

std::string test_service_account::json(const std::string& token_uri) const {
    json::object o{{"type", "service_account"},
                   {"project_id", "example-project"},
                   {"private_key_id", key_id},
                   {"private_key", private_pem},
                   {"client_email", client_email},
                   {"client_id", "1234567890"},
                   {"auth_uri", "https://accounts.google.com/o/oauth2/auth"},
                   {"token_uri", token_uri}};
    return json::serialize(o);
}

test_service_account make_test_service_account(unsigned bits) {
    test_service_account a;
    a.key.reset(EVP_RSA_gen(bits), EVP_PKEY_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    PEM_write_bio_PrivateKey(bio.get(), a.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    a.private_pem.assign(data, static_cast<std::size_t>(n));
    return a;
}

bool verify_jwt(const std::string& jwt, EVP_PKEY* key, std::string* header_json, std::string* claims_json) {
    const auto first = jwt.find('.');
    const auto second = jwt.find('.', first == std::string::npos ? 0 : first + 1);
    if (first == std::string::npos || second == std::string::npos ||
        jwt.find('.', second + 1) != std::string::npos)
        return false;
    std::string header, claims, signature;
    if (!base64url_decode(std::string_view(jwt).substr(0, first), header) ||
        !base64url_decode(std::string_view(jwt).substr(first + 1, second - first - 1), claims) ||
        !base64url_decode(std::string_view(jwt).substr(second + 1), signature))
        return false;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    const std::string_view signed_part = std::string_view(jwt).substr(0, second);
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1)
        return false;
    if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                         signature.size(), reinterpret_cast<const unsigned char*>(signed_part.data()),
                         signed_part.size()) != 1)
        return false;
    if (header_json)
        *header_json = header;
    if (claims_json)
        *claims_json = claims;
    return true;
}

fake_gcs::fake_gcs(std::string bucket)
    : bucket_(std::move(bucket))
    , server_([this](const http_request& req) { return handle(req); }) {}

std::vector<recorded_request> fake_gcs::storage_requests() {
    auto guard = lock();
    std::vector<recorded_request> out;
    for (const auto& r : requests)
        if (r.path != "/token" && r.path.find("/computeMetadata/") != 0)
            out.push_back(r);
    return out;
}

std::string fake_gcs::issue_token() {
    auto token = fmt::format("ya29.test-token-{}", ++issued_);
    valid_tokens_[token] = std::chrono::steady_clock::now() + token_lifetime;
    return token;
}

http_response fake_gcs::handle(const http_request& req) {
    std::lock_guard guard(mutex_);
    recorded_request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    auto url = boost::urls::parse_origin_form(req.target());
    if (!url)
        return reply(400, "bad target", "text/plain");
    r.path = url->path();
    for (auto p : url->params())
        r.query[std::string(p.key)] = std::string(p.value);
    for (const auto& f : req) {
        std::string name(f.name_string());
        for (char& c : name)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(f.value());
    }
    r.body = req.body();
    requests.push_back(r);

    http_response res = r.path == "/token" ? token(r)
                        : r.path == "/computeMetadata/v1/instance/service-accounts/default/token"
                            ? metadata_token(r)
                            : storage(r);
    if (r.path != "/token" && !r.path.starts_with("/computeMetadata") && !break_next.empty()) {
        res.set("x-test-fault", break_next.front());
        break_next.erase(break_next.begin());
        ++failed_requests;
    }
    res.set(http::field::date, format_http_date(date));
    return res;
}

http_response fake_gcs::token(const recorded_request& r) {
    ++token_requests;
    if (r.method != "POST" || !r.headers.count("content-type") ||
        r.headers.at("content-type") != "application/x-www-form-urlencoded")
        return reply(400, R"({"error":"invalid_request","error_description":"expected a form POST"})");
    auto form = parse_form(r.body);
    if (form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer") {
        std::string header, claims;
        if (!trusted_key || !verify_jwt(form["assertion"], trusted_key, &header, &claims))
            return reply(400, R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})");
        auto c = json::parse(claims).as_object();
        const auto iat = c["iat"].to_number<std::int64_t>();
        const auto exp = c["exp"].to_number<std::int64_t>();
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        if (c["iss"].as_string() != trusted_email || c["aud"].as_string() != token_uri() ||
            c["scope"].as_string() != "https://www.googleapis.com/auth/devstorage.read_write" ||
            exp - iat > 3600 || std::abs(iat - now) > 60 ||
            json::parse(header).as_object()["alg"].as_string() != "RS256")
            return reply(400, R"({"error":"invalid_grant","error_description":"Invalid JWT: claims"})");
        jwt_claims.push_back(claims);
    } else if (form["grant_type"] == "refresh_token") {
        if (form["refresh_token"] != refresh_token || form["client_id"].empty() ||
            form["client_secret"].empty())
            return reply(400, R"({"error":"invalid_grant","error_description":"Bad Request"})");
    } else {
        return reply(400, R"({"error":"unsupported_grant_type"})");
    }
    json::object o{
        {"access_token", issue_token()}, {"expires_in", token_lifetime.count()}, {"token_type", "Bearer"}};
    return reply(200, json::serialize(o));
}

http_response fake_gcs::metadata_token(const recorded_request& r) {
    ++metadata_token_requests;
    auto it = r.headers.find("metadata-flavor");
    if (it == r.headers.end() || it->second != "Google")
        return reply(403, "Missing Metadata-Flavor:Google header.", "text/html");
    json::object o{
        {"access_token", issue_token()}, {"expires_in", token_lifetime.count()}, {"token_type", "Bearer"}};
    auto res = reply(200, json::serialize(o));
    res.set("Metadata-Flavor", "Google");
    return res;
}

http_response fake_gcs::storage(const recorded_request& r) {
    if (require_auth) {
        auto it = r.headers.find("authorization");
        if (it == r.headers.end() || it->second.rfind("Bearer ", 0) != 0)
            return json_error(401, "required", "Invalid Credentials");
        const auto token = valid_tokens_.find(it->second.substr(7));
        if (token == valid_tokens_.end() || std::chrono::steady_clock::now() >= token->second)
            return json_error(401, "required", "Invalid Credentials");
    }
    if (!fail_next.empty()) {
        const auto status = fail_next.front();
        fail_next.erase(fail_next.begin());
        ++failed_requests;
        return json_error(status, status == 429 ? "rateLimitExceeded" : "backendError",
                          status == 429 ? "The rate of change requests to the object is too high"
                                        : "Backend Error");
    }
    auto url = boost::urls::parse_origin_form(r.target);
    std::vector<std::string> segments;
    for (auto s : url->segments())
        segments.push_back(s);
    const bool upload = !segments.empty() && segments[0] == "upload";
    if (upload)
        segments.erase(segments.begin());
    if (segments.size() < 5 || segments[0] != "storage" || segments[1] != "v1" || segments[2] != "b" ||
        segments[4] != "o")
        return json_error(404, "notFound", "Not Found");
    if (segments[3] != bucket_)
        return json_error(404, "notFound", "The specified bucket does not exist.");
    auto q = [&](const char* name) {
        auto it = r.query.find(name);
        return it == r.query.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
    };
    auto resource = [&](const std::string& name, const object& o) {
        json::object meta;
        for (const auto& [k, v] : o.metadata)
            meta[k] = v;
        json::object res{{"kind", "storage#object"},
                         {"name", name},
                         {"bucket", bucket_},
                         {"generation", std::to_string(o.generation)},
                         {"metageneration", "1"},
                         {"contentType", o.content_type},
                         {"size", std::to_string(o.data.size())},
                         {"etag", "CL" + std::to_string(o.generation % 100000) + "E="},
                         {"timeCreated", format_iso8601(std::chrono::system_clock::now())},
                         {"updated", "2026-11-22T03:42:00.123Z"}};
        if (!o.metadata.empty())
            res["metadata"] = std::move(meta);
        return res;
    };
    auto precondition_holds = [&](const std::string& name) {
        auto want = q("ifGenerationMatch");
        if (!want)
            return true;
        auto it = objects.find(name);
        if (*want == "0")
            return it == objects.end();
        return it != objects.end() && std::to_string(it->second.generation) == *want;
    };
    auto condition_not_met = [] {
        return json_error(412, "conditionNotMet",
                          "At least one of the pre-conditions you specified did not hold.");
    };

    if (upload) {
        if (r.method != "POST" || segments.size() != 5)
            return json_error(400, "invalid", "bad upload");
        object o;
        std::string name;
        const auto type = q("uploadType").value_or("");
        const auto content_type = r.headers.count("content-type") ? r.headers.at("content-type") : "";
        if (type == "media") {
            name = q("name").value_or("");
            o.content_type = content_type;
            o.data = r.body;
        } else if (type == "multipart") {
            const std::string prefix = "multipart/related; boundary=";
            if (content_type.rfind(prefix, 0) != 0)
                return json_error(400, "invalid", "multipart upload without multipart/related content type");
            auto parts = parse_multipart(r.body, content_type.substr(prefix.size()));
            if (parts.size() != 2 || parts[0].first != "Content-Type: application/json; charset=UTF-8")
                return json_error(400, "invalid", "malformed multipart body");
            auto meta = json::parse(parts[0].second).as_object();
            name = std::string(meta["name"].as_string());
            o.content_type = std::string(meta["contentType"].as_string());
            if (parts[1].first != "Content-Type: " + o.content_type)
                return json_error(400, "invalid", "media part content type differs from the resource's");
            if (auto* m = meta.if_contains("metadata"))
                for (const auto& [k, v] : m->as_object())
                    o.metadata[std::string(k)] = std::string(v.as_string());
            o.data = parts[1].second;
        } else {
            return json_error(400, "invalid", "unknown uploadType");
        }
        if (name.empty())
            return json_error(400, "required", "Required: name");
        if (!precondition_holds(name))
            return condition_not_met();
        o.generation = next_generation_++;
        objects[name] = o;
        return reply(200, json::serialize(resource(name, o)));
    }

    if (segments.size() == 5) { // the bucket's object collection: list
        if (r.method != "GET")
            return json_error(405, "invalid", "method");
        const auto prefix = q("prefix").value_or("");
        const auto max = std::stoul(q("maxResults").value_or("1000"));
        const auto after = q("pageToken").value_or("");
        json::array items;
        std::string last;
        bool more = false;
        for (auto it = after.empty() ? objects.begin() : objects.upper_bound(after); it != objects.end();
             ++it) {
            if (it->first.compare(0, prefix.size(), prefix) != 0)
                continue;
            if (items.size() == max) {
                more = true;
                break;
            }
            items.push_back(resource(it->first, it->second));
            last = it->first;
        }
        json::object page{{"kind", "storage#objects"}};
        if (!items.empty())
            page["items"] = std::move(items);
        if (more)
            page["nextPageToken"] = last;
        return reply(200, json::serialize(page));
    }

    const std::string name = segments[5];
    auto it = objects.find(name);
    if (r.method == "GET") {
        if (it == objects.end())
            return json_error(404, "notFound", "No such object: " + bucket_ + "/" + name);
        if (q("alt") == "media") {
            if (auto g = q("generation"); g && *g != std::to_string(it->second.generation))
                return json_error(404, "notFound", "No such object generation");
            auto res = reply(200, it->second.data, it->second.content_type);
            res.set("x-goog-generation", std::to_string(it->second.generation));
            return res;
        }
        return reply(200, json::serialize(resource(name, it->second)));
    }
    if (r.method == "DELETE") {
        if (it == objects.end())
            return json_error(404, "notFound", "No such object: " + bucket_ + "/" + name);
        if (!precondition_holds(name))
            return condition_not_met();
        objects.erase(it);
        return reply(204, "");
    }
    return json_error(405, "invalid", "method");
}

} // namespace lifeboat::test
