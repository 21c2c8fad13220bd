#include "base/percent_encoding.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace lifeboat {

std::string percent_encode(std::string_view s, bool keep_slash) {
    namespace urls = boost::urls;
    static constexpr auto unreserved_and_slash = urls::unreserved_chars + '/';
    // Default options: upper-case hex, a space as %20.
    return keep_slash ? urls::encode(s, unreserved_and_slash) : urls::encode(s, urls::unreserved_chars);
}

std::optional<std::string> percent_decode(std::string_view s) {
    const auto checked = boost::urls::make_pct_string_view(s);
    if (!checked)
        return std::nullopt;
    return checked->decode();
}

} // namespace lifeboat
