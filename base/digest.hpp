// Streaming message digests (SHA-256, MD5) and HMAC-SHA256 on OpenSSL 3, with hex output.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace lifeboat {

enum class digest_kind { sha256, md5 };

// An incremental digest: update() any number of times, then finish(). Algorithms are fetched
// once per process (OpenSSL 3's implicit fetch costs ~0.2 us per call otherwise).
class digest {
public:
    explicit digest(digest_kind kind);
    ~digest();
    digest(digest&&) noexcept;
    digest& operator=(digest&&) noexcept;

    void update(std::string_view bytes);
    void update(const void* data, std::size_t size);
    // Raw digest bytes (32 for SHA-256, 16 for MD5). The object may be reused after reset().
    std::string finish();
    std::string finish_hex();
    void reset();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

std::string sha256(std::string_view bytes);
std::string sha256_hex(std::string_view bytes);
std::string md5(std::string_view bytes);
std::string md5_hex(std::string_view bytes);
std::string hmac_sha256(std::string_view key, std::string_view message);

std::string to_hex(std::string_view bytes);
bool is_lower_hex(std::string_view s, std::size_t length);

std::string base64_encode(std::string_view bytes);
std::string base64url_encode(std::string_view bytes); // no padding, as JWT wants
bool base64_decode(std::string_view text, std::string& out);

} // namespace lifeboat
