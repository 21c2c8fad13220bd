// Fuzz target: the age v1 reader (`crypto/age`), which reads what sits in the bucket when backups
// are encrypted. The first byte picks the mode:
//   0..127   the rest is a ciphertext for a fixed identity, decrypted whole and in pieces (sizes
//            from the second byte): both readings agree, on the plaintext or on the error, and
//            an error is one non-empty line;
// Seeds stay small (libFuzzer's max_len follows the largest seed; a 64 KiB chunk per input cut
// the rate a hundredfold): whole chunks and their boundaries are the CCTV vector tests' job.
//   128..191 the rest is a plaintext: encrypted to the identity and decrypted in pieces, it comes
//            back unchanged (the chunk boundaries, the empty and the full last chunk);
//   192..255 the rest is a header alone (parse_header); a refusal is one line.
#include "crypto/age.hpp"
#include "crypto/age_header.hpp"
#include "test/fuzz/fuzz_input.hpp"

#include <cstdlib>
#include <optional>
#include <string>

namespace {

using namespace lifeboat::crypto;

void check_one_line(const std::string& reason) {
    if (reason.empty() || reason.find('\n') != std::string::npos)
        std::abort();
}

const age_identity& identity() {
    // A test key (the C2SP CCTV age vectors' identity): the seeds under corpus/age are
    // encrypted to it, so the fuzzer starts from inputs that pass the header MAC.
    static const age_identity key =
        age_identity::parse("AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0")
            .value();
    return key;
}

// Decrypts `ciphertext` delivered in pieces of `piece` bytes (0: at once). Returns the plaintext,
// or the error with the plaintext released before it.
struct outcome {
    std::string plaintext;
    std::optional<std::string> error;
};
outcome decrypt(std::string_view ciphertext, std::size_t piece) {
    outcome out;
    auto decryptor = age_decryptor::create(std::span(&identity(), 1));
    if (!decryptor)
        std::abort();
    while (!ciphertext.empty()) {
        const auto n = piece == 0 ? ciphertext.size() : std::min(piece, ciphertext.size());
        if ((out.error = decryptor->update(ciphertext.substr(0, n), out.plaintext)))
            return out;
        ciphertext.remove_prefix(n);
    }
    out.error = decryptor->finish(out.plaintext);
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    lifeboat::fuzz::input in(data, size);
    const auto mode = in.byte();
    if (mode < 128) {
        const std::size_t piece = 1 + in.byte() * 97u; // 1 byte up to a few chunks' worth
        const auto whole = decrypt(in.rest(), 0);
        const auto pieces = decrypt(in.rest(), piece);
        if (whole.error.has_value() != pieces.error.has_value())
            std::abort();
        if (whole.error) {
            check_one_line(*whole.error);
            check_one_line(*pieces.error);
            // Released plaintext is authenticated: what one reading released, the other also
            // released (or released more of, when it got further before the failure).
            const auto& shorter = whole.plaintext.size() < pieces.plaintext.size() ? whole : pieces;
            const auto& longer = whole.plaintext.size() < pieces.plaintext.size() ? pieces : whole;
            if (longer.plaintext.compare(0, shorter.plaintext.size(), shorter.plaintext) != 0)
                std::abort();
        } else if (whole.plaintext != pieces.plaintext) {
            std::abort();
        }
    } else if (mode < 192) {
        const std::size_t piece = 1 + in.byte() * 257u;
        const auto recipient = identity().recipient();
        auto ciphertext = age_encrypt(in.rest(), std::span(&recipient, 1));
        if (!ciphertext)
            std::abort();
        const auto back = decrypt(*ciphertext, piece);
        if (back.error || back.plaintext != in.rest())
            std::abort();
    } else {
        if (auto header = age_format::parse_header(in.rest()); !header)
            check_one_line(header.error());
    }
    return 0;
}
