#include "base/ed25519.hpp"

#include "base/atomic_file.hpp"
#include "base/digest.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdexcept>

namespace lifeboat::ed25519 {
namespace {

struct pkey_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

struct bio_free {
    void operator()(BIO* b) const { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;

struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// A PEM key is small; read_whole_file refuses anything that is not a regular file (a FIFO would
// block start-up) or is larger than that.
result<std::string, std::string> read_small_file(const std::filesystem::path& path) {
    return read_whole_file(path, 64 * 1024);
}

std::string key_id(EVP_PKEY* key) {
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof raw)
        throw std::runtime_error("EVP_PKEY_get_raw_public_key failed");
    return sha256_hex(std::string_view(reinterpret_cast<const char*>(raw), len)).substr(0, 16);
}

std::string write_pem(EVP_PKEY* key, bool private_part) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    const int ok = private_part
                       ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                       : PEM_write_bio_PUBKEY(bio.get(), key);
    if (ok != 1)
        throw std::runtime_error("PEM_write_bio failed");
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

} // namespace

struct public_key::holder {
    pkey_ptr key;
};
struct private_key::holder {
    pkey_ptr key;
};

result<public_key, std::string> public_key::from_pem(std::string_view pem) {
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    pkey_ptr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    if (!key)
        return failure{std::string("not a PEM public key (expected -----BEGIN PUBLIC KEY-----)")};
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519)
        return failure{std::string("a public key, but not an Ed25519 one")};
    public_key out;
    out.id_ = key_id(key.get());
    out.key_ = std::make_shared<holder>(holder{std::move(key)});
    return out;
}

result<public_key, std::string> public_key::load(const std::filesystem::path& path) {
    auto text = read_small_file(path);
    if (!text)
        return failure{text.error()};
    auto key = from_pem(*text);
    if (!key)
        return failure{path.string() + ": " + key.error()};
    return key;
}

bool public_key::verify(std::string_view message, std::string_view signature) const {
    if (!key_ || signature.size() != signature_size)
        return false;
    std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_->key.get()) != 1) {
        ERR_clear_error();
        return false;
    }
    const int r = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                   signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                                   message.size());
    ERR_clear_error();
    return r == 1;
}

std::string public_key::pem() const {
    return write_pem(key_->key.get(), false);
}

result<private_key, std::string> private_key::from_pem(std::string_view pem) {
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    // No passphrase callback: an encrypted key file fails here instead of prompting.
    pkey_ptr key(PEM_read_bio_PrivateKey(
        bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
    ERR_clear_error();
    if (!key)
        return failure{
            std::string("not an unencrypted PEM private key (expected -----BEGIN PRIVATE KEY-----)")};
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519)
        return failure{std::string("a private key, but not an Ed25519 one")};
    private_key out;
    // The public half, through its PEM: one code path builds every public_key.
    auto pub = public_key::from_pem(write_pem(key.get(), false));
    if (!pub)
        return failure{pub.error()};
    out.public_ = std::move(pub).value();
    out.key_ = std::make_shared<holder>(holder{std::move(key)});
    return out;
}

result<private_key, std::string> private_key::load(const std::filesystem::path& path) {
    auto text = read_small_file(path);
    if (!text)
        return failure{text.error()};
    auto key = from_pem(*text);
    // The message never quotes the file: it is a secret.
    if (!key)
        return failure{path.string() + ": " + key.error()};
    return key;
}

private_key private_key::generate() {
    pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    if (!key)
        throw std::runtime_error("Ed25519 key generation failed");
    auto out = from_pem(write_pem(key.get(), true));
    if (!out)
        throw std::runtime_error("Ed25519 key generation: " + out.error());
    return std::move(out).value();
}

std::string private_key::sign(std::string_view message) const {
    std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_->key.get()) != 1)
        throw std::runtime_error("EVP_DigestSignInit failed");
    std::string sig(signature_size, '\0');
    std::size_t len = sig.size();
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
        len != signature_size)
        throw std::runtime_error("EVP_DigestSign failed");
    return sig;
}

std::string private_key::pem() const {
    return write_pem(key_->key.get(), true);
}

} // namespace lifeboat::ed25519
