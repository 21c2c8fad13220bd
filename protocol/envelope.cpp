#include "protocol/envelope.hpp"

#include "base/digest.hpp"
#include "base/gzip.hpp"
#include "base/offload.hpp"
#include "protocol/kong_hash.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <sys/mman.h>
#include <system_error>
#include <unordered_set>
#include <vector>

namespace lifeboat::protocol {
namespace json = boost::json;

namespace {

// cjson's default decode depth; Boost.JSON's default (32) would refuse deep plugin configs.
constexpr std::size_t max_json_depth = 1000;

json::parse_options parse_options() {
    json::parse_options o;
    o.max_depth = max_json_depth;
    return o;
}

bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A string for an error message: quoted, cut short, control bytes escaped.
std::string quote_for_error(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s.substr(0, 40)) {
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else
            out.push_back(static_cast<char>(c));
    }
    out += s.size() > 40 ? "...\"" : "\"";
    return out;
}

// A key from the document for an error message: control bytes and backslashes escaped, so that a
// hostile key cannot break the one-line reason (a key "a\nb" arrives decoded, with its newline).
std::string printable_name(std::string_view s) {
    std::string out;
    for (unsigned char c : s.substr(0, 60)) {
        if (c < 0x20 || c == 0x7f || c == '\\')
            out += fmt::format("\\x{:02x}", c);
        else
            out.push_back(static_cast<char>(c));
    }
    if (s.size() > 60)
        out += "...";
    return out;
}

enum class doc_mode { envelope, bare_config };
enum class top_member { other, type, timestamp, config_table, config_hash, hashes };
enum class section_rule { meta, format_version, transform, entity };
enum class value_kind { object, array, string, number, boolean, null };

const char* kind_name(value_kind k) {
    switch (k) {
    case value_kind::object:
        return "an object";
    case value_kind::array:
        return "an array";
    case value_kind::string:
        return "a string";
    case value_kind::number:
        return "a number";
    case value_kind::boolean:
        return "a boolean";
    case value_kind::null:
        return "null";
    }
    return "a value";
}

// SAX handler for Boost.JSON's basic_parser: validates an envelope (or a bare config_table)
// while the parser runs, and finds the byte range of the config_table in the parsed text.
//
// Finding the range: for an unescaped string, the parser hands the handler views into the input
// buffer, and the input buffer is the snapshot storage itself. So the key "config_table" ends
// where its final view ends, and the config_table object ends just before the opening quote of
// the next top-level key (or before the envelope's closing brace). Every position is checked
// against the bytes; if the views came from the parser's own buffer (escaped keys), the caller
// falls back to a scan of the validated text.
class validating_handler {
public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    explicit validating_handler(doc_mode mode) : mode_(mode) {}

    // The bytes the parser may hand out views into (the storage, which can move between chunks).
    void set_window(const char* base, std::size_t size) {
        base_ = base;
        window_ = size;
    }

    // --- results ---
    std::string error; // first validation failure
    std::string type;
    std::optional<std::string> config_hash;
    config_hashes hashes; // members as sent; empty when absent
    double timestamp = 0;
    bool saw_config_table = false;
    bool located = true; // false: the range must be found by scanning
    std::size_t config_begin = 0, config_end = 0;
    bool config_end_pending = false; // the config_table was the envelope's last member

    // --- basic_parser callbacks ---
    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code& ec) {
        if (mode_ == doc_mode::envelope) {
            if (!saw_type_)
                return fail(ec, "no \"type\" member");
            if (!saw_config_table)
                return fail(ec, "no config_table member");
        } else if (!saw_format_version_) {
            return fail(ec, "the config has no _format_version");
        }
        return true;
    }

    bool on_object_begin(json::error_code& ec) {
        if (!begin_value(value_kind::object, ec))
            return false;
        ++depth_;
        if (open_objects_ == object_keys_.size())
            object_keys_.emplace_back();
        object_keys_[open_objects_++].clear();
        return true;
    }
    bool on_object_end(std::size_t, json::error_code& ec) {
        --open_objects_;
        --depth_;
        if (mode_ == doc_mode::envelope && depth_ == 1) {
            if (in_config_) {
                if (!saw_format_version_)
                    return fail(ec, "config_table has no _format_version");
                in_config_ = false;
                config_depth_ = 0;
                config_end_pending = true;
            }
            in_hashes_ = false;
        }
        return true;
    }
    bool on_array_begin(json::error_code& ec) {
        if (!begin_value(value_kind::array, ec))
            return false;
        ++depth_;
        return true;
    }
    bool on_array_end(std::size_t, json::error_code&) {
        --depth_;
        return true;
    }

