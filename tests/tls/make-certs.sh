#!/bin/sh
# SPDX-License-Identifier: MIT
# Makes a throw-away certificate authority and server certificates for the
# TLS tests, with the openssl command-line tool. Usage: make-certs.sh DIR
#   DIR/ca.pem               the CA's certificate (what a client trusts)
#   DIR/server.pem, .key     for 127.0.0.1 and localhost, signed by the CA
#   DIR/other.pem, .key      for other.invalid only, signed by the CA
# Everything is valid for two days and never leaves DIR. EC keys: quick.
set -eu

dir=${1:?usage: make-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

# A configuration of our own, so that neither the distribution's
# openssl.cnf nor OPENSSL_CONF adds or changes extensions.
cat >openssl.cnf <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = NoxRunner test
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[other_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.invalid
authorityKeyIdentifier = keyid
CNF
export OPENSSL_CONF="$PWD/openssl.cnf"

key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

key ca.key
openssl req -config openssl.cnf -new -x509 -key ca.key -out ca.pem -days 2 \
    -subj "/CN=NoxRunner throw-away test CA" -extensions ca_ext

serial=1
for name in server other; do
    key "$name.key"
    openssl req -config openssl.cnf -new -key "$name.key" -out "$name.csr" \
        -subj "/CN=NoxRunner test $name"
    serial=$((serial + 1))
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -set_serial "$serial" \
        -days 2 -extfile openssl.cnf -extensions "${name}_ext" -out "$name.pem" 2>/dev/null
    rm -f "$name.csr"
done
