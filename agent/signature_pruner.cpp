#include "agent/signature_pruner.hpp"

#include "backends/backup_signature.hpp"

namespace lifeboat::agent {

namespace asio = boost::asio;

prune_plan plan_signature_pruning(const std::vector<backends::object_info>& listing,
                                  const backends::object_info& current, wall_clock::time_point now,
                                  std::chrono::seconds grace, std::size_t bound) {
    prune_plan plan;
    const auto sha = current.metadata.find(backends::signature_metadata::object_sha256);
    if (sha == current.metadata.end() || sha->second.empty())
        return plan; // which signature belongs to config.json is unknown: keep them all
    if (now - current.last_modified < grace)
        return plan; // a reader of the previous config.json may still be downloading it
    const auto keep = backends::signature_key(current.key, sha->second);
    for (const auto& o : listing) {
        if (o.key == keep || !o.key.ends_with(".sig") || o.last_modified > current.last_modified)
            continue;
        if (plan.keys.size() == bound) {
            plan.more = true;
            break;
        }
        plan.keys.push_back(o.key);
    }
    return plan;
}

asio::awaitable<prune_outcome> prune_superseded_signatures(backends::object_store& store,
                                                           const std::string& config_key,
                                                           std::chrono::seconds grace, std::size_t bound) {
    prune_outcome out;
    auto current = co_await store.head(config_key);
    if (!current) {
        if (current.error().code != backends::store_errc::not_found)
            out.error = current.error().to_string();
        co_return out;
    }
    current->key = config_key;
    auto folder = backends::signature_key(config_key, "");
    folder.resize(folder.size() - std::string_view(".sig").size());
    // Room for the current signature and one more than the bound, so that `more` is known.
    const auto asked = bound + 2;
    auto listing = co_await store.list(folder, asked);
    if (!listing) {
        out.error = listing.error().to_string();
        co_return out;
    }
    // The store's clock, as LastModified is: a local clock ahead of it would cut the grace short.
    const auto now = store.last_server_date().value_or(wall_clock::now());
    const auto plan = plan_signature_pruning(*listing, *current, now, grace, bound);
    out.more = plan.more || listing->size() == asked;
    for (const auto& key : plan.keys) {
        auto removed = co_await store.remove(key);
        if (!removed) {
            out.error = removed.error().to_string();
            co_return out;
        }
        ++out.deleted;
    }
    co_return out;
}

} // namespace lifeboat::agent
