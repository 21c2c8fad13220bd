#include "backends/azure/shared_key.hpp"

#include "base/digest.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace lifeboat::azure {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return std::string(s);
}

} // namespace

std::string string_to_sign(const shared_key_request& request) {
    std::map<std::string, std::string> standard;  // the twelve fixed positions
    std::map<std::string, std::string> canonical; // x-ms-*, sorted by lower-case name
    for (const auto& [name, value] : request.headers) {
        auto n = lower(name);
        if (n.rfind("x-ms-", 0) == 0)
            canonical[n] = trim(value);
        else
            standard[n] = value;
    }
    auto get = [&](const char* name) -> std::string {
        auto it = standard.find(name);
        if (it == standard.end())
            return {};
        // Since 2015-02-21 a zero Content-Length signs as empty.
        if (std::string_view(name) == "content-length" && it->second == "0")
            return {};
        return it->second;
    };
    std::string out = request.method + "\n";
    for (const char* name :
         {"content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
          "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range"})
        out += get(name) + "\n";
    for (const auto& [name, value] : canonical)
        out += name + ":" + value + "\n";
    out += "/" + request.account + (request.encoded_path.empty() ? "/" : request.encoded_path);
    std::map<std::string, std::vector<std::string>> query;
    for (const auto& [name, value] : request.query)
        query[lower(name)].push_back(value);
    for (auto& [name, values] : query) {
        std::sort(values.begin(), values.end());
        out += "\n" + name + ":";
        for (std::size_t i = 0; i < values.size(); ++i)
            out += (i ? "," : "") + values[i];
    }
    return out;
}

std::string shared_key_authorization(const shared_key_request& request, std::string_view key) {
    return fmt::format("SharedKey {}:{}", request.account,
                       base64_encode(hmac_sha256(key, string_to_sign(request))));
}

result<std::string, std::string> decode_account_key(std::string_view base64_key, std::string_view origin) {
    std::string out;
    if (base64_key.empty() || !base64_decode(base64_key, out) || out.empty())
        return failure{fmt::format("{}: the account key is not base64 (as the portal shows it)", origin)};
    return out;
}

} // namespace lifeboat::azure
