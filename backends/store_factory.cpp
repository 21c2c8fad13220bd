#include "backends/store_factory.hpp"

#include "backends/azure/azure_store.hpp"
#include "backends/file/file_store.hpp"
#include "backends/gcs/gcs_store.hpp"
#include "backends/s3/s3_store.hpp"
#include "base/printable.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace lifeboat::backends {
namespace {

// Unchanged since before azure:// (tests and scripts match it); an azure:// URL's own errors
// name its form.
constexpr const char* expected_forms =
    "expected s3://bucket/prefix, gcs://bucket/prefix or file:///absolute/path";

// Echoes the URL in errors, except for anything that looks like credentials (user:secret@).
std::string redacted(std::string_view url) {
    const auto authority = url.find("://");
    const auto at = url.find('@');
    if (authority == std::string_view::npos || at == std::string_view::npos || at < authority)
        return std::string(url);
    return std::string(url.substr(0, authority + 3)) + "***" + std::string(url.substr(at));
}

failure<std::string> bad(std::string_view url, std::string_view problem) {
    // Both parts may quote the input: a control character in it must not break the line.
    return failure{fmt::format("storage URL \"{}\": {}", printable(redacted(url)), printable(problem))};
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// S3 (and S3-compatible stores, which allow a little more: upper case and '_' in old buckets) and
// GCS share the shape of a bucket name: letters, digits, '.', '-' and '_', 3 to 222 characters.
std::string bucket_problem(std::string_view bucket, store_kind kind) {
    if (bucket.empty())
        return "has no bucket";
    if (bucket.find('@') != std::string_view::npos)
        return "a bucket name has no '@' (credentials never go in the URL)";
    if (bucket.find(':') != std::string_view::npos)
        return "a bucket name has no ':' (an S3-compatible endpoint goes in AWS_CONFIG_STORAGE_ENDPOINT, "
               "a GCS emulator in STORAGE_EMULATOR_HOST)";
    for (char c : bucket) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                        c == '_' || (kind == store_kind::s3 && c >= 'A' && c <= 'Z');
        if (!ok)
            return fmt::format(
                "bucket \"{}\" has the character '{}' (use lower-case letters, digits, '.', '-', '_')",
                bucket, c);
    }
    if (bucket.size() < 3 || bucket.size() > 222 ||
        (bucket.size() > 63 && bucket.find('.') == std::string_view::npos))
        return fmt::format("bucket \"{}\" must be 3 to 63 characters long", bucket);
    return {};
}

// azure://<account>/<container>/<prefix>, as Kong 3.14 writes it.
result<storage_url, std::string> parse_azure_url(std::string_view url, std::string_view rest) {
    constexpr const char* form = "expected azure://account/container/prefix";
    if (rest.substr(0, 2) != "//")
        return bad(url, form);
    rest.remove_prefix(2);
    storage_url out;
    out.kind = store_kind::azure;
    const auto slash = rest.find('/');
    out.account = std::string(rest.substr(0, slash));
    if (out.account.empty())
        return bad(url, fmt::format("has no storage account ({})", form));
    if (out.account.find_first_of("@:") != std::string::npos)
        return bad(url, "a storage account has no '@' or ':' (credentials and endpoints go in "
                        "AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY, never in the URL)");
    if (auto problem = azure::account_name_problem(out.account); !problem.empty())
        return bad(url, problem);
    if (slash == std::string_view::npos)
        return bad(url, fmt::format("has no container ({})", form));
    rest.remove_prefix(slash + 1);
    const auto next = rest.find('/');
    out.bucket = std::string(rest.substr(0, next));
    if (out.bucket.empty())
        return bad(url, fmt::format("has no container ({})", form));
    if (auto problem = azure::container_name_problem(out.bucket); !problem.empty())
        return bad(url, problem);
    if (next != std::string_view::npos) {
        auto prefix = rest.substr(next + 1);
        while (!prefix.empty() && prefix.front() == '/')
            prefix.remove_prefix(1);
        out.prefix = std::string(prefix);
    }
    return out;
}

} // namespace

std::string storage_url::to_string() const {
    switch (kind) {
    case store_kind::file:
        return "file://" + path.string();
    case store_kind::s3:
        return "s3://" + bucket + (prefix.empty() ? "" : "/" + prefix);
    case store_kind::gcs:
        return "gcs://" + bucket + (prefix.empty() ? "" : "/" + prefix);
    case store_kind::azure:
        return "azure://" + account + "/" + bucket + (prefix.empty() ? "" : "/" + prefix);
    }
    return {};
}

