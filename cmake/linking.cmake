# How executables are linked. An idle agent's resident memory is mostly the code and tables of
# the shared libraries it maps (bench/agent), so the shipped binary keeps that list short:
# - relative relocations packed as DT_RELR (binutils 2.38+, glibc 2.36+; Debian 12 has both):
#   the dynamic loader no longer reads a multi-hundred-KiB .rela.dyn table at every start;
# - the lifeboat binary links libstdc++ and libgcc statically (cli/CMakeLists.txt), so the loader
#   never touches libstdc++.so's large symbol tables and only the C++ runtime code used is mapped;
# - every function and object in its own section, and the unreferenced ones dropped at link time
#   (--gc-sections): the binary's code shrinks by a ninth, and the code an agent runs is packed into
#   fewer pages (the kernel maps code in 64 KiB runs around each page it faults in).
include(CheckLinkerFlag)
check_linker_flag(CXX "-Wl,-z,pack-relative-relocs" LIFEBOAT_HAVE_RELR)
if(LIFEBOAT_HAVE_RELR)
  add_link_options("-Wl,-z,pack-relative-relocs")
endif()
add_compile_options(-ffunction-sections -fdata-sections)
add_link_options("-Wl,--gc-sections")
# Drop shared libraries nothing references (a Boost or OpenSSL component pulled in transitively).
add_link_options("-Wl,--as-needed")

# lifeboat_link_runtime_statically(target): libstdc++ and libgcc inside the binary.
function(lifeboat_link_runtime_statically target)
  if(NOT LIFEBOAT_SANITIZE) # the sanitizers' runtimes expect the shared C++ runtime
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  endif()
endfunction()
