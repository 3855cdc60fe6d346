# Load: the real noxrunnerd under 16 client threads (tests/integration/
# test_load.c). About a minute on two cores; NOX_LOAD_ROUNDS scales it.
# The downloads are read back with libarchive, a reader independent of the
# library's own extraction.
nox_integration_test(test_load TIMEOUT 900 LABELS server load)
target_link_libraries(test_load PRIVATE PkgConfig::LIBARCHIVE)
