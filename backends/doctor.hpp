// `lifeboat doctor`: checks the fallback-config storage from one node's point of view and says,
// line by line, what works, what is risky and what is broken:
//
//   ok    store         s3://bkt/prefix
//   ok    list          3 objects under prefix/3.9.0.0/
//   ok    read backup   prefix/3.9.0.0/config.json: 48213 bytes of JSON, written 2026-11-22T03:42:00Z
//   warn  write         this node only imports, yet its credentials can write: give importers read-only ones
//   ok    conditional   the store enforces create-if-absent and compare-and-swap
//   ok    clock         0.2 s from the store's clock
//
// A fail makes the command exit non-zero. Writes go only to scratch keys under
// <prefix>/<version>/lifeboat-doctor/, which are removed again.
#pragma once

#include "backends/object_store.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>
#include <vector>

namespace lifeboat::backends {

enum class verdict { ok, warn, fail };
const char* to_string(verdict v);

struct doctor_check {
    std::string name;
    verdict level = verdict::ok;
    std::string reason;
};

struct doctor_input {
    std::string storage_url;  // as configured, for the first line
    std::string key_prefix;   // the URL's prefix (layout.hpp)
    std::string node_version; // keys the backup
    bool import_enabled = false;
    bool export_enabled = false;
    std::size_t max_config_size = std::size_t(256) << 20;
    std::function<wall_clock::time_point()> now = [] { return wall_clock::now(); };
};

struct doctor_report {
    std::vector<doctor_check> checks;
    verdict overall() const;
    // One line per check ("ok    list          ..."), then "verdict: ...".
    std::string render() const;
};

boost::asio::awaitable<doctor_report> run_doctor(object_store& store, doctor_input input);

} // namespace lifeboat::backends
