#!/usr/bin/env bash
# run.sh - runs every libFuzzer target built by `make fuzz` (build-fuzz/fuzz/fuzz_<target>)
# for FUZZ_SECONDS each [60], starting from its committed seeds fuzz/corpus/<target>/ and
# its regression inputs fuzz/regressions/<target>/, and prints the executions per target
# and in total. New inputs go to build-fuzz/corpus/<target>/ (kept between runs, never
# committed by this script); a crash leaves its input in build-fuzz/artifacts/ and fails
# the run: fix it, then copy the input to fuzz/regressions/<target>/ (fuzz/README.md).
#
# Options (environment): FUZZ_SECONDS, FUZZ_TARGETS (names, default all), FUZZ_BUILD
# [build-fuzz], FUZZ_JOBS (targets run at once [one per core]; each target is one process).
set -u
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
targets=${FUZZ_TARGETS:-$(ls fuzz/fuzz_*.c | sed -E 's|fuzz/fuzz_(.*)\.c|\1|')}
mkdir -p "$build/artifacts" "$build/logs"

run_one() { # target: runs it, leaves its log in $build/logs/<target>.log
    local t=$1 bin=$build/fuzz/fuzz_$1
    mkdir -p "$build/corpus/$t" fuzz/regressions/"$t"
    # -close_fd_mask=3: the parsers print their error messages (millions of them) on
    #   stdout/stderr; libFuzzer keeps its own report and the sanitizers' on a copy of stderr
    # -rss_limit_mb: a harness that allocates without bound is a finding, not a hang
    # -timeout: one input taking seconds is a finding too (a quadratic walk, say)
    "$bin" "$build/corpus/$t" "fuzz/corpus/$t" "fuzz/regressions/$t" \
        -max_total_time="$secs" -print_final_stats=1 -close_fd_mask=3 \
        -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$build/artifacts/$t-" \
        > "$build/logs/$t.log" 2>&1
}

fail=0
for t in $targets; do
    [ -x "$build/fuzz/fuzz_$t" ] || { echo "!! $build/fuzz/fuzz_$t is missing: run make fuzz"; exit 2; }
done
echo "fuzzing $(wc -w <<<"$targets") target(s) for ${secs} s each"
pids=()
for t in $targets; do
    run_one "$t" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
wait
total=0
for t in $targets; do
    log=$build/logs/$t.log
    execs=$(grep -E '^stat::number_of_executed_units:' "$log" | tail -1 | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -oE 'cov: [0-9]+' | awk '{print $2}')
    units=$(ls "$build/corpus/$t" 2>/dev/null | wc -l)
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:|fuzz check failed|SUMMARY: ' "$log"; then
        echo "FAIL $t: a crash; report:"
        grep -E 'ERROR|runtime error|fuzz check failed|SUMMARY|^    #[0-9]' "$log" | head -30
        # the harness's own message went to the stderr closed above: run the input again
        for a in "$build/artifacts/$t-"*; do
            [ -f "$a" ] || continue
            echo "   input $a; again, with stderr: $build/fuzz/fuzz_$t $a"
            "$build/fuzz/fuzz_$t" "$a" 2>&1 | grep -E 'fuzz check failed|runtime error|ERROR:' | head -3
        done
        fail=1
    else
        echo "ok   $t: ${execs:-?} executions, coverage ${cov:-?}, $units new inputs kept in $build/corpus/$t"
    fi
    total=$((total + ${execs:-0}))
done
echo "fuzz: $total executions in all"
exit $fail
