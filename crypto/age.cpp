// age_encryptor and age_decryptor: the streaming state around the header and STREAM payload.
#include "crypto/age.hpp"

#include "crypto/age_header.hpp"
#include "crypto/age_stream.hpp"
#include "crypto/age_x25519.hpp"
#include "crypto/primitives.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <algorithm>

namespace lifeboat::crypto {

using namespace age_format;

namespace {

// Room for `more` bytes, growing geometrically: a caller appending every call's output to one
// string must not pay a reallocation (and copy) per call.
void reserve_for(std::string& out, std::size_t more) {
    const auto need = out.size() + more;
    if (out.capacity() < need)
        out.reserve(std::max(need, 2 * out.capacity()));
}

} // namespace

// ---- encryption ----

struct age_encryptor::impl {
    std::string header; // header + payload nonce, written before the first chunk
    bool header_written = false;
    bool finished = false;
    chacha20_poly1305 aead;
    std::uint64_t counter = 0;
    std::string pending; // < 64 KiB, or exactly 64 KiB waiting to learn whether it is the last

    impl(std::string h, const key32& k) : header(std::move(h)), aead(k) {}
    ~impl() { OPENSSL_cleanse(pending.data(), pending.size()); }

    void write_header(std::string& out) {
        if (!header_written) {
            out += header;
            header_written = true;
        }
    }
    void seal(std::string_view chunk, bool last, std::string& out) {
        aead.seal_append(stream_nonce(counter++, last), chunk, out);
    }
};

age_encryptor::age_encryptor(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
age_encryptor::age_encryptor(age_encryptor&&) noexcept = default;
age_encryptor& age_encryptor::operator=(age_encryptor&&) noexcept = default;
age_encryptor::~age_encryptor() = default;

result<age_encryptor, std::string> age_encryptor::create(std::span<const age_recipient> recipients) {
    if (recipients.empty())
        return failure(std::string("age: no recipients"));
    file_key fk{};
    random_bytes(fk);
    std::vector<stanza> stanzas;
    stanzas.reserve(recipients.size());
    try {
        for (const auto& r : recipients)
            stanzas.push_back(wrap_x25519(fk, r));
    } catch (const std::invalid_argument& e) {
        OPENSSL_cleanse(fk.data(), fk.size());
        return failure(std::string(e.what()));
    }
    auto header = serialize(stanzas, fk);
    std::array<std::uint8_t, payload_nonce_size> nonce{};
    random_bytes(nonce);
    header += as_string_view(nonce);
    auto k = payload_key(fk, as_string_view(nonce));
    OPENSSL_cleanse(fk.data(), fk.size());
    auto p = std::make_unique<impl>(std::move(header), k);
    OPENSSL_cleanse(k.data(), k.size());
    p->pending.reserve(chunk_size);
    return age_encryptor(std::move(p));
}

void age_encryptor::update(std::string_view plaintext, std::string& out) {
    auto& s = *impl_;
    if (s.finished)
        throw std::logic_error("age_encryptor::update after finish");
    s.write_header(out);
    if (plaintext.empty())
        return;
    reserve_for(out, plaintext.size() + (plaintext.size() / chunk_size + 2) * chacha20_poly1305::tag_size);
    // Top up the pending chunk; a full one is sealed only once more plaintext shows it is not the last.
    if (!s.pending.empty()) {
        if (s.pending.size() == chunk_size) {
            s.seal(s.pending, false, out);
            s.pending.clear();
        }
        const auto take = std::min(chunk_size - s.pending.size(), plaintext.size());
        s.pending.append(plaintext.substr(0, take));
        plaintext.remove_prefix(take);
        if (plaintext.empty())
            return;
        s.seal(s.pending, false, out);
        s.pending.clear();
    }
    // Whole chunks straight from the caller's buffer, keeping at least one byte back for finish().
    while (plaintext.size() > chunk_size) {
        s.seal(plaintext.substr(0, chunk_size), false, out);
        plaintext.remove_prefix(chunk_size);
    }
    s.pending.assign(plaintext);
}

void age_encryptor::finish(std::string& out) {
    auto& s = *impl_;
    if (s.finished)
        throw std::logic_error("age_encryptor::finish called twice");
    s.write_header(out);
    s.seal(s.pending, true, out);
    OPENSSL_cleanse(s.pending.data(), s.pending.size());
    s.pending.clear();
    s.finished = true;
}

std::uint64_t age_encryptor::encrypted_size(std::uint64_t plaintext_size) const {
    const std::uint64_t chunks = plaintext_size == 0 ? 1 : (plaintext_size + chunk_size - 1) / chunk_size;
    return impl_->header.size() + plaintext_size + chunks * chacha20_poly1305::tag_size;
}

// ---- decryption ----

struct age_decryptor::impl {
    enum class phase { header, nonce, payload, done, failed };

    std::vector<age_identity> identities;
    phase at = phase::header;
    std::string buffer; // header bytes, then the nonce, then at most one sealed chunk + 1 byte
    std::size_t header_scanned = 0;
    std::vector<std::string> stanza_types;
    file_key fk{};
    std::optional<chacha20_poly1305> aead;
    std::uint64_t counter = 0;
    std::string error;
    bool no_identity_matched = false;

    ~impl() { OPENSSL_cleanse(fk.data(), fk.size()); }

    std::optional<std::string> fail(std::string e) {
        at = phase::failed;
        error = std::move(e);
        OPENSSL_cleanse(buffer.data(), buffer.size());
        buffer.clear();
        aead.reset();
        return error;
    }

    std::optional<std::string> read_header() {
        const auto end = find_header_end(buffer, header_scanned, &header_scanned);
        if (end == std::string::npos) {
            if (buffer.size() > max_header_size)
                return fail(fmt::format("age header: longer than {} bytes", max_header_size));
            // A wrong first line is reported as soon as it is visible, not at end of input.
            const auto vl = std::min(buffer.size(), version_line.size() + 1);
            if (std::string_view(buffer).substr(0, vl) !=
                std::string(version_line).append("\n").substr(0, vl))
                return fail(
                    "age header: not an age v1 file (the first line is not \"age-encryption.org/v1\")");
            return std::nullopt;
        }
        auto parsed = parse_header(std::string_view(buffer).substr(0, end));
        if (!parsed)
            return fail(parsed.error());
        for (const auto& st : parsed->stanzas)
            stanza_types.push_back(st.type);
        // The spec: a passphrase (scrypt) stanza must be the file's only one.
        if (stanza_types.size() > 1 &&
            std::find(stanza_types.begin(), stanza_types.end(), "scrypt") != stanza_types.end())
            return fail("age header: an scrypt stanza must be the only one");
        bool matched = false;
        for (const auto& st : parsed->stanzas) {
            for (const auto& id : identities) {
                auto k = unwrap_x25519(st, id);
                if (!k)
                    return fail(k.error());
                if (*k) {
                    fk = **k;
                    matched = true;
                    break;
                }
            }
            if (matched)
                break;
        }
        if (!matched) {
            no_identity_matched = true;
            return fail(fmt::format("age: no identity matched any of the {} recipient stanza{} ({})",
                                    stanza_types.size(), stanza_types.size() == 1 ? "" : "s",
                                    fmt::join(stanza_types, ", ")));
        }
        const auto mac = header_mac(fk, std::string_view(buffer).substr(0, parsed->mac_input_size));
        if (!equal_constant_time(as_string_view(mac), as_string_view(parsed->mac)))
            return fail("age header MAC mismatch (the header was altered)");
        buffer.erase(0, end);
        at = phase::nonce;
        return std::nullopt;
    }

    std::optional<std::string> read_payload(std::string_view in, std::string& out) {
        if (at == phase::nonce) {
            const auto take = std::min(payload_nonce_size - buffer.size(), in.size());
            buffer.append(in.substr(0, take));
            in.remove_prefix(take);
            if (buffer.size() < payload_nonce_size)
                return std::nullopt;
            auto k = payload_key(fk, buffer);
            aead.emplace(k);
            OPENSSL_cleanse(k.data(), k.size());
            buffer.clear();
            at = phase::payload;
        }
        if (at == phase::done) {
            if (!in.empty())
                return fail("age payload: data after the final chunk");
            return std::nullopt;
        }
        // One allocation for what this call releases, not one per chunk.
        reserve_for(out, buffer.size() + in.size());
        // A sealed chunk is known not to be the last once a byte past it has arrived.
        auto process = [&](std::string_view sealed) -> std::optional<std::string> {
            if (aead->open_append(stream_nonce(counter, false), sealed, out)) {
                ++counter;
                return std::nullopt;
            }
            // Tell an appended tail from a forged chunk: a full final chunk followed by more bytes.
            // The final chunk authenticated: its plaintext is released (as the reference
            // implementation does, and the CCTV vectors expect), then the tail is an error.
            if (aead->open_append(stream_nonce(counter, true), sealed, out))
                return fail("age payload: data after the final chunk");
            return fail(fmt::format("age payload: chunk {} failed authentication", counter));
        };
        if (!buffer.empty()) {
            const auto take = std::min(sealed_chunk_size - buffer.size(), in.size());
            buffer.append(in.substr(0, take));
            in.remove_prefix(take);
            if (buffer.size() < sealed_chunk_size || in.empty())
                return std::nullopt; // a whole chunk, but it may still be the last one
            if (auto e = process(buffer))
                return e;
            buffer.clear();
        }
        // Straight from the caller's bytes while more than a chunk is in hand.
        while (in.size() > sealed_chunk_size) {
            if (auto e = process(in.substr(0, sealed_chunk_size)))
                return e;
            in.remove_prefix(sealed_chunk_size);
        }
        buffer.assign(in);
        return std::nullopt;
    }

    std::optional<std::string> finish(std::string& out) {
        switch (at) {
        case phase::failed:
            return error;
        case phase::done:
            return std::nullopt;
        case phase::header:
            return fail(buffer.empty() ? "age: empty input (no header)" : "age header: truncated");
        case phase::nonce:
            return fail("age payload: truncated (no payload nonce)");
        case phase::payload:
            break;
        }
        if (buffer.size() < chacha20_poly1305::tag_size)
            return fail(counter == 0 && buffer.empty() ? "age payload: truncated (no chunks)"
                                                       : "age payload: truncated (no final chunk)");
        if (buffer.size() == chacha20_poly1305::tag_size && counter > 0)
            return fail("age payload: empty final chunk after a full one");
        if (!aead->open_append(stream_nonce(counter, true), buffer, out)) {
            // A full chunk sealed as not-last with nothing after it: the stream was cut.
            // A full one is a valid middle chunk: released, as every earlier chunk was. A short
            // one cannot be a middle chunk: nothing of it is released.
            std::string scratch;
            if (aead->open_append(stream_nonce(counter, false), buffer, scratch)) {
                if (buffer.size() == sealed_chunk_size)
                    out += scratch;
                OPENSSL_cleanse(scratch.data(), scratch.size());
                return fail("age payload: truncated (no final chunk)");
            }
            return fail(fmt::format("age payload: chunk {} failed authentication", counter));
        }
        ++counter;
        buffer.clear();
        at = phase::done;
        return std::nullopt;
    }
};

age_decryptor::age_decryptor(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
age_decryptor::age_decryptor(age_decryptor&&) noexcept = default;
age_decryptor& age_decryptor::operator=(age_decryptor&&) noexcept = default;
age_decryptor::~age_decryptor() = default;

result<age_decryptor, std::string> age_decryptor::create(std::span<const age_identity> identities) {
    if (identities.empty())
        return failure(std::string("age: no identities"));
    auto p = std::make_unique<impl>();
    p->identities.assign(identities.begin(), identities.end());
    return age_decryptor(std::move(p));
}

std::optional<std::string> age_decryptor::update(std::string_view ciphertext, std::string& plaintext_out) {
    auto& s = *impl_;
    if (s.at == impl::phase::failed)
        return s.error;
    // The header is copied in small pieces, so a caller handing over a whole object in one call
    // never has it copied: the payload is read from the caller's buffer.
    constexpr std::size_t header_piece = 4096;
    while (s.at == impl::phase::header && !ciphertext.empty()) {
        const auto take = std::min(header_piece, ciphertext.size());
        s.buffer.append(ciphertext.substr(0, take));
        ciphertext.remove_prefix(take);
        if (auto e = s.read_header())
            return e;
        if (s.at != impl::phase::header) {
            std::string after_header = std::move(s.buffer); // < header_piece bytes
            s.buffer.clear();
            if (auto e = s.read_payload(after_header, plaintext_out))
                return e;
        }
    }
    if (s.at == impl::phase::header)
        return std::nullopt;
    return s.read_payload(ciphertext, plaintext_out);
}

std::optional<std::string> age_decryptor::finish(std::string& plaintext_out) {
    return impl_->finish(plaintext_out);
}

const std::vector<std::string>& age_decryptor::stanza_types() const {
    return impl_->stanza_types;
}
bool age_decryptor::no_identity_matched() const {
    return impl_->no_identity_matched;
}
bool age_decryptor::header_done() const {
    return impl_->at != impl::phase::header &&
           !(impl_->at == impl::phase::failed && impl_->stanza_types.empty());
}

// ---- conveniences ----

result<std::string, std::string> age_encrypt(std::string_view plaintext,
                                             std::span<const age_recipient> recipients) {
    auto enc = age_encryptor::create(recipients);
    if (!enc)
        return failure(enc.error());
    std::string out;
    out.reserve(enc->encrypted_size(plaintext.size()));
    enc->update(plaintext, out);
    enc->finish(out);
    return out;
}

result<std::string, std::string> age_decrypt(std::string_view ciphertext,
                                             std::span<const age_identity> identities) {
    auto dec = age_decryptor::create(identities);
    if (!dec)
        return failure(dec.error());
    std::string out;
    if (auto e = dec->update(ciphertext, out))
        return failure(*e);
    if (auto e = dec->finish(out))
        return failure(*e);
    return out;
}

bool looks_like_age(std::string_view first_bytes) {
    constexpr std::string_view magic = "age-encryption.org/v1\n";
    return first_bytes.starts_with(magic);
}

} // namespace lifeboat::crypto
