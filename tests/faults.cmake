# Faults (tests/contract/test_faults.py): the real noxrunnerd SIGKILLed in
# the middle of an upload, an exec and a delete, then restarted on the same
# state directory; and a state directory that fills up or turns read-only
# (a tmpfs of the test's own: root only, skipped otherwise). Two groups, so
# that the one that cannot run here shows as skipped rather than passed.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  foreach(group kill fs)
    add_test(NAME server_faults_${group}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/contract/test_faults.py
              --server $<TARGET_FILE:noxrunnerd> -k ${group}_)
    set_tests_properties(server_faults_${group} PROPERTIES
      ENVIRONMENT "${NOX_TEST_ENV}"
      LABELS "integration;server;faults"
      TIMEOUT 600
      SKIP_RETURN_CODE 77)
  endforeach()
else()
  message(STATUS "python3 not found: the fault tests (label faults) are not registered")
endif()
