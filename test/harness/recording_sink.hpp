// An object_sink for store tests: records what get_streamed() handed over (each start with the
// size it announced, the bytes since the last start, how many pieces) and can refuse the object
// once enough of it arrived, as the importer refuses an invalid config.
#pragma once

#include "backends/object_store.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lifeboat::test {

struct recording_sink {
    std::vector<std::optional<std::uint64_t>> starts;
    std::string bytes;
    std::size_t pieces = 0;
    std::optional<std::size_t> refuse_after; // refuse once this many bytes arrived (0: the first piece)

    backends::object_sink sink() {
        return {[this](std::optional<std::uint64_t> size) {
                    starts.push_back(size);
                    bytes.clear();
                },
                [this](std::string_view b) -> std::optional<std::string> {
                    bytes.append(b);
                    ++pieces;
                    if (refuse_after && bytes.size() >= *refuse_after)
                        return std::string("not a config");
                    return std::nullopt;
                }};
    }
};

} // namespace lifeboat::test
