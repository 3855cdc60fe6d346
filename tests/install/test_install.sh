#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the build into a temporary prefix and uses it as someone
# without our build tree would:
#   1. `cmake --install --prefix`: every file where docs/install.md says,
#      nothing outside the prefix, no build-tree path in what was installed;
#   2. the installed programs start and find the installed library;
#   3. a program built with pkg-config, against the shared library and
#      (--static) against the archive;
#   4. a CMake project with find_package(noxrunner): noxrunner::noxrunner,
#      and noxrunner::noxrunner_static through the "static" component; the
#      shared target also where pkg-config cannot be found;
#   5. DESTDIR: a staged install lands entirely under DESTDIR, and the
#      uninstall target removes all of it again;
#   6. the systemd unit passes `systemd-analyze verify` (when installed).
# Run by ctest (tests/install.cmake), which passes the build's settings in
# the environment; exits 77 ("skipped, because ...") when a tool is missing.
set -eu
export LC_ALL=C

: "${NOX_BUILD_DIR:?}" "${NOX_SOURCE_DIR:?}" "${NOX_VERSION:?}" "${NOX_PREFIX:?}"
: "${NOX_LIBDIR:?}" "${NOX_INCLUDEDIR:?}" "${NOX_BINDIR:?}" "${NOX_LIBEXECDIR:?}"
: "${NOX_MANDIR:?}" "${NOX_CONFIG=}"
CMAKE=${CMAKE:-cmake}
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
B=$NOX_BUILD_DIR
S=$NOX_SOURCE_DIR
MAJOR=${NOX_VERSION%%.*}

skip() {
    echo "skipped, because $*"
    exit 77
}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
step() { echo "== $*"; }
have() { command -v "$1" >/dev/null 2>&1; }

have "$CMAKE" || skip "cmake ($CMAKE) is not installed"
have "$CC" || skip "no C compiler ($CC)"
have "$PKG_CONFIG" || skip "pkg-config ($PKG_CONFIG) is not installed"
have readelf || skip "readelf (binutils) is not installed"
# An install rule with an absolute destination (a packager's
# -DNOX_SYSTEMD_UNIT_DIR=/lib/systemd/system, say) would write outside the
# temporary prefix: look before installing anything.
abs=$(find "$B" -name cmake_install.cmake -exec sed -n \
    's/.*file(INSTALL DESTINATION "\([^$][^"]*\)".*/\1/p' {} + | sort -u | tr '\n' ' ')
[ -z "$abs" ] || skip "this build installs to absolute directories ($abs), which" \
    "--prefix cannot move into a temporary directory"

