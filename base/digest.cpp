#include "base/digest.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

namespace lifeboat {
namespace {

const EVP_MD* fetched(digest_kind kind) {
    static EVP_MD* sha = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    static EVP_MD* md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
    const EVP_MD* md = kind == digest_kind::sha256 ? sha : md5;
    if (!md)
        throw std::runtime_error("OpenSSL cannot provide the digest algorithm");
    return md;
}

} // namespace

struct digest::impl {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const EVP_MD* md = nullptr;
    ~impl() { EVP_MD_CTX_free(ctx); }
};

digest::digest(digest_kind kind) : impl_(std::make_unique<impl>()) {
    impl_->md = fetched(kind);
    reset();
}
digest::~digest() = default;
digest::digest(digest&&) noexcept = default;
digest& digest::operator=(digest&&) noexcept = default;

void digest::reset() {
    if (EVP_DigestInit_ex(impl_->ctx, impl_->md, nullptr) != 1)
        throw std::runtime_error("EVP_DigestInit_ex failed");
}

void digest::update(std::string_view bytes) {
    update(bytes.data(), bytes.size());
}

void digest::update(const void* data, std::size_t size) {
    if (size && EVP_DigestUpdate(impl_->ctx, data, size) != 1)
        throw std::runtime_error("EVP_DigestUpdate failed");
}

std::string digest::finish() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(impl_->ctx, out, &len) != 1)
        throw std::runtime_error("EVP_DigestFinal_ex failed");
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::string digest::finish_hex() {
    return to_hex(finish());
}

std::string sha256(std::string_view bytes) {
    digest d(digest_kind::sha256);
    d.update(bytes);
    return d.finish();
}
std::string sha256_hex(std::string_view bytes) {
    return to_hex(sha256(bytes));
}

std::string md5(std::string_view bytes) {
    digest d(digest_kind::md5);
    d.update(bytes);
    return d.finish();
}
std::string md5_hex(std::string_view bytes) {
    return to_hex(md5(bytes));
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(fetched(digest_kind::sha256), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len))
        throw std::runtime_error("HMAC-SHA256 failed");
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(bytes.size() * 2, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        out[2 * i] = digits[b >> 4];
        out[2 * i + 1] = digits[b & 0xf];
    }
    return out;
}

bool is_lower_hex(std::string_view s, std::size_t length) {
    if (s.size() != length)
        return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    return true;
}

std::string base64_encode(std::string_view bytes) {
    static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                           (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                           static_cast<unsigned char>(bytes[i + 2]);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += table[v & 63];
    }
    if (i + 1 == bytes.size()) {
        const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == bytes.size()) {
        const unsigned v =
            (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::string base64url_encode(std::string_view bytes) {
    std::string s = base64_encode(bytes);
    while (!s.empty() && s.back() == '=')
        s.pop_back();
    for (char& c : s) {
        if (c == '+')
            c = '-';
        else if (c == '/')
            c = '_';
    }
    return s;
}

bool base64_decode(std::string_view text, std::string& out) {
    out.clear();
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+' || c == '-')
            v = 62;
        else if (c == '/' || c == '_')
            v = 63;
        else if (c == '=' || c == '\n' || c == '\r')
            continue;
        else
            return false;
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xff));
        }
    }
    return true;
}

} // namespace lifeboat
