#include "agent/declarative_file.hpp"

#include "base/atomic_file.hpp"
#include "protocol/envelope.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <yaml-cpp/yaml.h>

namespace lifeboat::agent {
namespace {

namespace json = boost::json;

// Kong's declarative formats (kong/db/declarative): 1.1 and 2.1 for Kong 1.x-2.x, 3.0 since 3.0.
constexpr std::array known_format_versions{std::string_view("1.1"), std::string_view("2.1"),
                                           std::string_view("3.0")};

struct yaml_error {
    YAML::Mark mark;
    std::string what;
};

std::string at(std::string_view name, const YAML::Mark& mark, std::string_view what) {
    return fmt::format("{}:{}:{}: {}", name, mark.line + 1, mark.column + 1, what);
}

// A plain scalar under YAML 1.2's core schema.
json::value plain_scalar(const std::string& s) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL")
        return nullptr;
    if (s == "true" || s == "True" || s == "TRUE")
        return true;
    if (s == "false" || s == "False" || s == "FALSE")
        return false;
    static const std::regex integer{R"([-+]?[0-9]+)"};
    static const std::regex floating{R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)"};
    if (std::regex_match(s, integer)) {
        const char* first = s.data() + (s.front() == '+' ? 1 : 0);
        std::int64_t n = 0;
        if (auto r = std::from_chars(first, s.data() + s.size(), n);
            r.ec == std::errc() && r.ptr == s.data() + s.size())
            return n;
        // Beyond 64 bits: a double, as a JSON parser would make it.
    }
    if (std::regex_match(s, floating)) {
        const double d = std::strtod(s.c_str(), nullptr);
        if (std::isfinite(d))
            return d;
    }
    return json::string(s);
}

json::value to_json(const YAML::Node& node, int depth, bool keep_text = false) {
    if (depth > 64)
        throw yaml_error{node.Mark(), "nested more than 64 levels deep"};
    switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
        return nullptr;
    case YAML::NodeType::Scalar:
        // "!" is the tag of a quoted (or explicitly non-specific) scalar: always a string.
        if (keep_text || node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str")
            return json::string(node.Scalar());
        return plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
        json::array out;
        out.reserve(node.size());
        for (const auto& item : node)
            out.push_back(to_json(item, depth + 1));
        return out;
    }
    case YAML::NodeType::Map: {
        json::object out;
        for (const auto& item : node) {
            if (!item.first.IsScalar())
                throw yaml_error{item.first.Mark(), "a mapping key must be a scalar"};
            const auto& key = item.first.Scalar();
            if (out.contains(key))
                throw yaml_error{item.first.Mark(), fmt::format("duplicate key '{}'", key)};
            out.emplace(key, to_json(item.second, depth + 1, depth == 0 && key == "_format_version"));
        }
        return out;
    }
    }
    return nullptr;
}

// "<name>:<line>:<column>" of a byte offset.
std::string position_of(std::string_view text, std::size_t offset, std::string_view name) {
    offset = std::min(offset, text.size());
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return fmt::format("{}:{}:{}", name, line, column);
}

result<void, std::string> check_format_version(const json::value& doc, std::string_view name) {
    if (!doc.is_object())
        return failure{fmt::format("{}: not a declarative config (the top level must be a mapping)", name)};
    const auto* version = doc.get_object().if_contains("_format_version");
    if (!version)
        return failure{
            fmt::format("{}: no _format_version (Kong's declarative format: 1.1, 2.1 or 3.0)", name)};
    if (!version->is_string())
        return failure{fmt::format("{}: _format_version must be a string", name)};
    const std::string_view v = version->get_string();
    for (auto known : known_format_versions)
        if (v == known)
            return ok_v;
    return failure{fmt::format("{}: _format_version '{}' is not one Kong reads (1.1, 2.1 or 3.0)", name, v)};
}

bool looks_like_json(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    return first != std::string_view::npos && text[first] == '{';
}

} // namespace

result<std::string, std::string> declarative_yaml_to_json(std::string_view text, std::string_view name) {
    try {
        std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text));
        if (docs.empty())
            return failure{fmt::format("{}: empty file", name)};
        if (docs.size() > 1)
            return failure{
                fmt::format("{}: {} YAML documents; a declarative config is one", name, docs.size())};
        const auto doc = to_json(docs.front(), 0);
        if (auto checked = check_format_version(doc, name); !checked)
            return failure{checked.error()};
        return json::serialize(doc);
    } catch (const yaml_error& e) {
        return failure{at(name, e.mark, e.what)};
    } catch (const YAML::Exception& e) {
        return failure{at(name, e.mark, e.msg)};
    }
}

result<protocol::snapshot_ptr, std::string> load_declarative_config(const std::filesystem::path& path,
                                                                    std::size_t max_size) {
    const auto name = path.string();
    auto content = read_whole_file(path, max_size);
    if (!content)
        return failure{fmt::format("declarative_config {}: {}", name, content.error())};
    std::string text = std::move(content).value();
    if (looks_like_json(text)) {
        // JSON is YAML too, but Boost.JSON reads a large file many times faster than yaml-cpp.
        json::stream_parser parser;
        boost::system::error_code ec;
        const auto used = parser.write_some(text.data(), text.size(), ec);
        if (!ec)
            parser.finish(ec);
        if (ec)
            return failure{fmt::format("{}: {}", position_of(text, used, name), ec.message())};
        if (auto checked = check_format_version(parser.release(), name); !checked)
            return failure{checked.error()};
    } else {
        auto converted = declarative_yaml_to_json(text, name);
        if (!converted)
            return failure{converted.error()};
        text = std::move(converted).value();
    }
    auto snapshot =
        protocol::snapshot_from_config_table(std::move(text), protocol::config_source::declarative_config);
    if (!snapshot)
        return failure{fmt::format("{}: {}", name, snapshot.error())};
    return snapshot;
}

} // namespace lifeboat::agent