    bool on_key_part(json::string_view s, std::size_t, json::error_code& ec) {
        return key_piece(s, false, ec);
    }
    bool on_key(json::string_view s, std::size_t, json::error_code& ec) { return key_piece(s, true, ec); }

    bool on_string_part(json::string_view s, std::size_t, json::error_code& ec) {
        if (!string_started_) {
            string_started_ = true;
            if (!begin_value(value_kind::string, ec))
                return false;
        }
        if (capture_)
            append_capped(capture_buffer_, s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t n, json::error_code& ec) {
        if (!on_string_part(s, n, ec))
            return false;
        string_started_ = false;
        if (!capture_)
            return true;
        capture_ = false;
        return string_done(ec);
    }

    bool on_number_part(json::string_view, json::error_code&) { return true; }
    bool on_int64(std::int64_t v, json::string_view, json::error_code& ec) { return number(double(v), ec); }
    bool on_uint64(std::uint64_t v, json::string_view, json::error_code& ec) { return number(double(v), ec); }
    bool on_double(double v, json::string_view, json::error_code& ec) { return number(v, ec); }
    bool on_bool(bool v, json::error_code& ec) {
        if (!begin_value(value_kind::boolean, ec))
            return false;
        (void)v;
        return true;
    }
    bool on_null(json::error_code& ec) { return begin_value(value_kind::null, ec); }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }

private:
    enum class capture_target { none, type, config_hash, hash_member, format_version };

    bool fail(json::error_code& ec, std::string message) {
        if (error.empty())
            error = std::move(message);
        ec = std::make_error_code(std::errc::invalid_argument);
        return false;
    }

    std::optional<std::size_t> offset_of(const char* p) const {
        if (base_ && p >= base_ && p <= base_ + window_)
            return std::size_t(p - base_);
        return std::nullopt;
    }

    static void append_capped(std::string& out, json::string_view s) {
        // Only short strings are captured (type, hashes, _format_version); keep enough of a
        // long one to show in an error.
        const std::size_t room = out.size() < 256 ? 256 - out.size() : 0;
        out.append(s.data(), std::min(room, s.size()));
    }

    // Called before every value with depth_ = the depth of the container holding it.
    bool begin_value(value_kind kind, json::error_code& ec) {
        if (depth_ == 0) {
            if (kind != value_kind::object)
                return fail(ec, fmt::format("{} is {}, not a JSON object",
                                            mode_ == doc_mode::envelope ? "the frame" : "the config",
                                            kind_name(kind)));
            if (mode_ == doc_mode::bare_config)
                config_depth_ = 1;
            return true;
        }
        if (mode_ == doc_mode::envelope && depth_ == 1)
            return top_member_value(kind, ec);
        if (in_hashes_ && depth_ == 2) {
            if (kind != value_kind::string)
                return fail(ec, fmt::format("hashes.{} is {}, not a string", printable_name(hash_member_),
                                            kind_name(kind)));
            start_capture(capture_target::hash_member);
            return true;
        }
        if (config_depth_ != 0 && depth_ == config_depth_)
            return section_value(kind, ec);
        if (config_depth_ != 0 && depth_ == config_depth_ + 1 && rule_ == section_rule::entity) {
            if (section_kind_ == value_kind::object)
                return fail(ec, fmt::format("{}{} is a non-empty object, expected an array", config_prefix(),
                                            section_));
            if (kind != value_kind::object)
                return fail(ec, fmt::format("{}{}[{}] is {}, expected an object", config_prefix(), section_,
                                            element_index_, kind_name(kind)));
            ++element_index_;
            if (++entities_ > max_config_entities)
                return fail(ec, fmt::format("the config has more than {} entities (the limit per config)",
                                            max_config_entities));
        }
        return true;
    }

