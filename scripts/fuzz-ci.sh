#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each one for a
# while. Usage: scripts/fuzz-ci.sh [SECONDS_PER_TARGET]   (default 60)
#
# Each target starts from a temporary copy of its committed seed corpus
# (fuzz/corpus/<name>/, never modified here), with its dictionary when it
# has one, and TMPDIR on /dev/shm when it makes files. Exits non-zero when
# any target crashes, leaks, runs out of memory or times out, naming the
# input that reproduces it; docs/fuzzing.md says how that input becomes a
# regression test.
#
# Environment: NOX_FUZZ_BUILD (build directory, default build-fuzz),
# NOX_FUZZ_JOBS (targets run at once, default 2: the CI machine's cores),
# NOX_FUZZ_TARGETS (space-separated subset, default all).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
    ;;
esac
build="${NOX_FUZZ_BUILD:-build-fuzz}"
jobs="${NOX_FUZZ_JOBS:-2}"

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz-ci: clang is missing; scripts/install-deps.sh --ci installs it" >&2
    exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/nox-fuzz-ci.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "=== fuzz-ci: configure and build $build (clang, ASan + UBSan, libFuzzer) ==="
CC=clang cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DNOX_BUILD_FUZZ=ON \
    -DNOX_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >"$work/configure.log" 2>&1 || {
    cat "$work/configure.log" >&2
    exit 1
}
cmake --build "$build" --target fuzz_targets -j "$(nproc 2>/dev/null || echo 2)"

# name, corpus, dictionary (or -), makes files (1/0)
targets=(
    "fuzz_wire wire wire.dict 0"
    "fuzz_quantity quantity - 0"
    "fuzz_extract extract - 1"
    "fuzz_session_id session_id - 0"
    "fuzz_http_response http_response wire.dict 0"
    "fuzz_proto proto - 0"
    "fuzz_tar_writer tar_writer - 1"
)

# Reproducers outlive the run: they are what a failure is about.
artifacts="$PWD/$build/fuzz-artifacts"
mkdir -p "$artifacts"

shm=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    shm=/dev/shm
fi

# Runs one target; its log goes to $work/<name>.log, its exit code to
# $work/<name>.rc.
run_target() {
    local name="$1" corpus="$2" dict="$3" files="$4"
    local exe="$build/fuzz/$name"
    local wc="$work/corpus-$name"
    mkdir -p "$wc"
    cp -R "fuzz/corpus/$corpus/." "$wc/"
    local args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
        -artifact_prefix="$artifacts/$name-")
    [ "$dict" != - ] && args+=(-dict="fuzz/$dict")
    local tmp="${TMPDIR:-/tmp}"
    [ "$files" = 1 ] && [ -n "$shm" ] && tmp="$shm"
    local rc=0
    TMPDIR="$tmp" \
        ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}" \
        "$exe" "${args[@]}" "$wc" >"$work/$name.log" 2>&1 || rc=$?
    echo "$rc" >"$work/$name.rc"
}

selected=()
for t in "${targets[@]}"; do
    read -r name _ <<<"$t"
    if [ -n "${NOX_FUZZ_TARGETS:-}" ] && [[ " $NOX_FUZZ_TARGETS " != *" $name "* ]]; then
        continue
    fi
    selected+=("$t")
done

echo "=== fuzz-ci: ${#selected[@]} targets, ${seconds}s each, $jobs at a time ==="
running=0
for t in "${selected[@]}"; do
    read -r name corpus dict files <<<"$t"
    echo "--- start $name"
    run_target "$name" "$corpus" "$dict" "$files" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

failed=0
printf '\n%-20s %8s %12s %10s  %s\n' target seconds executions exec/s result
for t in "${selected[@]}"; do
    read -r name _ <<<"$t"
    log="$work/$name.log"
    rc="$(cat "$work/$name.rc" 2>/dev/null || echo 1)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    secs="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)"
    result=ok
    if [ "$rc" != 0 ]; then
        failed=1
        repro="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
        result="FAILED (exit $rc)${repro:+: reproducer $repro}"
    fi
    printf '%-20s %8s %12s %10s  %s\n' "$name" "${secs:--}" "${execs:--}" "${speed:--}" "$result"
done

for t in "${selected[@]}"; do
    read -r name _ <<<"$t"
    [ "$(cat "$work/$name.rc" 2>/dev/null || echo 1)" = 0 ] && continue
    repro="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/$name.log" | tail -n 1)"
    echo
    echo "=== $name failed; the end of its log: ==="
    tail -n 60 "$work/$name.log"
    echo "Reproduce with: $build/fuzz/$name ${repro:-<the input above>}" \
        "(with TMPDIR=/dev/shm for the targets that make files)"
    echo "docs/fuzzing.md says how the input becomes a regression test."
done
exit "$failed"
