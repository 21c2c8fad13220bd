#include "backends/s3/credentials.hpp"

#include "backends/http/xml.hpp"
#include "base/atomic_file.hpp"
#include "base/log.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

namespace lifeboat::s3 {

namespace {

std::string trim(std::string_view s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos)
        return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

std::string expiry_text(const credentials& c) {
    return c.expiration ? format_iso8601(*c.expiration) : std::string("never");
}

} // namespace

// ---------------------------------------------------------------------------------------------
// credential_cache

credential_cache::credential_cache(std::chrono::seconds refresh_before,
                                   std::chrono::seconds retry_after_failure)
    : refresh_before_(refresh_before)
    , retry_after_failure_(retry_after_failure) {}

credential_cache::action credential_cache::next(wall_clock::time_point now) const {
    if (!current_ || invalidated_ || refresh_requested_)
        return action::fetch;
    if (!current_->expiration)
        return action::use_cached;
    const bool expired = now >= *current_->expiration;
    const bool due = now >= *current_->expiration - refresh_before_;
    if (!due)
        return action::use_cached;
    if (!expired && not_before_ && now < *not_before_)
        return action::use_cached; // a refresh failed recently; the old ones still work
    return action::fetch;
}

void credential_cache::on_fetched(credentials fresh, wall_clock::time_point now) {
    current_ = std::move(fresh);
    invalidated_ = false;
    refresh_requested_ = false;
    not_before_.reset();
    // Credentials that already sit inside the refresh window (a provider handing out short
    // ones) would otherwise be fetched again on every request.
    if (current_->expiration && *current_->expiration - refresh_before_ <= now)
        not_before_ = now + retry_after_failure_;
}

std::optional<credentials> credential_cache::on_failed(wall_clock::time_point now) {
    not_before_ = now + retry_after_failure_;
    refresh_requested_ = false;
    if (!current_ || invalidated_)
        return std::nullopt;
    if (current_->expiration && now >= *current_->expiration)
        return std::nullopt;
    return current_;
}

void credential_cache::invalidate() {
    invalidated_ = true;
}

// ---------------------------------------------------------------------------------------------
// Parsers

ini_sections parse_aws_ini(std::string_view text) {
    ini_sections out;
    std::string section;
    bool have_section = false;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view raw = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        // Indented lines continue a nested block ("s3 =\n    addressing_style = path"): skipped.
        const bool indented = !raw.empty() && (raw[0] == ' ' || raw[0] == '\t');
        auto line = trim(raw);
        if (line.empty() || line[0] == '#' || line[0] == ';')
            continue;
        if (line.front() == '[') {
            const auto close = line.find(']');
            if (close == std::string::npos)
                continue;
            section = trim(std::string_view(line).substr(1, close - 1));
            // "profile   prod" -> "profile prod"
            if (section.rfind("profile", 0) == 0 && section.size() > 7 &&
                (section[7] == ' ' || section[7] == '\t'))
                section = "profile " + trim(std::string_view(section).substr(7));
            have_section = true;
            out[section];
            continue;
        }
        if (!have_section || indented)
            continue;
        const auto eq = line.find('=');
        if (eq == std::string::npos)
            continue;
        auto key = trim(std::string_view(line).substr(0, eq));
        std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
        out[section][key] = trim(std::string_view(line).substr(eq + 1));
    }
    return out;
}

