#include "backends/http/store_errors.hpp"

#include "base/log.hpp"

#include <fmt/format.h>

namespace lifeboat::backends {

store_error to_store_error(const http::error& err, std::string operation, write_kind kind) {
    store_error e;
    e.operation = std::move(operation);
    e.message = err.message;
    switch (err.code) {
    case http::errc::invalid_request:
        e.code = store_errc::invalid_argument;
        break;
    case http::errc::timeout:
        e.code = store_errc::timeout;
        break;
    case http::errc::too_large:
        e.code = store_errc::too_large;
        break;
    case http::errc::local_io:
        e.code = store_errc::local_io;
        break;
    case http::errc::cancelled:
        e.code = store_errc::cancelled;
        break;
    case http::errc::tls:
        e.code = store_errc::protocol;
        break;
    default:
        e.code = store_errc::network;
    }
    if (kind == write_kind::conditional && err.maybe_sent &&
        (e.code == store_errc::network || e.code == store_errc::timeout)) {
        e.code = store_errc::conflict;
        e.message = "outcome unknown: re-read (" + e.message + ")";
    }
    return e;
}

void finish_store_error(store_error& e, const http::response& res, write_kind kind) {
    if (kind == write_kind::conditional && e.code == store_errc::conflict && res.status >= 500)
        e.message =
            fmt::format("outcome unknown: re-read ({})", e.message.empty() ? "server error" : e.message);
    if (res.attempts > 1)
        e.message += fmt::format(" ({} attempts)", res.attempts);
}

store_error store_error_log::report(store_error e) const {
    const bool ordinary = e.code == store_errc::not_found || e.code == store_errc::precondition_failed;
    const bool refused_again =
        e.code == store_errc::access_denied &&
        !warned_refusals_.insert(e.operation.substr(0, e.operation.find(' ')) + " " + e.provider_code).second;
    if (ordinary || refused_again)
        log::debug(store_name_ + " request refused", "op", e.operation, "status", e.http_status, "code",
                   e.provider_code);
    else
        log::warn(store_name_ + " request failed", "op", e.operation, "status", e.http_status, "code",
                  e.provider_code, "error", backends::to_string(e.code), "message", e.message);
    return e;
}

} // namespace lifeboat::backends
