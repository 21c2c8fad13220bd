// Fuzz target: the signature object a backup carries (`backends/backup_signature`), which anyone
// who can write the bucket can forge: parse_signature_object() on the whole input, and
// decode_manifest() on it as one manifest line. An accepted manifest encodes to a line that
// decodes to the same manifest; a signature object's first line decodes to its manifest; a
// refusal is one non-empty line.
#include "backends/backup_signature.hpp"
#include "test/fuzz/fuzz_input.hpp"

#include <cstdlib>

namespace {

using lifeboat::backends::backup_manifest;

void check_one_line(const std::string& reason) {
    if (reason.empty() || reason.find('\n') != std::string::npos)
        std::abort();
}

bool same(const backup_manifest& a, const backup_manifest& b) {
    return a.node_version == b.node_version && a.config_hash == b.config_hash &&
           a.object_sha256 == b.object_sha256 && a.object_size == b.object_size &&
           a.encrypted == b.encrypted && a.cp_timestamp == b.cp_timestamp && a.signed_at == b.signed_at &&
           a.key_id == b.key_id && a.term == b.term;
}

void check_round_trip(const backup_manifest& m) {
    auto again = lifeboat::backends::decode_manifest(lifeboat::backends::encode_manifest(m));
    if (!again || !same(*again, m))
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace lifeboat;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto object = backends::parse_signature_object(text)) {
        if (object->signature.size() != 64 || object->signed_line.empty() ||
            object->signed_line.back() != '\n')
            std::abort();
        auto line = std::string_view(object->signed_line);
        line.remove_suffix(1);
        auto manifest = backends::decode_manifest(line);
        if (!manifest || !same(*manifest, object->manifest))
            std::abort();
        check_round_trip(object->manifest);
    } else {
        check_one_line(object.error());
    }
    if (auto manifest = backends::decode_manifest(text))
        check_round_trip(*manifest);
    else
        check_one_line(manifest.error());
    return 0;
}
