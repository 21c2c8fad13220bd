// age_file: encrypts or decrypts one file with lifeboat's streaming age implementation, reading
// and writing in 64 KiB pieces as an upload or download would, so bench/age/run.sh can time it
// against the `age` command doing the same.
//
//   age_file encrypt RECIPIENT IN OUT
//   age_file decrypt IDENTITY_FILE IN OUT
#include "crypto/age.hpp"

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

using namespace lifeboat::crypto;

namespace {

// 64 KiB pieces, as a network read delivers them and as age itself reads: buffers stay small and
// hot (on a VM, first-touch page faults of larger ones cost more than the encryption).
constexpr std::size_t piece = 64 << 10;

bool write_all(int fd, std::string& bytes) {
    std::size_t at = 0;
    while (at < bytes.size()) {
        const auto n = ::write(fd, bytes.data() + at, bytes.size() - at);
        if (n < 0)
            return false;
        at += static_cast<std::size_t>(n);
    }
    bytes.clear();
    return true;
}

int fail(const std::string& what) {
    std::fprintf(stderr, "age_file: %s\n", what.c_str());
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 5)
        return fail("usage: age_file encrypt RECIPIENT IN OUT | decrypt IDENTITY_FILE IN OUT");
    const std::string mode = argv[1];
    const int in = ::open(argv[3], O_RDONLY);
    const int out = ::open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0)
        return fail(std::string("cannot open: ") + std::strerror(errno));
    std::string buf(piece, '\0');
    std::string produced;
    produced.reserve(piece + piece / 16);
    if (mode == "encrypt") {
        auto r = age_recipient::parse(argv[2]);
        if (!r)
            return fail(r.error());
        auto enc = age_encryptor::create(std::span(&*r, 1));
        if (!enc)
            return fail(enc.error());
        while (true) {
            const auto n = ::read(in, buf.data(), buf.size());
            if (n < 0)
                return fail("read failed");
            if (n == 0)
                break;
            enc->update(std::string_view(buf.data(), static_cast<std::size_t>(n)), produced);
            if (!write_all(out, produced))
                return fail("write failed");
        }
        enc->finish(produced);
    } else if (mode == "decrypt") {
        std::ifstream f(argv[2]);
        std::stringstream ss;
        ss << f.rdbuf();
        auto ids = age_identity::parse_identity_file(ss.str());
        if (!ids)
            return fail(ids.error());
        auto dec = age_decryptor::create(*ids);
        if (!dec)
            return fail(dec.error());
        while (true) {
            const auto n = ::read(in, buf.data(), buf.size());
            if (n < 0)
                return fail("read failed");
            if (n == 0)
                break;
            if (auto e = dec->update(std::string_view(buf.data(), static_cast<std::size_t>(n)), produced))
                return fail(*e);
            if (!write_all(out, produced))
                return fail("write failed");
        }
        if (auto e = dec->finish(produced))
            return fail(*e);
    } else {
        return fail("mode must be encrypt or decrypt");
    }
    if (!write_all(out, produced) || ::close(out) != 0)
        return fail("write failed");
    return 0;
}
