# noxrc, the command-line tool, driven as a program (tests/cli/test_cli.py):
# one ctest test per group, so that a group that cannot run here (no
# isolation, no server yet, archive module still a placeholder) shows as
# skipped rather than passed.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  foreach(group basic local shell transfer http server)
    add_test(NAME cli_${group}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_cli.py
              --noxrc $<TARGET_FILE:noxrc> --group ${group})
    set_tests_properties(cli_${group} PROPERTIES ENVIRONMENT "${NOX_TEST_ENV}"
      LABELS cli TIMEOUT 600 SKIP_RETURN_CODE 77)
  endforeach()
else()
  message(STATUS "python3 not found: the noxrc tests (label cli) are not registered")
endif()
