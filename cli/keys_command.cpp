// `lifeboat keys generate signing --out DIR`: a new Ed25519 key pair for signed backups.
//   DIR/signing.key.pem  the private key (PKCS#8 PEM, mode 0600): cluster_fallback_config_signing_key
//   DIR/signing.pub.pem  the public key (SPKI PEM): one of cluster_fallback_config_trusted_keys
// Prints the public key and its id.
// `lifeboat keys generate encryption --out DIR`: a new age X25519 identity for encrypted backups.
//   DIR/encryption.key   the identity, as age-keygen writes it (mode 0600):
//                        cluster_fallback_config_decryption_identity on importers
//   DIR/encryption.pub   its recipient (age1...): one of cluster_fallback_config_encryption_recipients
// Prints the recipient. Never overwrites a file (a key in use must not be lost).
#include "base/ed25519.hpp"
#include "base/time_format.hpp"
#include "cli/command.hpp"
#include "crypto/age.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::keys_command {

using namespace lifeboat;

std::string kind;
std::string out_dir;

int fail(const std::string& message) {
    std::fprintf(stderr, "lifeboat keys generate: %s\n", message.c_str());
    return 1;
}

// Creates `path` with `mode` (never replacing a file) and writes `text`, fsynced.
std::optional<std::string> write_new_file(const std::filesystem::path& path, const std::string& text,
                                          mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return path.string() + ": " + std::strerror(errno);
    // The umask may have narrowed `mode`, never widened it; set it exactly anyway.
    bool ok = ::fchmod(fd, mode) == 0;
    std::size_t done = 0;
    while (ok && done < text.size()) {
        const auto n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok)
            done += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!ok) {
        std::filesystem::remove(path);
        return path.string() + ": " + std::strerror(saved);
    }
    return std::nullopt;
}

int generate_encryption(const std::filesystem::path& dir) {
    const auto private_path = dir / "encryption.key";
    const auto public_path = dir / "encryption.pub";
    for (const auto& p : {private_path, public_path})
        if (std::filesystem::exists(p))
            return fail(p.string() + " exists; not replacing a key (move it away first)");
    const auto identity = crypto::age_identity::generate();
    const auto recipient = identity.recipient().to_string();
    if (auto e =
            write_new_file(private_path, identity.to_identity_file(format_iso8601(wall_clock::now())), 0600))
        return fail(*e);
    if (auto e = write_new_file(public_path, recipient + "\n", 0644)) {
        std::filesystem::remove(private_path);
        return fail(*e);
    }
    std::fprintf(stderr,
                 "wrote %s (secret, mode 0600: cluster_fallback_config_decryption_identity on importers)\n"
                 "wrote %s (recipient: cluster_fallback_config_encryption_recipients on exporters)\n",
                 private_path.c_str(), public_path.c_str());
    std::printf("%s\n", recipient.c_str());
    return 0;
}

int run_generate() {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec)
        return fail(out_dir + ": " + ec.message());
    const std::filesystem::path dir(out_dir);
    if (kind == "encryption")
        return generate_encryption(dir);
    const auto private_path = dir / "signing.key.pem";
    const auto public_path = dir / "signing.pub.pem";
    for (const auto& p : {private_path, public_path})
        if (std::filesystem::exists(p))
            return fail(p.string() + " exists; not replacing a key (move it away first)");
    const auto key = ed25519::private_key::generate();
    if (auto e = write_new_file(private_path, key.pem(), 0600))
        return fail(*e);
    const auto pub = key.public_part().pem();
    if (auto e = write_new_file(public_path, pub, 0644)) {
        std::filesystem::remove(private_path);
        return fail(*e);
    }
    std::fprintf(stderr,
                 "wrote %s (private, mode 0600: cluster_fallback_config_signing_key on exporters)\n"
                 "wrote %s (public: cluster_fallback_config_trusted_keys on importers)\n"
                 "key id %s\n",
                 private_path.c_str(), public_path.c_str(), key.public_part().id().c_str());
    std::fputs(pub.c_str(), stdout);
    return 0;
}

const cli::command_registration reg{
    60, [](CLI::App& root) {
        auto* keys = root.add_subcommand("keys", "Key pairs for trusted backups (docs/security.md)");
        keys->require_subcommand(1);
        auto* gen = keys->add_subcommand(
            "generate",
            "Write a new key pair into --out: signing (Ed25519: signing.key.pem, mode 0600, and "
            "signing.pub.pem; prints the public key) or encryption (age X25519: encryption.key, "
            "mode 0600, and encryption.pub; prints the age1... recipient). Never overwrites a file");
        gen->add_option("kind", kind, "signing or encryption")
            ->required()
            ->check(CLI::IsMember({"signing", "encryption"}));
        gen->add_option("--out", out_dir, "The folder for the key files (created if missing)")->required();
        gen->callback([] { cli::set_exit_code(run_generate()); });
    }};

} // namespace lifeboat::cli::keys_command
