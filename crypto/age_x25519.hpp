// The age v1 X25519 recipient stanza: "-> X25519 <base64 ephemeral share>" and a body holding the
// file key sealed with ChaCha20-Poly1305 under
//   HKDF-SHA256(ikm = X25519(ephemeral, recipient), salt = share || recipient,
//   "age-encryption.org/v1/X25519").
#pragma once

#include "base/result.hpp"
#include "crypto/age.hpp"
#include "crypto/age_header.hpp"
#include "crypto/primitives.hpp"

#include <optional>
#include <string>

namespace lifeboat::crypto::age_format {

inline constexpr std::string_view x25519_stanza_type = "X25519";

// A stanza wrapping `key` for `recipient`, under a fresh ephemeral key.
stanza wrap_x25519(const file_key& key, const age_recipient& recipient);
// The same with a given ephemeral secret (known-answer tests).
stanza wrap_x25519(const file_key& key, const age_recipient& recipient, const key32& ephemeral_secret);

// nullopt: the stanza is not for this identity (another type, or sealed for another key).
// An error: an X25519 stanza that is malformed, which the spec makes fatal.
result<std::optional<file_key>, std::string> unwrap_x25519(const stanza& s, const age_identity& identity);

} // namespace lifeboat::crypto::age_format
