// Fuzz target: the S3 and STS documents the S3 store reads (backends/http/xml, on pugixml, and what
// is built on it: ListObjectsV2 pages, <Error> documents, STS AssumeRoleWithWebIdentity answers), and the
// other text the S3 side parses from a peer or a file (the IMDS/ECS credentials JSON, AWS ini
// files). Input: a selector byte, then the document.
#include "backends/http/xml.hpp"
#include "backends/s3/credentials.hpp"
#include "backends/s3/s3_protocol.hpp"
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
        // The reader itself: a document parses or gives one line; every element is reachable.
        auto parsed = xml::document::parse(doc);
        if (!parsed) {
            check_one_line(parsed.error());
        } else {
            for (const std::string_view tag : {"Key", "Contents", "Error", "a"})
                if (auto e = parsed->root().find(tag))
                    (void)e->text();
            for (const auto& e : parsed->root().children())
                (void)e.child_text("Key");
        }
        // Escaping then parsing gives the text back (line ends are normalised and NUL ends a
        // document in XML, so texts with those are left out).
        if (doc.find('\r') == std::string_view::npos && doc.find('\0') == std::string_view::npos) {
            auto round = xml::document::parse("<r>" + xml::escape(doc) + "</r>");
            if (!round || round->root().text() != doc)
                std::abort();
        }
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
