# Project-wide warnings, applied per target through lifeboat_set_target_options() so that
# third-party headers (included as system headers) stay quiet.
set(LIFEBOAT_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor
                           -Wno-missing-field-initializers
                           # GCC 12 false positive on Asio coroutine frames (their operator new/delete pair).
                           -Wno-mismatched-new-delete)

# lifeboat_set_target_options(target [PCH pch_target]): warnings, and the precompiled header to
# reuse (default lifeboat_pch; tests reuse lifeboat_test_pch, the same plus GoogleTest).
function(lifeboat_set_target_options target)
  cmake_parse_arguments(O "" "PCH" "" ${ARGN})
  if(NOT O_PCH)
    set(O_PCH lifeboat_pch)
  endif()
  target_compile_options(${target} PRIVATE ${LIFEBOAT_WARNING_FLAGS})
  # Every target reuses one precompiled header (Asio, Beast, JSON, URL, fmt), built once in base/.
  # REUSE_FROM needs identical flags, which is why the warnings live in one variable.
  target_precompile_headers(${target} REUSE_FROM ${O_PCH})
endfunction()
