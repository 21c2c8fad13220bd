// Reading the XML documents object stores answer with (S3 and STS: ListObjectsV2, <Error>,
// CreateMultipartUpload, AssumeRoleWithWebIdentity; Azure: List Blobs, <Error>), through pugixml.
//
//   auto doc = xml::document::parse(body);                  // result<document, std::string>
//   if (!doc) return failure{doc.error()};                    // "malformed XML at byte 12: ..."
//   for (const auto& c : doc->root().children("Contents"))
//       key = c.child_text("Key").value_or("");
//
// Elements are matched by local name: a namespace prefix (<s3:Key>) is ignored, since
// S3-compatible servers differ in whether and how they qualify names. Entities, character
// references and CDATA sections are resolved by the parser; a DTD is never read, so a document
// cannot define entities (no expansion attacks). Whitespace inside an element is kept as written
// (an S3 key may be " ").
#pragma once

#include "base/result.hpp"

#include <memory>
#include <optional>
#include <pugixml.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::xml {

// One element of a parsed document: a view, valid while its document lives.
class element {
public:
    explicit element(pugi::xml_node node) : node_(node) {}

    // The name as written, prefix included (Azure's metadata names are element names).
    std::string_view name() const { return node_.name(); }
    // The name without its namespace prefix.
    std::string_view local_name() const;

    // The first child element with this local name.
    std::optional<element> child(std::string_view local) const;
    // Every child element with this local name, in document order.
    std::vector<element> children(std::string_view local) const;
    // Every child element, in document order.
    std::vector<element> children() const;
    // The first element with this local name among this one and its descendants, depth first in
    // document order (where a lenient reader does not care how deep a server put it).
    std::optional<element> find(std::string_view local) const;

    // This element's character data and CDATA sections, concatenated (child elements skipped).
    std::string text() const;
    // text() of child(local), if there is one.
    std::optional<std::string> child_text(std::string_view local) const;

private:
    pugi::xml_node node_;
};

// A parsed document (owns the tree its elements point into).
class document {
public:
    // A malformed document is an error of one line naming the problem and its byte offset.
    static result<document, std::string> parse(std::string_view xml);

    // The document element.
    element root() const { return element(doc_->document_element()); }

private:
    std::unique_ptr<pugi::xml_document> doc_; // pugi::xml_document cannot be moved
};

// The text of the first element with this local name anywhere in `xml` (find() from the root);
// nullopt when there is none or the document is malformed. For reading one value of an answer.
std::optional<std::string> find_text(std::string_view xml, std::string_view local);

// & < > " ' as entities, for the request documents we write (CompleteMultipartUpload).
std::string escape(std::string_view s);

} // namespace lifeboat::xml
