#include "backends/azure/azure_credentials.hpp"

#include "backends/azure/shared_key.hpp"
#include "base/atomic_file.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace lifeboat::azure {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string without_trailing_slash(std::string s) {
    while (!s.empty() && s.back() == '/')
        s.pop_back();
    return s;
}

std::string form(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    std::string out;
    for (const auto& [name, value] : fields) {
        if (!out.empty())
            out += '&';
        out += http::percent_encode(name) + "=" + http::percent_encode(value);
    }
    return out;
}

// A token endpoint carries secrets: https only, except on loopback (the tests' doubles).
result<void, std::string> check_token_url(std::string_view url, std::string_view what) {
    auto split = http::split_url(url);
    if (!split)
        return failure{fmt::format("{}: {}", what, split.error())};
    const auto& host = split->server.host;
    const bool loopback = host == "127.0.0.1" || host == "localhost" || host == "::1";
    if (!split->server.tls && !loopback)
        return failure{fmt::format("{} \"{}\" must be https", what, url)};
    return ok_v;
}

} // namespace

bool uses_bearer_token(const credentials& c) {
    return std::holds_alternative<client_secret>(c) || std::holds_alternative<workload_identity>(c) ||
           std::holds_alternative<managed_identity>(c);
}

std::string describe(const credentials& c) {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, shared_key>)
                return fmt::format("Shared Key for account {}", v.account);
            else if constexpr (std::is_same_v<T, sas_token>)
                return "a SAS token";
            else if constexpr (std::is_same_v<T, client_secret>)
                return fmt::format("Entra ID client secret (client {})", v.client_id);
            else if constexpr (std::is_same_v<T, workload_identity>)
                return fmt::format("workload identity (client {})", v.client_id);
            else
                return v.identity_header.empty() ? std::string("managed identity (IMDS)")
                                                 : std::string("managed identity (IDENTITY_ENDPOINT)");
        },
        c);
}

result<connection_string, std::string> parse_connection_string(std::string_view text) {
    connection_string out;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        auto end = text.find(';', pos);
        if (end == std::string_view::npos)
            end = text.size();
        auto item = text.substr(pos, end - pos);
        pos = end + 1;
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())))
            item.remove_prefix(1);
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back())))
            item.remove_suffix(1);
        if (item.empty())
            continue;
        const auto eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0)
            return failure{std::string("AZURE_STORAGE_CONNECTION_STRING: expected Key=Value pairs separated "
                                       "by ';' (as the portal shows it)")};
        const auto name = lower(item.substr(0, eq));
        const std::string value(item.substr(eq + 1));
        if (name == "accountname")
            out.account_name = value;
        else if (name == "accountkey")
            out.account_key = value;
        else if (name == "sharedaccesssignature")
            out.sas = value;
        else if (name == "blobendpoint")
            out.blob_endpoint = without_trailing_slash(value);
        else if (name == "defaultendpointsprotocol")
            out.protocol = lower(value);
        else if (name == "endpointsuffix")
            out.endpoint_suffix = value;
        else if (name == "usedevelopmentstorage")
            out.development_storage = lower(value) == "true";
    }
    if (out.development_storage) {
        if (out.account_name.empty())
            out.account_name = azurite_account;
        if (out.account_key.empty() && out.sas.empty())
            out.account_key = azurite_key;
        if (out.blob_endpoint.empty())
            out.blob_endpoint = "http://127.0.0.1:10000/" + out.account_name;
    }
    if (out.protocol.empty())
        out.protocol = "https";
    if (out.protocol != "https" && out.protocol != "http")
        return failure{
            fmt::format("AZURE_STORAGE_CONNECTION_STRING: DefaultEndpointsProtocol \"{}\" is neither "
                        "https nor http",
                        out.protocol)};
    if (!out.account_key.empty() && out.account_name.empty())
        return failure{std::string("AZURE_STORAGE_CONNECTION_STRING has an AccountKey but no AccountName")};
    return out;
}

