// age v1 (https://age-encryption.org/v1) encryption to X25519 recipients, streaming both ways, so
// that an encrypted config never needs a second whole copy in memory. Interoperable with the `age`
// command: what age_encryptor writes, `age -d -i key.txt` reads, and age_decryptor reads what
// `age -r age1...` / `age -R recipients.txt` writes. Only X25519 recipient stanzas are produced or
// unwrapped; a file whose stanzas are all of another type (scrypt, ssh-ed25519, plugins) is refused
// with "no identity matched". No ASCII armor.
//
// Secrets: an age_identity and a running encryptor/decryptor hold key material; it is wiped on
// destruction. age_identity::to_string() is the secret key itself: never log it.
#pragma once

#include "base/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::crypto {

// An X25519 public key, written `age1...` (Bech32, lower case).
struct age_recipient {
    std::array<std::uint8_t, 32> public_key{};

    // Accepts exactly one recipient (surrounding whitespace is not trimmed). Errors name the problem,
    // e.g. "not an age1 recipient", "bad Bech32 checksum".
    static result<age_recipient, std::string> parse(std::string_view text);
    // A comma-separated list, as in cluster_fallback_config_encryption_recipients (spaces around
    // items ignored, empty items refused, at least one required).
    static result<std::vector<age_recipient>, std::string> parse_list(std::string_view text);
    std::string to_string() const;

    friend bool operator==(const age_recipient&, const age_recipient&) = default;
};

// An X25519 private key, written `AGE-SECRET-KEY-1...` (Bech32, upper case). A secret.
class age_identity {
public:
    static result<age_identity, std::string> parse(std::string_view text);
    // An identity file as age-keygen writes it: one key per line, '#' comment lines and blank lines
    // ignored, CRLF accepted. At least one key is required. Errors name the line number, never the key.
    static result<std::vector<age_identity>, std::string> parse_identity_file(std::string_view text);
    // A fresh key from OpenSSL's CSPRNG.
    static age_identity generate();

    age_recipient recipient() const;
    // The secret key in `AGE-SECRET-KEY-1...` form. Never log it.
    std::string to_string() const;
    // The file age-keygen would write: "# created: <RFC 3339>\n# public key: age1...\nAGE-SECRET-KEY-1...\n".
    std::string to_identity_file(std::string_view created_rfc3339) const;

    const std::array<std::uint8_t, 32>& secret_key() const { return secret_; }

    age_identity(const age_identity&) = default;
    age_identity& operator=(const age_identity&) = default;
    age_identity(age_identity&&) noexcept = default;
    age_identity& operator=(age_identity&&) noexcept = default;
    ~age_identity();

private:
    age_identity() = default;
    std::array<std::uint8_t, 32> secret_{};
    std::array<std::uint8_t, 32> public_{}; // cached: recipient() is asked per decryption
};

// Plaintext chunk size of the STREAM payload (the spec's 64 KiB).
inline constexpr std::size_t age_chunk_size = 64 * 1024;

// Encrypts a stream to one or more recipients. Output is appended to `out` as it becomes final:
// the header on the first update() (or finish()), then one sealed chunk per 64 KiB of plaintext.
// At most one chunk of plaintext is buffered inside.
class age_encryptor {
public:
    static result<age_encryptor, std::string> create(std::span<const age_recipient> recipients);

    void update(std::string_view plaintext, std::string& out);
    // Seals the last chunk (possibly empty, for an empty plaintext). Call exactly once; the
    // encryptor is spent afterwards.
    void finish(std::string& out);

    // Bytes of ciphertext for `plaintext_size` bytes of input, header included (for a
    // Content-Length known before the upload starts).
    std::uint64_t encrypted_size(std::uint64_t plaintext_size) const;

    age_encryptor(age_encryptor&&) noexcept;
    age_encryptor& operator=(age_encryptor&&) noexcept;
    ~age_encryptor();

    struct impl;

private:
    explicit age_encryptor(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

// Decrypts a stream with one or more identities. Plaintext is released only from chunks whose
// Poly1305 tag verified; a chunk is held back until the next bytes show whether it is the last
// (so at most one chunk plus a tag of ciphertext is buffered inside).
class age_decryptor {
public:
    static result<age_decryptor, std::string> create(std::span<const age_identity> identities);

    // Feeds ciphertext; appends authenticated plaintext to plaintext_out. Returns a one-line error
    // on the first failure, e.g. "age header: not an age v1 file (...)", "age: no identity matched
    // any of the 2 recipient stanzas (X25519, X25519)", "age header MAC mismatch (the header was
    // altered)", "age payload: chunk 3 failed authentication", "age payload: data after the final
    // chunk". After an error the decryptor is spent and keeps returning it. The whole ciphertext
    // may be passed at once: only the header (and at most one chunk) is copied inside.
    std::optional<std::string> update(std::string_view ciphertext, std::string& plaintext_out);
    // The end of the input: opens the held-back last chunk and appends its plaintext. Fails when
    // the stream was cut short ("age header: truncated", "age payload: truncated (no final
    // chunk)") or the last chunk is forged ("age payload: chunk N failed authentication"; bytes
    // appended after a short last chunk also read as that, as with the age command).
    std::optional<std::string> finish(std::string& plaintext_out);

    // Once the header has been read: the type of each recipient stanza ("X25519", "scrypt", ...),
    // for `lifeboat fetch`/`doctor` to report. Empty before.
    const std::vector<std::string>& stanza_types() const;
    bool header_done() const;
    // The header was well formed but none of its stanzas opened with the identities given (the
    // file is for other recipients), as opposed to a damaged or forged file.
    bool no_identity_matched() const;

    age_decryptor(age_decryptor&&) noexcept;
    age_decryptor& operator=(age_decryptor&&) noexcept;
    ~age_decryptor();

    struct impl;

private:
    explicit age_decryptor(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

// Whole-buffer conveniences over the streaming classes (tests, the CLI, small objects).
result<std::string, std::string> age_encrypt(std::string_view plaintext,
                                             std::span<const age_recipient> recipients);
result<std::string, std::string> age_decrypt(std::string_view ciphertext,
                                             std::span<const age_identity> identities);

// True when the bytes start like an age v1 file ("age-encryption.org/v1\n"), so an importer can
// tell an encrypted object from a plain Kong config before it tries to decrypt it.
bool looks_like_age(std::string_view first_bytes);

} // namespace lifeboat::crypto
