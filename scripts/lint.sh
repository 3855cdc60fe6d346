#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Static analysis: clang-tidy (.clang-tidy) and cppcheck over the library,
# nox-init, the server, the CLI and the tests, using the compile commands of
# a configured build. Usage: scripts/lint.sh BUILD_DIR   (make lint does)
# Exits non-zero when either tool reports anything. False positives are
# silenced where they are, with a comment saying why: NOLINTNEXTLINE(check)
# for clang-tidy, `// cppcheck-suppress id` or .cppcheck-suppressions for
# cppcheck.
set -euo pipefail
cd "$(dirname "$0")/.."

build="${1:-}"
if [ -z "$build" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
db="$build/compile_commands.json"
if [ ! -f "$db" ]; then
    echo "lint: $db is missing: configure first (cmake -S . -B $build)" >&2
    exit 2
fi
for tool in clang-tidy cppcheck python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "lint: $tool is missing; scripts/install-deps.sh --ci installs it" >&2
        exit 2
    fi
done
jobs="${NOX_LINT_JOBS:-$(nproc 2>/dev/null || echo 2)}"

work="$(mktemp -d "${TMPDIR:-/tmp}/nox-lint.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The compile commands of our own sources, each file once (util.c and
# proto.c are built into both the library and nox-init).
python3 - "$db" "$PWD" "$work/compile_commands.json" "$work/files" <<'PY'
import json, os, sys
db, root, out, files = sys.argv[1:]
dirs = ("src/", "tests/", "server/", "tools/noxrc/")
seen, keep = set(), []
for e in json.load(open(db)):
    path = os.path.normpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(path, root)
    if rel.startswith(dirs) and rel not in seen:
        seen.add(rel)
        keep.append(e)
json.dump(keep, open(out, "w"), indent=1)
open(files, "w").write("".join(os.path.relpath(os.path.normpath(
    os.path.join(e["directory"], e["file"])), root) + "\n" for e in keep))
PY
echo "lint: $(wc -l <"$work/files") files, $jobs jobs"

status=0

echo "=== clang-tidy $(clang-tidy --version | sed -n 's/.*version \([0-9.]*\).*/\1/p') ==="
# -Wno-unknown-warning-option: the commands may come from a gcc build, whose
# -Wlogical-op and -Wduplicated-cond clang does not know.
xargs -P "$jobs" -I{} sh -c \
    'clang-tidy -p "$1" --quiet --extra-arg=-Wno-unknown-warning-option "$2" >"$3/tidy.$(echo "$2" | tr / _).log" 2>&1 || true' \
    _ "$work" {} "$work" <"$work/files"
cat "$work"/tidy.*.log | grep -v '^[0-9]* warnings\? generated\.$' |
    grep -v '^Suppressed [0-9]* warnings' | grep -v '^Use -header-filter=' >"$work/tidy.txt" || true
# A header's findings come once per file that includes it.
grep -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' "$work/tidy.txt" | sort -u >"$work/tidy.findings" || true
if [ -s "$work/tidy.findings" ]; then
    cat "$work/tidy.txt"
    echo
    echo "clang-tidy: $(wc -l <"$work/tidy.findings") findings:"
    sed "s|^$PWD/||" "$work/tidy.findings"
    status=1
else
    echo "clang-tidy: clean"
fi

echo "=== cppcheck $(cppcheck --version | sed 's/^Cppcheck //') ==="
if cppcheck --project="$work/compile_commands.json" --enable=warning,performance,portability \
    --error-exitcode=1 --inline-suppr --suppressions-list=.cppcheck-suppressions \
    -j "$jobs" --quiet --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    2>"$work/cppcheck.txt"; then
    echo "cppcheck: clean"
else
    sed "s|^$PWD/||" "$work/cppcheck.txt"
    echo "cppcheck: $(grep -cE '^[^ ].*:[0-9]+:[0-9]+: ' "$work/cppcheck.txt" || true) findings"
    status=1
fi
exit "$status"
