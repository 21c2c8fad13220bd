// Encryption of backups at rest (issue 12, item 4), as building blocks for the exporter and the
// importer: the backup object is an age v1 file (crypto/age.hpp) that the `age` command reads.
// - Exporter: encrypt_to_file() streams the config into an age file next to the cache, with the
//   object's length and SHA-256 (what a signed manifest names), for put(body_source::from_file()).
// - Importer: decrypting_sink sits between get_streamed() and the config pipeline, so the backup
//   is decrypted, validated and written to the cache in one pass, and only authenticated plaintext
//   ever reaches the pipeline.
// Neither keeps a second whole copy of the config in memory.
#pragma once

#include "agent/backup_trust.hpp"
#include "backends/object_store.hpp"
#include "base/result.hpp"
#include "crypto/age.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::agent {

struct encrypted_object {
    std::filesystem::path path;
    std::uint64_t size = 0;
    std::string sha256_hex; // of the encrypted bytes, as uploaded
};

// Writes `plaintext` encrypted to `recipients` into `path` (created 0600, replaced if present), in
// 64 KiB pieces. The caller removes the file after the upload.
result<encrypted_object, std::string> encrypt_to_file(std::string_view plaintext,
                                                      std::span<const crypto::age_recipient> recipients,
                                                      const std::filesystem::path& path);

// An object_sink that decrypts on the way to `downstream`. Keep it alive while sink() is in use.
class decrypting_sink {
public:
    decrypting_sink(std::span<const crypto::age_identity> identities, backends::object_sink downstream);

    // Hands ciphertext to the decryptor; a decryption error stops the read with that line
    // ("age header MAC mismatch ...", "age payload: chunk 3 failed authentication", ...).
    backends::object_sink sink();
    // After get_streamed() succeeded: releases the last chunk to downstream. An error when the
    // object was cut short or its last chunk forged; downstream must then be discarded.
    std::optional<std::string> finish();
    // The recipient stanza types of the backup's header (for fetch/doctor), once it was read.
    const std::vector<std::string>& stanza_types() const;

private:
    std::vector<crypto::age_identity> identities_;
    backends::object_sink downstream_;
    std::optional<crypto::age_decryptor> decryptor_;
    std::string plaintext_;
    std::vector<std::string> no_stanzas_;
};

// The exporter's side (cluster_fallback_config_encryption_recipients): each upload is encrypted
// into a scratch file, which is uploaded from disk and removed afterwards.
class backup_encryption {
public:
    backup_encryption(std::vector<crypto::age_recipient> recipients, std::filesystem::path scratch)
        : recipients_(std::move(recipients))
        , scratch_(std::move(scratch)) {}
    // The recipients of `s` and a scratch file under its prefix; nullopt when encryption is off.
    static result<std::optional<backup_encryption>, std::string> of(const settings& s);

    // Each seal writes a file of its own, named by `tag` (the exporter numbers them), so that one
    // being sealed ahead (exporter::prepare) never overwrites the file an upload is reading, nor
    // one being removed; remove_scratch() removes it after the upload.
    result<encrypted_object, std::string> seal(std::string_view config, std::string_view tag) const {
        return encrypt_to_file(config, recipients_, scratch_.string() + "." + std::string(tag));
    }
    static void remove_scratch(const std::filesystem::path& path);
    // Scratch files a killed exporter left behind (at start).
    void remove_leftovers() const;
    std::size_t recipient_count() const { return recipients_.size(); }
    // The recipients as `age1...` strings, in order (to tell whether a re-read changed them).
    std::vector<std::string> recipient_list() const {
        std::vector<std::string> out;
        for (const auto& r : recipients_)
            out.push_back(r.to_string());
        return out;
    }

private:
    std::vector<crypto::age_recipient> recipients_;
    std::filesystem::path scratch_;
};

// cluster_fallback_config_decryption_identity: an age identity file (`lifeboat keys generate
// encryption`, or age-keygen's). Errors name the file and the line, never a key.
result<std::vector<crypto::age_identity>, std::string>
load_decryption_identity(const std::filesystem::path& path);

// The importer's decryption step, between the verifier's wrap (which hashes the bytes as stored)
// and the config pipeline: an object that starts with the age header is decrypted with the
// node's identities, anything else passes through as is (a plain backup stays importable while
// encryption is being rolled out; a signed manifest still has to say "plain" for it). Failures
// are refusals with their own reasons, told apart from the pipeline's own errors (invalid JSON).
class backup_decryption {
public:
    explicit backup_decryption(std::span<const crypto::age_identity> identities)
        : identities_(identities.begin(), identities.end()) {}
    backup_decryption(const backup_decryption&) = delete;
    backup_decryption& operator=(const backup_decryption&) = delete;

    // `downstream` behind the decryption. Keep this object alive while the sink is in use.
    backends::object_sink wrap(backends::object_sink downstream);
    // What went wrong while the object streamed in (no identity, not a recipient, damaged).
    const std::optional<refusal>& failure() const { return failure_; }
    // After a complete read: releases the last authenticated chunk downstream. A refusal when the
    // age file was cut short or its last chunk forged; then downstream must be discarded. An
    // error of downstream's own (invalid JSON) is returned in `downstream_error`.
    std::optional<refusal> finish(std::optional<std::string>& downstream_error);

    bool encrypted() const { return mode_ == mode::age; }
    // The recipient stanza types of an encrypted backup's header, once read ("X25519", ...).
    const std::vector<std::string>& stanza_types() const;

private:
    enum class mode { undecided, plain, age };
    std::optional<std::string> decide(std::string_view more);
    std::optional<std::string> fail(refusal_reason reason, std::string detail);
    std::optional<std::string> feed(std::string_view ciphertext);

    std::vector<crypto::age_identity> identities_;
    backends::object_sink downstream_;
    mode mode_ = mode::undecided;
    std::string head_; // the first bytes, until they show whether the object is an age file
    std::optional<crypto::age_decryptor> decryptor_;
    std::string plaintext_;
    std::optional<refusal> failure_;
    std::vector<std::string> no_stanzas_;
};

} // namespace lifeboat::agent
