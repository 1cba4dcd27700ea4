#!/usr/bin/env bash
# long_context.sh - what evaluation at long context costs, against the targets of the
# "Length extrapolation" issue, for the default model configuration (4 layers, dim 256,
# 4 heads, train length 256, xpos), randomly initialised (one training step on random text):
#
#   (a) peak memory (max RSS, GNU time) of `lext eval` on ONE 16384-byte segment under
#       causal attention                                           target <= 2 GiB
#   (b) time per token of `lext eval --attn bca` on one segment of 16384 bytes against one
#       of 1024, the median of RUNS runs each, timed inside lext (the cell's "seconds" in
#       the JSON report: workspace set-up and the forward pass, not process start or
#       loading)                                                   target ratio <= 1.25
#
# bca keeps every query's keys within one block pair (l = 256), so attention costs the same
# per token at any length and the ratio should stay near 1; causal attention is quadratic
# and is measured for memory only.
#
# Run from anywhere, after `make`:
#     bench/long_context.sh                 # RUNS=5, all cores
#     RUNS=7 THREADS=4 bench/long_context.sh
# Needs /usr/bin/time (GNU time, for max RSS) and /usr/bin/python3 (reads the JSON).
# Prints a table and exits 0 whether the targets are met or not (it is a benchmark, not a
# test); the PASS/MISS column says which.
set -euo pipefail
cd "$(dirname "$0")/.."
LEXT=./lext
PY=/usr/bin/python3
RUNS=${RUNS:-5}
THREADS=${THREADS:-0}
[ -x "$LEXT" ] || { echo "long_context.sh: build first (make)"; exit 1; }
[ -x /usr/bin/time ] || { echo "long_context.sh: needs GNU time at /usr/bin/time"; exit 1; }
[ "$RUNS" -ge 3 ] || { echo "long_context.sh: RUNS must be at least 3"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
thr=()
[ "$THREADS" -gt 0 ] && thr=(--threads "$THREADS")

# one document of 16384+ bytes, and a default-configuration model
mkdir -p "$tmp/data"
head -c 13000 /dev/urandom | base64 -w 0 > "$tmp/data/doc.txt"
$LEXT train --data "$tmp/data" --steps 1 --batch 1 --out "$tmp/model.st" "${thr[@]}" > /dev/null
echo "model: $($LEXT info "$tmp/model.st" | awk '/^(pos|n_layer|n_head|d_model|train_len) /{printf "%s=%s ", $1, $2}')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

# (a) peak memory of one 16384-token causal segment
/usr/bin/time -v $LEXT eval --model "$tmp/model.st" --data "$tmp/data" --lengths 16384 \
    --attn causal "${thr[@]}" > "$tmp/mem.out" 2> "$tmp/mem.time"
rss_kb=$(awk -F: '/Maximum resident set size/{gsub(/ /, "", $2); print $2}' "$tmp/mem.time")
mem_wall=$(awk '/Elapsed \(wall clock\)/{print $NF}' "$tmp/mem.time")

# (b) time per token under bca, 1024 against 16384
per_token() { # LENGTH -> seconds per token, one run
    $LEXT eval --model "$tmp/model.st" --data "$tmp/data" --lengths "$1" --attn bca \
        --json "$tmp/t.json" "${thr[@]}" > /dev/null
    $PY -c 'import json,sys; c=json.load(open(sys.argv[1]))["cells"][0]; print(c["seconds"] / c["length"])' "$tmp/t.json"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
per_token 1024 > /dev/null # warm the page cache and the CPU
: > "$tmp/t1k"; : > "$tmp/t16k"
for _ in $(seq "$RUNS"); do
    per_token 1024 >> "$tmp/t1k"
    per_token 16384 >> "$tmp/t16k"
done
t1k=$(median < "$tmp/t1k")
t16k=$(median < "$tmp/t16k")

$PY - "$rss_kb" "$mem_wall" "$t1k" "$t16k" "$RUNS" "$tmp/t1k" "$tmp/t16k" <<'PYEOF'
import sys
rss_kb, wall, t1k, t16k, runs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
runs1k = [float(x) * 1e6 for x in open(sys.argv[6])]
runs16k = [float(x) * 1e6 for x in open(sys.argv[7])]
gib = rss_kb / 1024 / 1024
ratio = t16k / t1k
print()
print(f"{'measure':<52} {'value':>14} {'target':>10}  result")
print(f"{'(a) max RSS, eval of one 16384 causal segment':<52} {gib:>10.3f} GiB {'<= 2 GiB':>10}  {'PASS' if gib <= 2 else 'MISS'}")
print(f"{'    its wall time (whole process)':<52} {wall:>14}")
print(f"{'(b) bca time per token, one segment of 1024':<52} {t1k * 1e6:>11.2f} us")
print(f"{'    bca time per token, one segment of 16384':<52} {t16k * 1e6:>11.2f} us")
print(f"{'    ratio 16384 / 1024 (medians of ' + runs + ' runs)':<52} {ratio:>14.3f} {'<= 1.25':>10}  {'PASS' if ratio <= 1.25 else 'MISS'}")
print()
print("runs, us per token: 1024:", " ".join(f"{x:.2f}" for x in runs1k))
print("                   16384:", " ".join(f"{x:.2f}" for x in runs16k))
PYEOF
