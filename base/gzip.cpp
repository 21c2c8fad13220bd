#include "base/gzip.hpp"

#include <zlib.h>

#include <stdexcept>

namespace lifeboat {
namespace {
constexpr std::size_t chunk_size = 64 * 1024;
}

const char* to_string(inflate_status s) {
    switch (s) {
    case inflate_status::more:
        return "truncated compressed stream";
    case inflate_status::done:
        return "ok";
    case inflate_status::corrupt:
        return "corrupt compressed data";
    case inflate_status::too_large:
        return "inflated size over the limit";
    }
    return "unknown";
}

struct inflater::impl {
    z_stream zs{};
    impl() {
        if (inflateInit2(&zs, 15 + 32) != Z_OK)
            throw std::runtime_error("inflateInit2 failed");
    }
    ~impl() { inflateEnd(&zs); }
};

inflater::inflater(std::size_t max_output) : impl_(std::make_unique<impl>()), max_output_(max_output) {}
inflater::~inflater() = default;

inflate_status inflater::feed(std::string_view input, const sink& out) {
    if (finished_)
        return input.empty() ? inflate_status::done : inflate_status::corrupt;
    auto& zs = impl_->zs;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    zs.avail_in = static_cast<uInt>(input.size());
    char buffer[chunk_size];
    for (;;) {
        zs.next_out = reinterpret_cast<Bytef*>(buffer);
        zs.avail_out = sizeof buffer;
        const int rc = ::inflate(&zs, Z_NO_FLUSH);
        const std::size_t produced = sizeof buffer - zs.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return inflate_status::corrupt;
        if (produced) {
            total_out_ += produced;
            if (total_out_ > max_output_)
                return inflate_status::too_large;
            if (!out(std::string_view(buffer, produced)))
                return inflate_status::corrupt;
        }
        if (rc == Z_STREAM_END) {
            finished_ = true;
            // Trailing bytes after the stream are not part of any valid frame.
            return zs.avail_in == 0 ? inflate_status::done : inflate_status::corrupt;
        }
        if (zs.avail_in == 0 && zs.avail_out != 0)
            return inflate_status::more;
        if (rc == Z_BUF_ERROR && produced == 0)
            return inflate_status::more;
    }
}

inflate_status inflate_all(std::string_view compressed, std::size_t max_output, std::string& out) {
    inflater inf(max_output);
    return inf.feed(compressed, [&](std::string_view chunk) {
        out.append(chunk);
        return true;
    });
}

struct deflater::impl {
    z_stream zs{};
    impl(int level, bool gzip) {
        if (deflateInit2(&zs, level, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            throw std::runtime_error("deflateInit2 failed");
    }
    ~impl() { deflateEnd(&zs); }

    void run(std::string_view input, std::string& out, int flush) {
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
        zs.avail_in = static_cast<uInt>(input.size());
        for (;;) {
            const std::size_t old = out.size();
            const std::size_t room = std::max<std::size_t>(chunk_size, deflateBound(&zs, zs.avail_in) / 4);
            out.resize(old + room);
            zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
            zs.avail_out = static_cast<uInt>(room);
            const int rc = ::deflate(&zs, flush);
            out.resize(old + room - zs.avail_out);
            if (rc == Z_STREAM_ERROR)
                throw std::runtime_error("deflate failed");
            if (flush == Z_FINISH ? rc == Z_STREAM_END : (zs.avail_in == 0 && zs.avail_out != 0))
                return;
        }
    }
};

deflater::deflater(int level, bool gzip) : impl_(std::make_unique<impl>(level, gzip)) {}
deflater::~deflater() = default;
void deflater::feed(std::string_view input, std::string& out) {
    impl_->run(input, out, Z_NO_FLUSH);
}
void deflater::finish(std::string& out) {
    impl_->run({}, out, Z_FINISH);
}

std::string gzip_compress(std::string_view input, int level) {
    deflater d(level, true);
    std::string out;
    out.reserve(input.size() / 3 + 64);
    d.feed(input, out);
    d.finish(out);
    return out;
}

} // namespace lifeboat