T=$(mktemp -d "${TMPDIR:-/tmp}/nox-install.XXXXXX")
# `cmake --install` rewrites the build's install_manifest.txt, which may
# list a real installation someone wants to uninstall: keep it.
manifest=$B/install_manifest.txt
[ -f "$manifest" ] && cp -p "$manifest" "$T.manifest"
cleanup() {
    if [ -f "$T.manifest" ]; then
        mv -f "$T.manifest" "$manifest"
    else
        rm -f "$manifest"
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

P=$T/prefix
config=
[ -n "$NOX_CONFIG" ] && config="--config $NOX_CONFIG"

# install_manifest.txt has no final newline: count with awk, not wc -l.
lines() { awk 'END { print NR }' "$1"; }
# Lines of file $2 (absolute paths) that are not under directory $1.
outside() { awk -v d="$1/" 'index($0, d) != 1' "$2"; }

# ---------------------------------------------------------------------------
step "cmake --install --prefix $P"
# shellcheck disable=SC2086
"$CMAKE" --install "$B" --prefix "$P" $config >"$T/install.log" 2>&1 ||
    { cat "$T/install.log"; fail "cmake --install failed"; }
[ -f "$manifest" ] || fail "cmake --install wrote no install_manifest.txt"
bad=$(outside "$P" "$manifest")
[ -z "$bad" ] || fail "installed outside the prefix $P: $bad"

L=$P/$NOX_LIBDIR
expect_file() { [ -f "$1" ] || fail "not installed: ${1#"$P"/}"; }
expect_exec() {
    if [ ! -f "$1" ] || [ ! -x "$1" ]; then
        fail "not installed as a program: ${1#"$P"/}"
    fi
}
expect_link() {
    [ -L "$1" ] || fail "not a symbolic link: ${1#"$P"/}"
    [ "$(readlink "$1")" = "$2" ] || fail "${1#"$P"/} points to $(readlink "$1"), not $2"
}
expect_file "$L/libnoxrunner.so.$NOX_VERSION"
expect_link "$L/libnoxrunner.so.$MAJOR" "libnoxrunner.so.$NOX_VERSION"
expect_link "$L/libnoxrunner.so" "libnoxrunner.so.$MAJOR"
soname=$(readelf -d "$L/libnoxrunner.so.$NOX_VERSION" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libnoxrunner.so.$MAJOR" ] || fail "soname is '$soname', not libnoxrunner.so.$MAJOR"
expect_file "$L/libnoxrunner.a"
headers=
for h in "$P/$NOX_INCLUDEDIR/noxrunner"/*; do headers="$headers${h##*/} "; done
[ "$headers" = "noxrunner.h version.h wire.h " ] ||
    fail "installed headers are '$headers', not exactly noxrunner.h version.h wire.h"
expect_file "$L/pkgconfig/noxrunner.pc"
for f in noxrunnerConfig noxrunnerConfigVersion noxrunnerTargets noxrunnerStaticTargets; do
    expect_file "$L/cmake/noxrunner/$f.cmake"
done
expect_exec "$P/$NOX_BINDIR/noxrc"
expect_exec "$P/$NOX_BINDIR/noxrunnerd"
expect_exec "$P/$NOX_LIBEXECDIR/noxrunner/nox-init"
[ -f "$S/man/noxrc.1" ] && expect_file "$P/$NOX_MANDIR/man1/noxrc.1"
[ -f "$S/man/noxrunnerd.8" ] && expect_file "$P/$NOX_MANDIR/man8/noxrunnerd.8"
# The unit's directory depends on systemd's (and on NOX_INSTALL_SYSTEMD_UNIT).
unit=$(grep '/noxrunnerd\.service$' "$manifest" || true)
unit_rel=${unit#"$P"/}
[ -z "$unit" ] || expect_file "$unit"

# The package files must not lead back to the build or source tree.
for f in "$L"/pkgconfig/*.pc "$L"/cmake/noxrunner/*.cmake; do
    if sed "s|$P||g" "$f" | grep -n -F -e "$B" -e "$S"; then
        fail "${f#"$P"/} names the build or source tree"
    fi
done
grep -q "^prefix=$P\$" "$L/pkgconfig/noxrunner.pc" ||
    fail "noxrunner.pc does not name the prefix installed to: $(grep '^prefix=' "$L/pkgconfig/noxrunner.pc")"
if cat "$L"/cmake/noxrunner/*.cmake | grep -v '^[[:space:]]*#' |
    grep -q 'PkgConfig::\(CURL\|JANSSON\|LIBARCHIVE\|MHD\|SECCOMP\|LIBEDIT\)\b'; then
    fail "the CMake package refers to the build's own PkgConfig:: targets"
fi
# Not fatal (the library's own choice), but worth seeing: a compiled-in
# path into the build tree is a fallback an installed library should not have.
if grep -q -F "$B" "$L/libnoxrunner.so.$NOX_VERSION"; then
    echo "warning: the installed libnoxrunner.so contains the build directory's path ($B)"
fi
echo "ok: $(lines "$manifest") files, all under the prefix"

# ---------------------------------------------------------------------------
step "installed programs find the installed library"
for prog in noxrc noxrunnerd; do
    bin=$P/$NOX_BINDIR/$prog
    runpath=$(readelf -d "$bin" | sed -n 's/.*(R.*PATH).*\[\(.*\)\]/\1/p')
    if [ -n "$runpath" ]; then
        out=$(env -u LD_LIBRARY_PATH "$bin" --version 2>&1) || true
    else
        out=$(LD_LIBRARY_PATH=$L "$bin" --version 2>&1) || true
    fi
    case "$out" in
    *"error while loading shared libraries"*) fail "$prog: $out" ;;
    *"$NOX_VERSION"*) echo "ok: $prog --version: $(echo "$out" | head -n 1) (run path '${runpath}')" ;;
    *) fail "$prog --version printed no version: $out" ;;
    esac
done

# ---------------------------------------------------------------------------
step "pkg-config: shared library"
export PKG_CONFIG_PATH="$L/pkgconfig"
v=$("$PKG_CONFIG" --modversion noxrunner) || fail "pkg-config does not find noxrunner in $L/pkgconfig"
[ "$v" = "$NOX_VERSION" ] || fail "pkg-config says version $v, not $NOX_VERSION"
cflags="$("$PKG_CONFIG" --cflags noxrunner) ${NOX_CONSUMER_CFLAGS:-}"
libs=$("$PKG_CONFIG" --libs noxrunner)
echo "cflags: $cflags"
echo "libs:   $libs"
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Wextra -Werror -o "$T/consumer-pc" "$S/tests/install/consumer.c" \
    $cflags $libs || fail "cannot build a program with pkg-config's flags"
# The quick start as its header comment says to build it.
# shellcheck disable=SC2086
"$CC" -o "$T/quickstart" "$S/examples/quickstart.c" $cflags $libs ||
    fail "cannot build examples/quickstart.c with pkg-config's flags"
needed=$(readelf -d "$T/consumer-pc" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
case "$needed" in *"libnoxrunner.so.$MAJOR"*) ;; *) fail "consumer does not need libnoxrunner.so.$MAJOR: $needed" ;; esac
case "$needed" in *curl* | *jansson* | *archive*) fail "a shared-library consumer links the library's private dependencies: $needed" ;; esac
LD_LIBRARY_PATH=$L "$T/consumer-pc" || fail "the pkg-config consumer failed"
if have ldd; then
    where=$(LD_LIBRARY_PATH=$L ldd "$T/consumer-pc" | sed -n 's/.*libnoxrunner.so[^ ]* => \([^ ]*\).*/\1/p')
    case "$where" in "$L"/*) ;; *) fail "the consumer loaded libnoxrunner from '$where', not from $L" ;; esac
fi

# ---------------------------------------------------------------------------
step "pkg-config --static: the archive"
static_libs=$("$PKG_CONFIG" --libs --static noxrunner)
echo "libs --static: $static_libs"
# Linkers take the shared library when both exist; -l: names the archive.
archive_libs=$(echo "$static_libs" | sed 's/-lnoxrunner\( \|$\)/-l:libnoxrunner.a\1/')
# shellcheck disable=SC2086
if ! "$CC" -o "$T/consumer-static" "$S/tests/install/consumer.c" $cflags $archive_libs \
    2>"$T/static.err"; then
    # Each library the line names must be one the linker can find. Those
    # that noxrunner.pc itself names always are; the dependencies' own
    # Libs.private (libcurl's: nghttp2, ssh2, ldap, ...) often are not,
    # their -dev packages being optional. Then link the archive with the
    # dependencies' shared libraries, from noxrunner.pc's Requires.private.
    missing=
    for flag in $archive_libs; do
        case "$flag" in
        -l:*) continue ;;
        -l*) n=${flag#-l} ;;
        *) continue ;;
        esac
        f=$("$CC" -print-file-name="lib$n.so")
        [ "$f" = "lib$n.so" ] && f=$("$CC" -print-file-name="lib$n.a")
        [ "$f" = "lib$n.a" ] && missing="$missing $flag"
    done
    ours=
    case " $missing " in *" -lnoxrunner "* | *" -lpthread "*) ours=yes ;; esac
    if [ -z "$missing" ] || [ -n "$ours" ]; then
        cat "$T/static.err" >&2
        fail "cannot link the archive with pkg-config --static's flags"
    fi
    echo "note: this host lacks libraries that the dependencies' .pc files name for static" \
        "linking:$missing; linking the archive with their shared libraries instead"
    reqs=$("$PKG_CONFIG" --print-requires-private noxrunner | sed 's/ .*//' | tr '\n' ' ')
    own=$(sed -n 's/^Libs.private:[ ]*//p' "$L/pkgconfig/noxrunner.pc")
    # shellcheck disable=SC2086
    dep_libs=$("$PKG_CONFIG" --libs $reqs) || fail "pkg-config --libs $reqs failed"
    # shellcheck disable=SC2086
    "$CC" -o "$T/consumer-static" "$S/tests/install/consumer.c" $cflags \
        -L"$L" -l:libnoxrunner.a $own $dep_libs ||
        fail "cannot link the archive with noxrunner.pc's Requires.private and Libs.private"
fi
if readelf -d "$T/consumer-static" | grep -q 'libnoxrunner\.so'; then
    fail "the static consumer still needs libnoxrunner.so"
fi
env -u LD_LIBRARY_PATH "$T/consumer-static" || fail "the statically linked consumer failed"

# ---------------------------------------------------------------------------
step "CMake: find_package(noxrunner)"
unset PKG_CONFIG_PATH
mkdir -p "$T/cmake-consumer"
cp "$S/tests/install/consumer.c" "$T/cmake-consumer/"
cat >"$T/cmake-consumer/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.18)
project(nox_consumer C)
option(WANT_STATIC "also link the static library" ON)
find_package(noxrunner $NOX_VERSION REQUIRED)
message(STATUS "noxrunner \${noxrunner_VERSION} from \${noxrunner_DIR}")
add_executable(consumer_shared consumer.c)
target_link_libraries(consumer_shared PRIVATE noxrunner::noxrunner)
if(WANT_STATIC)
  find_package(noxrunner REQUIRED COMPONENTS static)
  add_executable(consumer_static consumer.c)
  target_link_libraries(consumer_static PRIVATE noxrunner::noxrunner_static)
endif()
EOF
gen=
[ -n "${NOX_GENERATOR:-}" ] && gen="-G$NOX_GENERATOR"
configure() { # BUILD_DIR ARGS...
    d=$1
    shift
    "$CMAKE" -S "$T/cmake-consumer" -B "$d" ${gen:+"$gen"} \
        ${NOX_MAKE_PROGRAM:+"-DCMAKE_MAKE_PROGRAM=$NOX_MAKE_PROGRAM"} \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_PREFIX_PATH="$P" \
        ${NOX_CONSUMER_CFLAGS:+"-DCMAKE_C_FLAGS=$NOX_CONSUMER_CFLAGS"} \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF "$@"
}
configure "$T/cc-both" >"$T/cmake.log" 2>&1 || { cat "$T/cmake.log"; fail "find_package(noxrunner) failed"; }
grep "noxrunner .* from" "$T/cmake.log" || true
grep -q "^noxrunner_DIR:PATH=$L/cmake/noxrunner\$" "$T/cc-both/CMakeCache.txt" ||
    fail "find_package found noxrunner elsewhere: $(grep '^noxrunner_DIR' "$T/cc-both/CMakeCache.txt")"
"$CMAKE" --build "$T/cc-both" >"$T/build.log" 2>&1 || { cat "$T/build.log"; fail "building against noxrunner::noxrunner(_static) failed"; }
needed=$(readelf -d "$T/cc-both/consumer_shared" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
case "$needed" in *"libnoxrunner.so.$MAJOR"*) ;; *) fail "consumer_shared does not need libnoxrunner.so.$MAJOR: $needed" ;; esac
case "$needed" in *curl* | *jansson* | *archive*) fail "noxrunner::noxrunner passes on private dependencies: $needed" ;; esac
"$T/cc-both/consumer_shared" || fail "consumer_shared (noxrunner::noxrunner) failed"
if readelf -d "$T/cc-both/consumer_static" | grep -q 'libnoxrunner\.so'; then
    fail "consumer_static (noxrunner::noxrunner_static) needs libnoxrunner.so"
