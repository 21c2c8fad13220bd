// Helpers the fuzz targets share: a selector byte that picks one of a target's parsers, and
// splitting an input into pieces (a stream delivered in chunks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lifeboat::fuzz {

// Reads the input front to back: a byte at a time for choices, the rest as the document.
class input {
public:
    input(const std::uint8_t* data, std::size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

    // The next byte (0 once the input is used up).
    std::uint8_t byte() {
        if (rest_.empty())
            return 0;
        const auto b = static_cast<std::uint8_t>(rest_.front());
        rest_.remove_prefix(1);
        return b;
    }
    std::string_view rest() const { return rest_; }

private:
    std::string_view rest_;
};

} // namespace lifeboat::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
