#!/usr/bin/env bash
# test_fuzz_regressions.sh - every input under fuzz/regressions/<target>/ (inputs that once
# crashed a harness or broke one of its checks, kept after the fix) and the seed corpus
# fuzz/corpus/<target>/, run through the plain build of the same harness
# ($LEXT_BUILD/fuzz/replay_<target>, fuzz/fuzz.h). Under `make asan` the replayers are the
# sanitized ones, so the inputs also meet ASan and UBSan there.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
build=${LEXT_BUILD:-build}

for src in fuzz/fuzz_*.c; do
    t=$(basename "$src" .c); t=${t#fuzz_}
    bin=$build/fuzz/replay_$t
    if [ ! -x "$bin" ]; then bad "$t: $bin is missing (make all builds it)"; continue; fi
    for set in regressions corpus; do
        dir=fuzz/$set/$t
        n=$(find "$dir" -type f ! -name '.*' 2>/dev/null | wc -l)
        if [ "$n" -eq 0 ]; then
            [ $set = corpus ] && bad "$t: no seed inputs in $dir"
            continue
        fi
        # the parsers' harness prints every message of the CLI: kept out of the test's output
        if "$bin" "$dir" > "$tmp/out" 2>&1 && grep -q "^replayed $n input(s)" "$tmp/out"; then
            ok "$t: the $n input(s) of $dir replay cleanly"
        else
            bad "$t: $dir: $(grep -E 'fuzz check failed|runtime error|ERROR|replayed' "$tmp/out" | head -3)"
        fi
    done
done
summary test_fuzz_regressions.sh
