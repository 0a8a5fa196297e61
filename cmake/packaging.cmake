# `cmake --install` and `cpack`: binaries, the systemd unit, the config file, shell completions,
# man pages and docs in their FHS places, and a .deb of them.
#   cmake --install build --prefix /usr            (DESTDIR=... for a staging root)
#   cpack --config build/CPackConfig.cmake -B build/package
include(GNUInstallDirs)

install(TARGETS slipwayd slipway RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT slipway)

# The config file and the unit live outside the prefix (/etc and /lib/systemd): their paths
# are absolute, as a .deb and systemd expect.
set(SLIPWAY_CONFIG_DIR "/etc/slipway" CACHE PATH "Where slipwayd.yaml goes")
install(FILES ${PROJECT_SOURCE_DIR}/packaging/slipwayd.yaml
        DESTINATION ${SLIPWAY_CONFIG_DIR} COMPONENT slipway)
set(SLIPWAY_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where the systemd unit goes")
install(FILES ${PROJECT_SOURCE_DIR}/packaging/systemd/slipwayd.service
        DESTINATION ${SLIPWAY_SYSTEMD_UNIT_DIR} COMPONENT slipway)

# Completions and man pages come from the commands' own definitions (`slipway completion`,
# `slipway man`, `slipwayd --man`), so they cannot drift from the help.
set(SLIPWAY_GENERATED_DOCS ${PROJECT_BINARY_DIR}/generated-docs)
# A sanitizer build runs them too: leak checks are for the tests, not for printing help.
set(SLIPWAY_RUN_TOOL ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0)
add_custom_command(
  OUTPUT ${SLIPWAY_GENERATED_DOCS}/slipway.bash ${SLIPWAY_GENERATED_DOCS}/_slipway
         ${SLIPWAY_GENERATED_DOCS}/slipway.fish ${SLIPWAY_GENERATED_DOCS}/slipway.1
         ${SLIPWAY_GENERATED_DOCS}/slipwayd.8
  COMMAND ${CMAKE_COMMAND} -E make_directory ${SLIPWAY_GENERATED_DOCS}
  COMMAND ${SLIPWAY_RUN_TOOL} $<TARGET_FILE:slipway> completion bash > ${SLIPWAY_GENERATED_DOCS}/slipway.bash
  COMMAND ${SLIPWAY_RUN_TOOL} $<TARGET_FILE:slipway> completion zsh > ${SLIPWAY_GENERATED_DOCS}/_slipway
  COMMAND ${SLIPWAY_RUN_TOOL} $<TARGET_FILE:slipway> completion fish > ${SLIPWAY_GENERATED_DOCS}/slipway.fish
  COMMAND ${SLIPWAY_RUN_TOOL} $<TARGET_FILE:slipway> man > ${SLIPWAY_GENERATED_DOCS}/slipway.1
  COMMAND ${SLIPWAY_RUN_TOOL} $<TARGET_FILE:slipwayd> --man > ${SLIPWAY_GENERATED_DOCS}/slipwayd.8
  DEPENDS slipway slipwayd
  COMMENT "Generating completions and man pages")
add_custom_target(slipway_docs ALL DEPENDS ${SLIPWAY_GENERATED_DOCS}/slipway.1)

install(FILES ${SLIPWAY_GENERATED_DOCS}/slipway.bash RENAME slipway
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions COMPONENT slipway)
install(FILES ${SLIPWAY_GENERATED_DOCS}/_slipway
        DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions COMPONENT slipway)
install(FILES ${SLIPWAY_GENERATED_DOCS}/slipway.fish
        DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d COMPONENT slipway)
install(FILES ${SLIPWAY_GENERATED_DOCS}/slipway.1
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT slipway)
install(FILES ${SLIPWAY_GENERATED_DOCS}/slipwayd.8
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT slipway)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/CHANGELOG.md
              ${PROJECT_SOURCE_DIR}/docs/benchmarks.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT slipway)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE RENAME copyright
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT slipway)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/adr
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT slipway)
# The API, for generating clients (`protoc -I /usr/share/slipway/proto ...`).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/proto/slipway
        DESTINATION ${CMAKE_INSTALL_DATADIR}/slipway/proto COMPONENT slipway)
install(FILES ${PROJECT_SOURCE_DIR}/examples/shop/pipeline.yaml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/shop COMPONENT slipway)

# The .deb. Its Depends come from dpkg-shlibdeps over the binaries, plus the tools the
# maintainer scripts call.
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "slipway")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Slipway")
set(CPACK_PACKAGE_CONTACT "Slipway maintainers <maintainers@slipway.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "self-hosted release and preview-environment controller")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
    "slipwayd runs pipelines of stages with release flows triggered by Git pushes, pull\n"
    "requests, signed webhooks, schedules and API calls, keeps an immutable release history\n"
    "per stage with one-call rollback, and manages preview environments per branch or pull\n"
    "request. slipway is its command-line client.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "podman | docker.io, caddy, git")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://slipway.invalid/")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
include(CPack)