fi
"$T/cc-both/consumer_static" || fail "consumer_static (noxrunner::noxrunner_static) failed"

step "CMake: the shared target needs no pkg-config; the static one says what it lacks"
configure "$T/cc-nopc" -DWANT_STATIC=OFF -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON \
    >"$T/cmake-nopc.log" 2>&1 || { cat "$T/cmake-nopc.log"; fail "find_package(noxrunner) needs pkg-config"; }
"$CMAKE" --build "$T/cc-nopc" >"$T/build-nopc.log" 2>&1 || { cat "$T/build-nopc.log"; fail "noxrunner::noxrunner without pkg-config failed to build"; }
"$T/cc-nopc/consumer_shared" >/dev/null || fail "consumer_shared built without pkg-config failed"
if configure "$T/cc-nopc-static" -DWANT_STATIC=ON -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON \
    >"$T/cmake-nopc-static.log" 2>&1; then
    fail "find_package(noxrunner COMPONENTS static) succeeded without pkg-config"
fi
grep -q "noxrunner_static needs" "$T/cmake-nopc-static.log" || {
    cat "$T/cmake-nopc-static.log"
    fail "find_package(noxrunner COMPONENTS static) failed without saying why"
}
echo "ok: $(grep -m1 -o 'noxrunner::noxrunner_static needs.*' "$T/cmake-nopc-static.log")"