    bool top_member_value(value_kind kind, json::error_code& ec) {
        switch (top_) {
        case top_member::type:
            if (kind != value_kind::string)
                return fail(ec, fmt::format("\"type\" is {}, not a string", kind_name(kind)));
            start_capture(capture_target::type);
            return true;
        case top_member::config_hash:
            if (kind == value_kind::null)
                return true; // as if absent: the hash is computed
            if (kind != value_kind::string)
                return fail(ec, fmt::format("config_hash is {}, not a string", kind_name(kind)));
            start_capture(capture_target::config_hash);
            return true;
        case top_member::hashes:
            if (kind == value_kind::null)
                return true;
            if (kind != value_kind::object)
                return fail(ec, fmt::format("hashes is {}, not an object", kind_name(kind)));
            in_hashes_ = true;
            return true;
        case top_member::config_table:
            if (kind != value_kind::object)
                return fail(ec, fmt::format("config_table is {}, not an object", kind_name(kind)));
            saw_config_table = true;
            in_config_ = true;
            config_depth_ = 2;
            locate_config_begin();
            return true;
        case top_member::timestamp:
        case top_member::other:
            return true;
        }
        return true;
    }

    bool section_value(value_kind kind, json::error_code& ec) {
        section_kind_ = kind;
        element_index_ = 0;
        switch (rule_) {
        case section_rule::format_version:
            if (kind != value_kind::string)
                return fail(ec, fmt::format("{}_format_version is {}, not a string", config_prefix(),
                                            kind_name(kind)));
            saw_format_version_ = true;
            start_capture(capture_target::format_version);
            return true;
        case section_rule::transform:
            if (kind != value_kind::boolean)
                return fail(
                    ec, fmt::format("{}_transform is {}, not a boolean", config_prefix(), kind_name(kind)));
            return true;
        case section_rule::entity:
            // cjson encodes an empty Lua table as {}, so an empty collection may come as an object.
            if (kind != value_kind::array && kind != value_kind::object)
                return fail(ec, fmt::format("{}{} is {}, expected an array of entities", config_prefix(),
                                            section_, kind_name(kind)));
            return true;
        case section_rule::meta:
            return true;
        }
        return true;
    }

    const char* config_prefix() const { return mode_ == doc_mode::envelope ? "config_table." : ""; }

    bool key_piece(json::string_view s, bool last, json::error_code& ec) {
        const bool first = !key_started_;
        key_started_ = !last;
        if (first)
            full_key_.clear();
        full_key_.append(s.data(), s.size());
        // (The envelope's own members have their own check and message, in key_done.)
        if (last && !(mode_ == doc_mode::envelope && depth_ == 1) &&
            !object_keys_[open_objects_ - 1].insert(full_key_))
            return fail(ec,
                        fmt::format("duplicate key {}{}: Kong would keep only the last one, so the gateway "
                                    "would read something other than what was validated",
                                    quote_for_error(full_key_.substr(0, 200)),
                                    config_depth_ == 0 || depth_ <= config_depth_
                                        ? std::string()
                                        : fmt::format(" in {}{}", config_prefix(), section_)));
        const bool wanted = (mode_ == doc_mode::envelope && depth_ == 1) || (in_hashes_ && depth_ == 2) ||
                            (config_depth_ != 0 && (depth_ == config_depth_ || depth_ == config_depth_ + 1));
        if (first) {
            key_.clear();
            if (mode_ == doc_mode::envelope && depth_ == 1 && config_end_pending)
                locate_config_end_before_key(s.data());
        }
        if (wanted)
            append_capped(key_, s);
        if (!last || !wanted)
            return true;
        return key_done(s, ec);
    }

