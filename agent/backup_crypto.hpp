// Encryption of backups at rest (issue 12, item 4), as building blocks for the exporter and the
// importer: the backup object is an age v1 file (crypto/age.hpp) that the `age` command reads.
// - Exporter: encrypt_to_file() streams the config into an age file next to the cache, with the
//   object's length and SHA-256 (what a signed manifest names), for put(body_source::from_file()).
// - Importer: decrypting_sink sits between get_streamed() and the config pipeline, so the backup
//   is decrypted, validated and written to the cache in one pass, and only authenticated plaintext
//   ever reaches the pipeline.
// Neither keeps a second whole copy of the config in memory.
#pragma once

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

} // namespace lifeboat::agent
