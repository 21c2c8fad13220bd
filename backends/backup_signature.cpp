#include "backends/backup_signature.hpp"

#include "backends/layout.hpp"
#include "base/digest.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <cmath>

namespace lifeboat::backends {
namespace json = boost::json;

namespace {

// The number JSON text `text` reads as, the way decode_manifest() reads it.
double read_number(std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    return ec || !v.is_number() ? std::nan("") : v.to_number<double>();
}

} // namespace

// Boost.JSON 1.81 does not always read a number back to the nearest double (it scales by an inexact
// power of ten), so the shortest text of a double can read back one unit off. A manifest's
// timestamp is kept at a value that survives printing and reading unchanged, so that a decoded
// manifest encodes to the very bytes it came from.
double canonical_timestamp(double t) {
    for (int i = 0; i < 8 && std::isfinite(t); ++i) {
        const double back = read_number(fmt::format("{}", t));
        if (back == t)
            return t;
        t = back;
    }
    return t;
}

std::string encode_manifest(const backup_manifest& m) {
    // json::serialize escapes the strings; the order is fixed so that equal manifests are equal bytes.
    return fmt::format(
        "{{\"format\":{},\"node_version\":{},\"config_hash\":{},\"object_sha256\":{},"
        "\"object_size\":{},\"encrypted\":{},\"cp_timestamp\":{},\"signed_at\":{},"
        "\"key_id\":{},\"term\":{}}}",
        json::serialize(json::string(signature_format)), json::serialize(json::string(m.node_version)),
        json::serialize(json::string(m.config_hash)), json::serialize(json::string(m.object_sha256)),
        m.object_size, m.encrypted ? "true" : "false", m.cp_timestamp, m.signed_at,
        json::serialize(json::string(m.key_id)), m.term);
}

result<backup_manifest, std::string> decode_manifest(std::string_view line) {
    boost::system::error_code ec;
    auto v = json::parse(line, ec);
    if (ec || !v.is_object())
        return failure{std::string("the manifest is not a JSON object")};
    const auto& o = v.as_object();
    auto text = [&](const char* name, std::string& out) -> bool {
        auto* f = o.if_contains(name);
        if (!f || !f->is_string())
            return false;
        out = std::string(f->as_string());
        return true;
    };
    std::string format;
    if (!text("format", format) || format != signature_format)
        return failure{fmt::format("the manifest's format is not {}", signature_format)};
    backup_manifest m;
    if (!text("node_version", m.node_version) || !text("config_hash", m.config_hash) ||
        !text("object_sha256", m.object_sha256) || !text("key_id", m.key_id))
        return failure{std::string("the manifest lacks node_version, config_hash, object_sha256 or key_id")};
    if (!is_lower_hex(m.object_sha256, 64))
        return failure{std::string("the manifest's object_sha256 is not 64 hex digits")};
    auto* size = o.if_contains("object_size");
    auto* enc = o.if_contains("encrypted");
    auto* ts = o.if_contains("cp_timestamp");
    auto* at = o.if_contains("signed_at");
    auto* term = o.if_contains("term");
    if (!size || !size->is_number() || !enc || !enc->is_bool() || !ts || !ts->is_number() || !at ||
        !at->is_int64() || !term || !term->is_number())
        return failure{
            std::string("the manifest lacks object_size, encrypted, cp_timestamp, signed_at or term")};
    boost::system::error_code nec;
    m.object_size = size->to_number<std::uint64_t>(nec);
    if (nec)
        return failure{std::string("the manifest's object_size is not a byte count")};
    m.term = term->to_number<std::uint64_t>(nec);
    if (nec)
        return failure{std::string("the manifest's term is not a count")};
    m.cp_timestamp = ts->to_number<double>();
    if (!std::isfinite(m.cp_timestamp))
        return failure{std::string("the manifest's cp_timestamp is not a number")};
    // A signer of an earlier release may have written a timestamp that reads back one unit off:
    // take the value it stands for, which re-encodes unchanged (the signature covers the bytes).
    m.cp_timestamp = canonical_timestamp(m.cp_timestamp);
    m.encrypted = enc->as_bool();
    m.signed_at = at->as_int64();
    return m;
}

std::string signature_key(std::string_view config_key, std::string_view object_sha256) {
    const auto slash = config_key.rfind('/');
    const auto dir = slash == std::string_view::npos ? std::string_view() : config_key.substr(0, slash);
    return join_key(join_key(dir, "signatures"), std::string(object_sha256) + ".sig");
}

std::string make_signature_object(backup_manifest m, const ed25519::private_key& key) {
    m.key_id = key.public_part().id();
    m.cp_timestamp = canonical_timestamp(m.cp_timestamp);
    std::string out = encode_manifest(m);
    out.push_back('\n');
    const auto sig = key.sign(out);
    out += base64_encode(sig);
    out.push_back('\n');
    return out;
}

result<signature_object, std::string> parse_signature_object(std::string_view bytes) {
    if (bytes.size() > max_signature_object_size)
        return failure{
            fmt::format("the signature object is larger than {} bytes", max_signature_object_size)};
    const auto nl = bytes.find('\n');
    if (nl == std::string_view::npos || bytes.back() != '\n' || bytes.find('\n', nl + 1) != bytes.size() - 1)
        return failure{std::string("the signature object is not two lines (manifest, signature)")};
    signature_object out;
    out.signed_line = std::string(bytes.substr(0, nl + 1));
    const auto b64 = bytes.substr(nl + 1, bytes.size() - nl - 2);
    if (!base64_decode(b64, out.signature) || out.signature.size() != ed25519::signature_size)
        return failure{std::string("the signature line is not a base64 Ed25519 signature")};
    auto m = decode_manifest(bytes.substr(0, nl));
    if (!m)
        return failure{m.error()};
    out.manifest = std::move(m).value();
    return out;
}

} // namespace lifeboat::backends