    bool key_done(json::string_view last_piece, json::error_code& ec) {
        if (mode_ == doc_mode::envelope && depth_ == 1) {
            const auto member = classify(key_);
            if (member != top_member::other) {
                const auto bit = 1u << unsigned(member);
                if (seen_members_ & bit)
                    return fail(ec, fmt::format("duplicate \"{}\" member", key_));
                seen_members_ |= bit;
            }
            top_ = member;
            if (member == top_member::config_table) {
                // The parser's final view of an unescaped key ends at its closing quote.
                const auto end = offset_of(last_piece.data() + last_piece.size());
                if (end && *end < window_ && base_[*end] == '"')
                    config_key_quote_ = *end;
                else
                    located = false;
            }
            return true;
        }
        if (in_hashes_ && depth_ == 2) {
            hash_member_ = key_;
            return true;
        }
        if (config_depth_ != 0 && depth_ == config_depth_) {
            section_ = printable_name(key_); // only ever shown in errors
            if (key_ == "_format_version")
                rule_ = section_rule::format_version;
            else if (key_ == "_transform")
                rule_ = section_rule::transform;
            else if (!key_.empty() && key_[0] == '_')
                rule_ = section_rule::meta;
            else
                rule_ = section_rule::entity;
            return true;
        }
        if (config_depth_ != 0 && depth_ == config_depth_ + 1 && rule_ == section_rule::entity &&
            section_kind_ == value_kind::object)
            return fail(
                ec, fmt::format("{}{} is a non-empty object, expected an array", config_prefix(), section_));
        return true;
    }

    static top_member classify(std::string_view key) {
        if (key == "type")
            return top_member::type;
        if (key == "config_table")
            return top_member::config_table;
        if (key == "config_hash")
            return top_member::config_hash;
        if (key == "hashes")
            return top_member::hashes;
        if (key == "timestamp")
            return top_member::timestamp;
        return top_member::other;
    }

    void start_capture(capture_target target) {
        capture_ = true;
        target_ = target;
        capture_buffer_.clear();
    }

    bool string_done(json::error_code& ec) {
        switch (target_) {
        case capture_target::type:
            saw_type_ = true;
            type = capture_buffer_;
            // Kong ignores anything that is not a reconfigure; stop parsing at once.
            if (type != "reconfigure")
                return fail(ec, fmt::format("type is {}, expected \"reconfigure\"", quote_for_error(type)));
            return true;
        case capture_target::config_hash:
            if (!is_config_hash(capture_buffer_))
                return fail(ec, fmt::format("config_hash {} is not 32 lower-case hex characters",
                                            quote_for_error(capture_buffer_)));
            config_hash = capture_buffer_;
            return true;
        case capture_target::hash_member: {
            std::string* slot = hashes_slot(hash_member_);
            if (!slot)
                return true; // a section Kong does not know: ignored, as Kong does
            if (!is_config_hash(capture_buffer_))
                return fail(ec, fmt::format("hashes.{} {} is not 32 lower-case hex characters", hash_member_,
                                            quote_for_error(capture_buffer_)));
            *slot = capture_buffer_;
            return true;
        }
        case capture_target::format_version:
            if (capture_buffer_.empty())
                return fail(ec, fmt::format("{}_format_version is empty", config_prefix()));
            // Kong's declarative schema (kong/db/schema/others/declarative_config.lua) accepts only
            // these; the gateway would refuse any other, so lifeboat must not call it valid.
            if (capture_buffer_ != "3.0" && capture_buffer_ != "2.1" && capture_buffer_ != "1.1")
                return fail(ec, fmt::format("{}_format_version {} is not one Kong knows (\"3.0\", \"2.1\" or "
                                            "\"1.1\")",
                                            config_prefix(), quote_for_error(capture_buffer_)));
            return true;
        case capture_target::none:
            return true;
        }
        return true;
    }

    std::string* hashes_slot(std::string_view name) {
        if (name == "config")
            return &hashes.config;
        if (name == "routes")
            return &hashes.routes;
        if (name == "services")
            return &hashes.services;
        if (name == "plugins")
            return &hashes.plugins;
        if (name == "upstreams")
            return &hashes.upstreams;
        if (name == "targets")
            return &hashes.targets;
        return nullptr;
    }

    bool number(double v, json::error_code& ec) {
        if (!begin_value(value_kind::number, ec))
            return false;
        if (mode_ == doc_mode::envelope && depth_ == 1 && top_ == top_member::timestamp)
            timestamp = v;
        return true;
    }

    // After the "config_table" key: whitespace, ':', whitespace, then the '{' just consumed.
    void locate_config_begin() {
        if (!config_key_quote_) {
            located = false;
            return;
        }
        std::size_t i = *config_key_quote_ + 1;
        while (i < window_ && is_ws(base_[i]))
            ++i;
        if (i >= window_ || base_[i] != ':') {
            located = false;
            return;
        }
        ++i;
        while (i < window_ && is_ws(base_[i]))
            ++i;
        if (i >= window_ || base_[i] != '{') {
            located = false;
            return;
        }
        config_begin = i;
    }

