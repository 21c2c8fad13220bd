// The table of configuration keys: name, default, kind, whether it is secret, what it means, and
// how it lands in `settings`. load_config() and docs/configuration.md both follow this table.
#pragma once

#include "agent/config.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace lifeboat::agent {

enum class key_kind {
    text,
    boolean,
    size,
    duration,
    choice,
    path,
    url,
    json_object,
    labels,
    list,
    address,
    uuid,
    version
};

struct key_spec {
    std::string_view name;
    std::string_view default_value;
    key_kind kind;
    bool secret;
    bool kong; // a key Kong also has (same meaning)
    std::string_view help;
    // Parses `value` into `s`. Returns nullopt on success, or what was expected.
    std::optional<std::string> (*apply)(settings& s, std::string_view value);
};

std::span<const key_spec> config_keys();
const key_spec* find_key(std::string_view name);

// Redacts a value for display: secrets become "<redacted>" (or keep the shape of a URL with the
// password removed), everything else is returned as is.
std::string display_value(const key_spec& spec, std::string_view value);

// docs/configuration.md, generated from this table (`lifeboat config reference`); a test keeps
// the committed file equal to it.
std::string configuration_reference_markdown();

} // namespace lifeboat::agent
