#include "kong_config_gen.hpp"

#include <fmt/format.h>

#include <array>
#include <random>

namespace lifeboat::bench {
namespace {

class generator {
public:
    explicit generator(std::uint64_t seed) : rng_(seed) {}

    std::string uuid() {
        const std::uint64_t a = rng_(), b = rng_();
        return fmt::format("{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                           8 + (b >> 62), (b >> 48) & 0xfff, b & 0xffffffffffffULL);
    }
    std::uint64_t next(std::uint64_t n) { return rng_() % n; }
    std::int64_t timestamp() { return 1700000000 + static_cast<std::int64_t>(next(30000000)); }

private:
    std::mt19937_64 rng_;
};

constexpr std::array<const char*, 6> service_plugins = {
    "rate-limiting", "cors", "request-transformer", "response-transformer", "key-auth", "ip-restriction"};

// One "unit": a service with two routes and a few plugins, an upstream with targets every ten
// units, and four consumers with credentials. Appends the entities to each section's text.
struct sections {
    std::string services, routes, plugins, consumers, upstreams, targets, keyauth, acls;
};

void append_sep(std::string& s) {
    if (!s.empty())
        s.push_back(',');
}

void unit(generator& g, std::size_t n, sections& out, kong_config_counts& c) {
    const auto sid = g.uuid();
    const auto ts = g.timestamp();
    append_sep(out.services);
    fmt::format_to(
        std::back_inserter(out.services),
        R"({{"id":"{}","name":"service-{}","host":"upstream-{}.svc.cluster.local","port":{},"protocol":"http",)"
        R"("path":"/api/v{}","retries":5,"connect_timeout":60000,"write_timeout":60000,"read_timeout":60000,)"
        R"("enabled":true,"tls_verify":null,"tls_verify_depth":null,"ca_certificates":null,)"
        R"("client_certificate":null,"tags":["team-{}","env-prod"],"created_at":{},"updated_at":{}}})",
        sid, n, n / 10, 8000 + g.next(1000), 1 + g.next(3), g.next(40), ts, ts + 60);
    ++c.services;
    for (int r = 0; r < 2; ++r) {
        const auto rid = g.uuid();
        append_sep(out.routes);
        fmt::format_to(
            std::back_inserter(out.routes),
            R"({{"id":"{}","name":"route-{}-{}","service":"{}","paths":["/svc{}/r{}","~/svc{}/r{}/[a-z]+$"],)"
            R"("methods":["GET","POST"],"hosts":["api-{}.example.com"],"protocols":["http","https"],)"
            R"("strip_path":true,"preserve_host":false,"regex_priority":0,"https_redirect_status_code":426,)"
            R"("path_handling":"v0","request_buffering":true,"response_buffering":true,)"
            R"("tags":["team-{}"],"created_at":{},"updated_at":{}}})",
            rid, n, r, sid, n, r, n, r, n % 50, g.next(40), ts, ts);
        ++c.routes;
        if (g.next(3) == 0) {
            append_sep(out.plugins);
            fmt::format_to(
                std::back_inserter(out.plugins),
                R"({{"id":"{}","name":"rate-limiting","route":"{}","service":null,"consumer":null,)"
                R"("enabled":true,"protocols":["http","https"],"config":{{"minute":{},"hour":null,)"
                R"("policy":"local","fault_tolerant":true,"hide_client_headers":false,"limit_by":"consumer"}},)"
                R"("tags":null,"created_at":{}}})",
                g.uuid(), rid, 60 + g.next(600), ts);
            ++c.plugins;
        }
    }
    const auto np = 1 + g.next(3);
    for (std::uint64_t p = 0; p < np; ++p) {
        append_sep(out.plugins);
        fmt::format_to(
            std::back_inserter(out.plugins),
            R"({{"id":"{}","name":"{}","service":"{}","route":null,"consumer":null,"enabled":true,)"
            R"("protocols":["grpc","grpcs","http","https"],"config":{{"origins":["https://app-{}.example.com"],)"
            R"("headers":["Authorization","Content-Type"],"max_age":3600,"credentials":true,)"
            R"("key_names":["apikey"],"hide_credentials":false}},"tags":["team-{}"],"created_at":{}}})",
            g.uuid(), service_plugins[g.next(service_plugins.size())], sid, n, g.next(40), ts);
        ++c.plugins;
    }
    if (n % 10 == 0) {
        const auto uid = g.uuid();
        append_sep(out.upstreams);
        fmt::format_to(
            std::back_inserter(out.upstreams),
            R"({{"id":"{}","name":"upstream-{}.svc.cluster.local","algorithm":"round-robin","slots":10000,)"
            R"("hash_on":"none","hash_fallback":"none","healthchecks":{{"active":{{"type":"http",)"
            R"("http_path":"/health","timeout":1,"concurrency":10,"healthy":{{"interval":0,"successes":0}},)"
            R"("unhealthy":{{"interval":0,"tcp_failures":0,"timeouts":0,"http_failures":0}}}},)"
            R"("threshold":0}},"tags":null,"created_at":{}}})",
            uid, n / 10, ts);
        ++c.upstreams;
        const auto nt = 2 + g.next(5);
        for (std::uint64_t t = 0; t < nt; ++t) {
            append_sep(out.targets);
            fmt::format_to(
                std::back_inserter(out.targets),
                R"({{"id":"{}","upstream":"{}","target":"10.{}.{}.{}:8080","weight":100,"tags":null,)"
                R"("created_at":{}.{}}})",
                g.uuid(), uid, g.next(256), g.next(256), g.next(256), ts, g.next(1000));
            ++c.targets;
        }
    }
    for (int k = 0; k < 4; ++k) {
        const auto cid = g.uuid();
        append_sep(out.consumers);
        fmt::format_to(
            std::back_inserter(out.consumers),
            R"({{"id":"{}","username":"user-{}-{}","custom_id":"cust-{}","tags":["tier-{}"],"created_at":{}}})",
            cid, n, k, g.next(100000000), g.next(3), ts);
        ++c.consumers;
        append_sep(out.keyauth);
        fmt::format_to(
            std::back_inserter(out.keyauth),
            R"({{"id":"{}","consumer":"{}","key":"{:016x}{:016x}","ttl":null,"tags":null,"created_at":{}}})",
            g.uuid(), cid, g.next(~0ull), g.next(~0ull), ts);
        append_sep(out.acls);
        fmt::format_to(std::back_inserter(out.acls),
                       R"({{"id":"{}","consumer":"{}","group":"group-{}","tags":null,"created_at":{}}})",
                       g.uuid(), cid, g.next(20), ts);
    }
}

} // namespace

std::string make_kong_config(std::size_t target_bytes, std::uint64_t seed, kong_config_counts* counts) {
    generator g(seed);
    sections s;
    kong_config_counts c;
    std::size_t n = 0;
    auto size = [&] {
        return s.services.size() + s.routes.size() + s.plugins.size() + s.consumers.size() +
               s.upstreams.size() + s.targets.size() + s.keyauth.size() + s.acls.size() + 256;
    };
    while (size() < target_bytes)
        unit(g, n++, s, c);
    std::string out;
    out.reserve(size());
    out += R"({"_format_version":"3.0","_transform":false,"services":[)" + s.services + R"(],"routes":[)" +
           s.routes + R"(],"plugins":[)" + s.plugins + R"(],"consumers":[)" + s.consumers +
           R"(],"upstreams":[)" + s.upstreams + R"(],"targets":[)" + s.targets +
           R"(],"keyauth_credentials":[)" + s.keyauth + R"(],"acls":[)" + s.acls + "]}";
    if (counts)
        *counts = c;
    return out;
}

} // namespace lifeboat::bench