    // The next top-level key follows the config_table: `} , "key`. Walk back from its quote.
    void locate_config_end_before_key(const char* first_piece) {
        config_end_pending = false;
        const auto at = offset_of(first_piece);
        if (!at || *at == 0 || base_[*at - 1] != '"') {
            located = false;
            return;
        }
        std::size_t i = *at - 1; // the opening quote
        while (i > 0 && is_ws(base_[i - 1]))
            --i;
        if (i == 0 || base_[i - 1] != ',') {
            located = false;
            return;
        }
        --i;
        while (i > 0 && is_ws(base_[i - 1]))
            --i;
        if (i == 0 || base_[i - 1] != '}') {
            located = false;
            return;
        }
        config_end = i;
    }

    // The keys of one open object, to refuse a duplicate: Kong's JSON decoder keeps the last of
    // two equal keys, so a document with both would be validated in one reading and applied in
    // another. Entities have a handful of keys (a linear search); a large object gets a set.
    class key_set {
    public:
        void clear() {
            few_.clear();
            many_.clear();
        }
        // false when `key` was already there.
        bool insert(const std::string& key) {
            if (!many_.empty())
                return many_.insert(key).second;
            if (std::find(few_.begin(), few_.end(), key) != few_.end())
                return false;
            if (few_.size() < linear_limit) {
                few_.push_back(key);
                return true;
            }
            many_.insert(few_.begin(), few_.end());
            few_.clear();
            return many_.insert(key).second;
        }

    private:
        static constexpr std::size_t linear_limit = 32;
        std::vector<std::string> few_;
        std::unordered_set<std::string> many_;
    };
    std::vector<key_set> object_keys_; // one per open object; reused, so entities allocate nothing
    std::size_t open_objects_ = 0;
    std::size_t entities_ = 0;
    std::string full_key_;

    doc_mode mode_;
    const char* base_ = nullptr;
    std::size_t window_ = 0;
    int depth_ = 0;
    top_member top_ = top_member::other;
    unsigned seen_members_ = 0;
    bool saw_type_ = false;
    bool in_hashes_ = false;
    bool in_config_ = false;
    int config_depth_ = 0; // depth of the config_table's members; 0 outside it
    bool saw_format_version_ = false;
    std::optional<std::size_t> config_key_quote_;

    bool key_started_ = false;
    std::string key_;
    std::string hash_member_;
    std::string section_;
    section_rule rule_ = section_rule::meta;
    value_kind section_kind_ = value_kind::null;
    std::size_t element_index_ = 0;

    bool string_started_ = false;
    bool capture_ = false;
    capture_target target_ = capture_target::none;
    std::string capture_buffer_;
};

using validating_parser = json::basic_parser<validating_handler>;

// Feeds bytes that are already in `storage` to the parser; false with `error` set on failure.
bool feed(validating_parser& parser, const std::string& storage, std::size_t& parsed, bool more,
          std::string& error) {
    auto& h = parser.handler();
    h.set_window(storage.data(), storage.size());
    json::error_code ec;
    const std::size_t len = storage.size() - parsed;
    const std::size_t n = parser.write_some(more, storage.data() + parsed, len, ec);
    if (ec) {
        if (!h.error.empty())
            error = h.error;
        else
            error = fmt::format("invalid JSON at byte {}: {}", parsed + n, ec.message());
        return false;
    }
    parsed += n;
    if (n < len) {
        error = fmt::format("invalid JSON at byte {}: unexpected data after the JSON document", parsed);
        return false;
    }
    return true;
}

// The value range of a top-level member in text that is known to be valid JSON. Used only when
// the parser's views could not be tied to the storage (an escaped "config_table" key and the
// like), so simplicity wins over speed here.
class member_scanner {
public:
    explicit member_scanner(std::string_view text) : t_(text) {}

