#include "protocol/kong_hash.hpp"

#include "base/digest.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace lifeboat::protocol {
namespace json = boost::json;

void append_lua_number(std::string& out, double v) {
    if (std::isnan(v)) {
        out.append(std::signbit(v) ? "-nan" : "nan");
        return;
    }
    if (std::isinf(v)) {
        out.append(v < 0 ? "-inf" : "inf");
        return;
    }
    // "%.14g" prints an integer below 1e14 in plain digits; most numbers in a config (ports,
    // timeouts, epoch timestamps) take this fast path. -0.0 prints as "-0" and takes the slow one.
    if (std::fabs(v) < 1e14 && v == std::trunc(v) && !(v == 0 && std::signbit(v))) {
        const fmt::format_int digits(static_cast<long long>(v));
        out.append(digits.data(), digits.size());
        return;
    }
    char buffer[40];
    const int n = std::snprintf(buffer, sizeof buffer, "%.14g", v);
    out.append(buffer, static_cast<std::size_t>(n));
}

std::string lua_number(double v) {
    std::string s;
    append_lua_number(s, v);
    return s;
}

namespace {

// Kong's buffer, materialised (for kong_sorted_string).
class string_sink {
public:
    void put(std::string_view s) { buffer_.append(s); }
    std::size_t size() const { return buffer_.size(); }
    void compact() { buffer_ = md5(buffer_); }
    std::string take() { return std::move(buffer_); }

private:
    std::string buffer_;
};

// Kong's buffer, streamed into MD5: only its length is tracked. A compaction finishes the
// digest and starts a new one that begins with the 16 raw bytes, exactly what md5(buffer)
// would see. Small writes are staged so EVP_DigestUpdate runs on 64 KiB blocks.
class md5_sink {
public:
    md5_sink() : stage_(std::make_unique<char[]>(stage_size)) {}

    void put(std::string_view s) {
        length_ += s.size();
        if (s.size() > stage_size - used_) {
            flush();
            if (s.size() >= stage_size) {
                md5_.update(s);
                return;
            }
        }
        std::memcpy(stage_.get() + used_, s.data(), s.size());
        used_ += s.size();
    }
    std::size_t size() const { return length_; }
    void compact() {
        flush();
        const std::string bin = md5_.finish();
        md5_.reset();
        md5_.update(bin);
        length_ = bin.size();
    }
    std::string finish_hex() {
        flush();
        return md5_.finish_hex();
    }

private:
    static constexpr std::size_t stage_size = 64 * 1024;
    void flush() {
        md5_.update(stage_.get(), used_);
        used_ = 0;
    }
    digest md5_{digest_kind::md5};
    std::unique_ptr<char[]> stage_;
    std::size_t used_ = 0;
    std::size_t length_ = 0;
};

// The five sections calculate_config_hash hashes on their own, in Kong's order.
constexpr std::array<std::string_view, 5> section_names = {"routes", "services", "plugins", "upstreams",
                                                           "targets"};

bool is_section_name(std::string_view key) {
    return std::find(section_names.begin(), section_names.end(), key) != section_names.end();
}

template <class Sink>
class sorted_writer {
public:
    explicit sorted_writer(Sink& out) : out_(out) {}

    // to_sorted_string(v, buffer)
    void value(const json::value& v, std::size_t depth = 0) {
        if (out_.size() > kong_hash_compaction_threshold)
            out_.compact();
        switch (v.kind()) {
        case json::kind::null:
            out_.put("/null/");
            break;
        case json::kind::bool_:
            out_.put(v.get_bool() ? "true" : "false");
            break;
        case json::kind::int64:
            number(static_cast<double>(v.get_int64()));
            break;
        case json::kind::uint64:
            number(static_cast<double>(v.get_uint64()));
            break;
        case json::kind::double_:
            number(v.get_double());
            break;
        case json::kind::string:
            out_.put(v.get_string());
            break;
        case json::kind::array:
            array(v.get_array(), depth);
            break;
        case json::kind::object:
            object(v.get_object(), depth, false);
            break;
        }
    }

    // The table left when calculate_config_hash has removed the five sections.
    void rest_of_config(const json::object& o) {
        if (out_.size() > kong_hash_compaction_threshold)
            out_.compact();
        object(o, 0, true);
    }

private:
    void number(double d) {
        number_.clear();
        append_lua_number(number_, d);
        out_.put(number_);
    }

    void array(const json::array& a, std::size_t depth) {
        if (a.empty()) {
            out_.put("{}");
            return;
        }
        // Kong unrolls arrays of up to five items with separators only between them; longer
        // arrays get a ";" after every item.
        if (a.size() <= 5) {
            for (std::size_t i = 0; i < a.size(); ++i) {
                if (i)
                    out_.put(";");
                value(a[i], depth + 1);
            }
        } else {
            for (const auto& item : a) {
                value(item, depth + 1);
                out_.put(";");
            }
        }
    }

    void object(const json::object& o, std::size_t depth, bool skip_sections) {
        if (keys_.size() <= depth)
            keys_.resize(depth + 1);
        auto& keys = keys_[depth];
        keys.clear();
        for (const auto& kv : o)
            if (!skip_sections || !is_section_name(kv.key()))
                keys.push_back(&kv);
        if (keys.empty()) {
            out_.put("{}");
            return;
        }
        // string_view comparison is byte-wise and unsigned, like LuaJIT's string ordering.
        std::sort(keys.begin(), keys.end(), [](const json::key_value_pair* a, const json::key_value_pair* b) {
            return a->key() < b->key();
        });
        for (const auto* kv : keys) {
            out_.put(kv->key());
            out_.put(":");
            value(kv->value(), depth + 1);
            out_.put(";");
        }
    }

    Sink& out_;
    std::vector<std::vector<const json::key_value_pair*>> keys_; // one scratch list per depth
    std::string number_;
};

std::string hash_value(const json::value& v) {
    md5_sink sink;
    sorted_writer<md5_sink>(sink).value(v);
    return sink.finish_hex();
}

} // namespace

std::string kong_sorted_string(const json::value& v) {
    string_sink sink;
    sorted_writer<string_sink>(sink).value(v);
    return sink.take();
}

std::string kong_value_hash(const json::value& v) {
    return hash_value(v);
}

config_hashes kong_config_hashes(const json::object& config_table) {
    std::array<std::string, 5> section_hashes;
    for (std::size_t i = 0; i < section_names.size(); ++i) {
        const auto* section = config_table.if_contains(section_names[i]);
        section_hashes[i] = section ? hash_value(*section) : std::string(empty_config_hash);
    }
    md5_sink rest_sink;
    sorted_writer<md5_sink>(rest_sink).rest_of_config(config_table);
    const std::string rest = rest_sink.finish_hex();

    std::string joined;
    for (const auto& h : section_hashes)
        joined += h;
    joined += rest;

    config_hashes out;
    out.config = md5_hex(joined);
    out.routes = std::move(section_hashes[0]);
    out.services = std::move(section_hashes[1]);
    out.plugins = std::move(section_hashes[2]);
    out.upstreams = std::move(section_hashes[3]);
    out.targets = std::move(section_hashes[4]);
    return out;
}

} // namespace lifeboat::protocol