# ---------------------------------------------------------------------------
step "DESTDIR=$T/destdir cmake --install (prefix $NOX_PREFIX)"
D=$T/destdir
# shellcheck disable=SC2086
DESTDIR=$D "$CMAKE" --install "$B" $config >"$T/install-destdir.log" 2>&1 ||
    { cat "$T/install-destdir.log"; fail "cmake --install with DESTDIR failed"; }
# The manifest lists the files without DESTDIR: each must be under it. And
# every path cmake reported writing must be under DESTDIR.
while IFS= read -r f || [ -n "$f" ]; do
    [ -e "$D$f" ] || [ -L "$D$f" ] || fail "$f was not installed under DESTDIR"
done <"$manifest"
sed -n 's/^-- \(Installing\|Up-to-date\): //p' "$T/install-destdir.log" >"$T/written"
[ -s "$T/written" ] || [ ! -s "$manifest" ] ||
    echo "note: cmake did not list what it installed (CMAKE_INSTALL_MESSAGE?)"
bad=$(outside "$D" "$T/written")
[ -z "$bad" ] || fail "installed outside DESTDIR: $bad"
staged=$(find "$D" ! -type d | wc -l)
[ "$staged" -eq "$(lines "$manifest")" ] ||
    fail "DESTDIR holds $staged files, the manifest lists $(lines "$manifest")"
