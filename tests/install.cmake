# Packaging: the exported ABI, and an installation used the way a program
# outside this build uses it. Label "install": ctest -L install.

# Every exported symbol is public API and every NOX_PUBLIC function is exported.
add_test(NAME exported_symbols
  COMMAND ${CMAKE_COMMAND} -E env NM=${CMAKE_NM}
    sh ${CMAKE_CURRENT_SOURCE_DIR}/install/check_symbols.sh $<TARGET_FILE:noxrunner>
    ${PROJECT_SOURCE_DIR}/include/noxrunner ${PROJECT_BINARY_DIR}/include/noxrunner)
set_tests_properties(exported_symbols PROPERTIES
  LABELS "install;abi" TIMEOUT 60 SKIP_RETURN_CODE 77)

# cmake --install into a temporary prefix and into DESTDIR, then programs
# built against the result with pkg-config and with find_package. A
# sanitizer build's library needs its runtime in every program that loads
# it, so the consumers are built with the same -fsanitize flags.
set(NOX_CONSUMER_CFLAGS "")
if(NOX_SANITIZE)
  set(NOX_CONSUMER_CFLAGS "-fsanitize=address,undefined")
endif()
add_test(NAME install
  COMMAND ${CMAKE_COMMAND} -E env
    NOX_BUILD_DIR=${PROJECT_BINARY_DIR}
    NOX_SOURCE_DIR=${PROJECT_SOURCE_DIR}
    NOX_VERSION=${PROJECT_VERSION}
    NOX_CONFIG=$<CONFIG>
    NOX_PREFIX=${CMAKE_INSTALL_PREFIX}
    NOX_LIBDIR=${CMAKE_INSTALL_LIBDIR}
    NOX_INCLUDEDIR=${CMAKE_INSTALL_INCLUDEDIR}
    NOX_BINDIR=${CMAKE_INSTALL_BINDIR}
    NOX_LIBEXECDIR=${CMAKE_INSTALL_LIBEXECDIR}
    NOX_MANDIR=${CMAKE_INSTALL_MANDIR}
    NOX_GENERATOR=${CMAKE_GENERATOR}
    NOX_MAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}
    CMAKE=${CMAKE_COMMAND}
    CC=${CMAKE_C_COMPILER}
    PKG_CONFIG=${PKG_CONFIG_EXECUTABLE}
    "NOX_CONSUMER_CFLAGS=${NOX_CONSUMER_CFLAGS}"
    sh ${CMAKE_CURRENT_SOURCE_DIR}/install/test_install.sh)
set_tests_properties(install PROPERTIES
  LABELS "install" TIMEOUT 300 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
