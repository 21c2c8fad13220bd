#include "election/fenced_write.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace lifeboat::election {
namespace {

std::optional<std::string_view> find(const std::map<std::string, std::string>& m, const char* name) {
    auto it = m.find(name);
    if (it == m.end())
        return std::nullopt;
    return std::string_view(it->second);
}

std::uint64_t parse_term_value(std::optional<std::string_view> v) {
    std::uint64_t out = 0;
    if (v)
        std::from_chars(v->data(), v->data() + v->size(), out);
    return out;
}

std::optional<double> parse_timestamp(std::optional<std::string_view> v) {
    if (!v || v->empty())
        return std::nullopt;
    std::string s(*v);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || !std::isfinite(d))
        return std::nullopt;
    return d;
}

} // namespace

const char* to_string(fenced_outcome o) {
    switch (o) {
    case fenced_outcome::uploaded:
        return "uploaded";
    case fenced_outcome::unchanged:
        return "unchanged";
    case fenced_outcome::not_leader:
        return "not_leader";
    case fenced_outcome::superseded:
        return "superseded";
    case fenced_outcome::error:
        return "error";
    }
    return "error";
}

fenced_write::fenced_write(std::string key, backends::put_options options, std::uint64_t term,
                           std::string node_id, config_version version, bool conditional,
                           unsigned max_attempts)
    : key_(std::move(key))
    , options_(std::move(options))
    , term_(term)
    , version_(std::move(version))
    , conditional_(conditional)
    , max_attempts_(std::max(max_attempts, 1u)) {
    options_.metadata[metadata::uploader] = std::move(node_id);
    options_.metadata[metadata::term] = fmt::format("{}", term_);
    // "{}" prints the shortest text that reads back as the same double.
    options_.metadata[metadata::cp_timestamp] = fmt::format("{}", version_.cp_timestamp);
    if (!version_.hash.empty())
        options_.metadata[metadata::config_hash] = version_.hash;
    else
        options_.metadata.erase(metadata::config_hash);
}

fenced_action fenced_write::start() {
    ++attempts_;
    return fw::head{key_};
}

fenced_action fenced_write::done(fenced_outcome outcome, std::string detail) {
    fw::done d;
    d.result.outcome = outcome;
    d.result.term = term_;
    d.result.bucket_term = bucket_term_;
    d.result.conditional = conditional_;
    d.result.detail = std::move(detail);
    return d;
}

fenced_action fenced_write::abandon(fenced_outcome outcome, std::string detail) {
    return done(outcome, std::move(detail));
}

fenced_action fenced_write::on_head(const backends::store_result<backends::object_info>& r) {
    fw::put p{key_, options_};
    if (!r) {
        if (r.error().code != backends::store_errc::not_found) {
            auto d =
                done(fenced_outcome::error, "could not read the current object: " + r.error().to_string());
            std::get<fw::done>(d).result.error = r.error();
            return d;
        }
        bucket_term_ = 0;
        p.options.condition =
            conditional_ ? backends::write_condition::if_absent : backends::write_condition::none;
        p.options.expected_version.clear();
        return p;
    }

    const auto& meta = r->metadata;
    bucket_term_ = parse_term_value(find(meta, metadata::term));
    if (term_ != 0 && bucket_term_ > term_)
        return done(
            fenced_outcome::not_leader,
            fmt::format("the object carries term {}, higher than this node's {}", bucket_term_, term_));
    auto bucket_ts = parse_timestamp(find(meta, metadata::cp_timestamp));
    if (bucket_ts && *bucket_ts > version_.cp_timestamp)
        return done(fenced_outcome::superseded,
                    fmt::format("the bucket holds a newer config (cp timestamp {} > {})", *bucket_ts,
                                version_.cp_timestamp));
    auto bucket_hash = find(meta, metadata::config_hash);
    if (bucket_ts && *bucket_ts == version_.cp_timestamp && !version_.hash.empty() && bucket_hash &&
        *bucket_hash == version_.hash && !version_.replace_identical)
        return done(fenced_outcome::unchanged, "the bucket already holds this config");

    if (conditional_) {
        p.options.condition = backends::write_condition::if_match;
        p.options.expected_version = backends::version_token(*r);
    } else {
        p.options.condition = backends::write_condition::none;
        p.options.expected_version.clear();
    }
    return p;
}

fenced_action fenced_write::on_put(const backends::store_result<backends::object_info>& r) {
    if (r) {
        auto d =
            done(fenced_outcome::uploaded, conditional_ ? "written (conditional)" : "written (unfenced)");
        std::get<fw::done>(d).result.object = *r;
        return d;
    }
    const auto& e = r.error();
    // A lost condition (412), a racing writer (409), an If-Match on a just-deleted object (404)
    // or a 5xx (RGW answers some losers with 500) all mean: the object changed under us, or may
    // have. Read it again and decide again.
    const bool maybe_lost =
        e.code == backends::store_errc::precondition_failed || e.code == backends::store_errc::conflict ||
        e.code == backends::store_errc::not_found || e.code == backends::store_errc::server_error;
    if (conditional_ && maybe_lost && attempts_ < max_attempts_) {
        ++attempts_;
        return fw::head{key_};
    }
    auto d = done(fenced_outcome::error, "upload failed: " + e.to_string());
    std::get<fw::done>(d).result.error = e;
    return d;
}

} // namespace lifeboat::election
