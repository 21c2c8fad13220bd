#include "backends/azure/azure_protocol.hpp"

#include "backends/http/xml.hpp"
#include "base/digest.hpp"

#include <boost/beast/http/status.hpp>

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>

namespace lifeboat::azure {
namespace {

using backends::store_errc;

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string first_line(std::string_view s) {
    const auto nl = s.find_first_of("\r\n");
    return std::string(s.substr(0, nl));
}

bool credential_code(std::string_view code) {
    return code == "AuthenticationFailed" || code == "InvalidAuthenticationInfo" ||
           code == "NoAuthenticationInformation" || code == "AuthenticationErrorDetail";
}

// What a code means, for answers without a message (HEAD) and for the one-line log.
std::string explain(std::string_view code, unsigned status) {
    if (code == "BlobNotFound")
        return "the blob does not exist";
    if (code == "ContainerNotFound")
        return "the container does not exist (create it, or check the container in the azure:// URL)";
    if (code == "BlobAlreadyExists")
        return "the blob already exists (a create-only write lost)";
    if (code == "ConditionNotMet")
        return "the blob changed since it was read (a conditional write lost)";
    if (code == "AuthenticationFailed")
        return "the signature or token was refused: wrong AZURE_STORAGE_KEY or account, an expired SAS, or "
               "a clock off by more than 15 minutes";
    if (code == "AuthorizationPermissionMismatch" || code == "AuthorizationFailure")
        return "the credentials are valid but not allowed to do this (check the role assignment or the SAS "
               "permissions)";
    if (code == "ServerBusy")
        return "the service is busy (throttled)";
    if (code == "OperationTimedOut")
        return "the service timed out";
    if (code == "Md5Mismatch")
        return "the body does not match its Content-MD5";
    if (code.empty() && status == 404)
        return "not found";
    if (code.empty() && status == 403)
        return "forbidden: wrong credentials or no permission";
    return {};
}

// Azurite (and some Azure front ends) answer a bad signature with 403 AuthorizationFailure and
// "Server failed to authenticate the request"; the same code without that message is a
// permission or firewall refusal.
bool failed_to_authenticate(std::string_view code, std::string_view message) {
    return code == "AuthorizationFailure" && message.find("failed to authenticate") != std::string_view::npos;
}

store_errc code_for(unsigned status, std::string_view code, std::string_view message, write_kind kind) {
    if (credential_code(code) || status == 401 || failed_to_authenticate(code, message))
        return store_errc::bad_credentials;
    if (status == 404)
        return store_errc::not_found;
    if (status == 412 || code == "BlobAlreadyExists" || code == "ConditionNotMet")
        return store_errc::precondition_failed;
    if (status == 409)
        return store_errc::conflict;
    if (status == 403)
        return store_errc::access_denied;
    if (status == 429 || code == "ServerBusy" || code == "OperationTimedOut")
        return kind == write_kind::conditional ? store_errc::conflict : store_errc::throttled;
    if (status >= 500)
        return kind == write_kind::conditional ? store_errc::conflict : store_errc::server_error;
    if (status == 400)
        return store_errc::invalid_argument;
    return store_errc::protocol;
}

} // namespace

backends::store_error to_store_error(const http::response& res, std::string operation, write_kind kind) {
    backends::store_error e;
    e.http_status = static_cast<int>(res.status);
    e.operation = std::move(operation);
    e.provider_code = std::string(res.header("x-ms-error-code"));
    if (auto code = xml::find_text(res.body, "Code"); code && !code->empty())
        e.provider_code = *code;
    if (auto message = xml::find_text(res.body, "Message"))
        e.message = first_line(*message);
    // An answer to HEAD has no body: Azure (and Azurite) send the message as the reason phrase
    // instead ("403 Server failed to authenticate the request..."), so that HEAD is classed and
    // explained as GET and PUT are.
    if (e.message.empty() && !res.reason.empty() &&
        res.reason !=
            boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(res.status)))
        e.message = first_line(res.reason);
    e.code = code_for(res.status, e.provider_code, e.message, kind);
    if (e.message.empty())
        e.message = explain(e.provider_code, res.status);
    else if (e.code == store_errc::bad_credentials)
        e.message += " (" + explain("AuthenticationFailed", res.status) + ")";
    backends::finish_store_error(e, res, kind);
    return e;
}

