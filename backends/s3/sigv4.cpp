#include "backends/s3/sigv4.hpp"

#include "base/digest.hpp"
#include "base/percent_encoding.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace lifeboat::s3 {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Trims and collapses runs of whitespace (a folded multi-line value becomes one line).
std::string trim_all(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    bool pending_space = false;
    for (const char c : v) {
        if (is_space(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space)
            out += ' ';
        pending_space = false;
        out += c;
    }
    return out;
}

std::string date_part(wall_clock::time_point t) {
    return format_amz_date(t).substr(0, 8);
}

signed_parts finish(std::string canonical, const credentials& creds, const scope& sc) {
    signed_parts out;
    out.canonical_request = std::move(canonical);
    out.string_to_sign = fmt::format("AWS4-HMAC-SHA256\n{}\n{}\n{}", format_amz_date(sc.time),
                                     credential_scope(sc), sha256_hex(out.canonical_request));
    const auto key = signing_key(creds.secret_access_key, date_part(sc.time), sc.region, sc.service);
    out.signature = to_hex(hmac_sha256(key, out.string_to_sign));
    return out;
}

} // namespace

std::string credential_scope(const scope& sc) {
    return fmt::format("{}/{}/{}/aws4_request", date_part(sc.time), sc.region, sc.service);
}

// SigV4's UriEncode() is RFC 3986 percent-encoding with upper-case hex and only the unreserved
// characters left alone ('/' too in a path), which is what percent_encode() does.
std::string encode_path(std::string_view raw_path) {
    return percent_encode(raw_path, true);
}
std::string encode_query_component(std::string_view s) {
    return percent_encode(s, false);
}

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
    std::vector<std::pair<std::string, std::string>> encoded;
    encoded.reserve(query.size());
    for (const auto& [k, v] : query)
        encoded.emplace_back(percent_encode(k), percent_encode(v));
    std::sort(encoded.begin(), encoded.end());
    std::string out;
    for (const auto& [k, v] : encoded) {
        if (!out.empty())
            out += '&';
        out += k;
        out += '=';
        out += v;
    }
    return out;
}

std::pair<std::string, std::string>
canonical_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
    std::map<std::string, std::string> merged; // sorted by lower-case name
    for (const auto& [name, value] : headers) {
        auto [it, fresh] = merged.try_emplace(lower(name), trim_all(value));
        if (!fresh)
            it->second += "," + trim_all(value);
    }
    std::string block, names;
    for (const auto& [name, value] : merged) {
        block += name;
        block += ':';
        block += value;
        block += '\n';
        if (!names.empty())
            names += ';';
        names += name;
    }
    return {std::move(block), std::move(names)};
}

std::string canonical_request(const canonical_input& in) {
    auto [block, names] = canonical_headers(in.headers);
    return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", in.method, in.canonical_uri.empty() ? "/" : in.canonical_uri,
                       canonical_query(in.query), block, names, in.payload_hash);
}

std::string signing_key(std::string_view secret, std::string_view yyyymmdd, std::string_view region,
                        std::string_view service) {
    const auto k_date = hmac_sha256(std::string("AWS4") + std::string(secret), yyyymmdd);
    const auto k_region = hmac_sha256(k_date, region);
    const auto k_service = hmac_sha256(k_region, service);
    return hmac_sha256(k_service, "aws4_request");
}

signed_parts sign(const canonical_input& in, const credentials& creds, const scope& sc) {
    auto out = finish(canonical_request(in), creds, sc);
    out.signed_headers = canonical_headers(in.headers).second;
    out.authorization =
        fmt::format("AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}", creds.access_key_id,
                    credential_scope(sc), out.signed_headers, out.signature);
    return out;
}

signed_parts presign(const canonical_input& in, const credentials& creds, const scope& sc,
                     std::chrono::seconds expires, bool omit_token) {
    canonical_input q = in;
    const auto names = canonical_headers(in.headers).second;
    q.query.emplace_back("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
    q.query.emplace_back("X-Amz-Credential", creds.access_key_id + "/" + credential_scope(sc));
    q.query.emplace_back("X-Amz-Date", format_amz_date(sc.time));
    q.query.emplace_back("X-Amz-Expires", std::to_string(expires.count()));
    q.query.emplace_back("X-Amz-SignedHeaders", names);
    if (!creds.session_token.empty() && !omit_token)
        q.query.emplace_back("X-Amz-Security-Token", creds.session_token);
    auto out = finish(canonical_request(q), creds, sc);
    out.signed_headers = names;
    q.query.emplace_back("X-Amz-Signature", out.signature);
    out.query = canonical_query(q.query);
    return out;
}

chunk_signer::chunk_signer(const credentials& creds, const scope& sc, std::string seed_signature)
    : key_(signing_key(creds.secret_access_key, date_part(sc.time), sc.region, sc.service))
    , prefix_(
          fmt::format("AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n", format_amz_date(sc.time), credential_scope(sc)))
    , previous_(std::move(seed_signature)) {}

std::string chunk_signer::sign(std::string_view data) {
    // previous signature, the hash of the (empty) chunk extensions, the hash of the data
    std::string sts;
    sts.reserve(prefix_.size() + 3 * 65);
    sts += prefix_;
    sts += previous_;
    sts += '\n';
    sts += empty_payload_sha256;
    sts += '\n';
    sts += sha256_hex(data);
    previous_ = to_hex(hmac_sha256(key_, sts));
    return previous_;
}

std::string chunk_signer::chunk_header(std::string_view data) {
    return fmt::format("{:x};chunk-signature={}\r\n", data.size(), sign(data));
}

std::uint64_t aws_chunked_length(std::uint64_t decoded, std::uint64_t chunk_size) {
    // Every chunk: hex size, ";chunk-signature=" (17), 64 hex digits, CRLF, data, CRLF.
    auto framed = [](std::uint64_t size) {
        std::uint64_t hex_digits = 1;
        for (auto v = size; v >= 16; v /= 16)
            ++hex_digits;
        return hex_digits + 17 + 64 + 2 + size + 2;
    };
    const std::uint64_t full = chunk_size ? decoded / chunk_size : 0;
    const std::uint64_t rest = chunk_size ? decoded % chunk_size : decoded;
    return full * framed(chunk_size) + (rest ? framed(rest) : 0) + framed(0);
}

} // namespace lifeboat::s3
