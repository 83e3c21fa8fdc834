# Installing hookless as a service (`cmake --install`) and packaging it as a .deb (`cpack -G DEB`):
# programs in bin, systemd units, sysusers.d/tmpfiles.d, /etc/hookless/hookless.yaml, the example
# config, README and docs/ in the doc dir; the man pages are installed by man/CMakeLists.txt.
#
# With the default prefix /usr (set it: -DCMAKE_INSTALL_PREFIX=/usr), units go to /usr/lib/systemd/system
# and the config to /etc/hookless (GNUInstallDirs maps sysconfdir to /etc for the /usr prefix).

# Relative to the prefix (so a build given another prefix later follows it), or absolute.
set(HOOKLESS_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING "Where the systemd units are installed")
set(HOOKLESS_SYSUSERS_DIR "lib/sysusers.d" CACHE STRING "Where the sysusers.d file is installed")
set(HOOKLESS_TMPFILES_DIR "lib/tmpfiles.d" CACHE STRING "Where the tmpfiles.d file is installed")

install(FILES systemd/hookless.service systemd/hookless.socket DESTINATION ${HOOKLESS_SYSTEMD_UNIT_DIR})
install(FILES systemd/hookless.sysusers DESTINATION ${HOOKLESS_SYSUSERS_DIR} RENAME hookless.conf)
install(FILES systemd/hookless.tmpfiles DESTINATION ${HOOKLESS_TMPFILES_DIR} RENAME hookless.conf)
install(FILES packaging/hookless.yaml DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/hookless)
install(FILES config/hookless.example.yaml README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs FILES_MATCHING PATTERN "*.md")
# The Prometheus alert rules and the Grafana dashboard (docs/metrics.md), for the monitoring's own setup.
install(FILES monitoring/alerts.yml monitoring/grafana-dashboard.json DESTINATION ${CMAKE_INSTALL_DOCDIR}/monitoring)

# The man pages: man/CMakeLists.txt.

# cpack -G DEB (run in the build tree, configured with -DCMAKE_INSTALL_PREFIX=/usr).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hookless)
set(CPACK_PACKAGE_VENDOR "hookless")
set(CPACK_PACKAGE_CONTACT "hookless maintainers <hookless@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "webhook replacement for the Extend API: polls runs and delivers them locally")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# procps: /bin/kill, which the unit's ExecReload= sends SIGHUP with.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd, ca-certificates, procps")
# Debian ships its programs stripped; a RelWithDebInfo build (the test build) keeps its debug info.
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/prerm
  ${PROJECT_SOURCE_DIR}/packaging/postrm ${PROJECT_SOURCE_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
