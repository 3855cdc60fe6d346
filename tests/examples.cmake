# The examples are built by CMake and run here, so they stay correct.
if(NOX_BUILD_EXAMPLES)
  set(NOX_EXAMPLE_DIR ${CMAKE_CURRENT_BINARY_DIR}/examples-run)
  file(MAKE_DIRECTORY ${NOX_EXAMPLE_DIR})
  foreach(ex quickstart)
    add_test(NAME example_${ex} COMMAND ${CMAKE_COMMAND} -E env
      NOXRUNNER_STATE_DIR=${NOX_EXAMPLE_DIR}/state-${ex} $<TARGET_FILE:${ex}>
      WORKING_DIRECTORY ${NOX_EXAMPLE_DIR})
    set_tests_properties(example_${ex} PROPERTIES ENVIRONMENT "${NOX_TEST_ENV}"
      LABELS "examples" TIMEOUT 120)
  endforeach()
endif()
