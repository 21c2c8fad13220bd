// The one interface the rest of lifeboat uses to reach an object store (S3 and S3-compatible
// stores, GCS, Azure Blob Storage, a local directory). Keys are full keys inside the bucket; backends/layout.hpp
// composes them from the configured prefix as Kong Enterprise does.
#pragma once

#include "base/result.hpp"
#include "base/time_format.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lifeboat::backends {

enum class store_errc {
    not_found,           // 404 / NoSuchKey / ENOENT
    precondition_failed, // 412: a conditional write or read lost
    conflict,            // 409 ConditionalRequestConflict: re-read, then decide
    access_denied,       // 403 without a credential problem
    bad_credentials,     // InvalidAccessKeyId, SignatureDoesNotMatch, expired token, no credentials
    throttled,           // 429, 503 SlowDown
    server_error,        // other 5xx
    network,             // connect/read/write failures, resets, truncated bodies
    timeout,             // an operation deadline passed
    invalid_argument,    // a bad key, URL or option, refused before anything was sent
    protocol,            // the store answered something we cannot understand
    too_large,           // the object is over the caller's limit
    local_io,            // a local file could not be read or written
    cancelled,
};

const char* to_string(store_errc code);

struct store_error {
    store_errc code = store_errc::protocol;
    int http_status = 0;        // 0 when no HTTP response was received
    std::string provider_code;  // the store's own code: "SlowDown", "PreconditionFailed", ...
    std::string message;        // one human line; never contains credentials
    std::string operation;      // "PUT bucket/key", for the log line

    // "PUT bkt/3.6.0.0/config.json: 412 PreconditionFailed: At least one of the pre-conditions ..."
    std::string to_string() const;
    // Worth retrying as is (network, timeout, throttled, server_error). precondition_failed and
    // conflict are outcomes for the caller to decide on, not retried blindly.
    bool retryable() const;
};

template <class T>
using store_result = lifeboat::result<T, store_error>;

struct object_info {
    std::string key;
    std::uint64_t size = 0;
    std::string etag;       // as the store sent it, surrounding quotes removed
    std::string generation; // GCS object generation; empty for other stores
    wall_clock::time_point last_modified{};
    std::string content_type;
    std::map<std::string, std::string> metadata; // user metadata, lower-case names, no x-amz-meta-
};

// The token a conditional write compares against: the generation on GCS, the ETag elsewhere.
inline const std::string& version_token(const object_info& info) {
    return info.generation.empty() ? info.etag : info.generation;
}

enum class write_condition {
    none,
    if_absent, // create only: S3 If-None-Match: *, GCS ifGenerationMatch=0, file link(2)
    if_match,  // compare-and-swap on put_options::expected_version
};

struct put_options {
    std::string content_type = "application/octet-stream";
    std::map<std::string, std::string> metadata;
    write_condition condition = write_condition::none;
    std::string expected_version; // version_token() of the object being replaced, for if_match
    // The body's SHA-256 (64 lower-case hex) when the caller computed it already (a signed
    // backup's manifest names it): S3 signs it as the payload hash instead of hashing the body
    // again, and refuses a body that does not match it. Empty: the store hashes as it must.
    std::string payload_sha256;
    // Extra S3 PutObject fields, as Kong's cluster_fallback_export_s3_config gives them:
    // {"ServerSideEncryption":"aws:kms","SSEKMSKeyId":"..."}; ignored by other stores.
    std::map<std::string, std::string> s3_fields;
};

// The body of a put(): shared bytes in memory (never copied) or a file streamed from disk.
struct body_source {
    std::variant<std::shared_ptr<const std::string>, std::filesystem::path> data;

    static body_source from_string(std::string bytes) {
        return {std::make_shared<const std::string>(std::move(bytes))};
    }
    static body_source from_shared(std::shared_ptr<const std::string> bytes) { return {std::move(bytes)}; }
    static body_source from_file(std::filesystem::path path) { return {std::move(path)}; }
};

struct object_data {
    object_info info;
    std::string bytes;
};

// Where get_streamed() delivers an object's bytes, in order, as they arrive.
struct object_sink {
    // A transfer of the whole object begins, with its size when the store knows it. Called again
    // when the store starts over (a retried request): forget what was written before.
    std::function<void(std::optional<std::uint64_t> size)> start;
    // The next bytes. An error line stops the read at once: get_streamed() fails with local_io
    // carrying that line, and nothing is retried.
    std::function<std::optional<std::string>(std::string_view bytes)> write;
    // Optional back-pressure: when set, awaited after each write() before the store reads more.
    // A sink whose work runs elsewhere (the importer writes its pieces on the disk pool) holds the
    // transfer back while its queue is full, so that a fast download never piles up in memory.
    std::function<boost::asio::awaitable<void>()> ready;
};

enum class store_kind { s3, gcs, file, azure };

class object_store {
public:
    virtual ~object_store() = default;

    virtual store_kind kind() const = 0;
    // "s3://bucket", "gcs://bucket", "file:///srv/backup": for logs and status, never secrets.
    virtual std::string describe() const = 0;

    virtual boost::asio::awaitable<store_result<object_info>> head(std::string key) = 0;

    // Reads a whole object into memory; fails with too_large past max_size.
    virtual boost::asio::awaitable<store_result<object_data>>
    get(std::string key, std::size_t max_size = std::size_t(256) << 20) = 0;

    // Streams an object into `sink` while it arrives, for a caller that validates or writes it
    // on the fly; fails with too_large past max_size. Only a success means the sink saw the whole
    // object (a failed read may have delivered part of it, or the start of it twice).
    virtual boost::asio::awaitable<store_result<object_info>>
    get_streamed(std::string key, std::uint64_t max_size, object_sink sink) = 0;

    // Streams an object into `target` crash-safely (temporary file, fsync, rename): `target` is
    // either the complete object or untouched, never a partial download.
    virtual boost::asio::awaitable<store_result<object_info>> get_to_file(std::string key,
                                                                         std::filesystem::path target) = 0;

    virtual boost::asio::awaitable<store_result<object_info>> put(std::string key, body_source body,
                                                                 put_options options) = 0;

    // Deletes a key. A missing key is success. expected_version, when set, makes it conditional
    // where the store supports that (GCS ifGenerationMatch, S3 If-Match, file store).
    virtual boost::asio::awaitable<store_result<void>> remove(std::string key, std::string expected_version = {}) = 0;

    // Every key under `prefix`, following pagination, in key order.
    virtual boost::asio::awaitable<store_result<std::vector<object_info>>>
    list(std::string prefix, std::size_t max_keys = std::numeric_limits<std::size_t>::max()) = 0;

    // The store's clock as of its last response (HTTP `Date`), for the doctor's clock-skew
    // check; nullopt when the store has not answered yet or has no clock (the file store).
    virtual std::optional<wall_clock::time_point> last_server_date() const { return std::nullopt; }

    // A configuration re-read (SIGHUP): read the credentials again from the files the environment
    // names (a key or token file rotated under the same path), from the next request on. The
    // environment variables themselves are the process's and do not change. An error (one line)
    // means the running credentials stay.
    virtual result<void, std::string> reload_credentials() { return ok_v; }
};

} // namespace lifeboat::backends
