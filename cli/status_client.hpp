// A tiny HTTP GET client for the agent's local status endpoint (TCP or unix socket), with a
// deadline. Only the CLI uses it; the object stores have their own client in backends/http.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace lifeboat::cli {

struct status_reply {
    unsigned status = 0;
    std::string body;
};

// `address` is host:port or unix:/path. Returns nullopt and fills `error` when unreachable.
std::optional<status_reply> get_status(const std::string& address, const std::string& target,
                                       std::chrono::milliseconds timeout, std::string& error);

} // namespace lifeboat::cli
