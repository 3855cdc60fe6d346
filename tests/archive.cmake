# Archive module: tar.gz writers and the safe extractor.
nox_unit_test(test_archive)
nox_unit_test(test_gzip)
