// Fuzz target: the S3 and STS documents the S3 store reads (backends/s3/xml and what is built on
// it: ListObjectsV2 pages, <Error> documents, STS AssumeRoleWithWebIdentity answers), and the
// other text the S3 side parses from a peer or a file (the IMDS/ECS credentials JSON, AWS ini
// files). Input: a selector byte, then the document.
#include "backends/s3/credentials.hpp"
#include "backends/s3/s3_protocol.hpp"
#include "backends/s3/xml.hpp"
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
    switch (selector % 6) {
    case 0: {
        // The scanner itself: every element found lies inside the document.
        for (const std::string_view tag : {"Key", "Contents", "Error", "a"}) {
            for (const auto e : s3::xml::elements(doc, tag))
                if (e.data() < doc.data() || e.data() + e.size() > doc.data() + doc.size())
                    std::abort();
            (void)s3::xml::text(doc, tag);
        }
        const auto decoded = s3::xml::decode_entities(doc);
        // Escaping then decoding gives the text back.
        if (s3::xml::decode_entities(s3::xml::escape(decoded)) != decoded)
            std::abort();
        break;
    }
    case 1:
        if (auto page = s3::parse_list_page(doc); !page)
            check_one_line(page.error());
        break;
    case 2:
        (void)s3::parse_error(doc);
        break;
    case 3:
        if (auto c = s3::parse_sts_response(doc); !c)
            check_one_line(c.error());
        break;
    case 4:
        if (auto c = s3::parse_credentials_json(doc, "fuzz"); !c)
            check_one_line(c.error());
        break;
    case 5:
        (void)s3::parse_aws_ini(doc);
        break;
    }
    return 0;
}
