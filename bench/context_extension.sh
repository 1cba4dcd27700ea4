#!/usr/bin/env bash
# bench/context_extension.sh - `lext eval` at 4096 bytes under every context-extension method,
# as a ratio to plain causal attention on the same model, documents and threads, measured in
# the same run (median of REPS runs each, the methods interleaved so that a noisy neighbour
# hits them all alike). With OLD=path/to/another/lext, the plain modes (causal, bca, window)
# are also timed with that binary: the before/after check that the extensions left the
# existing paths' speed alone.
#
#   bench/context_extension.sh [REPS]          (default 5; about 2 minutes on 2 cores)
#   OLD=/tmp/old/lext bench/context_extension.sh
#
# Model: the experiment's default shape (4 layers, width 128, 4 heads, xpos, training length
# 256) after one training step: speed does not depend on the weights. Run on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-5}
LEXT=${LEXT:-./lext}
OLD=${OLD:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/data"
for i in $(seq 1 8); do head -c 4000 /dev/urandom | base64 -w 0 | head -c 4096 > "$tmp/data/d$i.txt"; done
"$LEXT" train --data "$tmp/data" --pos xpos --layers 4 --heads 4 --dim 128 --train-len 256 --batch 2 \
    --steps 1 --out "$tmp/m.safetensors" > /dev/null
methods=(
    "causal|--attn causal"
    "bca|--attn bca"
    "window|--attn window"
    "linear|--attn causal --rope-scaling linear"
    "ntk|--attn causal --rope-scaling ntk"
    "dynamic-ntk|--attn causal --rope-scaling dynamic-ntk"
    "yarn|--attn causal --rope-scaling yarn"
    "self-extend 32,128|--attn causal --self-extend 32,128"
    "rerope 128|--attn causal --rerope 128"
    "sinks 4 + window|--attn window --sinks 4"
    "lambda 4,256|--lambda 4,256"
)
run() { # BINARY ARGS... -> seconds of the evaluation as lext reports it
    local bin=$1; shift
    "$bin" eval --model "$tmp/m.safetensors" --data "$tmp/data" --lengths 4096 "$@" |
        sed -n 's/^evaluated in \([0-9.]*\) s.*/\1/p'
}
declare -A times
for r in $(seq 1 "$REPS"); do
    for m in "${methods[@]}"; do
        name=${m%%|*}; args=${m#*|}
        # shellcheck disable=SC2086
        times[$name]+="$(run "$LEXT" $args) "
        if [ -n "$OLD" ] && [[ $name == causal || $name == bca || $name == window ]]; then
            # shellcheck disable=SC2086
            times["$name (OLD)"]+="$(run "$OLD" $args) "
        fi
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
base=$(median <<<"${times[causal]}")
echo "lext eval at 4096 bytes (8 documents, xpos 4x128, $(nproc) threads), median of $REPS runs;"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p'))"
echo
echo "| method | seconds | relative to causal |"
echo "|---|---|---|"
keys=()
for m in "${methods[@]}"; do keys+=("${m%%|*}"); done
[ -n "$OLD" ] && keys+=("causal (OLD)" "bca (OLD)" "window (OLD)")
for k in "${keys[@]}"; do
    t=$(median <<<"${times[$k]}")
    printf '| %s | %.3f | %.2f |\n' "$k" "$t" "$(awk -v a="$t" -v b="$base" 'BEGIN {print a / b}')"
done
