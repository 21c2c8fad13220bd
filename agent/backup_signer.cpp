#include "agent/backup_signer.hpp"

#include "base/digest.hpp"

#include <boost/json.hpp>

namespace lifeboat::agent {

namespace asio = boost::asio;

bool is_empty_config(const protocol::config_snapshot& snapshot) {
    const auto& h = snapshot.hashes;
    if (!h.services.empty() && !h.routes.empty() && !h.plugins.empty())
        return h.services == protocol::empty_config_hash && h.routes == protocol::empty_config_hash &&
               h.plugins == protocol::empty_config_hash;
    boost::system::error_code ec;
    auto v = boost::json::parse(snapshot.config_json, ec);
    if (ec || !v.is_object())
        return false; // not ours to judge: the config was validated before it got here
    for (const char* section : {"services", "routes", "plugins"}) {
        const auto* s = v.as_object().if_contains(section);
        if (s && ((s->is_array() && !s->as_array().empty()) || (s->is_object() && !s->as_object().empty())))
            return false;
    }
    return true;
}

backends::backup_manifest backup_signer::describe(std::string_view bytes,
                                                  const protocol::config_snapshot& snapshot,
                                                  std::uint64_t term) const {
    return describe(sha256_hex(bytes), bytes.size(), false, snapshot, term);
}

backends::backup_manifest backup_signer::describe(std::string object_sha256, std::uint64_t object_size,
                                                  bool encrypted, const protocol::config_snapshot& snapshot,
                                                  std::uint64_t term) const {
    backends::backup_manifest m;
    m.node_version = node_version_;
    m.config_hash = snapshot.hash;
    m.object_sha256 = std::move(object_sha256);
    m.object_size = object_size;
    m.encrypted = encrypted;
    m.cp_timestamp = snapshot.cp_timestamp;
    m.term = term;
    m.key_id = key_id();
    return m;
}

asio::awaitable<backends::store_result<backends::object_info>>
backup_signer::write(backends::object_store& store, const std::string& config_key,
                     backends::backup_manifest& m, wall_clock::time_point now,
                     const std::map<std::string, std::string>& s3_fields) const {
    m.signed_at = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    backends::put_options opts;
    opts.content_type = "text/plain";
    opts.s3_fields = s3_fields; // a bucket policy that demands SSE-KMS demands it of every PUT
    auto body = backends::make_signature_object(m, key_);
    co_return co_await store.put(backends::signature_key(config_key, m.object_sha256),
                                 backends::body_source::from_string(std::move(body)), std::move(opts));
}

} // namespace lifeboat::agent
