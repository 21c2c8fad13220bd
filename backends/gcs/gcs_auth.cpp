#include "backends/gcs/gcs_auth.hpp"

#include "backends/http/client.hpp"
#include "base/digest.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace lifeboat::backends::gcs {
namespace {

namespace json = boost::json;

std::string json_string(const json::object& o, const char* name) {
    if (const auto* v = o.if_contains(name); v && v->is_string())
        return std::string(v->as_string());
    return {};
}

// https, or http on a loopback address (a test server); anything else would send a signed
// assertion or a refresh token in the clear.
std::string token_uri_problem(std::string_view uri) {
    auto parsed = boost::urls::parse_absolute_uri(uri);
    if (!parsed)
        return "is not an absolute URL";
    const auto scheme = parsed->scheme();
    const std::string host = parsed->host();
    if (scheme == "https")
        return {};
    if (scheme == "http" && (host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1"))
        return {};
    return "must use https";
}

} // namespace

result<rsa_key, std::string> rsa_key::from_pem(std::string_view pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                  &BIO_free);
    if (!bio)
        return failure{std::string("out of memory")};
    EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (!raw)
        return failure{std::string("private_key is not a PEM private key")};
    std::shared_ptr<void> pkey(raw, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
    if (!EVP_PKEY_is_a(raw, "RSA"))
        return failure{std::string("private_key is not an RSA key (RS256 needs one)")};
    rsa_key key;
    key.pkey_ = std::move(pkey);
    return key;
}

result<std::string, std::string> rsa_key::sign_sha256(std::string_view data) const {
    if (!pkey_)
        return failure{std::string("no private key")};
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    auto* pkey = static_cast<EVP_PKEY*>(pkey_.get());
    std::size_t size = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &size, reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) != 1)
        return failure{std::string("RS256 signing failed")};
    std::string signature(size, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
        return failure{std::string("RS256 signing failed")};
    signature.resize(size);
    return signature;
}

result<credentials, std::string> parse_credentials_json(std::string_view text, std::string_view origin) {
    boost::system::error_code ec;
    auto value = json::parse(text, ec);
    if (ec || !value.is_object())
        return failure{fmt::format("{}: not a JSON object (expected a Google credentials file)", origin)};
    const auto& o = value.as_object();
    const auto type = json_string(o, "type");
    if (type == "service_account") {
        service_account account;
        account.client_email = json_string(o, "client_email");
        account.private_key_id = json_string(o, "private_key_id");
        account.project_id = json_string(o, "project_id");
        if (auto uri = json_string(o, "token_uri"); !uri.empty())
            account.token_uri = std::move(uri);
        if (account.client_email.empty())
            return failure{fmt::format("{}: service account has no client_email", origin)};
        const auto pem = json_string(o, "private_key");
        if (pem.empty())
            return failure{fmt::format("{}: service account has no private_key", origin)};
        auto key = rsa_key::from_pem(pem);
        if (!key)
            return failure{fmt::format("{}: {}", origin, key.error())};
        account.key = std::move(key).value();
        if (auto problem = token_uri_problem(account.token_uri); !problem.empty())
            return failure{fmt::format("{}: token_uri {} {}", origin, account.token_uri, problem)};
        return credentials{std::move(account)};
    }
    if (type == "authorized_user") {
        authorized_user user;
        user.client_id = json_string(o, "client_id");
        user.client_secret = json_string(o, "client_secret");
        user.refresh_token = json_string(o, "refresh_token");
        if (auto uri = json_string(o, "token_uri"); !uri.empty())
            user.token_uri = std::move(uri);
        if (user.client_id.empty() || user.client_secret.empty() || user.refresh_token.empty())
            return failure{
                fmt::format("{}: authorized_user needs client_id, client_secret and refresh_token", origin)};
        if (auto problem = token_uri_problem(user.token_uri); !problem.empty())
            return failure{fmt::format("{}: token_uri {} {}", origin, user.token_uri, problem)};
        return credentials{std::move(user)};
    }
    if (type.empty())
        return failure{
            fmt::format("{}: no \"type\" (expected \"service_account\" or \"authorized_user\")", origin)};
    return failure{fmt::format("{}: credentials of type \"{}\" are not supported (use a service account key, "
                               "or workload identity through the metadata server)",
                               origin, type)};
}

std::string describe(const credentials& c) {
    struct visitor {
        std::string operator()(const anonymous&) const { return "no credentials (emulator)"; }
        std::string operator()(const service_account& a) const { return "service account " + a.client_email; }
        std::string operator()(const authorized_user& u) const {
            return "authorized user (client " + u.client_id + ")";
        }
        std::string operator()(const metadata_server& m) const { return "metadata server " + m.endpoint; }
    };
    return std::visit(visitor{}, c);
}

result<std::string, std::string> make_jwt_assertion(const service_account& account,
                                                    wall_clock::time_point now, std::string_view scope,
                                                    std::chrono::seconds lifetime) {
    const auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    json::object header{{"alg", "RS256"}, {"typ", "JWT"}};
    if (!account.private_key_id.empty())
        header["kid"] = account.private_key_id;
    json::object claims{{"iss", account.client_email},
                        {"scope", scope},
                        {"aud", account.token_uri},
                        {"iat", iat},
                        {"exp", iat + lifetime.count()}};
    std::string signing_input = base64url_encode(json::serialize(header));
    signing_input.push_back('.');
    signing_input += base64url_encode(json::serialize(claims));
    auto signature = account.key.sign_sha256(signing_input);
    if (!signature)
        return failure{signature.error()};
    signing_input.push_back('.');
    signing_input += base64url_encode(*signature);
    return signing_input;
}

std::string jwt_grant_body(std::string_view assertion) {
    return "grant_type=" + http::percent_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") +
           "&assertion=" + http::percent_encode(assertion);
}

std::string refresh_grant_body(const authorized_user& user) {
    return "grant_type=refresh_token&client_id=" + http::percent_encode(user.client_id) +
           "&client_secret=" + http::percent_encode(user.client_secret) +
           "&refresh_token=" + http::percent_encode(user.refresh_token);
}

result<access_token, std::string> parse_token_response(std::string_view body) {
    boost::system::error_code ec;
    auto value = json::parse(body, ec);
    if (ec || !value.is_object())
        return failure{std::string("token response is not a JSON object")};
    const auto& o = value.as_object();
    access_token out;
    out.token = json_string(o, "access_token");
    if (out.token.empty())
        return failure{std::string("token response has no access_token")};
    const auto* expires = o.if_contains("expires_in");
    if (!expires || !(expires->is_int64() || expires->is_uint64()) || expires->to_number<std::int64_t>() <= 0)
        return failure{std::string("token response has no positive expires_in")};
    out.expires_in = std::chrono::seconds(expires->to_number<std::int64_t>());
    const auto type = json_string(o, "token_type");
    if (!type.empty() && type != "Bearer" && type != "bearer")
        return failure{fmt::format("token response has token_type \"{}\", expected Bearer", type)};
    return out;
}

token_cache::decision token_cache::need(clock::time_point now) {
    const bool valid = !token_.empty() && now < expires_at_;
    if (valid && now < refresh_at_)
        return {action::use, token_};
    if (fetching_)
        return valid ? decision{action::use, token_} : decision{action::wait, {}};
    fetching_ = true;
    return {action::fetch, {}};
}

void token_cache::fetched(access_token token, clock::time_point now) {
    fetching_ = false;
    token_ = std::move(token.token);
    expires_at_ = now + token.expires_in;
    const auto margin = std::min<std::chrono::seconds>(refresh_margin_, token.expires_in / 2);
    refresh_at_ = expires_at_ - margin;
}

std::optional<std::string> token_cache::valid_token(clock::time_point now) const {
    if (!token_.empty() && now < expires_at_)
        return token_;
    return std::nullopt;
}

void token_cache::fetch_failed() {
    fetching_ = false;
}

void token_cache::invalidate(std::string_view token) {
    if (!token.empty() && token == token_) {
        token_.clear();
        refresh_at_ = expires_at_ = {};
    }
}

} // namespace lifeboat::backends::gcs
