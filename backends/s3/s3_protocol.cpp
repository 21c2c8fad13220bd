#include "backends/s3/s3_protocol.hpp"

#include "backends/http/xml.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace lifeboat::s3 {

using backends::store_errc;
using backends::store_error;

std::optional<s3_error_doc> parse_error(std::string_view body) {
    auto parsed = xml::document::parse(body);
    if (!parsed)
        return std::nullopt;
    auto err = parsed->root().find("Error");
    if (!err)
        return std::nullopt;
    s3_error_doc doc;
    doc.code = err->child_text("Code").value_or("");
    doc.message = err->child_text("Message").value_or("");
    doc.server_time = err->child_text("ServerTime").value_or("");
    return doc;
}

bool is_credential_code(std::string_view code) {
    return code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" ||
           code == "InvalidToken" || code == "TokenRefreshRequired" || code == "InvalidSecurity" ||
           code == "AuthorizationHeaderMalformed" || code == "MissingSecurityHeader";
}

bool is_retryable_s3_response(const http::response& res) {
    if (res.status != 400)
        return false;
    auto doc = parse_error(res.body);
    return doc && (doc->code == "RequestTimeout" || doc->code == "RequestTimeoutException");
}

namespace {

// What a code means, for stores (RGW) that leave <Message> empty.
std::string explain(std::string_view code, unsigned status) {
    if (code == "NoSuchKey")
        return "the object does not exist";
    if (code == "NoSuchBucket")
        return "the bucket does not exist";
    if (code == "NoSuchUpload")
        return "the multipart upload does not exist (aborted or completed)";
    if (code == "PreconditionFailed")
        return "the object changed or already exists (a conditional write or read lost)";
    if (code == "ConditionalRequestConflict")
        return "a concurrent conditional write is in progress; re-read, then decide";
    if (code == "InvalidAccessKeyId")
        return "the store does not know this access key id (check AWS_ACCESS_KEY_ID or the profile)";
    if (code == "SignatureDoesNotMatch")
        return "the signature does not match: the secret key is wrong for this access key (check "
               "AWS_SECRET_ACCESS_KEY), or a proxy altered the request";
    if (code == "ExpiredToken" || code == "TokenRefreshRequired")
        return "the session token has expired";
    if (code == "InvalidToken")
        return "the session token is malformed or invalid (check AWS_SESSION_TOKEN)";
    if (code == "AccessDenied")
        return "the credentials are valid but not allowed to do this (check the bucket policy or IAM role)";
    if (code == "RequestTimeTooSkewed")
        return "the local clock differs from the store's by more than 15 minutes";
    if (code == "SlowDown")
        return "the store asks to slow down";
    if (code == "EntityTooSmall")
        return "a multipart part is smaller than the 5 MiB minimum";
    if (code == "InvalidBucketName")
        return "the bucket name is not valid";
    if (code == "XAmzContentSHA256Mismatch")
        return "the body does not match the SHA-256 that was signed (it changed while being sent?)";
    if (code == "BadDigest")
        return "the body does not match its Content-MD5";
    if (code == "InvalidRequest" || code == "InvalidArgument")
        return "the store refused a request option";
    if (code == "NotImplemented")
        return "the store does not implement this request";
    if (code.empty() && status == 404)
        return "not found";
    if (code.empty() && status == 403)
        return "forbidden: wrong credentials or no permission (a HEAD answer carries no error details)";
    return {};
}

store_errc code_for(unsigned status, std::string_view code, write_kind kind) {
    if (is_credential_code(code))
        return store_errc::bad_credentials;
    if (status == 404)
        return store_errc::not_found;
    if (status == 412)
        return store_errc::precondition_failed;
    if (status == 409)
        return store_errc::conflict;
    if (status == 403)
        return store_errc::access_denied;
    if (status == 429 || code == "SlowDown" || code == "Throttling" || code == "ThrottlingException")
        return kind == write_kind::conditional ? store_errc::conflict : store_errc::throttled;
    if (status >= 500)
        return kind == write_kind::conditional ? store_errc::conflict : store_errc::server_error;
    if (status == 400 && (code == "RequestTimeout"))
        return store_errc::network;
    return store_errc::protocol;
}

} // namespace

store_error to_store_error(const http::response& res, std::string operation, write_kind kind) {
    store_error e;
    e.http_status = static_cast<int>(res.status);
    e.operation = std::move(operation);
    auto doc = parse_error(res.body);
    if (doc) {
        e.provider_code = doc->code;
        e.message = doc->message;
    }
    if (e.message.empty())
        e.message = explain(e.provider_code, res.status);
    e.code = code_for(res.status, e.provider_code, kind);
    backends::finish_store_error(e, res, kind);
    return e;
}

