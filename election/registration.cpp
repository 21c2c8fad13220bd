#include "election/registration.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

namespace lifeboat::election {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

constexpr std::string_view terms_dir = "terms/";
constexpr std::size_t term_digits = 20; // every uint64 fits, and key order is numeric order

} // namespace

std::string format_registration(double register_time, std::string_view node_id) {
    // fmt's "g" with a precision is printf's %.14g, which is what Lua's string.format uses.
    return fmt::format("{:.14g}-{}", register_time, node_id);
}

std::optional<registration_name> parse_registration(std::string_view name) {
    // ^(%d+%.?%d*)%-(.+)$: digits, an optional dot and more digits, a dash, a non-empty rest.
    std::size_t i = 0;
    while (i < name.size() && is_digit(name[i]))
        ++i;
    if (i == 0)
        return std::nullopt;
    if (i < name.size() && name[i] == '.') {
        ++i;
        while (i < name.size() && is_digit(name[i]))
            ++i;
    }
    if (i >= name.size() || name[i] != '-' || i + 1 >= name.size())
        return std::nullopt;
    // strtod, like Lua's tonumber, reads "12." and very long digit strings alike.
    const std::string number(name.substr(0, i));
    registration_name out;
    out.register_time = std::strtod(number.c_str(), nullptr);
    out.node_id = std::string(name.substr(i + 1));
    out.name = std::string(name);
    return out;
}

bool earlier(const registration_name& a, const registration_name& b) {
    if (a.register_time != b.register_time)
        return a.register_time < b.register_time;
    // std::string compares as unsigned bytes, as Lua does in the C locale nginx runs in.
    if (a.node_id != b.node_id)
        return a.node_id < b.node_id;
    return a.name < b.name;
}

std::string format_term(std::uint64_t term) {
    return fmt::format("{}{:0{}}", terms_dir, term, term_digits);
}

std::optional<std::uint64_t> parse_term(std::string_view name) {
    if (!name.starts_with(terms_dir))
        return std::nullopt;
    name.remove_prefix(terms_dir.size());
    if (name.empty() || name.size() > term_digits)
        return std::nullopt;
    std::uint64_t term = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), term);
    if (ec != std::errc() || end != name.data() + name.size())
        return std::nullopt;
    return term;
}

} // namespace lifeboat::election
