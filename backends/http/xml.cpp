#include "backends/http/xml.hpp"

#include <fmt/format.h>

namespace lifeboat::xml {

namespace {

std::string_view without_prefix(std::string_view name) {
    const auto colon = name.rfind(':');
    return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

bool named(const pugi::xml_node& node, std::string_view local) {
    return node.type() == pugi::node_element && without_prefix(node.name()) == local;
}

} // namespace

std::string_view element::local_name() const {
    return without_prefix(node_.name());
}

std::optional<element> element::child(std::string_view local) const {
    for (const auto& n : node_.children())
        if (named(n, local))
            return element(n);
    return std::nullopt;
}

std::vector<element> element::children(std::string_view local) const {
    std::vector<element> out;
    for (const auto& n : node_.children())
        if (named(n, local))
            out.emplace_back(n);
    return out;
}

std::vector<element> element::children() const {
    std::vector<element> out;
    for (const auto& n : node_.children())
        if (n.type() == pugi::node_element)
            out.emplace_back(n);
    return out;
}

std::optional<element> element::find(std::string_view local) const {
    if (named(node_, local))
        return *this;
    const pugi::xml_node found =
        node_.find_node([local](const pugi::xml_node& n) { return named(n, local); });
    if (!found)
        return std::nullopt;
    return element(found);
}

std::string element::text() const {
    std::string out;
    for (const auto& n : node_.children())
        if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata)
            out += n.value();
    return out;
}

std::optional<std::string> element::child_text(std::string_view local) const {
    if (auto c = child(local))
        return c->text();
    return std::nullopt;
}

result<document, std::string> document::parse(std::string_view xml) {
    document doc;
    doc.doc_ = std::make_unique<pugi::xml_document>();
    // The defaults (entities, CDATA, line ends; no DTD), and whitespace-only text kept.
    const auto parsed = doc.doc_->load_buffer(
        xml.data(), xml.size(), pugi::parse_default | pugi::parse_ws_pcdata, pugi::encoding_utf8);
    if (!parsed)
        return failure{fmt::format("malformed XML at byte {}: {}", parsed.offset, parsed.description())};
    if (!doc.doc_->document_element())
        return failure{std::string("malformed XML: no root element")};
    return doc;
}

std::optional<std::string> find_text(std::string_view xml, std::string_view local) {
    auto doc = document::parse(xml);
    if (!doc)
        return std::nullopt;
    if (auto e = doc->root().find(local))
        return e->text();
    return std::nullopt;
}

std::string escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&apos;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

} // namespace lifeboat::xml