result<std::string, std::string> metadata_name_to_azure(std::string_view name) {
    if (name.empty())
        return failure{std::string("a metadata name is empty")};
    std::string out;
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) && u < 0x80)
            out += static_cast<char>(std::tolower(u));
        else if (c == '-')
            out += '_';
        else
            return failure{fmt::format("metadata name \"{}\" has '{}': Azure allows letters, digits and '-' "
                                       "(sent as '_')",
                                       name, c)};
    }
    if (std::isdigit(static_cast<unsigned char>(out.front())))
        return failure{fmt::format("metadata name \"{}\" starts with a digit, which Azure refuses", name)};
    return out;
}

std::string metadata_name_from_azure(std::string_view name) {
    std::string out = lower(name);
    std::replace(out.begin(), out.end(), '_', '-');
    return out;
}

backends::object_info info_from_headers(const http::response& res, std::string key) {
    backends::object_info info;
    info.key = std::move(key);
    const auto length = res.header(http::field::content_length);
    info.size = length.empty() ? res.body_bytes : std::strtoull(std::string(length).c_str(), nullptr, 10);
    auto etag = std::string(res.header(http::field::etag));
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
        etag = etag.substr(1, etag.size() - 2);
    info.etag = std::move(etag);
    if (auto t = parse_http_date(res.header(http::field::last_modified)))
        info.last_modified = *t;
    info.content_type = std::string(res.header(http::field::content_type));
    for (const auto& f : res.headers) {
        const auto name = lower(f.name_string());
        if (name.rfind("x-ms-meta-", 0) == 0)
            info.metadata[metadata_name_from_azure(std::string_view(name).substr(10))] =
                std::string(f.value());
    }
    return info;
}

result<list_page, std::string> parse_list_page(std::string_view doc) {
    auto parsed = xml::document::parse(doc);
    if (!parsed)
        return failure{fmt::format("the List Blobs answer is not an XML document: {}", parsed.error())};
    const auto root = parsed->root();
    if (root.local_name() != "EnumerationResults")
        return failure{std::string("the List Blobs answer has no <EnumerationResults>")};
    list_page page;
    const auto blobs = root.child("Blobs");
    for (const auto& blob : blobs ? blobs->children("Blob") : std::vector<xml::element>{}) {
        backends::object_info info;
        auto name = blob.child_text("Name");
        if (!name)
            return failure{std::string("a listed blob has no <Name>")};
        info.key = std::move(*name);
        if (const auto props = blob.child("Properties")) {
            if (auto v = props->child_text("Content-Length"))
                info.size = std::strtoull(v->c_str(), nullptr, 10);
            if (auto v = props->child_text("Etag")) {
                info.etag = *v;
                if (info.etag.size() >= 2 && info.etag.front() == '"' && info.etag.back() == '"')
                    info.etag = info.etag.substr(1, info.etag.size() - 2);
            }
            if (auto v = props->child_text("Last-Modified"))
                if (auto t = parse_http_date(*v))
                    info.last_modified = *t;
            if (auto v = props->child_text("Content-Type"))
                info.content_type = *v;
        }
        // <Metadata><name>value</name>...</Metadata>: the element names are the metadata names.
        if (const auto meta = blob.child("Metadata"))
            for (const auto& m : meta->children())
                info.metadata[metadata_name_from_azure(m.name())] = m.text();
        page.blobs.push_back(std::move(info));
    }
    page.next_marker = root.child_text("NextMarker").value_or("");
    return page;
}

std::string block_id(std::string_view upload_tag, std::uint64_t index) {
    return base64_encode(fmt::format("{}-{:06}", upload_tag, index));
}

std::string random_upload_tag() {
    unsigned char bytes[12];
    RAND_bytes(bytes, sizeof bytes);
    return to_hex(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

std::string block_list_body(const std::vector<std::string>& ids) {
    std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
    for (const auto& id : ids)
        out += "<Latest>" + id + "</Latest>";
    out += "</BlockList>";
    return out;
}

} // namespace lifeboat::azure
