#!/usr/bin/env bash
# bench/generate.sh - generation speed of `lext generate` in window mode (a benchmark, not a
# test: it prints numbers and PASS/MISS against the target, and exits 0 either way unless
# something fails to run).
#
# Model: the default shape (4 layers, dim 256, 4 heads, train length 256, xpos), trained for
# one step (speed does not depend on the weights). Window W = 256 (the train length).
# Method: prefill a prompt that brings the context to C (256 or 16,384 bytes) in one call,
# then generate TOKENS more; per-token time = generation time / TOKENS (sampling and the
# write to stdout included), read from the --stats line. The two contexts alternate within
# each round so that machine noise hits both alike; the table shows medians over RUNS rounds.
# Target: per-token time at context 16,384 within 1.1x of that at 256 (a window of W keys
# costs the same however long the context already is). Prefill tokens/s: the 16,384 prompt.
# Also shown: the median of per-round ratios, and CPU time per token (with THREADS=1 the
# steadier figure on a shared machine, where wall-clock time swings with other load).
#
# Environment: RUNS [5] (at least 3), TOKENS [500], THREADS [all cores], LEXT [./lext].
set -u
cd "$(dirname "$0")/.."
LEXT=${LEXT:-./lext}
RUNS=${RUNS:-5}
TOKENS=${TOKENS:-500}
THREADS=${THREADS:-}
LONG=16384
[ "$RUNS" -ge 3 ] || { echo "bench/generate.sh: RUNS must be at least 3" >&2; exit 2; }
[ -x "$LEXT" ] || { echo "bench/generate.sh: $LEXT not found: run make first" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/data"
head -c 60000 /dev/urandom | base64 > "$tmp/data/doc.txt"
if ! $LEXT train --data "$tmp/data" --steps 1 --out "$tmp/m.st" > "$tmp/train.log" 2>&1; then
    echo "bench/generate.sh: training the model failed: $(tail -2 "$tmp/train.log")" >&2; exit 1
fi
base64 -w 0 "$tmp/data/doc.txt" | head -c 256 > "$tmp/p256"
base64 -w 0 "$tmp/data/doc.txt" | head -c $LONG > "$tmp/plong"

thr=()
[ -n "$THREADS" ] && thr=(--threads "$THREADS")
# one run: prints "ms_per_token prefill_tok_s decoder_bytes threads cpu_ms_per_token"
run() {
    $LEXT generate --model "$tmp/m.st" --prompt-file "$1" --tokens "$TOKENS" --stats "${thr[@]}" \
        2> "$tmp/err" > /dev/null || { echo "bench/generate.sh: generate failed: $(cat "$tmp/err")" >&2; exit 1; }
    sed -n 's/^stats .*prefill_tok_s=\([0-9.]*\) .* ms_per_token=\([0-9.]*\) cpu_ms_per_token=\([0-9.]*\) .*decoder_bytes=\([0-9]*\).*threads=\([0-9]*\).*/\2 \1 \4 \5 \3/p' "$tmp/err"
}
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

: > "$tmp/short"; : > "$tmp/long"
for r in $(seq "$RUNS"); do
    run "$tmp/p256" >> "$tmp/short"
    run "$tmp/plong" >> "$tmp/long"
done
ms_s=$(awk '{print $1}' "$tmp/short" | median)
ms_l=$(awk '{print $1}' "$tmp/long" | median)
pre_l=$(awk '{print $2}' "$tmp/long" | median)
mem_s=$(awk 'NR == 1 {print $3}' "$tmp/short")
mem_l=$(awk 'NR == 1 {print $3}' "$tmp/long")
threads=$(awk 'NR == 1 {print $4}' "$tmp/short")

ratio_pair=$(paste "$tmp/short" "$tmp/long" | awk '{print $6 / $1}' | median)
cpu_s=$(awk '{print $5}' "$tmp/short" | median)
cpu_l=$(awk '{print $5}' "$tmp/long" | median)
load=$(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null)

echo "lext generate, window mode (W = 256), model 4 x 256, 4 heads, xpos; $threads threads, $(nproc) cores, load average ${load:-?};"
echo "median of $RUNS runs, $TOKENS generated tokens after each prefill"
echo "  runs (ms/token) at 256:    $(awk '{printf "%s ", $1}' "$tmp/short")"
echo "  runs (ms/token) at $LONG:  $(awk '{printf "%s ", $1}' "$tmp/long")"
echo
awk -v a="$ms_s" -v b="$ms_l" -v p="$pre_l" -v ma="$mem_s" -v mb="$mem_l" -v L="$LONG" 'BEGIN {
    printf "%-28s %12s %12s %14s\n", "", "ms/token", "tokens/s", "decoder MiB"
    printf "%-28s %12.3f %12.1f %14.2f\n", "generate at context 256", a, 1000 / a, ma / 1048576
    printf "%-28s %12.3f %12.1f %14.2f\n", "generate at context " L, b, 1000 / b, mb / 1048576
    printf "%-28s %12s %12.1f\n", "prefill " L " tokens", "", p
    r = b / a
    printf "\nper-token time ratio %d / 256: %.3fx (target <= 1.10x): %s\n", L, r, r <= 1.10 ? "PASS" : "MISS"
}'
awk -v a="$cpu_s" -v b="$cpu_l" -v t="$threads" -v p="$ratio_pair" 'BEGIN {
    printf "median of the per-round ratios (both contexts back to back): %.3fx\n", p
    printf "CPU time per token (all threads): %.3f ms at 256, %.3f ms at 16384, ratio %.3fx%s\n",
           a, b, b / a, t == 1 ? " (one thread: steady on a loaded machine)" : " (includes OpenMP spin-waiting)"
}'
