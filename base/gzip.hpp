// Streaming zlib/gzip: inflate with a hard cap on the output (no decompression bombs) and deflate
// with a gzip wrapper. Both work chunk by chunk so that large configs are never held twice.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace lifeboat {

enum class inflate_status {
    more,      // all input consumed, stream not finished yet
    done,      // the end of the compressed stream was reached
    corrupt,   // not zlib/gzip, or damaged
    too_large, // the output would exceed the cap
};

const char* to_string(inflate_status s);

// Accepts gzip or zlib framing (windowBits 15+32, as Kong's DP does).
class inflater {
public:
    // Receives output in chunks of at most 64 KiB; returning false stops inflation (reported as
    // corrupt, so a sink that rejects data stops the whole stream).
    using sink = std::function<bool(std::string_view chunk)>;

    explicit inflater(std::size_t max_output);
    ~inflater();
    inflater(const inflater&) = delete;
    inflater& operator=(const inflater&) = delete;

    inflate_status feed(std::string_view input, const sink& out);
    std::size_t total_out() const { return total_out_; }

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    std::size_t max_output_;
    std::size_t total_out_ = 0;
    bool finished_ = false;
};

// One-shot helpers. inflate_all appends to `out`; it returns `done` on success.
inflate_status inflate_all(std::string_view compressed, std::size_t max_output, std::string& out);

class deflater {
public:
    // level 1..9 (6 is zlib's default); gzip framing when `gzip` is true, zlib framing otherwise.
    explicit deflater(int level = 6, bool gzip = true);
    ~deflater();
    deflater(const deflater&) = delete;
    deflater& operator=(const deflater&) = delete;

    void feed(std::string_view input, std::string& out);
    void finish(std::string& out);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

std::string gzip_compress(std::string_view input, int level = 6);

} // namespace lifeboat
