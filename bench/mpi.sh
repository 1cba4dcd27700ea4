#!/usr/bin/env bash
# bench/mpi.sh - data-parallel training on one machine: 2 ranks x 1 thread against 1 process
# x 2 threads (tokens/s, the same global batch), and the time of the gradient exchange per
# step as lext train reports it under mpirun. The experiment's default shape (4 layers,
# width 128, batch 16 x 256 bytes), 60 steps, REPS runs each, medians. Needs an MPI build
# (make finds mpicc) and a quiet machine. Results and the projection: bench/README.md.
#   bench/mpi.sh DATA_DIR [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: bench/mpi.sh DATA_DIR [REPS]}
REPS=${2:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
C="--data $DATA --pos xpos --layers 4 --heads 4 --dim 128 --train-len 256 --batch 16 --steps 60 --log-every 60 --out $tmp/m.st"
tps() { tr '\r' '\n' | sed -n 's/.*step 60\/60 .*tok\/s \([0-9,]*\).*/\1/p' | tr -d , | tail -1; }
one=(); two=(); ex=()
for _ in $(seq "$REPS"); do
    # a fresh run each time: the same command would continue the run the file holds
    rm -f "$tmp/m.st"; one+=("$(./lext train $C --threads 2 2>&1 | tps)")
    rm -f "$tmp/m.st"; out=$(timeout 600 mpirun -np 2 --bind-to none ./lext train $C --threads 1 2>&1)
    two+=("$(tps <<<"$out")")
    ex+=("$(sed -n 's/^gradient exchange: \([0-9.]*\) ms per step.*/\1/p' <<<"$out")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m1=$(median "${one[@]}"); m2=$(median "${two[@]}"); me=$(median "${ex[@]}")
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') (model $(lscpu | sed -n 's/^Model: *//p')), $(nproc) cores"
echo "1 process x 2 threads: $m1 tok/s; 2 ranks x 1 thread: $m2 tok/s ($(awk -v a="$m2" -v b="$m1" 'BEGIN {printf "%.2f", a / b}')x);" \
     "exchange $me ms per step (median of $REPS runs of 60 steps)"