DP=$D$NOX_PREFIX
expect_file "$DP/$NOX_LIBDIR/libnoxrunner.so.$NOX_VERSION"
expect_exec "$DP/$NOX_BINDIR/noxrunnerd"
expect_exec "$DP/$NOX_LIBEXECDIR/noxrunner/nox-init"
grep -q "^prefix=$NOX_PREFIX\$" "$DP/$NOX_LIBDIR/pkgconfig/noxrunner.pc" ||
    fail "the staged noxrunner.pc does not name the real prefix $NOX_PREFIX"
if [ -n "$unit" ]; then
    grep -q "^ExecStart=$NOX_PREFIX/$NOX_BINDIR/noxrunnerd " "$DP/$unit_rel" ||
        fail "the staged unit does not start $NOX_PREFIX/$NOX_BINDIR/noxrunnerd"
fi
echo "ok: $(lines "$manifest") files, all under DESTDIR"

step "uninstall (DESTDIR=$D)"
DESTDIR=$D "$CMAKE" -P "$B/noxrunner-uninstall.cmake" >"$T/uninstall.log" 2>&1 ||
    { cat "$T/uninstall.log"; fail "uninstall failed"; }
left=$(find "$D" ! -type d)
[ -z "$left" ] || fail "uninstall left: $left"
left=$(find "$D" -type d -name noxrunner)
[ -z "$left" ] || fail "uninstall left directories: $left"
echo "ok: nothing left"

# ---------------------------------------------------------------------------
if [ -n "$unit" ]; then
    step "systemd-analyze verify noxrunnerd.service"
    if have systemd-analyze; then
        # verify wants the programs a unit starts to exist: point it at the
        # ones installed above. --man=no: the man pages are not installed
        # where man(1) looks.
        mkdir -p "$T/unit"
        sed "s|^ExecStart=[^ ]*|ExecStart=$P/$NOX_BINDIR/noxrunnerd|" \
            "$unit" >"$T/unit/noxrunnerd.service"
        if ! systemd-analyze verify --man=no "$T/unit/noxrunnerd.service" >"$T/verify.log" 2>&1; then
            cat "$T/verify.log"
            fail "systemd-analyze verify rejects noxrunnerd.service"
        fi
        sed 's/^/verify: /' "$T/verify.log"
        echo "ok: systemd-analyze verify"
    else
        echo "note: systemd-analyze is not installed; the unit was not verified"
    fi
fi
echo "install test passed"
