# The http backend's own unit tests (test_http and test_tls, which need a
# server, are registered in local.cmake and tls.cmake).
nox_unit_test(test_curl_load)
