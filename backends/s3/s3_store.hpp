// S3 and S3-compatible stores (Ceph RGW, MinIO) behind backends::object_store.
//
//   auto options = s3::s3_options::from_environment("my-bucket", env);  // AWS_* as Kong reads them
//   if (!options) fail(options.error());                               // "S3 region is not configured"
//   auto store = s3::make_s3_store(executor, std::move(*options));
//
// Addressing: path style (http(s)://endpoint/bucket/key) when an endpoint is given
// (AWS_CONFIG_STORAGE_ENDPOINT, as Kong forces for S3-compatible stores), virtual-hosted style
// (https://bucket.s3.<region>.amazonaws.com/key) for AWS itself, except for bucket names with
// dots, which would not match the wildcard certificate and use path style.
//
// Payload signing. Over plain HTTP every body is signed: one of at least streaming_threshold
// goes aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), each chunk hashed and signed as it is
// sent, so the hashing overlaps the store's work and a retry re-signs from the first chunk;
// a smaller one carries its SHA-256 in x-amz-content-sha256. Over TLS a body carries its
// SHA-256 (hashed before it is sent: every S3-compatible store takes that, not all take
// aws-chunked), or goes UNSIGNED-PAYLOAD with unsigned_payload_over_tls (the
// s3_unsigned_payload_over_tls key).
//
// Conditional writes. If-None-Match: * creates only if absent. If-Match carries the version
// token (the ETag, quotes stripped). RFC 9110 and AWS compare the quoted form ("\"abc\""); Ceph
// RGW 16 compares only the bare form (abc) and answers a quoted one with a false 412. The store
// sends the bare form first (accepted by RGW and, being the same entity tag, by AWS); when a
// 412 comes back while a HEAD shows the object still has exactly the expected ETag, the 412 was
// false: the store re-sends once with the quoted form and keeps whichever form worked for the
// rest of its life. A 5xx (or a network failure after sending) on a conditional write is
// reported as store_errc::conflict ("outcome unknown: re-read"), never retried blindly: RGW
// answers racing losers with 500, and a retried write that had in fact won would come back as
// a false 412. RGW ignores If-Match on DELETE, so remove(key, version) also compares a HEAD
// first (narrowing, not closing, the race on such stores).
#pragma once

#include "backends/http/client.hpp"
#include "backends/object_store.hpp"
#include "backends/s3/credentials.hpp"
#include "backends/store_environment.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <string>

namespace lifeboat::s3 {

struct s3_options {
    std::string bucket;
    std::string region;    // required
    std::string endpoint;  // "http://127.0.0.1:17480": path style; empty: AWS
    std::string ca_bundle; // AWS_CA_BUNDLE; empty: the system store
    // Over TLS only: send UNSIGNED-PAYLOAD instead of hashing bodies first (TLS already protects
    // the body in transit). Plain HTTP always signs the payload's SHA-256.
    bool unsigned_payload_over_tls = false;
    // Over plain HTTP, bodies of at least this size are sent aws-chunked
    // (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): each chunk is hashed and signed as it goes out, in one pass,
    // instead of hashing the whole body before the first byte is sent. Smaller bodies carry their SHA-256 in
    // the header (from 1 MiB on streaming is ahead: bench/s3/option-choices.md).
    std::uint64_t streaming_threshold = std::uint64_t(1) << 20;
    // The store verifies every chunk and pays per chunk; from 1 MiB on that costs it no more than
    // one whole-body hash (bench/s3/option-choices.md). The client holds one chunk in memory.
    // S3's minimum is 8 KiB.
    std::size_t streaming_chunk_size = std::size_t(1) << 20;
    credential_settings credentials; // the provider chain and its endpoints
    // Bodies from files larger than this go up in parts (CreateMultipartUpload, UploadPart,
    // CompleteMultipartUpload). Memory bodies and conditional writes always use one PUT. On the
    // bench's RGW, parts in flight were slower than one streamed PUT (bench/s3/option-choices.md),
    // so the threshold stays at AWS's advice of about 100 MB, where parallel parts and per-part
    // retries pay on real networks.
    std::uint64_t multipart_threshold = std::uint64_t(100) << 20;
    std::uint64_t part_size = std::uint64_t(16) << 20; // 5 MiB minimum (S3), at most 10,000 parts
    unsigned multipart_concurrency = 4;                // parts in flight at once (1, 2 or 4)
    http::timeouts timeout{};
    http::retry_policy retry{};
    // The If-Match ETag form to start with (see above); the store switches on a false 412.
    bool if_match_quoted = false;
    // The local clock used for signing (tests pass a skewed one); empty: the system clock.
    std::function<wall_clock::time_point()> clock;

    // Everything from the environment as Kong reads it (see store_environment). Fails with a
    // one-line message: "S3 region is not configured (set AWS_REGION or AWS_DEFAULT_REGION)".
    static result<s3_options, std::string> from_environment(std::string bucket,
                                                            const backends::store_environment& env);
    // Checks the options alone (bucket name, region, endpoint URL, part size).
    result<void, std::string> validate() const;
};

std::unique_ptr<backends::object_store> make_s3_store(boost::asio::any_io_executor executor,
                                                      s3_options options);

} // namespace lifeboat::s3
