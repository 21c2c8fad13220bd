// Fuzz target: a reconfigure frame as the data plane receives it from the CP
// (protocol::decode_reconfigure_frame: inflate, SAX-validate the envelope and its config_table,
// Kong's hash when the frame has none).
//
// Input: one selector byte, then the body. Selector bit 0 clear: the body is the frame as it
// came off the wire (gzip/zlib, mostly refused by the inflater: that path gets fuzzed too);
// set: the body is the envelope's JSON, gzipped here, so the mutations reach the JSON validator.
// Bit 1 caps the inflated size at 1 KiB, to fuzz the cap's edge.
#include "base/gzip.hpp"
#include "protocol/envelope.hpp"
#include "protocol/kong_hash.hpp"
#include "test/fuzz/fuzz_input.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace lifeboat;
    fuzz::input in(data, size);
    const auto selector = in.byte();
    protocol::decode_options options;
    if (selector & 2)
        options.max_inflated_size = 1024;
    const std::string frame = (selector & 1) ? gzip_compress(in.rest(), 1) : std::string(in.rest());
    auto snapshot = protocol::decode_reconfigure_frame(frame, options);
    if (!snapshot) {
        if (snapshot.error().empty() || snapshot.error().find('\n') != std::string::npos)
            std::abort(); // every refusal is one non-empty line
        return 0;
    }
    const auto& s = **snapshot;
    // What the agent does next with an accepted config: the table must be a JSON object the
    // fallback path accepts too, and the hash must look like Kong's.
    if (!protocol::is_config_hash(s.hash) || s.config_json.empty() || s.config_json.front() != '{')
        std::abort();
    auto again =
        protocol::snapshot_from_config_table(std::string(s.config_json), protocol::config_source::cache);
    if (!again)
        std::abort(); // a table the frame decoder accepted is refused by the cache reader
    return 0;
}
