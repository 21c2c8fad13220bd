// Ed25519 keys on OpenSSL 3: PEM files in and out (the formats `openssl pkeyutl` and
// `openssl genpkey -algorithm ed25519` use), signatures over whole messages (PureEdDSA, as
// `openssl pkeyutl -sign -rawin` makes them), and a short key id for logs and manifests.
#pragma once

#include "base/result.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace lifeboat::ed25519 {

inline constexpr std::size_t signature_size = 64;

class public_key {
public:
    // A PEM "PUBLIC KEY" (SubjectPublicKeyInfo) holding an Ed25519 key.
    static result<public_key, std::string> from_pem(std::string_view pem);
    static result<public_key, std::string> load(const std::filesystem::path& path);

    bool verify(std::string_view message, std::string_view signature) const;
    // The first 16 hex digits of the SHA-256 of the raw 32-byte key: names the key in manifests,
    // logs and status without being a secret.
    const std::string& id() const { return id_; }
    std::string pem() const;

private:
    struct holder;
    std::shared_ptr<holder> key_;
    std::string id_;
};

class private_key {
public:
    // A PEM "PRIVATE KEY" (PKCS#8, unencrypted) holding an Ed25519 key.
    static result<private_key, std::string> from_pem(std::string_view pem);
    static result<private_key, std::string> load(const std::filesystem::path& path);
    static private_key generate();

    std::string sign(std::string_view message) const; // 64 bytes
    const public_key& public_part() const { return public_; }
    std::string pem() const; // secret: only for writing a key file

private:
    struct holder;
    std::shared_ptr<holder> key_;
    public_key public_;
};

} // namespace lifeboat::ed25519
