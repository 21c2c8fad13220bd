#include "backends/layout.hpp"

namespace lifeboat::backends {

std::string join_key(std::string_view a, std::string_view b) {
    std::string joined;
    joined.reserve(a.size() + b.size() + 1);
    joined.append(a);
    joined.push_back('/');
    joined.append(b);
    std::string out;
    out.reserve(joined.size());
    for (char c : joined) {
        if (c == '/' && (out.empty() || out.back() == '/'))
            continue;
        out.push_back(c);
    }
    return out;
}

std::string config_key(std::string_view prefix, std::string_view node_version) {
    return join_key(join_key(prefix, node_version), "config.json");
}

std::string election_prefix(std::string_view prefix, std::string_view node_version) {
    auto p = join_key(join_key(prefix, node_version), "election");
    p.push_back('/');
    return p;
}

} // namespace lifeboat::backends
