#include "backends/object_store.hpp"

#include <fmt/format.h>

namespace lifeboat::backends {

const char* to_string(store_errc code) {
    switch (code) {
    case store_errc::not_found: return "not found";
    case store_errc::precondition_failed: return "precondition failed";
    case store_errc::conflict: return "conflict";
    case store_errc::access_denied: return "access denied";
    case store_errc::bad_credentials: return "bad credentials";
    case store_errc::throttled: return "throttled";
    case store_errc::server_error: return "server error";
    case store_errc::network: return "network error";
    case store_errc::timeout: return "timed out";
    case store_errc::invalid_argument: return "invalid argument";
    case store_errc::protocol: return "protocol error";
    case store_errc::too_large: return "too large";
    case store_errc::local_io: return "local I/O error";
    case store_errc::cancelled: return "cancelled";
    }
    return "unknown";
}

std::string store_error::to_string() const {
    std::string out = operation.empty() ? std::string() : operation + ": ";
    if (http_status)
        out += fmt::format("{} ", http_status);
    out += provider_code.empty() ? std::string(backends::to_string(code)) : provider_code;
    if (!message.empty())
        out += ": " + message;
    return out;
}

bool store_error::retryable() const {
    return code == store_errc::network || code == store_errc::timeout || code == store_errc::throttled ||
           code == store_errc::server_error;
}

} // namespace lifeboat::backends
