# The local backend and its isolation (real nox-init, real processes).
nox_integration_test(test_local LABELS valgrind)
nox_integration_test(test_isolation)
nox_integration_test(test_limits)
nox_integration_test(test_http LABELS valgrind)
