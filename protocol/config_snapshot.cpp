#include "protocol/config_snapshot.hpp"

namespace lifeboat::protocol {

const char* to_string(config_source s) {
    switch (s) {
    case config_source::none:
        return "none";
    case config_source::cache:
        return "cache";
    case config_source::control_plane:
        return "control_plane";
    case config_source::fallback:
        return "fallback";
    case config_source::declarative_config:
        return "declarative_config";
    }
    return "none";
}

std::shared_ptr<const std::string> config_snapshot::shared_config_json() const {
    if (storage && storage->data() == config_json.data() && storage->size() == config_json.size())
        return storage;
    return std::make_shared<const std::string>(config_json);
}

} // namespace lifeboat::protocol