result<std::vector<std::pair<std::string, std::string>>, std::string>
put_fields_to_headers(const std::map<std::string, std::string>& fields) {
    static const std::map<std::string, std::string, std::less<>> headers = {
        {"ACL", "x-amz-acl"},
        {"BucketKeyEnabled", "x-amz-server-side-encryption-bucket-key-enabled"},
        {"CacheControl", "Cache-Control"},
        {"ContentDisposition", "Content-Disposition"},
        {"ContentEncoding", "Content-Encoding"},
        {"ContentLanguage", "Content-Language"},
        {"ContentType", "Content-Type"},
        {"ExpectedBucketOwner", "x-amz-expected-bucket-owner"},
        {"Expires", "Expires"},
        {"GrantFullControl", "x-amz-grant-full-control"},
        {"GrantRead", "x-amz-grant-read"},
        {"GrantReadACP", "x-amz-grant-read-acp"},
        {"GrantWriteACP", "x-amz-grant-write-acp"},
        {"ObjectLockLegalHoldStatus", "x-amz-object-lock-legal-hold"},
        {"ObjectLockMode", "x-amz-object-lock-mode"},
        {"ObjectLockRetainUntilDate", "x-amz-object-lock-retain-until-date"},
        {"RequestPayer", "x-amz-request-payer"},
        {"SSEKMSEncryptionContext", "x-amz-server-side-encryption-context"},
        {"SSEKMSKeyId", "x-amz-server-side-encryption-aws-kms-key-id"},
        {"ServerSideEncryption", "x-amz-server-side-encryption"},
        {"StorageClass", "x-amz-storage-class"},
        {"Tagging", "x-amz-tagging"},
        {"WebsiteRedirectLocation", "x-amz-website-redirect-location"},
    };
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [name, value] : fields) {
        if (name.rfind("SSECustomer", 0) == 0)
            return failure{
                fmt::format("S3 PutObject field {} (SSE-C, customer-provided keys) is not supported: "
                            "lifeboat could not read the objects back; use ServerSideEncryption",
                            name)};
        if (name == "Metadata")
            return failure{std::string("S3 PutObject field Metadata is set by lifeboat itself")};
        if (name == "Bucket" || name == "Key" || name == "Body" || name == "ContentLength" ||
            name == "ContentMD5" || name == "IfMatch" || name == "IfNoneMatch" ||
            name.rfind("Checksum", 0) == 0)
            return failure{
                fmt::format("S3 PutObject field {} is managed by lifeboat and cannot be set", name)};
        auto it = headers.find(name);
        if (it == headers.end())
            return failure{fmt::format("unknown S3 PutObject field '{}' (known: ACL, CacheControl, "
                                       "ServerSideEncryption, SSEKMSKeyId, StorageClass, Tagging, ...)",
                                       name)};
        if (value.find_first_of("\r\n") != std::string::npos)
            return failure{fmt::format("S3 PutObject field {} contains a line break", name)};
        out.emplace_back(it->second, value);
    }
    return out;
}

result<void, std::string> check_metadata(const std::map<std::string, std::string>& metadata) {
    for (const auto& [name, value] : metadata) {
        if (name.empty())
            return failure{std::string("an S3 metadata name is empty")};
        for (const char c : name) {
            const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '_' || c == '.';
            if (!ok)
                return failure{fmt::format(
                    "S3 metadata name '{}' may only hold letters, digits, '-', '_' and '.'", name)};
        }
        for (const unsigned char c : value)
            if (c < 0x20 || c >= 0x7f)
                return failure{fmt::format("S3 metadata '{}' must be printable ASCII", name)};
    }
    return ok_v;
}

std::string strip_etag_quotes(std::string_view etag) {
    if (etag.starts_with("W/"))
        etag.remove_prefix(2);
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
        etag = etag.substr(1, etag.size() - 2);
    return std::string(etag);
}

backends::object_info info_from_headers(const http::response& res, std::string key) {
    backends::object_info info;
    info.key = std::move(key);
    const auto length = res.header(http::field::content_length);
    std::uint64_t size = 0;
    std::from_chars(length.data(), length.data() + length.size(), size);
    info.size = size;
    info.etag = strip_etag_quotes(res.header(http::field::etag));
    if (auto lm = parse_http_date(res.header(http::field::last_modified)))
        info.last_modified = *lm;
    info.content_type = std::string(res.header(http::field::content_type));
    for (const auto& h : res.headers) {
        std::string name(h.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (name.rfind("x-amz-meta-", 0) == 0)
            info.metadata[name.substr(11)] = std::string(h.value());
    }
    return info;
}

result<list_page, std::string> parse_list_page(std::string_view body) {
    auto parsed = xml::document::parse(body);
    if (!parsed)
        return failure{fmt::format("the listing is not an XML document: {}", parsed.error())};
    const auto root = parsed->root();
    if (root.local_name() != "ListBucketResult")
        return failure{std::string("the answer is not a ListBucketResult document")};
    list_page page;
    const bool url_encoded = root.child_text("EncodingType").value_or("") == "url";
    page.truncated = root.child_text("IsTruncated").value_or("false") == "true";
    page.next_token = root.child_text("NextContinuationToken").value_or("");
    for (const auto& c : root.children("Contents")) {
        backends::object_info info;
        auto key = c.child_text("Key").value_or("");
        if (url_encoded) {
            // S3 encodes keys form-style here: '+' is a space, a literal '+' comes as %2B.
            std::replace(key.begin(), key.end(), '+', ' ');
            auto decoded = http::percent_decode(key);
            if (!decoded)
                return failure{fmt::format("a listed key is not valid URL encoding: {}", key)};
            key = std::move(*decoded);
        }
        info.key = std::move(key);
        const auto size = c.child_text("Size").value_or("0");
        std::from_chars(size.data(), size.data() + size.size(), info.size);
        info.etag = strip_etag_quotes(c.child_text("ETag").value_or(""));
        if (auto lm = parse_iso8601(c.child_text("LastModified").value_or("")))
            info.last_modified = *lm;
        page.objects.push_back(std::move(info));
    }
    if (page.truncated && page.next_token.empty())
        return failure{std::string("the listing is truncated but has no NextContinuationToken")};
    return page;
}

std::string complete_multipart_body(const std::vector<std::string>& part_etags) {
    std::string out = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    for (std::size_t i = 0; i < part_etags.size(); ++i)
        out += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>", i + 1,
                           xml::escape(part_etags[i]));
    out += "</CompleteMultipartUpload>";
    return out;
}

} // namespace lifeboat::s3
