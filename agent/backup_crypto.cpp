#include "agent/backup_crypto.hpp"

#include "base/atomic_file.hpp"
#include "base/digest.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

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

result<std::optional<backup_encryption>, std::string> backup_encryption::of(const settings& s) {
    if (s.cluster_fallback_config_encryption_recipients.empty())
        return std::optional<backup_encryption>();
    auto recipients = crypto::age_recipient::parse_list(s.cluster_fallback_config_encryption_recipients);
    if (!recipients)
        return failure("cluster_fallback_config_encryption_recipients: " + recipients.error());
    return std::optional<backup_encryption>(
        backup_encryption(std::move(recipients).value(), s.prefix / "fallback-export.age.tmp"));
}

void backup_encryption::remove_scratch(const std::filesystem::path& path) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
}

void backup_encryption::remove_leftovers() const {
    std::error_code ec;
    const auto stem = scratch_.filename().string();
    for (const auto& entry : std::filesystem::directory_iterator(scratch_.parent_path(), ec))
        if (const auto name = entry.path().filename().string(); name.starts_with(stem))
            remove_scratch(entry.path());
}

result<std::vector<crypto::age_identity>, std::string>
load_decryption_identity(const std::filesystem::path& path) {
    auto text = read_whole_file(path, 64 * 1024);
    if (!text)
        return failure(text.error());
    auto ids = crypto::age_identity::parse_identity_file(*text);
    OPENSSL_cleanse(text->data(), text->size());
    if (!ids)
        return failure(path.string() + ": " + ids.error());
    return std::move(ids).value();
}

namespace {
constexpr std::string_view age_magic = "age-encryption.org/v1\n";
}

backends::object_sink backup_decryption::wrap(backends::object_sink downstream) {
    downstream_ = std::move(downstream);
    return {[this](std::optional<std::uint64_t> size) {
                // A (re)started transfer: decide again from its first bytes.
                mode_ = mode::undecided;
                head_.clear();
                decryptor_.reset();
                failure_.reset();
                downstream_.start(size); // the plaintext's size is told only if it stays plain
            },
            [this](std::string_view bytes) -> std::optional<std::string> {
                if (failure_)
                    return failure_->detail;
                if (mode_ == mode::undecided)
                    return decide(bytes);
                if (mode_ == mode::plain)
                    return downstream_.write(bytes);
                return feed(bytes);
            }};
}

std::optional<std::string> backup_decryption::fail(refusal_reason reason, std::string detail) {
    failure_ = refusal{reason, std::move(detail)};
    return failure_->detail;
}

std::optional<std::string> backup_decryption::decide(std::string_view more) {
    const auto take = std::min(age_magic.size() - head_.size(), more.size());
    head_.append(more.substr(0, take));
    more.remove_prefix(take);
    if (head_.size() < age_magic.size() && age_magic.starts_with(head_))
        return std::nullopt; // not yet known
    if (head_ != age_magic) {
        mode_ = mode::plain;
        if (auto e = downstream_.write(head_))
            return e;
        return more.empty() ? std::nullopt : downstream_.write(more);
    }
    mode_ = mode::age;
    if (identities_.empty())
        return fail(refusal_reason::no_identity,
                    "the backup is age-encrypted and cluster_fallback_config_decryption_identity is not set");
    auto d = crypto::age_decryptor::create(identities_);
    if (!d)
        return fail(refusal_reason::decryption_failed, d.error());
    decryptor_.emplace(std::move(*d));
    std::string head = std::move(head_);
    head_.clear();
    if (auto e = feed(head))
        return e;
    return more.empty() ? std::nullopt : feed(more);
}

std::optional<std::string> backup_decryption::feed(std::string_view ciphertext) {
    plaintext_.clear();
    if (auto e = decryptor_->update(ciphertext, plaintext_)) {
        OPENSSL_cleanse(plaintext_.data(), plaintext_.size());
        plaintext_.clear();
        if (decryptor_->no_identity_matched())
            return fail(refusal_reason::not_a_recipient,
                        *e + "; cluster_fallback_config_decryption_identity is not one of the backup's "
                             "recipients");
        return fail(refusal_reason::decryption_failed, *e);
    }
    if (plaintext_.empty())
        return std::nullopt;
    return downstream_.write(plaintext_);
}

std::optional<refusal> backup_decryption::finish(std::optional<std::string>& downstream_error) {
    if (failure_)
        return failure_;
    if (mode_ == mode::undecided) {
        // Shorter than the age header's first line: a (tiny) plain object.
        mode_ = mode::plain;
        if (!head_.empty())
            downstream_error = downstream_.write(head_);
        return std::nullopt;
    }
    if (mode_ == mode::plain)
        return std::nullopt;
    plaintext_.clear();
    if (auto e = decryptor_->finish(plaintext_)) {
        fail(refusal_reason::decryption_failed, *e);
        return failure_;
    }
    if (!plaintext_.empty())
        downstream_error = downstream_.write(plaintext_);
    return std::nullopt;
}

const std::vector<std::string>& backup_decryption::stanza_types() const {
    return decryptor_ ? decryptor_->stanza_types() : no_stanzas_;
}

} // namespace lifeboat::agent
