// Fuzz target: a bare config_table as the cache and the fallback import read it, both ways the
// agent reads one: the whole text (protocol::snapshot_from_config_table) and the streaming SAX
// validator fed in pieces (protocol::config_table_reader, as a download arrives). The two must
// agree: same verdict, same text, same hash; a refusal is one non-empty line.
//
// Input: one byte choosing the piece sizes, then the JSON text.
#include "protocol/envelope.hpp"
#include "test/fuzz/fuzz_input.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace {

void check_one_line(const std::string& reason) {
    if (reason.empty() || reason.find('\n') != std::string::npos)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace lifeboat;
    fuzz::input in(data, size);
    const unsigned split = in.byte();
    const std::string_view text = in.rest();

    auto whole = protocol::snapshot_from_config_table(std::string(text), protocol::config_source::fallback);

    // Pieces of 1..16 bytes, or of 1..4096 bytes, following the selector so that the fuzzer can
    // move a boundary into a key, an escape or a number.
    protocol::config_table_reader reader(split & 1 ? text.size() : 0);
    const std::size_t step = (split & 0x80) ? 1 + (split & 0x0f) : 1 + (std::size_t(split) << 4);
    bool fed_ok = true;
    for (std::size_t pos = 0; pos < text.size() && fed_ok; pos += step) {
        fed_ok = reader.feed(text.substr(pos, step));
        if (!fed_ok)
            check_one_line(reader.error());
    }
    if (!fed_ok) {
        if (whole)
            std::abort(); // the streaming reader refused what the whole-text reader accepted
        return 0;
    }
    if (reader.size() != text.size())
        std::abort();
    auto table = reader.finish();
    if (bool(whole) != bool(table))
        std::abort(); // the two readers disagree
    if (!table) {
        check_one_line(table.error());
        check_one_line(whole.error());
        return 0;
    }
    auto streamed = protocol::snapshot_from_validated(std::move(*table), protocol::config_source::fallback);
    if (!streamed)
        std::abort();
    if ((*streamed)->config_json != (*whole)->config_json || (*streamed)->hash != (*whole)->hash ||
        !protocol::is_config_hash((*whole)->hash))
        std::abort();
    return 0;
}
