#include "agent/backup_crypto.hpp"

#include "base/digest.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace lifeboat::agent {

result<encrypted_object, std::string> encrypt_to_file(std::string_view plaintext,
                                                      std::span<const crypto::age_recipient> recipients,
                                                      const std::filesystem::path& path) {
    auto enc = crypto::age_encryptor::create(recipients);
    if (!enc)
        return failure(enc.error());
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return failure("cannot create " + path.string() + ": " + std::strerror(errno));
    encrypted_object out{.path = path};
    digest hash(digest_kind::sha256);
    std::string sealed;
    sealed.reserve(crypto::age_chunk_size + 4096);
    auto flush = [&]() -> std::optional<std::string> {
        hash.update(sealed);
        out.size += sealed.size();
        std::size_t at = 0;
        while (at < sealed.size()) {
            const auto n = ::write(fd, sealed.data() + at, sealed.size() - at);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return "cannot write " + path.string() + ": " + std::strerror(errno);
            at += static_cast<std::size_t>(n);
        }
        sealed.clear();
        return std::nullopt;
    };
    std::optional<std::string> error;
    for (std::size_t at = 0; at < plaintext.size() && !error; at += crypto::age_chunk_size) {
        enc->update(plaintext.substr(at, crypto::age_chunk_size), sealed);
        error = flush();
    }
    if (!error) {
        enc->finish(sealed);
        error = flush();
    }
    if (::close(fd) != 0 && !error)
        error = "cannot write " + path.string() + ": " + std::strerror(errno);
    if (error) {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
        return failure(*error);
    }
    out.sha256_hex = hash.finish_hex();
    return out;
}

decrypting_sink::decrypting_sink(std::span<const crypto::age_identity> identities,
                                 backends::object_sink downstream)
    : identities_(identities.begin(), identities.end())
    , downstream_(std::move(downstream)) {}

backends::object_sink decrypting_sink::sink() {
    return {[this](std::optional<std::uint64_t>) {
                // A (re)started transfer: a fresh decryptor; the plaintext's size is not known.
                auto d = crypto::age_decryptor::create(identities_);
                if (d)
                    decryptor_.emplace(std::move(*d));
                else
                    decryptor_.reset();
                downstream_.start(std::nullopt);
            },
            [this](std::string_view ciphertext) -> std::optional<std::string> {
                if (!decryptor_)
                    return std::string("age: no identities to decrypt with");
                plaintext_.clear();
                if (auto e = decryptor_->update(ciphertext, plaintext_))
                    return e;
                if (plaintext_.empty())
                    return std::nullopt;
                return downstream_.write(plaintext_);
            }};
}

std::optional<std::string> decrypting_sink::finish() {
    if (!decryptor_)
        return std::string("age: nothing was received");
    plaintext_.clear();
    if (auto e = decryptor_->finish(plaintext_))
        return e;
    if (plaintext_.empty())
        return std::nullopt;
    return downstream_.write(plaintext_);
}

const std::vector<std::string>& decrypting_sink::stanza_types() const {
    return decryptor_ ? decryptor_->stanza_types() : no_stanzas_;
}

} // namespace lifeboat::agent
