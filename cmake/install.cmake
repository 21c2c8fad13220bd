# `cmake --install`: the deployment files, in the GNUInstallDirs places. The binary itself is
# installed by cli/CMakeLists.txt (bin/lifeboat).
#
#   <prefix>/bin/lifeboat
#   <prefix>/lib/systemd/system/lifeboat.service    ExecStart points at <prefix>/bin/lifeboat
#   <prefix>/lib/sysusers.d/lifeboat.conf           the `lifeboat` system user the unit runs as
#   <prefix>/share/doc/lifeboat/                    README.md, lifeboat.conf.example, docs/*.md
#                                                   (in docs/, so the README's links work)
#
# The configuration itself is the operator's: copy lifeboat.conf.example to
# /etc/lifeboat/lifeboat.conf. Packagers: LIFEBOAT_SYSTEMD_UNIT_DIR and LIFEBOAT_SYSUSERS_DIR are
# relative to the prefix unless absolute (e.g. /lib/systemd/system for a /usr/local install that
# systemd should still find).
include(GNUInstallDirs)

set(LIFEBOAT_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING "Where lifeboat.service is installed")
set(LIFEBOAT_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING "Where the sysusers.d entry is installed")

# The unit names /usr/bin/lifeboat; rewrite that to where this install puts the binary. The prefix
# is only known at install time (`cmake --install --prefix`), so this runs then.
if(IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
  set(_lifeboat_bin "${CMAKE_INSTALL_BINDIR}/lifeboat")
else()
  set(_lifeboat_bin "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/lifeboat")
endif()
if(IS_ABSOLUTE "${LIFEBOAT_SYSTEMD_UNIT_DIR}")
  set(_lifeboat_unit_dir "${LIFEBOAT_SYSTEMD_UNIT_DIR}")
else()
  set(_lifeboat_unit_dir "\${CMAKE_INSTALL_PREFIX}/${LIFEBOAT_SYSTEMD_UNIT_DIR}")
endif()
set(_lifeboat_unit_staged "${CMAKE_BINARY_DIR}/packaging/lifeboat.service")
install(CODE "
  file(READ \"${PROJECT_SOURCE_DIR}/packaging/lifeboat.service\" _unit)
  string(REPLACE \"ExecStart=/usr/bin/lifeboat \" \"ExecStart=${_lifeboat_bin} \" _unit \"\${_unit}\")
  file(WRITE \"${_lifeboat_unit_staged}\" \"\${_unit}\")
  file(INSTALL DESTINATION \"${_lifeboat_unit_dir}\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES \"${_lifeboat_unit_staged}\")
")

install(FILES packaging/lifeboat.sysusers DESTINATION ${LIFEBOAT_SYSUSERS_DIR} RENAME lifeboat.conf)
install(FILES README.md packaging/lifeboat.conf.example DESTINATION ${CMAKE_INSTALL_DOCDIR})
if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/docs)
  install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs FILES_MATCHING PATTERN "*.md")
endif()
