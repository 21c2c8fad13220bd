// The server side of RFC 6455 framing, sans-io, for the reference control plane. Beast's server
// answers every ping with a pong that echoes the payload; Kong's CP answers the DP's 32-byte
// hash pings with *empty* pongs and closes with empty close frames, so the reference CP frames
// its own messages. Only what Kong's /v1/outlet uses: no extensions, no fragmentation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lifeboat::protocol::ws {

enum class opcode : std::uint8_t { continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };
const char* to_string(opcode op);

struct frame {
    bool fin = true;
    opcode op = opcode::binary;
    std::string payload; // unmasked
};

enum class parse_status { need_more, frame, error };

// Parses one client frame (clients must mask) from the front of `input`. On `frame`, the first
// `consumed` bytes were that frame. On `error`, `error` says why in one line.
parse_status parse_client_frame(std::string_view input, std::size_t max_payload, frame& out,
                                std::size_t& consumed, std::string& error);

// The header of an unmasked, final server frame carrying `payload_size` bytes.
std::string server_frame_header(opcode op, std::size_t payload_size);
// A whole masked client frame (for tests that speak to the reference CP directly).
std::string client_frame(opcode op, std::string_view payload, bool fin = true);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string accept_key(std::string_view key);

} // namespace lifeboat::protocol::ws
