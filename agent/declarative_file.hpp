// Kong's declarative config file (the `declarative_config` key): YAML or JSON, `_format_version`
// 1.1, 2.1 or 3.0, read into a snapshot validated like any other config. It is the last resort of
// a node with no cache, no control plane and no usable backup (see last_resort.hpp).
//
// YAML is parsed by yaml-cpp and turned into JSON with YAML 1.2's core schema (plain `true`,
// `42`, `1.5`, `null` are typed; quoted scalars stay strings; `_format_version` is always its
// text, so an unquoted `3.0` works as it does in Kong). Every error is one line that names the
// file and, for YAML and JSON syntax, the line and column.
#pragma once

#include "base/result.hpp"
#include "protocol/config_snapshot.hpp"

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace lifeboat::agent {

// YAML (or JSON, a subset of it) text -> the same document as compact JSON text. `name` prefixes
// errors: "<name>:<line>:<column>: <what>".
result<std::string, std::string> declarative_yaml_to_json(std::string_view text, std::string_view name);

// Reads and validates the file; the snapshot's source is config_source::declarative_config.
result<protocol::snapshot_ptr, std::string> load_declarative_config(const std::filesystem::path& path,
                                                                    std::size_t max_size);

} // namespace lifeboat::agent
