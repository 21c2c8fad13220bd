#include "agent/config_cache.hpp"

#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "protocol/envelope.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

namespace lifeboat::agent {

namespace json = boost::json;
using protocol::config_source;

namespace {

config_source source_from(std::string_view s) {
    if (s == "control_plane")
        return config_source::control_plane;
    if (s == "fallback")
        return config_source::fallback;
    if (s == "cache")
        return config_source::cache;
    return config_source::none;
}

std::string get_string(const json::object& o, std::string_view key) {
    if (auto* v = o.if_contains(key); v && v->is_string())
        return std::string(v->as_string());
    return {};
}

} // namespace

config_cache::config_cache(std::filesystem::path prefix) : prefix_(std::move(prefix)) {}

cache_stage config_cache::stage() const {
    std::error_code ec;
    std::filesystem::create_directories(prefix_, ec); // a failure shows in the stage's first write
    return cache_stage(prefix_);
}

result<void, std::string> config_cache::store(const protocol::config_snapshot& s,
                                              std::string* sha256_hex_out) const {
    auto staged = stage();
    staged.write(s.config_json);
    return commit(staged, s, s.config_json, sha256_hex_out);
}

result<void, std::string> config_cache::commit(cache_stage& staged, const protocol::config_snapshot& s,
                                               std::string_view written, std::string* sha256_hex_out) const {
    auto& file = staged.file_;
    if (file.usable() && file.size() != written.size())
        file.abort(); // not what the caller says was written: never cache it
    if (!file.usable()) {
        // The staged file could not be written (a full disk, say): one more try with the
        // snapshot's bytes, which reports the error of the moment.
        written = s.config_json;
        file.restart();
        file.write(written);
        if (!file.usable())
            return failure{file.error()};
    }
    const auto file_name = fmt::format("config-{}.json", s.hash);
    if (auto r = file.retarget(prefix_ / file_name); !r)
        return failure{r.error()};
    const auto size = file.size();
    if (auto r = file.commit(); !r)
        return failure{r.error()};
    const auto& h = s.hashes;
    auto sha = sha256_hex(written);
    if (sha256_hex_out)
        *sha256_hex_out = sha;
    json::object manifest{
        {"format", 1},
        {"file", file_name},
        {"size", size},
        {"sha256", std::move(sha)},
        {"hash", s.hash},
        {"hashes", json::object{{"config", h.config},
                                {"routes", h.routes},
                                {"services", h.services},
                                {"plugins", h.plugins},
                                {"upstreams", h.upstreams},
                                {"targets", h.targets}}},
        {"source",
         protocol::to_string(s.source == config_source::cache ? config_source::control_plane : s.source)},
        {"cp_timestamp", s.cp_timestamp},
        {"stored_at", format_iso8601(wall_clock::now())},
    };
    if (auto w = write_file_atomically(manifest_path(), json::serialize(manifest) + "\n", 0600); !w)
        return failure{w.error()};
    // Only now is the old config unreferenced.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(prefix_, ec)) {
        const auto name = entry.path().filename().string();
        if (name.starts_with("config-") && name.ends_with(".json") && name != file_name)
            std::filesystem::remove(entry.path(), ec);
    }
    return ok_v;
}

cache_load_result config_cache::load(std::size_t max_size) const {
    cache_load_result out;
    std::error_code ec;
    if (!std::filesystem::exists(manifest_path(), ec))
        return out;
    auto corrupt = [&](std::string why) {
        out.status = cache_load_status::corrupt;
        out.error = std::move(why);
        return out;
    };
    auto manifest_text = read_whole_file(manifest_path(), 1 << 20);
    if (!manifest_text)
        return corrupt(manifest_text.error());
    boost::system::error_code jec;
    auto doc = json::parse(manifest_text.value(), jec);
    if (jec || !doc.is_object())
        return corrupt(fmt::format("{}: not a JSON object ({})", manifest_path().string(),
                                   jec ? jec.message() : "wrong type"));
    const auto& m = doc.as_object();
    const auto file = get_string(m, "file");
    const auto sha = get_string(m, "sha256");
    const auto hash = get_string(m, "hash");
    const auto* size = m.if_contains("size");
    if (file.empty() || file.find('/') != std::string::npos || sha.size() != 64 ||
        !protocol::is_config_hash(hash) || !size || !size->is_number())
        return corrupt(fmt::format("{}: missing or malformed fields", manifest_path().string()));
    auto content = read_whole_file(prefix_ / file, max_size);
    if (!content)
        return corrupt(content.error());
    if (content->size() != size->to_number<std::uint64_t>())
        return corrupt(fmt::format("{}: {} bytes, the manifest says {} (torn write?)",
                                   (prefix_ / file).string(), content->size(),
                                   size->to_number<std::uint64_t>()));
    if (sha256_hex(content.value()) != sha)
        return corrupt(
            fmt::format("{}: SHA-256 does not match the manifest (corrupted)", (prefix_ / file).string()));

    protocol::config_hashes hashes;
    hashes.config = hash;
    if (auto* hs = m.if_contains("hashes"); hs && hs->is_object()) {
        const auto& o = hs->as_object();
        hashes.config = get_string(o, "config");
        hashes.routes = get_string(o, "routes");
        hashes.services = get_string(o, "services");
        hashes.plugins = get_string(o, "plugins");
        hashes.upstreams = get_string(o, "upstreams");
        hashes.targets = get_string(o, "targets");
    }
    auto snap =
        protocol::snapshot_from_config_table(std::move(content).value(), config_source::cache, &hashes);
    if (!snap)
        return corrupt(fmt::format("{}: {}", (prefix_ / file).string(), snap.error()));
    auto copy = std::make_shared<protocol::config_snapshot>(*snap.value());
    copy->hash = hash; // the manifest's hash is the one the CP gave
    if (auto* ts = m.if_contains("cp_timestamp"); ts && ts->is_number())
        copy->cp_timestamp = ts->to_number<double>();
    out.snapshot = std::move(copy);
    out.stored_source = source_from(get_string(m, "source"));
    out.status = cache_load_status::loaded;
    return out;
}

} // namespace lifeboat::agent
