// Fuzz target: the JSON the GCS store reads: object resources, list pages, error bodies, token
// endpoint answers and credentials files. Input: a selector byte, then the document.
#include "backends/gcs/gcs_api.hpp"
#include "backends/gcs/gcs_auth.hpp"
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
    fuzz::input in(data, size);
    const auto selector = in.byte();
    const std::string_view doc = in.rest();
    switch (selector % 5) {
    case 0:
        if (auto info = backends::gcs::parse_object_resource(doc); !info)
            check_one_line(info.error());
        break;
    case 1:
        if (auto page = backends::gcs::parse_list_page(doc); !page)
            check_one_line(page.error());
        break;
    case 2:
        (void)backends::gcs::error_from_response(400 + selector % 200, doc, "GET gs://fuzz/o");
        break;
    case 3:
        if (auto token = backends::gcs::parse_token_response(doc); !token)
            check_one_line(token.error());
        break;
    case 4:
        if (auto creds = backends::gcs::parse_credentials_json(doc, "fuzz"); !creds)
            check_one_line(creds.error());
        else
            (void)backends::gcs::describe(*creds);
        break;
    }
    return 0;
}
