#!/usr/bin/env bash
# sanitize.sh - the whole test suite (tests/run.sh) against a build made with ASan + UBSan
# (`make asan`: LEXT_BUILD=build-asan, LEXT_BIN=build-asan/lext), failing on any report.
#
# Every report is written to a file under $LEXT_BUILD/sanitizer-logs and the program
# aborts (exit >= 128). Both matter: several tests expect a command to fail and check only
# its exit status and message, and a report printed on the way out of such a command (a
# leak on an error path, say) would otherwise go unnoticed. The suite passes only when it
# passes and no report was written.
set -u
cd "$(dirname "$0")/.."
export LEXT_BUILD=${LEXT_BUILD:-build-asan}
export LEXT_BIN=${LEXT_BIN:-$LEXT_BUILD/lext}
# tests that cannot run under ASan read this: a `ulimit -v` is meaningless when the
# sanitizer reserves terabytes of shadow address space at start-up
export LEXT_SANITIZER=address
case $LEXT_BUILD in /*) logs=$LEXT_BUILD/sanitizer-logs ;; *) logs=$PWD/$LEXT_BUILD/sanitizer-logs ;; esac
rm -rf "$logs" && mkdir -p "$logs"

# allocator_may_return_null: a failed malloc returns NULL, as it does in the normal build,
#   so the tests of impossible allocations (tests/test_faults.sh) see lext's own message
#   rather than ASan's "requested allocation size exceeds maximum supported size".
# detect_leaks: on (the default on x86-64 Linux), stated because it is the point.
# lsan.supp: see the file; each entry says which library's memory it is and why.
common="abort_on_error=1:log_path=$logs/report:print_summary=1"
export ASAN_OPTIONS="$common:detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="$common:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"

./tests/run.sh
rc=$?
# With allocator_may_return_null, ASan notes each refused allocation in a file of its own
# ("WARNING: AddressSanitizer failed to allocate 0x... bytes"): the impossible sizes that
# tests/test_faults.sh asks for on purpose. Shown, not counted; every other file is, also
# one that says something else (a LeakSanitizer that could not run, a CHECK failure).
warnings="" reports=""
for f in "$logs"/*; do
    [ -e "$f" ] || continue
    if grep -q . "$f" && ! grep -qvE '^==[0-9]+==WARNING: AddressSanitizer failed to allocate 0x[0-9a-f]+ bytes$|^$' "$f"; then
        warnings+="$f"$'\n'
    else
        reports+="$f"$'\n'
    fi
done
warnings=${warnings%$'\n'} reports=${reports%$'\n'}
if [ -n "$warnings" ]; then
    echo "sanitizer warnings (not errors):"
    for f in $warnings; do sed 's/^/    /' "$f"; done
fi
if [ -n "$reports" ]; then
    echo "!! sanitizer reports ($(wc -l <<<"$reports") files):"
    for f in $reports; do echo "---- $f"; cat "$f"; done
    rc=1
fi
[ $rc -eq 0 ] && echo "sanitizers: no report"
exit $rc
