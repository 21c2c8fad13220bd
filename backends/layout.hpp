// Where things live in the bucket. The layout is Kong Enterprise's, so that lifeboat and Kong
// nodes can share one bucket:
//   <prefix>/<node_version>/config.json          the backup (plain JSON config_table)
//   <prefix>/<node_version>/election/...         election registrations and terms
#pragma once

#include <string>
#include <string_view>

namespace lifeboat::backends {

// Joins parts with '/', merges duplicate slashes (Kong's normalize) and drops a leading slash,
// which S3 would otherwise keep as part of the key.
std::string join_key(std::string_view a, std::string_view b);

std::string config_key(std::string_view prefix, std::string_view node_version);
std::string election_prefix(std::string_view prefix, std::string_view node_version); // ends with '/'

} // namespace lifeboat::backends
