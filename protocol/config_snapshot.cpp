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
    }
    return "none";
}

} // namespace lifeboat::protocol
