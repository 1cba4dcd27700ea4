#!/usr/bin/env bash
# Runs every test program and adds up their "N passed, M failed" lines. Exits non-zero
# if any test failed or any program did not report.
#
# LEXT_BUILD (default build) is the directory of the test programs, and LEXT_BIN (default
# ./lext) the CLI the shell tests run: `make asan` points both at its sanitized build.
set -u
cd "$(dirname "$0")/.."
build=${LEXT_BUILD:-build}
total_pass=0; total_fail=0; broken=0
run() { # name, command...
    local name=$1; shift
    local out rc line
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "!! $name reported no summary (exit $rc)"; broken=$((broken + 1)); return
    fi
    local p f
    p=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\1/')
    f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\2/')
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!! $name exited $rc"; broken=$((broken + 1))
    fi
}
for t in "$build"/tests/test_*; do
    [ -x "$t" ] && run "$(basename "$t")" "$t"
done
for t in tests/test_*.py; do
    [ -f "$t" ] && run "$(basename "$t")" /usr/bin/python3 "$t"
done
for t in tests/test_*.sh; do
    [ -f "$t" ] && run "$(basename "$t")" bash "$t"
done
total_fail=$((total_fail + broken))
echo "lext tests: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
