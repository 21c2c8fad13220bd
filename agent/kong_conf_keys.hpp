// Kong's own configuration keys, kept as data: a kong.conf written for Kong may be given to
// lifeboat as it is, so its keys are accepted (and listed as ignored by `config check`), while
// any other unknown key is an error naming the closest known key.
#pragma once

#include <string_view>
#include <vector>

namespace lifeboat::agent {

// A key of Kong's kong.conf (open source or Enterprise), or one of the key families Kong accepts
// by pattern (nginx_<block>_<directive>, pluginserver_<name>_socket|start_cmd|query_cmd).
bool is_kong_conf_key(std::string_view key);

// The listed keys (not the patterns), for suggesting the closest one to a misspelt key.
std::vector<std::string_view> kong_conf_key_names();

} // namespace lifeboat::agent
