// Storage URLs and the store behind them.
//
//   s3://bucket/prefix      S3 or an S3-compatible store (AWS_CONFIG_STORAGE_ENDPOINT)
//   gcs://bucket/prefix     Google Cloud Storage (gs:// is accepted as a synonym)
//   azure://account/container/prefix  Azure Blob Storage (backends/azure/azure_store.hpp)
//   file:///abs/path        a local directory (backends/file/file_store.hpp)
//
// As in Kong, the part after the bucket is a key prefix: backends/layout.hpp puts
// <prefix>/<node_version>/config.json under it. The CLI's object URLs (`s3://bucket/key`) have
// the same shape, with a whole key in place of the prefix.
#pragma once

#include "backends/object_store.hpp"
#include "backends/store_environment.hpp"
#include "base/result.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace lifeboat::backends {

struct storage_url {
    store_kind kind = store_kind::file;
    std::string account;        // azure: the storage account
    std::string bucket;         // s3, gcs; azure: the container
    std::string prefix;         // s3, gcs, azure: the key prefix, no leading slash, may be empty
    std::filesystem::path path; // file: the absolute directory
    // file: whether links in `path` itself are followed. A configured storage folder is the
    // operator's choice (any link followed); a folder the CLI derives from an object URL
    // (file:///B/dirlink/keep opens /B/dirlink) may run through a link someone planted in the
    // bucket, so there only links owned by root are followed.
    bool root_links_any_owner = true;

    // "s3://bucket/prefix", "file:///abs/path": normalised, never with secrets.
    std::string to_string() const;
};

// One-line errors name the URL and what is wrong with it:
//   storage URL "s3:/bkt": expected s3://bucket/prefix, gcs://bucket/prefix or file:///absolute/path
//   storage URL "azure://acct": has no container (expected azure://account/container/prefix)
result<storage_url, std::string> parse_storage_url(std::string_view url);

// An object URL for the CLI: the store it lives in and its key. For s3/gcs the key is everything
// after the bucket; for file:///dir/name the store is /dir and the key "name" (a URL ending in
// '/' names the folder itself, with an empty key).
struct object_url {
    storage_url store;
    std::string key;
};
result<object_url, std::string> parse_object_url(std::string_view url);

// The store for a parsed URL: credentials and endpoints come from `env`. Fails (one line) when
// the store cannot be set up, e.g. GCS credentials that do not parse. Nothing is sent yet.
result<std::unique_ptr<object_store>, std::string> make_object_store(boost::asio::any_io_executor executor,
                                                                     const storage_url& url,
                                                                     const store_environment& env);

result<std::unique_ptr<object_store>, std::string>
make_object_store(boost::asio::any_io_executor executor, std::string_view url, const store_environment& env);

} // namespace lifeboat::backends