result<storage_url, std::string> parse_storage_url(std::string_view url) {
    if (url.empty())
        return failure{fmt::format("storage URL is empty: {}", expected_forms)};
    const auto colon = url.find(':');
    if (colon == std::string_view::npos || colon == 0)
        return bad(url, expected_forms);
    const std::string scheme = lower(url.substr(0, colon));
    std::string_view rest = url.substr(colon + 1);

    storage_url out;
    if (scheme == "file") {
        out.kind = store_kind::file;
        // file:///abs, file://localhost/abs (RFC 8089), and the short file:/abs.
        std::string_view path;
        if (rest.substr(0, 2) == "//") {
            rest.remove_prefix(2);
            const auto slash = rest.find('/');
            const auto host = rest.substr(0, slash);
            if (!host.empty() && host != "localhost")
                return bad(url, fmt::format("\"{}\" would be a host; a file URL names an absolute folder: "
                                            "file:///{}",
                                            host, rest));
            if (slash == std::string_view::npos)
                return bad(url, "has no path (file:///absolute/path)");
            path = rest.substr(slash);
        } else {
            path = rest;
        }
        if (path.empty() || path.front() != '/')
            return bad(url, "a file URL needs an absolute path (file:///absolute/path)");
        auto normal = std::filesystem::path(std::string(path)).lexically_normal();
        if (!normal.has_filename() && normal.has_relative_path())
            normal = normal.parent_path();
        if (normal == "/")
            return bad(url, "names the root folder; give a folder for the store");
        out.path = std::move(normal);
        return out;
    }
    if (scheme == "s3")
        out.kind = store_kind::s3;
    else if (scheme == "gcs" || scheme == "gs")
        out.kind = store_kind::gcs;
    else if (scheme == "azure")
        return parse_azure_url(url, rest);
    else if (scheme == "http" || scheme == "https")
        return bad(url, "an HTTP endpoint is not a storage URL; use s3://bucket/prefix and set "
                        "AWS_CONFIG_STORAGE_ENDPOINT to the endpoint");
    else
        return bad(url, fmt::format("scheme \"{}\" is not supported ({})", scheme, expected_forms));
    if (rest.substr(0, 2) != "//")
        return bad(url, expected_forms);
    rest.remove_prefix(2);
    const auto slash = rest.find('/');
    out.bucket = std::string(rest.substr(0, slash));
    if (auto problem = bucket_problem(out.bucket, out.kind); !problem.empty())
        return bad(url, problem);
    if (slash != std::string_view::npos) {
        auto prefix = rest.substr(slash + 1);
        while (!prefix.empty() && prefix.front() == '/')
            prefix.remove_prefix(1);
        out.prefix = std::string(prefix);
    }
    return out;
}

result<object_url, std::string> parse_object_url(std::string_view url) {
    auto parsed = parse_storage_url(url);
    if (!parsed)
        return failure{parsed.error()};
    object_url out;
    out.store = std::move(parsed).value();
    if (out.store.kind != store_kind::file) {
        out.key = std::move(out.store.prefix);
        out.store.prefix.clear();
        return out;
    }
    out.store.root_links_any_owner = false;
    if (!url.empty() && url.back() == '/')
        return out; // the folder itself
    out.key = out.store.path.filename().string();
    out.store.path = out.store.path.parent_path();
    if (out.store.path == "/")
        return bad(url, "names a file in the root folder; a file store needs a folder of its own");
    return out;
}

result<std::unique_ptr<object_store>, std::string> make_object_store(boost::asio::any_io_executor executor,
                                                                     const storage_url& url,
                                                                     const store_environment& env) {
    switch (url.kind) {
    case store_kind::file:
        return make_file_store(url.path, url.root_links_any_owner ? file_root_links::any_owner
                                                                  : file_root_links::root_owned_only);
    case store_kind::gcs: {
        auto options = gcs_options::from_environment(url.bucket, env);
        if (!options)
            return failure{options.error()};
        return make_gcs_store(std::move(executor), std::move(options).value());
    }
    case store_kind::azure: {
        auto options = azure::azure_options::from_environment(url.account, url.bucket, env);
        if (!options)
            return failure{options.error()};
        return azure::make_azure_store(std::move(executor), std::move(options).value());
    }
    case store_kind::s3: {
        auto options = s3::s3_options::from_environment(url.bucket, env);
        if (!options)
            return failure{options.error()};
        return s3::make_s3_store(std::move(executor), std::move(options).value());
    }
    }
    return failure{std::string("unknown store kind")};
}

result<std::unique_ptr<object_store>, std::string>
make_object_store(boost::asio::any_io_executor executor, std::string_view url, const store_environment& env) {
    auto parsed = parse_storage_url(url);
    if (!parsed)
        return failure{parsed.error()};
    return make_object_store(std::move(executor), *parsed, env);
}

} // namespace lifeboat::backends
