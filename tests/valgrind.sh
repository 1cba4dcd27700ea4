#!/usr/bin/env bash
# valgrind.sh - memcheck over the commands that matter, on tiny models: a short training
# run with validation and periodic checkpoints, its resume, info, eval (every mask),
# resolution (CSV and SVG), generate (window and causal) and plot. Passes when every run
# has no memcheck error (invalid read or write, use of uninitialised memory, bad free) and
# leaks nothing: "definitely lost" and "indirectly lost" both 0 bytes. Not part of
# `make test` (it takes a few minutes); `make valgrind` builds a copy without AVX-512
# in build-valgrind/ (valgrind does not decode AVX-512) and runs this against it.
#
# tests/valgrind.supp holds the suppressions, each explained there; only library noise.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
logs=${VALGRIND_LOGS:-$tmp/logs}
mkdir -p "$logs"

# one thread, but for one run: OpenMP's pool would only multiply the run time
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
VG=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
    --track-origins=yes --suppressions=tests/valgrind.supp --num-callers=30)

# memcheck NAME CMD...: runs CMD under valgrind (its stdout to $tmp/NAME.out); with
# want_fail=1 the command itself must fail (exit 1 to 98), as bad input should
want_fail=0
memcheck() {
    local name=$1; shift
    local log=$logs/$name.log t0=$SECONDS
    "${VG[@]}" --log-file="$log" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err"
    local rc=$?
    local errors definite indirect
    errors=$(sed -nE 's/.*ERROR SUMMARY: ([0-9]+) errors.*/\1/p' "$log" | tail -1)
    definite=$(sed -nE 's/.*definitely lost: ([0-9,]+) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
    indirect=$(sed -nE 's/.*indirectly lost: ([0-9,]+) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
    # no leak summary at all means no block was left: "All heap blocks were freed"
    grep -q "All heap blocks were freed" "$log" && definite=0 indirect=0
    local rc_ok=0
    if [ $want_fail = 1 ]; then [ $rc -ge 1 ] && [ $rc -le 98 ] && rc_ok=1; else [ $rc -eq 0 ] && rc_ok=1; fi
    if [ $rc_ok = 1 ] && [ "${errors:-x}" = 0 ] && [ "${definite:-x}" = 0 ] && [ "${indirect:-x}" = 0 ]; then
        ok "$name: 0 errors, definitely lost 0, indirectly lost 0 ($((SECONDS - t0)) s)"
    else
        bad "$name: exit $rc, ${errors:-?} errors, definitely lost ${definite:-?}, indirectly lost ${indirect:-?} (see $log)"
        grep -E "^==[0-9]+== (Invalid|Conditional|Use of|Mismatched|Syscall|.*lost in)" "$log" | head -5
        tail -3 "$tmp/$name.err"
    fi
}

mkdir -p "$tmp/data" "$tmp/val"
for i in 1 2 3; do head -c 2000 /dev/urandom | base64 > "$tmp/data/doc$i.txt"; done
head -c 1500 /dev/urandom | base64 > "$tmp/val/v.txt"
M=$tmp/m.st
SMALL="--layers 1 --dim 16 --heads 2 --train-len 16 --batch 2 --threads 1"

memcheck train "$LEXT" train --data "$tmp/data" --val "$tmp/val" --eval-every 2 $SMALL --steps 4 \
    --save-every 2 --pos xpos --out "$M"
memcheck train-resume "$LEXT" train --resume "$M" --steps 6 --threads 1
# the OpenMP paths too: two threads (lext_set_threads overrides OMP_NUM_THREADS)
memcheck train-2-threads "$LEXT" train --data "$tmp/data" --layers 1 --dim 16 --heads 2 \
    --train-len 16 --batch 2 --steps 2 --pos rope --threads 2 --out "$tmp/t2.st"
memcheck train-alibi-untied "$LEXT" train --data "$tmp/data" $SMALL --steps 2 --pos alibi --untied --out "$tmp/a.st"
memcheck train-bf16 "$LEXT" train --data "$tmp/data" $SMALL --steps 2 --pos xpos --precision bf16 --out "$tmp/b.st"
memcheck info "$LEXT" info "$M"
memcheck eval "$LEXT" eval --model "$M" --data "$tmp/data" --lengths 16,32,64 --attn causal,bca,window \
    --json "$tmp/eval.json" --threads 1
memcheck resolution "$LEXT" resolution --model "$M" --data "$tmp/data" --length 32 --attn bca \
    --csv "$tmp/res.csv" --svg "$tmp/res.svg" --threads 1
memcheck generate-window "$LEXT" generate --model "$M" --prompt "hello" --tokens 40 --threads 1
memcheck generate-causal "$LEXT" generate --model "$M" --prompt "hello" --tokens 40 --attn causal \
    --max-context 64 --temperature 0.7 --top-k 20 --top-p 0.9 --threads 1
memcheck plot "$LEXT" plot "$tmp/eval.json" -o "$tmp/ppl.svg"
# error paths release what they took, too
want_fail=1
memcheck bad-checkpoint "$LEXT" train --resume "$tmp/eval.json" --threads 1
memcheck too-large "$LEXT" train --data "$tmp/data" --dim 65536 --layers 1024 --heads 1024 --steps 1 --out "$tmp/x.st"
memcheck missing-data "$LEXT" eval --model "$M" --data "$tmp/nowhere" --lengths 16
want_fail=0

summary valgrind.sh
