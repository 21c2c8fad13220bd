#include "protocol/ws_frame.hpp"

#include "base/digest.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <array>
#include <random>

namespace lifeboat::protocol::ws {

const char* to_string(opcode op) {
    switch (op) {
    case opcode::continuation:
        return "continuation";
    case opcode::text:
        return "text";
    case opcode::binary:
        return "binary";
    case opcode::close:
        return "close";
    case opcode::ping:
        return "ping";
    case opcode::pong:
        return "pong";
    }
    return "unknown";
}

parse_status parse_client_frame(std::string_view in, std::size_t max_payload, frame& out,
                                std::size_t& consumed, std::string& error) {
    if (in.size() < 2)
        return parse_status::need_more;
    const auto b0 = static_cast<unsigned char>(in[0]);
    const auto b1 = static_cast<unsigned char>(in[1]);
    if (b0 & 0x70) {
        error = "a frame with reserved bits set (no extension was negotiated)";
        return parse_status::error;
    }
    const unsigned op = b0 & 0x0f;
    if (op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10) {
        error = fmt::format("a frame with the unknown opcode {}", op);
        return parse_status::error;
    }
    if (!(b1 & 0x80)) {
        error = "an unmasked frame (clients must mask)";
        return parse_status::error;
    }
    std::size_t pos = 2;
    std::uint64_t length = b1 & 0x7f;
    if (length == 126) {
        if (in.size() < pos + 2)
            return parse_status::need_more;
        length = std::uint64_t(static_cast<unsigned char>(in[2])) << 8 | static_cast<unsigned char>(in[3]);
        pos += 2;
    } else if (length == 127) {
        if (in.size() < pos + 8)
            return parse_status::need_more;
        length = 0;
        for (int i = 0; i < 8; ++i)
            length = length << 8 | static_cast<unsigned char>(in[2 + i]);
        pos += 8;
        if (length >> 63) {
            error = "a frame length with the top bit set";
            return parse_status::error;
        }
    }
    const bool fin = b0 & 0x80;
    if (op >= 8 && (!fin || length > 125)) {
        error = "a fragmented or oversized control frame";
        return parse_status::error;
    }
    if (length > max_payload) {
        error = fmt::format("a frame of {} bytes, over the {} byte limit", length, max_payload);
        return parse_status::error;
    }
    if (in.size() < pos + 4 + length)
        return parse_status::need_more;
    std::array<unsigned char, 4> mask{};
    for (int i = 0; i < 4; ++i)
        mask[i] = static_cast<unsigned char>(in[pos + i]);
    pos += 4;
    out.fin = fin;
    out.op = static_cast<opcode>(op);
    out.payload.assign(in.substr(pos, length));
    for (std::size_t i = 0; i < out.payload.size(); ++i)
        out.payload[i] = static_cast<char>(static_cast<unsigned char>(out.payload[i]) ^ mask[i % 4]);
    consumed = pos + length;
    return parse_status::frame;
}

namespace {
std::string header(opcode op, std::size_t n, bool fin, bool masked) {
    std::string h;
    h.push_back(static_cast<char>((fin ? 0x80 : 0) | static_cast<unsigned>(op)));
    const unsigned char m = masked ? 0x80 : 0;
    if (n < 126) {
        h.push_back(static_cast<char>(m | n));
    } else if (n <= 0xffff) {
        h.push_back(static_cast<char>(m | 126));
        h.push_back(static_cast<char>(n >> 8));
        h.push_back(static_cast<char>(n & 0xff));
    } else {
        h.push_back(static_cast<char>(m | 127));
        for (int i = 7; i >= 0; --i)
            h.push_back(static_cast<char>((std::uint64_t(n) >> (8 * i)) & 0xff));
    }
    return h;
}
} // namespace

std::string server_frame_header(opcode op, std::size_t payload_size) {
    return header(op, payload_size, true, false);
}

std::string client_frame(opcode op, std::string_view payload, bool fin) {
    std::string f = header(op, payload.size(), fin, true);
    static std::mt19937 rng(std::random_device{}());
    std::array<unsigned char, 4> mask{};
    for (auto& b : mask)
        b = static_cast<unsigned char>(rng());
    f.append(reinterpret_cast<const char*>(mask.data()), 4);
    for (std::size_t i = 0; i < payload.size(); ++i)
        f.push_back(static_cast<char>(static_cast<unsigned char>(payload[i]) ^ mask[i % 4]));
    return f;
}

std::string accept_key(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    const std::string input = std::string(key) + std::string(guid);
    unsigned char sha1[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(input.data(), input.size(), sha1, &len, EVP_sha1(), nullptr);
    return base64_encode(std::string_view(reinterpret_cast<const char*>(sha1), len));
}

} // namespace lifeboat::protocol::ws
