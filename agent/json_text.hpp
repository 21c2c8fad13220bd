// JSON text that is valid whatever bytes went in. Boost.JSON copies a string's bytes as they
// are, so one name from a bucket with a byte that is not UTF-8 (a registration "1.0-\xff") would
// make the whole /status document invalid JSON. Such bytes are shown as the text "\xff" instead.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace lifeboat::agent {

// `text` when it is valid UTF-8; otherwise each byte that is not part of a valid sequence is
// replaced by the four characters "\xNN" (and a backslash before "x" is kept as it is).
std::string valid_utf8(std::string_view text);

// valid_utf8 applied to every string and object key in `value`, recursively.
void make_valid_utf8(boost::json::value& value);

// serialize(), after make_valid_utf8.
std::string serialize_valid(boost::json::value value);

} // namespace lifeboat::agent
