# HTTPS for the http backend: noxrunnerd behind a TLS forwarder
# (tests/tls/), with certificates made at test time by openssl.
nox_integration_test(test_tls)
