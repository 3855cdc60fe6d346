# The examples are built by CMake and run here, so they stay correct: each
# on the local backend, and each again through a real noxrunnerd (the
# examples take a base URL as argument). tests/examples/run_example.sh gives
# each run a scratch working directory and a private state directory, and
# fails a run that leaves a sandbox or a file behind.
if(NOX_BUILD_EXAMPLES)
  set(NOX_RUN_EXAMPLE ${CMAKE_CURRENT_SOURCE_DIR}/examples/run_example.sh)
  foreach(ex quickstart agent_loop threads errors)
    # The quick start leaves its download to look at, on purpose.
    set(keep)
    if(ex STREQUAL "quickstart")
      set(keep --keep quickstart-output)
    endif()
    add_test(NAME example_${ex} COMMAND sh ${NOX_RUN_EXAMPLE} ${keep} $<TARGET_FILE:${ex}>)
    add_test(NAME example_${ex}_server COMMAND sh ${NOX_RUN_EXAMPLE}
      --server $<TARGET_FILE:noxrunnerd> ${keep} $<TARGET_FILE:${ex}>)
    set_tests_properties(example_${ex} example_${ex}_server PROPERTIES
      ENVIRONMENT "${NOX_TEST_ENV}" LABELS "examples" TIMEOUT 120 SKIP_RETURN_CODE 77)
  endforeach()
endif()
