#!/bin/sh
# Installs the system packages NoxRunner needs to build and test, on Debian
# and Ubuntu. Usage: scripts/install-deps.sh [--check] [--ci]
#   --check  only report what is missing (exit 1 if anything is)
#   --ci     also install what CI needs (clang, valgrind, cppcheck, ...)
# Runs apt-get directly as root, through sudo otherwise; when neither works
# it prints the exact command to run.
set -eu

BUILD_PKGS="build-essential cmake pkg-config libcurl4-openssl-dev libmicrohttpd-dev \
libjansson-dev libarchive-dev zlib1g-dev libseccomp-dev libedit-dev"
TEST_PKGS="libcmocka-dev python3 procps iproute2 ca-certificates openssl"
CI_PKGS="clang libclang-rt-14-dev valgrind cppcheck clang-tidy doxygen"

check=0
ci=0
for arg in "$@"; do
    case "$arg" in
    --check) check=1 ;;
    --ci) ci=1 ;;
    -h | --help)
        sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install-deps: unknown option $arg" >&2
        exit 2
        ;;
    esac
done

pkgs="$BUILD_PKGS $TEST_PKGS"
[ "$ci" = 1 ] && pkgs="$pkgs $CI_PKGS"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: this script knows Debian and Ubuntu (dpkg/apt); install the" >&2
    echo "equivalents of these packages with your system's package manager:" >&2
    echo "  $pkgs" >&2
    exit 1
fi

missing=""
for p in $pkgs; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done

if [ -z "$missing" ]; then
    [ "$check" = 1 ] && echo "install-deps: all packages present"
    exit 0
fi

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
if [ "$check" = 1 ]; then
    echo "install-deps: missing:$missing" >&2
    exit 1
fi

echo "install-deps: installing:$missing"
if [ "$(id -u)" = 0 ]; then
    sh -c "$cmd"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo sh -c "$cmd"
else
    echo "install-deps: cannot install packages as $(id -un). Run this as root, then retry:" >&2
    echo "  sudo sh -c '$cmd'" >&2
    exit 1
fi
