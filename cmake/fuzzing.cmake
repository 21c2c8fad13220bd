# The `fuzz` preset (clang): every library built for the fuzz targets carries libFuzzer's
# coverage instrumentation and the address and undefined-behaviour sanitizers; the targets
# themselves link -fsanitize=fuzzer (test/fuzz/CMakeLists.txt).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
  # clang 14 and 15 lack C++20's parenthesised aggregate initialisation (`failure(...)`).
  message(FATAL_ERROR "LIFEBOAT_FUZZ needs clang 16 or later (cmake/deps.sh fuzz; cmake --preset fuzz), "
                      "not ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                    -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)
# GCC's warning set (cmake/warnings.cmake) names options clang does not know.
set(LIFEBOAT_WARNING_FLAGS -Wall -Wextra -Wno-missing-field-initializers)