    std::optional<std::pair<std::size_t, std::size_t>> find(std::string_view name) {
        skip_ws();
        if (!eat('{'))
            return std::nullopt;
        for (;;) {
            skip_ws();
            if (i_ >= t_.size() || t_[i_] != '"')
                return std::nullopt;
            const std::size_t key_begin = i_;
            skip_string();
            const std::string key = decode_key(t_.substr(key_begin, i_ - key_begin));
            skip_ws();
            if (!eat(':'))
                return std::nullopt;
            skip_ws();
            const std::size_t value_begin = i_;
            skip_value();
            if (key == name)
                return std::pair{value_begin, i_};
            skip_ws();
            if (!eat(','))
                return std::nullopt;
        }
    }

private:
    static std::string decode_key(std::string_view quoted) {
        json::error_code ec;
        auto v = json::parse(quoted, ec);
        return !ec && v.is_string() ? std::string(v.get_string()) : std::string();
    }
    void skip_ws() {
        while (i_ < t_.size() && is_ws(t_[i_]))
            ++i_;
    }
    bool eat(char c) {
        if (i_ < t_.size() && t_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    void skip_string() {
        ++i_; // opening quote
        while (i_ < t_.size() && t_[i_] != '"')
            i_ += t_[i_] == '\\' ? 2 : 1;
        ++i_;
    }
    void skip_value() {
        if (i_ >= t_.size())
            return;
        if (t_[i_] == '"') {
            skip_string();
            return;
        }
        if (t_[i_] == '{' || t_[i_] == '[') {
            int depth = 0;
            while (i_ < t_.size()) {
                const char c = t_[i_];
                if (c == '"') {
                    skip_string();
                    continue;
                }
                if (c == '{' || c == '[') {
                    ++depth;
                } else if (c == '}' || c == ']') {
                    if (--depth == 0) {
                        ++i_;
                        return;
                    }
                }
                ++i_;
            }
            return;
        }
        while (i_ < t_.size() && t_[i_] != ',' && t_[i_] != '}' && t_[i_] != ']' && !is_ws(t_[i_]))
            ++i_;
    }

    std::string_view t_;
    std::size_t i_ = 0;
};

// The buffer a config's text lives in. A large one is freed on the disk pool: handing 200 MiB of
// pages back to the system takes tens of milliseconds, and the last reference to a config often
// goes on the event loop (a new config replaces it there).
std::shared_ptr<std::string> new_config_buffer() {
    return std::shared_ptr<std::string>(new std::string, [](std::string* text) {
        if (text->capacity() < (std::size_t(4) << 20)) {
            delete text;
            return;
        }
        boost::asio::post(disk_pool(), [text] { delete text; });
    });
}

// A gzip stream ends with ISIZE, the input size mod 2^32: reserve that much (capped) so the
// storage never grows by copying. Nothing relies on it being true, and a peer can write anything
// there: deflate expands at most 1032:1, so a claim beyond that is not believed (a 20-byte frame
// claiming 256 MiB would otherwise reserve 256 MiB).
std::size_t expected_inflated_size(std::string_view frame, std::size_t cap) {
    constexpr std::size_t deflate_max_ratio = 1032;
    cap = std::min(cap, frame.size() * deflate_max_ratio);
    if (frame.size() >= 18 && static_cast<unsigned char>(frame[0]) == 0x1f &&
        static_cast<unsigned char>(frame[1]) == 0x8b) {
        const auto* p = reinterpret_cast<const unsigned char*>(frame.data() + frame.size() - 4);
        const std::size_t isize =
            std::size_t(p[0]) | std::size_t(p[1]) << 8 | std::size_t(p[2]) << 16 | std::size_t(p[3]) << 24;
        return std::min(isize, cap);
    }
    return std::min(frame.size() * 5, cap);
}

result<config_hashes, std::string> hash_config_text(std::string_view text) {
    json::monotonic_resource arena;
    json::error_code ec;
    json::value v = json::parse(text, ec, &arena, parse_options());
    if (ec || !v.is_object())
        return failure(std::string("config_table cannot be parsed for hashing"));
    return kong_config_hashes(v.get_object());
}

void fill_missing(config_hashes& h) {
    for (std::string* s : {&h.config, &h.routes, &h.services, &h.plugins, &h.upstreams, &h.targets})
        if (s->empty())
            *s = std::string(empty_config_hash);
}

} // namespace

bool is_config_hash(std::string_view s) {
    return is_lower_hex(s, 32);
}

result<snapshot_ptr, std::string> decode_reconfigure_frame(std::string_view frame,
                                                           const decode_options& options) {
    if (frame.empty())
        return failure(std::string("empty frame"));

    auto storage = new_config_buffer();
    storage->reserve(expected_inflated_size(frame, options.max_inflated_size) + 1);

    validating_parser parser(parse_options(), doc_mode::envelope);
    std::size_t parsed = 0;
    std::string json_error;
    inflater inflate(options.max_inflated_size);
    // Each inflated chunk (64 KiB) is parsed right after it lands, while it is still in cache.
    const auto status = inflate.feed(frame, [&](std::string_view chunk) {
        storage->append(chunk.data(), chunk.size());
        return feed(parser, *storage, parsed, true, json_error);
    });
    if (!json_error.empty())
        return failure(std::move(json_error));
    switch (status) {
    case inflate_status::done:
        break;
    case inflate_status::more:
        return failure(std::string("truncated frame: the compressed stream ends early"));
    case inflate_status::corrupt:
        return failure(std::string("the frame is not valid gzip or zlib data"));
    case inflate_status::too_large:
        return failure(fmt::format("the config inflates to more than {} bytes (cluster_max_config_size)",
                                   options.max_inflated_size));
    }
    if (!feed(parser, *storage, parsed, false, json_error))
        return failure(std::move(json_error));
    if (!parser.done())
        return failure(std::string("invalid JSON: incomplete document"));

    auto& h = parser.handler();
    std::size_t begin = h.config_begin, end = h.config_end;
    bool located = h.located;
    if (located && h.config_end_pending) {
        // The config_table was the last member: `} <ws> }` at the end of the text.
        std::size_t i = storage->size();
        while (i > 0 && is_ws((*storage)[i - 1]))
            --i;
        if (i > 0 && (*storage)[i - 1] == '}') {
            --i;
            while (i > 0 && is_ws((*storage)[i - 1]))
                --i;
        }
        if (i > 0 && (*storage)[i - 1] == '}')
            end = i;
        else
            located = false;
    }
    if (!located || end <= begin || (*storage)[begin] != '{' || (*storage)[end - 1] != '}') {
        const auto range = member_scanner(*storage).find("config_table");
        if (!range)
            return failure(std::string("config_table cannot be located in the frame"));
        begin = range->first;
        end = range->second;
    }

    // Only the config_table is kept, moved to the front of the same buffer (a memmove on this
    // worker thread, no second buffer): the snapshot's storage is then exactly its config text,
    // so the cache, the hand-off and the upload all share this one buffer and nothing
    // downstream copies the whole config (issue 14, "one copy of a config").
    storage->resize(end);
    storage->erase(0, begin);
    auto snap = std::make_shared<config_snapshot>();
    snap->config_json = std::string_view(*storage);
    if (h.config_hash) {
        snap->hash = *h.config_hash;
        snap->hashes = std::move(h.hashes);
        fill_missing(snap->hashes);
    } else {
        auto computed = hash_config_text(snap->config_json);
        if (!computed)
            return failure(std::move(computed.error()));
        snap->hashes = std::move(computed.value());
        snap->hash = snap->hashes.config;
    }
    snap->cp_timestamp = h.timestamp;
    snap->source = config_source::control_plane;
    snap->received_at = wall_clock::now();
    snap->storage = std::move(storage);
    return snapshot_ptr(std::move(snap));
}

namespace {

// The config_table without the whitespace around it.
std::string_view trimmed(std::string_view text) {
    while (!text.empty() && is_ws(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_ws(text.back()))
        text.remove_suffix(1);
    return text;
}

// The text of a large config is appended to for the whole download. In transparent huge pages
// it costs one page fault per 2 MiB instead of one per 4 KiB, which a virtual machine makes
// expensive (bench/pipeline: about a sixth of an import's CPU time went to those faults). Only
// a hint: where THP is off, nothing changes.
void advise_huge_pages(std::string& text) {
    constexpr std::uintptr_t huge = std::uintptr_t(2) << 20;
    const auto data = reinterpret_cast<std::uintptr_t>(text.data());
    const auto begin = (data + huge - 1) & ~(huge - 1);
    const auto end = (data + text.capacity()) & ~(huge - 1);
    if (end > begin)
        ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

} // namespace

struct config_table_reader::impl {
    std::shared_ptr<std::string> storage = new_config_buffer();
    validating_parser parser{parse_options(), doc_mode::bare_config};
    std::size_t parsed = 0;
    std::string error;
};

config_table_reader::config_table_reader(std::size_t expected_size) {
    restart(expected_size);
}
config_table_reader::~config_table_reader() = default;
config_table_reader::config_table_reader(config_table_reader&&) noexcept = default;
config_table_reader& config_table_reader::operator=(config_table_reader&&) noexcept = default;

void config_table_reader::restart(std::size_t expected_size) {
    impl_ = std::make_unique<impl>();
    impl_->storage->reserve(expected_size + 1);
    advise_huge_pages(*impl_->storage);
}

bool config_table_reader::feed(std::string_view piece) {
    auto& d = *impl_;
    if (!d.error.empty())
        return false;
    // Appended first, then parsed from the storage: the parser's views then point into the
    // text the snapshot keeps (as decode_reconfigure_frame does with inflated chunks).
    d.storage->append(piece.data(), piece.size());
    return lifeboat::protocol::feed(d.parser, *d.storage, d.parsed, true, d.error);
}

result<validated_config_table, std::string> config_table_reader::finish() {
    auto& d = *impl_;
    if (d.error.empty() && !lifeboat::protocol::feed(d.parser, *d.storage, d.parsed, false, d.error) &&
        d.error.empty())
        d.error = "invalid JSON";
    if (d.error.empty() && !d.parser.done())
        d.error = "invalid JSON: incomplete document";
    if (!d.error.empty())
        return failure(d.error);
    validated_config_table out;
    out.text = trimmed(*d.storage);
    out.storage = std::move(d.storage);
    d.storage = new_config_buffer();
    return out;
}

const std::string& config_table_reader::error() const {
    return impl_->error;
}

std::size_t config_table_reader::size() const {
    return impl_->storage->size();
}

result<snapshot_ptr, std::string> snapshot_from_config_table(std::string json_text, config_source source,
                                                             const config_hashes* known_hashes) {
    auto storage = std::make_shared<std::string>(std::move(json_text));
    validating_parser parser(parse_options(), doc_mode::bare_config);
    std::size_t parsed = 0;
    std::string error;
    if (!feed(parser, *storage, parsed, false, error))
        return failure(std::move(error));
    const std::string_view text = trimmed(*storage);
    return snapshot_from_validated({std::move(storage), text}, source, known_hashes);
}

result<snapshot_ptr, std::string> snapshot_from_validated(validated_config_table table, config_source source,
                                                          const config_hashes* known_hashes) {
    const std::string_view text = table.text;
    auto snap = std::make_shared<config_snapshot>();
    snap->config_json = text;
    if (known_hashes) {
        if (!is_config_hash(known_hashes->config))
            return failure(std::string("the stored config hash is not 32 lower-case hex characters"));
        snap->hashes = *known_hashes;
        fill_missing(snap->hashes);
    } else {
        auto computed = hash_config_text(text);
        if (!computed)
            return failure(std::move(computed.error()));
        snap->hashes = std::move(computed.value());
    }
    snap->hash = snap->hashes.config;
    snap->source = source;
    snap->received_at = wall_clock::now();
    snap->storage = std::move(table.storage);
    return snapshot_ptr(std::move(snap));
}

std::string make_reconfigure_envelope(std::string_view config_table_json, const config_hashes& hashes,
                                      double timestamp) {
    std::string out;
    out.reserve(config_table_json.size() + 512);
    fmt::format_to(
        std::back_inserter(out),
        R"({{"type":"reconfigure","timestamp":{:.3f},"config_hash":"{}","hashes":{{"config":"{}",)"
        R"("routes":"{}","services":"{}","plugins":"{}","upstreams":"{}","targets":"{}"}},"config_table":)",
        timestamp, hashes.config, hashes.config, hashes.routes, hashes.services, hashes.plugins,
        hashes.upstreams, hashes.targets);
    out.append(config_table_json);
    out.push_back('}');
    return out;
}

} // namespace lifeboat::protocol