result<credentials, std::string> parse_credentials_json(std::string_view body, std::string source) {
    boost::system::error_code ec;
    auto value = boost::json::parse(body, ec);
    if (ec || !value.is_object())
        return failure{fmt::format("{}: the answer is not a JSON object", source)};
    const auto& o = value.as_object();
    auto str = [&](const char* name) -> std::string {
        const auto* v = o.if_contains(name);
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    if (auto code = str("Code"); !code.empty() && code != "Success")
        return failure{fmt::format("{}: {}: {}", source, code, str("Message"))};
    credentials c;
    c.access_key_id = str("AccessKeyId");
    c.secret_access_key = str("SecretAccessKey");
    c.session_token = str("Token");
    c.source = std::move(source);
    if (c.empty())
        return failure{fmt::format("{}: the answer has no AccessKeyId/SecretAccessKey", c.source)};
    if (auto exp = str("Expiration"); !exp.empty()) {
        c.expiration = parse_iso8601(exp);
        if (!c.expiration)
            return failure{fmt::format("{}: Expiration '{}' is not an ISO 8601 time", c.source, exp)};
    }
    return c;
}

result<credentials, std::string> parse_sts_response(std::string_view body) {
    auto parsed = xml::document::parse(body);
    if (!parsed)
        return failure{fmt::format("STS AssumeRoleWithWebIdentity: {}", parsed.error())};
    if (auto err = parsed->root().find("Error")) {
        return failure{fmt::format("STS AssumeRoleWithWebIdentity: {}: {}",
                                   err->child_text("Code").value_or("error"),
                                   err->child_text("Message").value_or(""))};
    }
    auto creds = parsed->root().find("Credentials");
    if (!creds)
        return failure{std::string("STS AssumeRoleWithWebIdentity: the answer has no <Credentials>")};
    credentials c;
    c.access_key_id = creds->child_text("AccessKeyId").value_or("");
    c.secret_access_key = creds->child_text("SecretAccessKey").value_or("");
    c.session_token = creds->child_text("SessionToken").value_or("");
    if (c.empty())
        return failure{std::string("STS AssumeRoleWithWebIdentity: incomplete <Credentials>")};
    if (auto exp = creds->child_text("Expiration")) {
        c.expiration = parse_iso8601(*exp);
        if (!c.expiration)
            return failure{
                fmt::format("STS AssumeRoleWithWebIdentity: Expiration '{}' is not ISO 8601", *exp)};
    }
    return c;
}

// ---------------------------------------------------------------------------------------------
// The chain

namespace {

enum class provider { unresolved, environment, web_identity, profile, ecs, imds };

struct web_identity_source {
    std::string role_arn;
    std::string token_file;
    std::string session_name;
};

http::timeouts metadata_timeouts() {
    return {std::chrono::seconds(1), std::chrono::seconds(2), std::chrono::seconds(5)};
}

http::retry_policy metadata_retry() {
    http::retry_policy p;
    p.max_attempts = 2;
    p.backoff = {std::chrono::milliseconds(100), std::chrono::milliseconds(500),
                 std::chrono::milliseconds(20)};
    return p;
}

// AWS SDKs only accept plain-HTTP container endpoints on loopback or the ECS/EKS agent
// addresses: anything else could hand the role's credentials to a stranger.
bool allowed_plain_container_host(const std::string& host) {
    if (host == "localhost")
        return true;
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(host, ec);
    if (ec)
        return false;
    if (addr.is_loopback())
        return true;
    return host == "169.254.170.2" || host == "169.254.170.23" || host == "fd00:ec2::23";
}

} // namespace

struct credential_chain::impl {
    http::client& web;
    credential_settings settings;
    credential_cache cache;
    bool reread_requested = false; // SIGHUP asked for the source to be read again
    provider chosen = provider::unresolved;
    std::string chosen_name;
    credentials static_creds;     // environment and profile keys
    web_identity_source identity; // from the environment or the config profile

    impl(http::client& w, credential_settings s)
        : web(w)
        , settings(std::move(s))
        , cache(settings.refresh_before_expiry, settings.retry_failed_refresh) {}

    std::filesystem::path home_file(const std::string& explicit_path, const char* name) const {
        if (!explicit_path.empty())
            return explicit_path;
        if (settings.env.home.empty())
            return {};
        return std::filesystem::path(settings.env.home) / ".aws" / name;
    }

    boost::asio::awaitable<result<http::response, std::string>> call(http::request req, std::string what) {
        auto res = co_await web.send(std::move(req));
        if (!res)
            co_return failure{fmt::format("{}: {}", what, res.error().message)};
        co_return std::move(*res);
    }

    boost::asio::awaitable<result<credentials, std::string>> fetch_web_identity() {
        const std::string what = fmt::format("web identity ({})", identity.role_arn);
        auto token = read_whole_file(identity.token_file, 64 * 1024);
        if (!token)
            co_return failure{fmt::format("{}: cannot read the token file: {}", what, token.error())};
        std::string endpoint = settings.sts_endpoint;
        if (endpoint.empty())
            endpoint = settings.region.empty() ? "https://sts.amazonaws.com"
                                               : fmt::format("https://sts.{}.amazonaws.com", settings.region);
        auto url = http::split_url(endpoint);
        if (!url)
            co_return failure{fmt::format("{}: STS endpoint: {}", what, url.error())};
        http::request req;
        req.method = http::verb::post;
        req.server = url->server;
        req.target = url->target;
        req.headers.set(http::field::content_type, "application/x-www-form-urlencoded; charset=utf-8");
        req.headers.set(http::field::accept, "application/xml");
        // The token goes in the body, not the URL, so it never lands in an access log.
        req.body = http::request_body::from_string(
            fmt::format("Action=AssumeRoleWithWebIdentity&RoleArn={}&RoleSessionName={}&Version=2011-06-15&"
                        "WebIdentityToken={}",
                        http::percent_encode(identity.role_arn), http::percent_encode(identity.session_name),
                        http::percent_encode(trim(*token))));
        auto res = co_await call(std::move(req), what);
        if (!res)
            co_return failure{res.error()};
        if (!res->ok()) {
            auto parsed = parse_sts_response(res->body);
            co_return failure{parsed ? fmt::format("{}: STS answered {}", what, res->status)
                                     : fmt::format("{}: HTTP {}: {}", what, res->status,
                                                   parsed.error().substr(parsed.error().find(": ") + 2))};
        }
        auto creds = parse_sts_response(res->body);
        if (!creds)
            co_return failure{creds.error()};
        creds->source = what;
        co_return std::move(*creds);
    }

    boost::asio::awaitable<result<credentials, std::string>> fetch_ecs() {
        const auto& env = settings.env;
        std::string url_text = !env.aws_container_credentials_relative_uri.empty()
                                   ? settings.ecs_endpoint + env.aws_container_credentials_relative_uri
                                   : env.aws_container_credentials_full_uri;
        auto url = http::split_url(url_text);
        if (!url)
            co_return failure{fmt::format("ECS container credentials: {}", url.error())};
        if (env.aws_container_credentials_relative_uri.empty() && !url->server.tls &&
            !allowed_plain_container_host(url->server.host))
            co_return failure{
                fmt::format("ECS container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI over plain "
                            "HTTP must point at a loopback address, not {}",
                            url->server.host)};
        http::request req;
        req.server = url->server;
        req.target = url->target;
        req.timeout = metadata_timeouts();
        req.retry = metadata_retry();
        if (!env.aws_container_authorization_token.empty())
            req.headers.set(http::field::authorization, env.aws_container_authorization_token);
        auto res = co_await call(std::move(req), "ECS container credentials");
        if (!res)
            co_return failure{res.error()};
        if (!res->ok())
            co_return failure{fmt::format("ECS container credentials: HTTP {}", res->status)};
        co_return parse_credentials_json(res->body, "ECS container credentials");
    }

    boost::asio::awaitable<result<credentials, std::string>> fetch_imds() {
        auto base = http::origin::parse(settings.imds_endpoint);
        if (!base)
            co_return failure{fmt::format("EC2 instance metadata: {}", base.error())};
        http::request token_req;
        token_req.method = http::verb::put;
        token_req.server = *base;
        token_req.target = "/latest/api/token";
        token_req.headers.set("X-aws-ec2-metadata-token-ttl-seconds", "21600");
        token_req.timeout = metadata_timeouts();
        token_req.retry = metadata_retry();
        auto token = co_await call(token_req, "EC2 instance metadata");
        if (!token)
            co_return failure{token.error()};
        if (!token->ok())
            co_return failure{
                fmt::format("EC2 instance metadata: IMDSv2 token request answered HTTP {}", token->status)};
        const auto session = trim(token->body);

        http::request role_req = token_req;
        role_req.method = http::verb::get;
        role_req.headers = {};
        role_req.headers.set("X-aws-ec2-metadata-token", session);
        role_req.target = "/latest/meta-data/iam/security-credentials/";
        auto role = co_await call(role_req, "EC2 instance metadata");
        if (!role)
            co_return failure{role.error()};
        if (role->status == 404)
            co_return failure{std::string("EC2 instance metadata: no IAM role is attached to this instance")};
        if (!role->ok())
            co_return failure{
                fmt::format("EC2 instance metadata: role lookup answered HTTP {}", role->status)};
        const auto role_name = trim(role->body.substr(0, role->body.find('\n')));
        if (role_name.empty() || role_name.find_first_of("/?# ") != std::string::npos)
            co_return failure{std::string("EC2 instance metadata: no usable role name")};

        role_req.target += http::percent_encode(role_name);
        auto creds = co_await call(role_req, "EC2 instance metadata");
        if (!creds)
            co_return failure{creds.error()};
        if (!creds->ok())
            co_return failure{
                fmt::format("EC2 instance metadata: credentials answered HTTP {}", creds->status)};
        co_return parse_credentials_json(creds->body,
                                         fmt::format("EC2 instance metadata (role {})", role_name));
    }

    boost::asio::awaitable<result<credentials, std::string>> fetch_from(provider p) {
        switch (p) {
        case provider::environment:
        case provider::profile:
            co_return static_creds;
        case provider::web_identity:
            co_return co_await fetch_web_identity();
        case provider::ecs:
            co_return co_await fetch_ecs();
        case provider::imds:
            co_return co_await fetch_imds();
        case provider::unresolved:
            break;
        }
        co_return failure{std::string("no credential provider")};
    }

    void choose(provider p, std::string name) {
        chosen = p;
        chosen_name = std::move(name);
    }

    // Walks the chain once; the first provider that is configured is kept for later refreshes.
    boost::asio::awaitable<result<credentials, std::string>> resolve() {
        const auto& env = settings.env;
        std::vector<std::string> looked_at;

        if (!env.aws_access_key_id.empty() || !env.aws_secret_access_key.empty()) {
            if (env.aws_access_key_id.empty())
                co_return failure{std::string("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")};
            if (env.aws_secret_access_key.empty())
                co_return failure{std::string("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")};
            static_creds = {env.aws_access_key_id, env.aws_secret_access_key, env.aws_session_token,
                            std::nullopt, "environment"};
            choose(provider::environment, "environment");
            co_return static_creds;
        }
        looked_at.emplace_back("environment (AWS_ACCESS_KEY_ID)");

        if (!env.aws_web_identity_token_file.empty() || !env.aws_role_arn.empty()) {
            if (env.aws_web_identity_token_file.empty() || env.aws_role_arn.empty())
                co_return failure{std::string(
                    "web identity needs both AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN; only one is set")};
            identity = {env.aws_role_arn, env.aws_web_identity_token_file,
                        env.aws_role_session_name.empty() ? default_session_name()
                                                          : env.aws_role_session_name};
            choose(provider::web_identity, fmt::format("web identity ({})", identity.role_arn));
            co_return co_await fetch_web_identity();
        }
        looked_at.emplace_back("web identity (AWS_WEB_IDENTITY_TOKEN_FILE)");

        const std::string profile = env.aws_profile.empty() ? "default" : env.aws_profile;
        const auto cred_file = home_file(env.aws_shared_credentials_file, "credentials");
        const auto conf_file = home_file(env.aws_config_file, "config");
        bool profile_seen = false;
        auto from_section =
            [&](const std::map<std::string, std::string>& kv,
                const std::filesystem::path& file) -> std::optional<result<credentials, std::string>> {
            auto get = [&](const char* k) {
                auto it = kv.find(k);
                return it == kv.end() ? std::string() : it->second;
            };
            const auto key = get("aws_access_key_id"), secret = get("aws_secret_access_key");
            if (key.empty() && secret.empty())
                return std::nullopt;
            if (key.empty() || secret.empty())
                return result<credentials, std::string>(failure{fmt::format(
                    "profile {} in {} has only one of aws_access_key_id and aws_secret_access_key", profile,
                    file.string())});
            return result<credentials, std::string>(
                credentials{key, secret, get("aws_session_token"), std::nullopt,
                            fmt::format("profile {} ({})", profile, file.string())});
        };
        if (!cred_file.empty()) {
            if (auto text = read_whole_file(cred_file, 1 << 20)) {
                const auto sections = parse_aws_ini(*text);
                if (auto it = sections.find(profile); it != sections.end()) {
                    profile_seen = true;
                    if (auto c = from_section(it->second, cred_file)) {
                        if (!*c)
                            co_return failure{c->error()};
                        static_creds = **c;
                        choose(provider::profile, static_creds.source);
                        co_return static_creds;
                    }
                }
            }
        }
        if (!conf_file.empty()) {
            if (auto text = read_whole_file(conf_file, 1 << 20)) {
                const auto sections = parse_aws_ini(*text);
                auto it = sections.find(profile == "default" ? "default" : "profile " + profile);
                if (it == sections.end() && profile == "default")
                    it = sections.find("profile default");
                if (it != sections.end()) {
                    profile_seen = true;
                    if (auto c = from_section(it->second, conf_file)) {
                        if (!*c)
                            co_return failure{c->error()};
                        static_creds = **c;
                        choose(provider::profile, static_creds.source);
                        co_return static_creds;
                    }
                    auto get = [&](const char* k) {
                        auto f = it->second.find(k);
                        return f == it->second.end() ? std::string() : f->second;
                    };
                    if (!get("role_arn").empty() && !get("web_identity_token_file").empty()) {
                        identity = {get("role_arn"), get("web_identity_token_file"),
                                    get("role_session_name").empty() ? default_session_name()
                                                                     : get("role_session_name")};
                        choose(provider::web_identity,
                               fmt::format("web identity ({}, profile {})", identity.role_arn, profile));
                        co_return co_await fetch_web_identity();
                    }
                }
            }
        }
        if (!env.aws_profile.empty() && !profile_seen)
            co_return failure{fmt::format("AWS_PROFILE names profile '{}', which is in neither {} nor {}",
                                          profile,
                                          cred_file.empty() ? "~/.aws/credentials" : cred_file.string(),
                                          conf_file.empty() ? "~/.aws/config" : conf_file.string())};
        looked_at.emplace_back(fmt::format("profile {} ({}, {})", profile,
                                           cred_file.empty() ? "no credentials file" : cred_file.string(),
                                           conf_file.empty() ? "no config file" : conf_file.string()));

        if (!env.aws_container_credentials_relative_uri.empty() ||
            !env.aws_container_credentials_full_uri.empty()) {
            choose(provider::ecs, "ECS container credentials");
            co_return co_await fetch_ecs();
        }
        looked_at.emplace_back("ECS container credentials (AWS_CONTAINER_CREDENTIALS_*_URI)");

        if (!env.aws_ec2_metadata_disabled) {
            auto imds = co_await fetch_imds();
            if (imds) {
                choose(provider::imds, imds->source);
                co_return imds;
            }
            looked_at.push_back(imds.error());
        } else {
            looked_at.emplace_back("EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)");
        }
        std::string list;
        for (const auto& l : looked_at)
            list += (list.empty() ? "" : "; ") + l;
        co_return failure{fmt::format("no S3 credentials found; looked at: {}", list)};
    }

    static std::string default_session_name() {
        return fmt::format(
            "lifeboat-{}",
            std::chrono::duration_cast<std::chrono::seconds>(wall_clock::now().time_since_epoch()).count());
    }

    boost::asio::awaitable<result<credentials, std::string>> get() {
        const auto now = wall_clock::now();
        if (cache.next(now) == credential_cache::action::use_cached)
            co_return *cache.current();
        // (Not a ?: between two co_awaits: GCC 12 mishandles the temporaries of that form.)
        std::optional<result<credentials, std::string>> outcome;
        if (chosen == provider::unresolved)
            outcome.emplace(co_await resolve());
        else
            outcome.emplace(co_await fetch_from(chosen));
        auto& fetched = *outcome;
        const bool reread = std::exchange(reread_requested, false);
        if (fetched) {
            const bool refresh = cache.current().has_value();
            cache.on_fetched(*fetched, now);
            if (fetched->expiration || !refresh || reread)
                log::info(reread    ? "S3 credentials read again"
                          : refresh ? "S3 credentials refreshed"
                                    : "S3 credentials loaded",
                          "source", fetched->source, "expires", expiry_text(*fetched));
            co_return std::move(*fetched);
        }
        if (auto still = cache.on_failed(now)) {
            log::warn("S3 credential refresh failed; the current credentials stay in use until they expire",
                      "source", chosen_name, "expires", expiry_text(*still), "error", fetched.error());
            co_return std::move(*still);
        }
        co_return failure{fetched.error()};
    }
};

credential_chain::credential_chain(http::client& web, credential_settings settings)
    : impl_(std::make_unique<impl>(web, std::move(settings))) {}
credential_chain::~credential_chain() = default;

boost::asio::awaitable<result<credentials, std::string>> credential_chain::get() {
    return impl_->get();
}
void credential_chain::invalidate() {
    impl_->cache.invalidate();
}
void credential_chain::reread() {
    impl_->cache.refresh_soon();
    impl_->reread_requested = true;
    // Resolve the chain again: static credentials (a profile) are held from the first read, and
    // the file, or which source applies, may have changed.
    impl_->chosen = provider::unresolved;
}
std::string credential_chain::source() const {
    return impl_->chosen_name;
}

} // namespace lifeboat::s3
