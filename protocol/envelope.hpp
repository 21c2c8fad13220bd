// Reconfigure frames (CP -> DP, Kong hybrid mode /v1/outlet) and declarative configs read back
// from the cache or the fallback bucket, turned into validated config snapshots.
//
// A frame is gzip (or zlib) of
//   {"type":"reconfigure","timestamp":<s>,"config_table":{...},"config_hash":"<32 hex>",
//    "hashes":{"config":..,"routes":..,"services":..,"plugins":..,"upstreams":..,"targets":..}}
//
// Decoding streams: each inflated chunk is appended to the snapshot's storage and fed at once to
// a SAX parser that validates the JSON and the envelope while the chunk is still in cache. The
// config_table is then a view into that storage (no DOM, no re-serialisation), located through
// the parser's own string views. Only a frame without config_hash needs a DOM, to compute Kong's
// hash. Every rejection is a one-line reason.
#pragma once

#include "base/result.hpp"
#include "protocol/config_snapshot.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace lifeboat::protocol {

// The most entities (elements of the top-level entity collections: services, routes, plugins,
// consumers, ...) one config may hold. The largest real configs we size for have about 200,000
// (docs/benchmarks.md's 50 MB test config: 10,000 services, 20,000 routes, 26,075 plugins, 43,000
// consumers with their credentials); five times that leaves room, while a small input that
// inflates to millions of empty entities (`"services":[{},{},...]`) is refused at the first
// megabytes instead of costing gigabytes of memory.
inline constexpr std::size_t max_config_entities = 1'000'000;

struct decode_options {
    std::size_t max_inflated_size = std::size_t(256) << 20; // cluster_max_config_size
};

// A received binary frame -> snapshot (source control_plane). The frame must already be within
// cluster_max_payload (the websocket layer enforces that on the compressed frame).
result<snapshot_ptr, std::string> decode_reconfigure_frame(std::string_view frame,
                                                           const decode_options& options = {});

// A bare config_table (JSON text) from the cache or the fallback bucket -> snapshot with Kong's
// hash. It must be a JSON object shaped like a declarative config: `_format_version` a string,
// every entity collection an array of objects. When the caller already knows the hashes (the
// cache stores them), pass them to skip the hash computation; the JSON is validated either way.
result<snapshot_ptr, std::string> snapshot_from_config_table(std::string json_text, config_source source,
                                                             const config_hashes* known_hashes = nullptr);

// A bare config_table validated in full, not hashed yet: the text (outer whitespace trimmed)
// and the storage that owns it.
struct validated_config_table {
    std::shared_ptr<const std::string> storage;
    std::string_view text;
};

// A config_table that arrives in pieces (the fallback import streams the bucket's object): each
// piece is validated the moment it lands, with the rules and one-line reasons of
// snapshot_from_config_table(), so an invalid backup is refused at its first bad byte and a valid
// one is validated by the time its last byte arrives. The pieces are kept: the snapshot holds the
// whole text.
class config_table_reader {
public:
    explicit config_table_reader(std::size_t expected_size = 0);
    ~config_table_reader();
    config_table_reader(config_table_reader&&) noexcept;
    config_table_reader& operator=(config_table_reader&&) noexcept;

    // Forgets everything (a retried download starts over); reserves expected_size bytes.
    void restart(std::size_t expected_size = 0);
    // The next piece. false once the text is invalid: error() says why, and every later call
    // fails the same way.
    bool feed(std::string_view piece);
    // The whole text has arrived: it must be one complete JSON object shaped like a declarative
    // config. The reader is spent afterwards.
    result<validated_config_table, std::string> finish();

    const std::string& error() const;
    std::size_t size() const; // bytes fed since the last restart

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// The snapshot of a validated config_table; Kong's hash is computed over it unless the caller
// knows the hashes (an exporter's metadata).
result<snapshot_ptr, std::string> snapshot_from_validated(validated_config_table table, config_source source,
                                                          const config_hashes* known_hashes = nullptr);

// The JSON envelope of a reconfigure frame around an existing config_table text (used by the
// reference CP and the tests); `config_table_json` is copied verbatim.
std::string make_reconfigure_envelope(std::string_view config_table_json, const config_hashes& hashes,
                                      double timestamp);

bool is_config_hash(std::string_view s); // 32 lower-case hex characters

} // namespace lifeboat::protocol