result<store_location, std::string> locate(std::string_view account, const backends::store_environment& env) {
    store_location out;
    out.endpoint = fmt::format("https://{}.blob.core.windows.net", account);
    std::optional<credentials> creds;
    if (!env.azure_storage_connection_string.empty()) {
        auto cs = parse_connection_string(env.azure_storage_connection_string);
        if (!cs)
            return failure{cs.error()};
        if (!cs->account_name.empty() && cs->account_name != account)
            return failure{
                fmt::format("AZURE_STORAGE_CONNECTION_STRING is for account \"{}\", the storage URL "
                            "names account \"{}\"",
                            cs->account_name, account)};
        if (!cs->blob_endpoint.empty())
            out.endpoint = cs->blob_endpoint;
        else if (!cs->endpoint_suffix.empty() || cs->protocol != "https")
            out.endpoint =
                fmt::format("{}://{}.blob.{}", cs->protocol, account,
                            cs->endpoint_suffix.empty() ? "core.windows.net" : cs->endpoint_suffix);
        if (!cs->account_key.empty()) {
            auto key = decode_account_key(cs->account_key, "AZURE_STORAGE_CONNECTION_STRING AccountKey");
            if (!key)
                return failure{key.error()};
            creds = shared_key{std::string(account), std::move(key).value()};
        } else if (!cs->sas.empty()) {
            auto q = cs->sas;
            if (!q.empty() && q.front() == '?')
                q.erase(0, 1);
            creds = sas_token{std::move(q)};
        }
    }
    if (auto url = http::split_url(out.endpoint); !url)
        return failure{fmt::format("Azure blob endpoint \"{}\": {}", out.endpoint, url.error())};
    if (!creds && !env.azure_storage_key.empty()) {
        auto key = decode_account_key(env.azure_storage_key, "AZURE_STORAGE_KEY");
        if (!key)
            return failure{key.error()};
        creds = shared_key{std::string(account), std::move(key).value()};
    }
    if (!creds && !env.azure_storage_sas_token.empty()) {
        auto q = env.azure_storage_sas_token;
        if (q.front() == '?')
            q.erase(0, 1);
        creds = sas_token{std::move(q)};
    }
    const std::string authority = without_trailing_slash(
        env.azure_authority_host.empty() ? default_authority_host : env.azure_authority_host);
    if (!creds && !env.azure_client_secret.empty()) {
        if (env.azure_tenant_id.empty() || env.azure_client_id.empty())
            return failure{
                std::string("AZURE_CLIENT_SECRET is set but AZURE_TENANT_ID or AZURE_CLIENT_ID is not")};
        creds = client_secret{env.azure_tenant_id, env.azure_client_id, env.azure_client_secret, authority};
    }
    if (!creds && !env.azure_federated_token_file.empty()) {
        if (env.azure_tenant_id.empty() || env.azure_client_id.empty())
            return failure{std::string(
                "AZURE_FEDERATED_TOKEN_FILE is set but AZURE_TENANT_ID or AZURE_CLIENT_ID is not")};
        creds = workload_identity{env.azure_tenant_id, env.azure_client_id, env.azure_federated_token_file,
                                  authority};
    }
    if (!creds) {
        managed_identity mi;
        mi.client_id = env.azure_client_id;
        if (!env.identity_endpoint.empty()) {
            if (env.identity_header.empty())
                return failure{std::string("IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not")};
            mi.endpoint = env.identity_endpoint;
            mi.identity_header = env.identity_header;
        }
        creds = std::move(mi);
    }
    out.creds = std::move(*creds);
    return out;
}

