# The local backend and its isolation (real nox-init, real processes).
nox_integration_test(test_local LABELS valgrind)
nox_integration_test(test_isolation)
nox_integration_test(test_limits)
nox_integration_test(test_http LABELS valgrind)
# Unisolated mode (NOX_ISOLATION_NONE); its case for hosts without user
# namespaces installs a seccomp filter in a child, hence libseccomp.
nox_integration_test(test_unisolated)
target_link_libraries(test_unisolated PRIVATE PkgConfig::SECCOMP)
