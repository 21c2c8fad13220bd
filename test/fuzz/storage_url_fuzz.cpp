// Fuzz target: the URLs lifeboat parses from its configuration and command line: storage URLs
// (cluster_fallback_config_storage), object URLs (the CLI), HTTP origins and full URLs (endpoints,
// gateway_admin_url, proxy_server) and percent-decoding. A parsed storage URL printed back must
// parse to the same thing.
#include "backends/http/client.hpp"
#include "backends/store_factory.hpp"
#include "test/fuzz/fuzz_input.hpp"

#include <cstdlib>

namespace {

void check_one_line(const std::string& reason) {
    if (reason.empty() || reason.find('\n') != std::string::npos)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace lifeboat;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto url = backends::parse_storage_url(text)) {
        auto again = backends::parse_storage_url(url->to_string());
        if (!again || again->kind != url->kind || again->bucket != url->bucket ||
            again->prefix != url->prefix || again->path != url->path)
            std::abort();
    } else {
        check_one_line(url.error());
    }
    if (auto object = backends::parse_object_url(text); !object)
        check_one_line(object.error());
    if (auto o = http::origin::parse(text)) {
        auto again = http::origin::parse(o->to_string());
        if (!again || !(*again == *o))
            std::abort();
        (void)o->host_header();
    } else {
        check_one_line(o.error());
    }
    if (auto split = http::split_url(text); !split)
        check_one_line(split.error());
    if (auto decoded = http::percent_decode(text)) {
        if (http::percent_decode(http::percent_encode(*decoded)) != *decoded)
            std::abort();
    }
    return 0;
}
