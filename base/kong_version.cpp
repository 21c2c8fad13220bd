#include "base/kong_version.hpp"

#include <fmt/format.h>

namespace lifeboat {

std::optional<kong_version> parse_kong_version(std::string_view v) {
    int parts[3] = {0, 0, 0};
    std::size_t i = 0;
    for (int p = 0; p < 3; ++p) {
        const std::size_t start = i;
        while (i < v.size() && v[i] >= '0' && v[i] <= '9') {
            parts[p] = parts[p] * 10 + (v[i] - '0');
            if (parts[p] > 100000)
                return std::nullopt;
            ++i;
        }
        if (i == start)
            return std::nullopt;
        if (p < 2) {
            if (i >= v.size() || v[i] != '.')
                return std::nullopt;
            ++i;
        }
    }
    kong_version out;
    out.major = parts[0];
    out.minor = parts[1];
    out.patch = parts[2];
    out.three = fmt::format("{}.{}.{}", parts[0], parts[1], parts[2]);
    return out;
}

} // namespace lifeboat