result<token_request, std::string> make_token_request(const credentials& c) {
    token_request t;
    if (const auto* cs = std::get_if<client_secret>(&c)) {
        t.url =
            fmt::format("{}/{}/oauth2/v2.0/token", cs->authority_host, http::percent_encode(cs->tenant_id));
        if (auto ok = check_token_url(t.url, "AZURE_AUTHORITY_HOST"); !ok)
            return failure{ok.error()};
        t.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
        t.body = form({{"grant_type", "client_credentials"},
                       {"client_id", cs->client_id},
                       {"client_secret", cs->secret},
                       {"scope", storage_scope}});
        t.source = fmt::format("Entra ID client secret (client {})", cs->client_id);
        return t;
    }
    if (const auto* wi = std::get_if<workload_identity>(&c)) {
        t.url =
            fmt::format("{}/{}/oauth2/v2.0/token", wi->authority_host, http::percent_encode(wi->tenant_id));
        if (auto ok = check_token_url(t.url, "AZURE_AUTHORITY_HOST"); !ok)
            return failure{ok.error()};
        auto assertion = read_whole_file(wi->token_file, 64 * 1024);
        if (!assertion)
            return failure{fmt::format("AZURE_FEDERATED_TOKEN_FILE: {}", assertion.error())};
        std::string jwt = std::move(assertion).value();
        while (!jwt.empty() && std::isspace(static_cast<unsigned char>(jwt.back())))
            jwt.pop_back();
        if (jwt.empty())
            return failure{fmt::format("AZURE_FEDERATED_TOKEN_FILE {} is empty", wi->token_file)};
        t.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
        t.body = form({{"grant_type", "client_credentials"},
                       {"client_id", wi->client_id},
                       {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                       {"client_assertion", jwt},
                       {"scope", storage_scope}});
        t.source = fmt::format("workload identity (client {})", wi->client_id);
        return t;
    }
    if (const auto* mi = std::get_if<managed_identity>(&c)) {
        t.method = http::verb::get;
        const std::string client =
            mi->client_id.empty() ? "" : "&client_id=" + http::percent_encode(mi->client_id);
        if (mi->identity_header.empty()) {
            t.url = fmt::format("{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}{}",
                                without_trailing_slash(mi->endpoint), http::percent_encode(storage_resource),
                                client);
            t.headers.emplace_back("Metadata", "true");
            t.source = "managed identity (IMDS)";
        } else {
            const char sep = mi->endpoint.find('?') == std::string::npos ? '?' : '&';
            t.url = fmt::format("{}{}api-version=2019-08-01&resource={}{}", mi->endpoint, sep,
                                http::percent_encode(storage_resource), client);
            t.headers.emplace_back("X-IDENTITY-HEADER", mi->identity_header);
            t.source = "managed identity (IDENTITY_ENDPOINT)";
        }
        if (auto url = http::split_url(t.url); !url)
            return failure{fmt::format("{}: {}", t.source, url.error())};
        return t;
    }
    return failure{std::string("these Azure credentials use no token")};
}

result<backends::gcs::access_token, std::string> parse_token_response(std::string_view body,
                                                                      wall_clock::time_point now) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object())
        return failure{std::string("the token endpoint answered something that is not a JSON object")};
    const auto& o = v.as_object();
    const auto* token = o.if_contains("access_token");
    if (!token || !token->is_string() || token->as_string().empty())
        return failure{std::string("the token endpoint's answer has no access_token")};
    auto number = [&](const char* name) -> std::optional<double> {
        const auto* f = o.if_contains(name);
        if (!f)
            return std::nullopt;
        if (f->is_int64())
            return static_cast<double>(f->as_int64());
        if (f->is_uint64())
            return static_cast<double>(f->as_uint64());
        if (f->is_double())
            return f->as_double();
        if (f->is_string()) {
            try {
                return std::stod(std::string(f->as_string()));
            } catch (...) {
                return std::nullopt;
            }
        }
        return std::nullopt;
    };
    backends::gcs::access_token out;
    out.token = std::string(token->as_string());
    if (auto in = number("expires_in"))
        out.expires_in = std::chrono::seconds(static_cast<std::int64_t>(*in));
    else if (auto on = number("expires_on"))
        out.expires_in = std::chrono::seconds(static_cast<std::int64_t>(*on - to_epoch_seconds(now)));
    else
        return failure{std::string("the token endpoint's answer has neither expires_in nor expires_on")};
    if (out.expires_in <= std::chrono::seconds(0))
        return failure{std::string("the token endpoint handed out a token that has already expired")};
    return out;
}

} // namespace lifeboat::azure
