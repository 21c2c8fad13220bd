// How a failed HTTP exchange becomes a store_error, the part every HTTP store (S3, Azure) shares:
// a transport failure's class, and what a conditional write that may have reached the server
// reports ("outcome unknown: re-read"). Each store maps its own error documents and codes.
#pragma once

#include "backends/http/client.hpp"
#include "backends/object_store.hpp"

#include <set>
#include <string>

namespace lifeboat::backends {

// A conditional write (If-Match / If-None-Match) whose outcome the store alone knows: a 5xx or a
// failure after sending becomes conflict, so that the caller re-reads instead of retrying blindly.
enum class write_kind { plain, conditional };

// A transport failure (no complete answer). A TLS failure is a trust problem (CA bundle, host
// name) that retrying will not mend: protocol, not network.
store_error to_store_error(const http::error& err, std::string operation,
                           write_kind kind = write_kind::plain);

// The end of mapping an answer, once `e` has its code and message: a conditional write's 5xx
// says "outcome unknown: re-read (...)", and a retried request says how many attempts it took.
void finish_store_error(store_error& e, const http::response& res, write_kind kind);

// Writes a store's errors to the log as the caller gets them: a missing key or a lost conditional
// write is an ordinary outcome (debug); a refusal (403) is warned once per method and error code,
// since a node without write permission (an importer's read-only credentials) meets it every
// round; anything else is a warning each time.
class store_error_log {
public:
    explicit store_error_log(std::string store_name) : store_name_(std::move(store_name)) {}
    store_error report(store_error e) const;

private:
    std::string store_name_;                        // "S3", "Azure": starts each log line
    mutable std::set<std::string> warned_refusals_; // "PUT AccessDenied"
};

} // namespace lifeboat::backends
