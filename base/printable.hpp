// Text from a peer, a file or the command line, made safe to quote in a one-line error message:
// a newline or escape sequence in the input must not split the line or reach the terminal.
#pragma once

#include <string>
#include <string_view>

namespace lifeboat {

// Control characters (below 0x20, and DEL) become C escapes ("\n", "\x1b"); a backslash is doubled
// so that the escaped text stays unambiguous. Other bytes, UTF-8 included, are kept.
std::string printable(std::string_view text);

} // namespace lifeboat
