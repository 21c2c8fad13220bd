// The XML reader the S3, STS and Azure code reads answers with (backends/http/xml, on pugixml):
// the places where hand-written readers break (entities, CDATA, namespace prefixes, nesting,
// whitespace-only text) and malformed documents, which must give one line naming the problem.
#include "backends/http/xml.hpp"
#include "backends/s3/credentials.hpp"
#include "backends/s3/s3_protocol.hpp"

#include <gtest/gtest.h>

using namespace lifeboat;

namespace {

bool one_line(const std::string& s) {
    return !s.empty() && s.find('\n') == std::string::npos;
}

} // namespace

TEST(xml_reader, entities_and_character_references_are_resolved) {
    auto doc = xml::document::parse(
        "<r><k>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233; &#x1F600;</k></r>");
    ASSERT_TRUE(doc.ok()) << doc.error();
    EXPECT_EQ(doc->root().child_text("k").value(), "a & b <c> \"d\" 'e' \xC3\xA9 \xF0\x9F\x98\x80");
}

TEST(xml_reader, cdata_is_text_and_markup_inside_it_is_not_parsed) {
    auto doc = xml::document::parse("<r><k>x<![CDATA[<Key>&amp;</Key>]]>y</k><Key>real</Key></r>");
    ASSERT_TRUE(doc.ok()) << doc.error();
    EXPECT_EQ(doc->root().child_text("k").value(), "x<Key>&amp;</Key>y");
    // The <Key> inside CDATA is text, not an element: the first Key element is the real one.
    EXPECT_EQ(doc->root().find("Key")->text(), "real");
}

TEST(xml_reader, namespace_prefixes_are_matched_by_local_name) {
    auto doc =
        xml::document::parse(R"(<s3:ListBucketResult xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/">)"
                             R"(<s3:Contents><s3:Key>a</s3:Key></s3:Contents>)"
                             R"(<Contents><Key>b</Key></Contents></s3:ListBucketResult>)");
    ASSERT_TRUE(doc.ok()) << doc.error();
    EXPECT_EQ(doc->root().local_name(), "ListBucketResult");
    EXPECT_EQ(doc->root().name(), "s3:ListBucketResult");
    const auto contents = doc->root().children("Contents");
    ASSERT_EQ(contents.size(), 2u);
    EXPECT_EQ(contents[0].child_text("Key").value(), "a");
    EXPECT_EQ(contents[1].child_text("Key").value(), "b");
}

TEST(xml_reader, children_are_direct_and_find_searches_depth_first) {
    auto doc = xml::document::parse("<r><a><Key>deep</Key></a><Key>shallow</Key><Keys>no</Keys></r>");
    ASSERT_TRUE(doc.ok()) << doc.error();
    EXPECT_EQ(doc->root().child_text("Key").value(), "shallow");
    EXPECT_EQ(doc->root().find("Key")->text(), "deep");
    EXPECT_EQ(doc->root().children("Key").size(), 1u);
    EXPECT_EQ(doc->root().children().size(), 3u);
    EXPECT_FALSE(doc->root().child("Ke").has_value());
    EXPECT_FALSE(doc->root().child_text("missing").has_value());
}

TEST(xml_reader, whitespace_and_empty_elements_keep_their_text) {
    auto doc = xml::document::parse("<r>\n  <Key> </Key>\n  <Empty/>\n  <Pair></Pair>\n</r>");
    ASSERT_TRUE(doc.ok()) << doc.error();
    EXPECT_EQ(doc->root().child_text("Key").value(), " "); // an S3 key may be a space
    EXPECT_EQ(doc->root().child_text("Empty").value(), "");
    EXPECT_EQ(doc->root().child_text("Pair").value(), "");
    EXPECT_EQ(doc->root().children().size(), 3u); // the indentation is no element
}

TEST(xml_reader, a_dtd_cannot_define_entities) {
    // No DTD processing: an entity defined there is not expanded (no "billion laughs").
    auto doc = xml::document::parse(
        R"(<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]><r><k>&b;</k></r>)");
    ASSERT_TRUE(doc.ok()) << doc.error();
    EXPECT_EQ(doc->root().child_text("k").value(), "&b;");
}

TEST(xml_reader, malformed_documents_are_one_line_errors) {
    for (const std::string_view bad : {"", "   ", "not xml", "<r><k>x</r>", "<r><k>x</k>", "<r a=\"1></r>",
                                       "<r><![CDATA[x</r>", "<r><k>x</K></r>", "</r>"}) {
        auto doc = xml::document::parse(bad);
        ASSERT_FALSE(doc.ok()) << "accepted: " << bad;
        EXPECT_TRUE(one_line(doc.error())) << doc.error();
        EXPECT_EQ(doc.error().rfind("malformed XML", 0), 0u) << doc.error();
    }
    EXPECT_FALSE(xml::find_text("<r><k>x</r>", "k").has_value());
    // pugixml is lenient where nothing is ambiguous: a lone '&' or an unknown entity is text.
    EXPECT_EQ(xml::find_text("<r>a & b &x;</r>", "r").value(), "a & b &x;");
    EXPECT_EQ(xml::find_text("<r><a><k>x</k></a></r>", "k").value(), "x");
}

TEST(xml_reader, escape_round_trips_through_the_parser) {
    const std::string text = "a&b<c>\"d\"'e' \xC3\xA9";
    EXPECT_EQ(xml::escape(text), "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos; \xC3\xA9");
    auto doc = xml::document::parse("<r>" + xml::escape(text) + "</r>");
    ASSERT_TRUE(doc.ok()) << doc.error();
    EXPECT_EQ(doc->root().text(), text);
}

TEST(xml_reader, s3_documents_built_on_it) {
    // A listing that is not XML names the problem on one line; an <Error> inside an
    // <ErrorResponse> (STS) is found; a CDATA key is a key.
    auto page = s3::parse_list_page("<ListBucketResult><Contents><Key>a</Key></Contents>");
    ASSERT_FALSE(page.ok());
    EXPECT_TRUE(one_line(page.error())) << page.error();
    EXPECT_NE(page.error().find("not an XML document"), std::string::npos) << page.error();

    page = s3::parse_list_page("<ListBucketResult><IsTruncated>false</IsTruncated><Contents>"
                               "<Key><![CDATA[a&b <c>]]></Key><Size>3</Size></Contents></ListBucketResult>");
    ASSERT_TRUE(page.ok()) << page.error();
    ASSERT_EQ(page->objects.size(), 1u);
    EXPECT_EQ(page->objects[0].key, "a&b <c>");
    EXPECT_EQ(page->objects[0].size, 3u);

    auto sts = s3::parse_sts_response("<ErrorResponse><Error><Code>AccessDenied</Code>"
                                      "<Message>no &amp; never</Message></Error></ErrorResponse>");
    ASSERT_FALSE(sts.ok());
    EXPECT_EQ(sts.error(), "STS AssumeRoleWithWebIdentity: AccessDenied: no & never");
    sts = s3::parse_sts_response("<AssumeRoleWithWebIdentityResponse><Credentials>");
    ASSERT_FALSE(sts.ok());
    EXPECT_TRUE(one_line(sts.error())) << sts.error();

    EXPECT_FALSE(s3::parse_error("<html>502 Bad Gateway").has_value());
    auto err = s3::parse_error(
        "<?xml version=\"1.0\"?>\n<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>");
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code, "NoSuchKey");
    EXPECT_EQ(err->message, "gone");
}
