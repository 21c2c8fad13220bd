// `lifeboat doctor`'s control-plane check: one session as this node would hold it (its
// certificates, its advertised version and plugins), then the CP's verdict: a config arrives
// (admitted), the CP closes right after basic_info (its version check refused the node), or the
// CP answers pings and sends no config within the bound (its plugin gate withholds it). The
// decisions are the session state machine's (protocol/dp_session_fsm.hpp); nothing is applied.
#pragma once

#include "agent/config.hpp"
#include "backends/doctor.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>

namespace lifeboat::agent {

struct cp_check_input {
    const settings* config = nullptr;
    std::string node_id;                     // a UUID
    std::chrono::milliseconds bound{10'000}; // no config within this: withheld
};

// Runs on the caller's io_context; returns the check line ("control plane").
boost::asio::awaitable<backends::doctor_check> check_control_plane(cp_check_input input);

} // namespace lifeboat::agent
