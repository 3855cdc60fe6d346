# The router, the one parser of the request target, tested on its own
# (server/route.c is pure: no libmicrohttpd, no I/O).
add_executable(test_server_route unit/test_server_route.c ${PROJECT_SOURCE_DIR}/server/route.c)
target_include_directories(test_server_route PRIVATE ${PROJECT_SOURCE_DIR}/server)
target_link_libraries(test_server_route PRIVATE noxrunner PkgConfig::CMOCKA)
add_test(NAME server_route COMMAND test_server_route)
set_tests_properties(server_route PROPERTIES ENVIRONMENT "${NOX_TEST_ENV}"
  LABELS "unit;server" TIMEOUT 300)

# noxrunnerd, tested from outside: the real server on an ephemeral port,
# driven over raw HTTP by Python scripts that use only the standard library
# (not our client, so the two cannot share a misunderstanding of the wire
# contract). A script exits 77 -- "skipped" for ctest -- when the host cannot
# run isolated sandboxes, and says why.
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_Interpreter_FOUND)
  message(WARNING "python3 not found: the noxrunnerd tests (tests/contract/) are not registered")
  return()
endif()

option(NOX_TEST_SERVER_VALGRIND
  "Also run the contract test with noxrunnerd under valgrind --leak-check=full"
  ${NOX_TEST_VALGRIND})

foreach(t contract lifecycle hostile)
  add_test(NAME server_${t}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/contract/test_${t}.py
            --server $<TARGET_FILE:noxrunnerd>)
  set_tests_properties(server_${t} PROPERTIES
    ENVIRONMENT "${NOX_TEST_ENV}"
    LABELS "integration;server"
    TIMEOUT 900
    SKIP_RETURN_CODE 77)
endforeach()

if(NOX_TEST_SERVER_VALGRIND)
  find_program(NOX_VALGRIND valgrind REQUIRED)
  add_test(NAME server_contract_valgrind
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/contract/test_contract.py
            --server $<TARGET_FILE:noxrunnerd>)
  set_tests_properties(server_contract_valgrind PROPERTIES
    ENVIRONMENT "${NOX_TEST_ENV};NOX_TEST_SERVER_WRAPPER=${NOX_VALGRIND} --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --track-fds=no --error-exitcode=99"
    LABELS "server;valgrind-server;valgrind-run"
    TIMEOUT 3600
    SKIP_RETURN_CODE 77)
endif()
