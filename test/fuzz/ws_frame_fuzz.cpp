// Fuzz target: WebSocket frames from a client, as the reference CP parses them
// (protocol::ws::parse_client_frame). The input is a byte stream holding any number of frames,
// parsed front to back as a server would, with a payload cap taken from the first byte.
// A parsed frame must account for the bytes it consumed; re-framing its payload must parse back
// to the same frame.
#include "protocol/ws_frame.hpp"
#include "test/fuzz/fuzz_input.hpp"

#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace lifeboat::protocol;
    lifeboat::fuzz::input in(data, size);
    const std::size_t max_payload = std::size_t(in.byte()) * 64;
    std::string_view stream = in.rest();
    while (!stream.empty()) {
        ws::frame f;
        std::size_t consumed = 0;
        std::string error;
        const auto status = ws::parse_client_frame(stream, max_payload, f, consumed, error);
        if (status == ws::parse_status::need_more)
            break;
        if (status == ws::parse_status::error) {
            if (error.empty() || error.find('\n') != std::string::npos)
                std::abort();
            break;
        }
        if (consumed < 6 || consumed > stream.size() || f.payload.size() > max_payload ||
            consumed < f.payload.size())
            std::abort();
        // Our own encoder's frame of the same message must parse back to it.
        const std::string again = ws::client_frame(f.op, f.payload, f.fin);
        ws::frame g;
        std::size_t used = 0;
        if (ws::parse_client_frame(again, max_payload, g, used, error) != ws::parse_status::frame ||
            used != again.size() || g.payload != f.payload || g.op != f.op || g.fin != f.fin)
            std::abort();
        stream.remove_prefix(consumed);
    }
    return 0;
}
