#include "backends/gcs/gcs_api.hpp"

#include "backends/http/client.hpp"
#include "base/digest.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <random>

namespace lifeboat::backends::gcs {
namespace {

namespace json = boost::json;

std::string bucket_path(std::string_view bucket) {
    return "/storage/v1/b/" + http::percent_encode(bucket) + "/o";
}

std::string json_string(const json::object& o, const char* name) {
    if (const auto* v = o.if_contains(name); v && v->is_string())
        return std::string(v->as_string());
    return {};
}

result<object_info, std::string> object_from(const json::value& v) {
    if (!v.is_object())
        return failure{std::string("object resource is not a JSON object")};
    const auto& o = v.as_object();
    object_info info;
    info.key = json_string(o, "name");
    if (info.key.empty())
        return failure{std::string("object resource has no name")};
    // size and generation are int64 values sent as JSON strings.
    const auto size = json_string(o, "size");
    if (!size.empty()) {
        std::uint64_t n = 0;
        for (char c : size) {
            if (c < '0' || c > '9')
                return failure{fmt::format("object {} has size \"{}\"", info.key, size)};
            n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        info.size = n;
    }
    info.etag = json_string(o, "etag");
    info.generation = json_string(o, "generation");
    if (info.generation.empty())
        return failure{fmt::format("object {} has no generation", info.key)};
    info.content_type = json_string(o, "contentType");
    auto updated = json_string(o, "updated");
    if (updated.empty())
        updated = json_string(o, "timeCreated");
    if (auto t = parse_iso8601(updated))
        info.last_modified = *t;
    if (const auto* m = o.if_contains("metadata"); m && m->is_object())
        for (const auto& [k, val] : m->as_object())
            if (val.is_string())
                info.metadata.emplace(std::string(k), std::string(val.as_string()));
    return info;
}

} // namespace

std::string object_name_problem(std::string_view key) {
    if (key.empty())
        return "is empty";
    if (key.size() > 1024)
        return "is longer than 1024 bytes";
    if (key.find_first_of("\r\n") != std::string_view::npos)
        return "contains a line break";
    if (key == "." || key == "..")
        return "is '.' or '..'";
    return {};
}

std::string metadata_target(std::string_view bucket, std::string_view key) {
    return bucket_path(bucket) + "/" + http::percent_encode(key);
}

std::string media_target(std::string_view bucket, std::string_view key, std::string_view generation) {
    auto t = metadata_target(bucket, key) + "?alt=media";
    if (!generation.empty())
        t += "&generation=" + http::percent_encode(generation);
    return t;
}

std::string delete_target(std::string_view bucket, std::string_view key,
                          std::string_view if_generation_match) {
    auto t = metadata_target(bucket, key);
    if (!if_generation_match.empty())
        t += "?ifGenerationMatch=" + http::percent_encode(if_generation_match);
    return t;
}

std::string list_target(std::string_view bucket, std::string_view prefix, std::size_t max_results,
                        std::string_view page_token) {
    auto t = bucket_path(bucket) + fmt::format("?maxResults={}", max_results);
    if (!prefix.empty())
        t += "&prefix=" + http::percent_encode(prefix);
    if (!page_token.empty())
        t += "&pageToken=" + http::percent_encode(page_token);
    return t;
}

std::string upload_target(std::string_view bucket, std::string_view key, bool multipart,
                          const std::optional<std::string>& if_generation_match) {
    auto t = "/upload" + bucket_path(bucket);
    // With multipart the name travels in the metadata part; with media it can only be here.
    t += multipart ? "?uploadType=multipart" : "?uploadType=media&name=" + http::percent_encode(key);
    if (if_generation_match)
        t += "&ifGenerationMatch=" + http::percent_encode(*if_generation_match);
    return t;
}

std::string random_boundary() {
    std::random_device rd;
    return fmt::format("lifeboat-{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

multipart_body make_multipart(std::string_view key, std::string_view content_type,
                              const std::map<std::string, std::string>& metadata, std::string_view boundary) {
    json::object resource{{"name", key}, {"contentType", content_type}};
    if (!metadata.empty()) {
        json::object meta;
        for (const auto& [k, v] : metadata)
            meta[k] = v;
        resource["metadata"] = std::move(meta);
    }
    multipart_body out;
    out.content_type = fmt::format("multipart/related; boundary={}", boundary);
    out.head = fmt::format(
        "--{}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{}\r\n--{}\r\nContent-Type: "
        "{}\r\n\r\n",
        boundary, json::serialize(resource), boundary, content_type);
    out.tail = fmt::format("\r\n--{}--\r\n", boundary);
    return out;
}

result<object_info, std::string> parse_object_resource(std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec)
        return failure{std::string("object resource is not JSON")};
    return object_from(v);
}

result<list_page, std::string> parse_list_page(std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object())
        return failure{std::string("list response is not a JSON object")};
    const auto& o = v.as_object();
    list_page page;
    page.next_page_token = json_string(o, "nextPageToken");
    if (const auto* items = o.if_contains("items")) {
        if (!items->is_array())
            return failure{std::string("list response has items that are not an array")};
        for (const auto& item : items->as_array()) {
            auto info = object_from(item);
            if (!info)
                return failure{info.error()};
            page.items.push_back(std::move(info).value());
        }
    }
    return page;
}

store_error error_from_response(unsigned status, std::string_view body, std::string operation) {
    store_error e;
    e.http_status = static_cast<int>(status);
    e.operation = std::move(operation);
    switch (status) {
    case 401:
        e.code = store_errc::bad_credentials;
        break;
    case 403:
        e.code = store_errc::access_denied;
        break;
    case 404:
        e.code = store_errc::not_found;
        break;
    case 409:
        e.code = store_errc::conflict;
        break;
    case 412:
        e.code = store_errc::precondition_failed;
        break;
    case 429:
        e.code = store_errc::throttled;
        break;
    default:
        e.code = status >= 500 ? store_errc::server_error : store_errc::protocol;
        break;
    }
    // {"error":{"code":412,"message":"...","errors":[{"reason":"conditionNotMet", ...}]}}
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (!ec && v.is_object()) {
        if (const auto* err = v.as_object().if_contains("error"); err && err->is_object()) {
            const auto& eo = err->as_object();
            e.message = json_string(eo, "message");
            if (const auto* list = eo.if_contains("errors");
                list && list->is_array() && !list->as_array().empty() && list->as_array().front().is_object())
                e.provider_code = json_string(list->as_array().front().as_object(), "reason");
        }
    }
    if (e.message.empty() && !body.empty() && ec) {
        // Not the JSON API's error shape (a proxy, an emulator): keep its first line.
        e.message = std::string(body.substr(0, std::min(body.find('\n'), std::size_t(200))));
    }
    return e;
}

} // namespace lifeboat::backends::gcs
