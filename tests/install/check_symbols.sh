#!/bin/sh
# SPDX-License-Identifier: MIT
# The ABI of libnoxrunner.so is the public API and nothing else:
#  - every exported (dynamic, defined) symbol is nox_ followed by a letter
#    or digit: no internal nox__ symbol, nothing without the prefix;
#  - every function declared NOX_PUBLIC in the public headers is exported;
#  - nothing is exported that the public headers do not declare.
# Usage: check_symbols.sh LIBRARY HEADER_DIR...   (NM overrides nm)
set -eu
export LC_ALL=C

if [ $# -lt 2 ]; then
    echo "usage: $0 LIBRARY HEADER_DIR..." >&2
    exit 2
fi
lib=$1
shift
nm=${NM:-nm}
if ! command -v "$nm" >/dev/null 2>&1; then
    echo "skipped, because nm (binutils) is not installed"
    exit 77
fi
if [ ! -f "$lib" ]; then
    echo "FAIL: no library at $lib" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nox-symbols.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM HUP

# Defined dynamic symbols, without their version ("@@NOXRUNNER_0"). Type A
# is the version node itself, which is not a symbol of ours.
if ! "$nm" -D --defined-only "$lib" >"$tmp/nm.out" 2>"$tmp/nm.err"; then
    echo "FAIL: $nm -D --defined-only $lib:" >&2
    cat "$tmp/nm.err" >&2
    exit 1
fi
awk 'NF >= 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }' "$tmp/nm.out" | sort -u >"$tmp/exported"

# Declarations of the public headers: comments and preprocessor lines
# dropped, then every "NOX_PUBLIC ... nox_name(" up to the first "(".
for dir in "$@"; do
    for h in "$dir"/*.h; do
        [ -f "$h" ] && cat "$h"
    done
done | awk '
    /^[ \t]*#/ || cont { cont = /\\$/; next }
    { text = text $0 "\n" }
    END {
        out = ""
        while ((i = index(text, "/*")) > 0) {
            out = out substr(text, 1, i - 1) " "
            text = substr(text, i + 2)
            j = index(text, "*/")
            text = j ? substr(text, j + 2) : ""
        }
        out = out text
        n = split(out, lines, "\n")
        flat = ""
        for (k = 1; k <= n; k++) {
            sub(/\/\/.*/, "", lines[k])
            flat = flat " " lines[k]
        }
        while (match(flat, /NOX_PUBLIC[^;{}()]*\(/)) {
            decl = substr(flat, RSTART, RLENGTH)
            flat = substr(flat, RSTART + RLENGTH)
            if (match(decl, /nox_[A-Za-z0-9_]+[ \t]*\($/)) {
                name = substr(decl, RSTART, RLENGTH)
                sub(/[ \t]*\($/, "", name)
                print name
            }
        }
    }' | sort -u >"$tmp/declared"

n_exp=$(wc -l <"$tmp/exported")
n_dec=$(wc -l <"$tmp/declared")
echo "$lib: $n_exp exported symbols; public headers declare $n_dec NOX_PUBLIC functions"
if [ "$n_dec" -eq 0 ]; then
    echo "FAIL: found no NOX_PUBLIC declaration in $*" >&2
    exit 1
fi

status=0
grep -v '^nox_[A-Za-z0-9]' "$tmp/exported" >"$tmp/bad" || true
if [ -s "$tmp/bad" ]; then
    echo "FAIL: exported symbols outside the public namespace (internal nox__ or no nox_ prefix):"
    sed 's/^/    /' "$tmp/bad"
    status=1
fi
grep '^nox_[A-Za-z0-9]' "$tmp/exported" | comm -23 - "$tmp/declared" >"$tmp/extra" || true
if [ -s "$tmp/extra" ]; then
    echo "FAIL: exported but declared NOX_PUBLIC in no public header:"
    sed 's/^/    /' "$tmp/extra"
    status=1
fi
comm -13 "$tmp/exported" "$tmp/declared" >"$tmp/missing"
if [ -s "$tmp/missing" ]; then
    echo "FAIL: declared NOX_PUBLIC but not exported:"
    sed 's/^/    /' "$tmp/missing"
    status=1
fi
[ "$status" -eq 0 ] && echo "exported symbols match the public API"
exit "$status"
