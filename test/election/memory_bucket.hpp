// A bucket in memory for the election tests: the test double the brief allows until the real
// stores land, and the only way to step many nodes on a virtual clock. It enforces conditional
// writes as S3/RGW do (412 on a lost If-None-Match/If-Match, If-Match on a missing key is 412 as
// on RGW) or, when `enforce_conditions` is false, ignores them as s3rver and B2 do.
#pragma once

#include "backends/object_store.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::test {

class memory_bucket {
public:
    bool enforce_conditions = true;
    // The store's clock: LastModified and the Date header. Tests skew it freely.
    std::function<wall_clock::time_point()> clock = [] { return wall_clock::now(); };
    // Consulted before every request ("PUT", "GET", "HEAD", "DELETE", "LIST"); an error fails it.
    std::function<std::optional<backends::store_error>(std::string_view op, std::string_view key)> fail;

    backends::store_result<backends::object_info> head(const std::string& key);
    backends::store_result<backends::object_data> get(const std::string& key);
    backends::store_result<backends::object_info> put(const std::string& key, std::string bytes,
                                                      const backends::put_options& options);
    backends::store_result<void> remove(const std::string& key, const std::string& expected_version = {});
    backends::store_result<std::vector<backends::object_info>> list(const std::string& prefix);

    std::size_t requests(std::string_view op) const;
    std::size_t total_requests() const;
    void reset_counts() { counts_.clear(); }
    bool contains(const std::string& key) const { return objects_.count(key) != 0; }
    std::vector<std::string> keys(const std::string& prefix = {}) const;

private:
    std::optional<backends::store_error> check(std::string_view op, const std::string& key);

    struct stored {
        std::string bytes;
        backends::object_info info;
    };
    std::map<std::string, stored> objects_;
    std::map<std::string, std::size_t, std::less<>> counts_;
};

// An object_store over a shared memory_bucket: separate instances, one bucket, like separate
// processes on one S3 bucket.
std::unique_ptr<backends::object_store> make_memory_store(std::shared_ptr<memory_bucket> bucket);

} // namespace lifeboat::test
