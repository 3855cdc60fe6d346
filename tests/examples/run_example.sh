#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs one example program the way a user would, and checks that it cleans
# up after itself.
#
#   run_example.sh [--server NOXRUNNERD] [--keep NAME] EXAMPLE
#
# In a fresh scratch directory: without --server, EXAMPLE runs on the local
# backend with NOXRUNNER_STATE_DIR pointing at a private state directory;
# with --server, a noxrunnerd is started on a free loopback port with its
# own state directory and EXAMPLE gets its URL as argument. Afterwards no
# sandbox may be left in the state directory, and no file in the working
# directory except NAME (--keep: what the quick start leaves to look at).
# Exit status: the example's, 1 if it left something behind, 77 (ctest:
# skipped) when noxrunnerd cannot start because this host cannot isolate.
set -u
server=
keep=
while [ $# -gt 1 ]; do
    case $1 in
    --server) server=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) break ;;
    esac
done
example=$1

dir=$(mktemp -d "${TMPDIR:-/tmp}/nox-example.XXXXXX") || exit 1
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir "$dir/run" "$dir/state"

if [ -n "$server" ]; then
    if ! "$server" --check >/dev/null 2>&1; then
        echo "skipped, because this host cannot run isolated sandboxes (noxrunnerd --check says why)"
        exit 77
    fi
    "$server" --listen 127.0.0.1:0 --port-file "$dir/port" --state-dir "$dir/state" \
        --log-level warn 2>"$dir/server.log" &
    pid=$!
    i=0
    while [ ! -s "$dir/port" ]; do
        i=$((i + 1))
        if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
            echo "noxrunnerd did not start:" >&2
            cat "$dir/server.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    set -- "http://127.0.0.1:$(cat "$dir/port")"
else
    set --
fi

cd "$dir/run" || exit 1
NOXRUNNER_STATE_DIR="$dir/state" "$example" "$@"
rc=$?
if [ "$rc" -ne 0 ] && [ -n "$server" ]; then
    echo "--- noxrunnerd's log ---" >&2
    cat "$dir/server.log" >&2
fi

left=$(ls -A "$dir/state/sandboxes" 2>/dev/null)
if [ -n "$left" ]; then
    echo "the example left sandboxes behind: $left" >&2
    rc=1
fi
left=$(ls -A "$dir/run" | grep -vx "${keep:-/}")
if [ -n "$left" ]; then
    echo "the example left files behind: $left" >&2
    rc=1
fi
exit "$rc"
