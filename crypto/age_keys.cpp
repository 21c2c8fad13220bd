// age_recipient and age_identity: the Bech32 key encodings and identity files.
#include "crypto/age.hpp"
#include "crypto/bech32.hpp"
#include "crypto/primitives.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

namespace lifeboat::crypto {
namespace {

constexpr std::string_view recipient_hrp = "age";
constexpr std::string_view identity_hrp = "age-secret-key-";

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

} // namespace

result<age_recipient, std::string> age_recipient::parse(std::string_view text) {
    if (!text.starts_with("age1"))
        return failure(std::string("not an age1 recipient (an X25519 recipient starts with \"age1\")"));
    auto d = bech32::decode(text);
    if (!d)
        return failure("age recipient: " + d.error());
    if (d->upper_case)
        return failure(std::string("age recipient: must be lower case"));
    if (d->hrp != recipient_hrp)
        return failure(std::string("not an age1 recipient"));
    if (d->bytes.size() != 32)
        return failure(fmt::format("age recipient: {} bytes of key, want 32", d->bytes.size()));
    age_recipient r;
    std::copy(d->bytes.begin(), d->bytes.end(), r.public_key.begin());
    return r;
}

result<std::vector<age_recipient>, std::string> age_recipient::parse_list(std::string_view text) {
    std::vector<age_recipient> out;
    std::size_t index = 0;
    while (true) {
        const auto comma = text.find(',');
        const auto item = trim(text.substr(0, comma));
        ++index;
        if (item.empty())
            return failure(fmt::format("recipient {} is empty", index));
        auto r = parse(item);
        if (!r)
            return failure(fmt::format("recipient {}: {}", index, r.error()));
        out.push_back(*r);
        if (comma == std::string_view::npos)
            break;
        text.remove_prefix(comma + 1);
    }
    return out;
}

std::string age_recipient::to_string() const {
    return bech32::encode(recipient_hrp, public_key);
}

age_identity::~age_identity() {
    OPENSSL_cleanse(secret_.data(), secret_.size());
}

result<age_identity, std::string> age_identity::parse(std::string_view text) {
    // Error messages never quote the text: it may be a (mistyped) secret key.
    if (!text.starts_with("AGE-SECRET-KEY-1"))
        return failure(std::string("not an age X25519 identity (want AGE-SECRET-KEY-1...)"));
    auto d = bech32::decode(text);
    if (!d)
        return failure("age identity: " + d.error());
    if (d->hrp != identity_hrp)
        return failure(std::string("not an age X25519 identity"));
    if (d->bytes.size() != 32) {
        OPENSSL_cleanse(d->bytes.data(), d->bytes.size());
        return failure(fmt::format("age identity: {} bytes of key, want 32", d->bytes.size()));
    }
    age_identity id;
    std::copy(d->bytes.begin(), d->bytes.end(), id.secret_.begin());
    OPENSSL_cleanse(d->bytes.data(), d->bytes.size());
    id.public_ = x25519_public_key(id.secret_);
    return id;
}

result<std::vector<age_identity>, std::string> age_identity::parse_identity_file(std::string_view text) {
    std::vector<age_identity> out;
    std::size_t line_no = 0;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        auto line = trim(text.substr(0, nl));
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        ++line_no;
        if (line.empty() || line.front() == '#')
            continue;
        auto id = parse(line);
        if (!id)
            return failure(fmt::format("identity file line {}: {}", line_no, id.error()));
        out.push_back(std::move(*id));
    }
    if (out.empty())
        return failure(std::string("identity file holds no AGE-SECRET-KEY-1 key"));
    return out;
}

age_identity age_identity::generate() {
    age_identity id;
    random_bytes(id.secret_);
    id.public_ = x25519_public_key(id.secret_);
    return id;
}

age_recipient age_identity::recipient() const {
    age_recipient r;
    r.public_key = public_;
    return r;
}

std::string age_identity::to_string() const {
    return bech32::encode(identity_hrp, secret_, true);
}

std::string age_identity::to_identity_file(std::string_view created_rfc3339) const {
    return fmt::format("# created: {}\n# public key: {}\n{}\n", created_rfc3339, recipient().to_string(),
                       to_string());
}

} // namespace lifeboat::crypto
