#!/usr/bin/env bash
# test_faults.sh - crashes and faults, end to end on tiny models (about a minute):
#  1. `lext train` killed with SIGKILL at 50 random moments, most of them inside a
#     checkpoint write (a checkpoint every step): the checkpoint path always holds a
#     complete training checkpoint, the previous one or the new one, never older than the
#     last seen; the temporary files of killed writers are counted and removed by the next
#     run; resuming works every time.
#  2. A full disk (RLIMIT_FSIZE through `ulimit -f`, SIGXFSZ ignored, so write() fails with
#     EFBIG as on a full file system; /dev/full for the outputs written in place): a clear
#     error, a non-zero exit, and the previous checkpoint byte for byte as it was.
#  3. Memory that cannot be had: configurations far too large, one sized to exceed this
#     machine's memory and swap, and one under `ulimit -v`: a message naming the size, a
#     non-zero exit, at once, before any work (no weights drawn, no data read).
# LEXT_FAULT_SEED fixes the kill times (default: random, printed).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
note() { echo "     $1"; }

mkdir -p "$tmp/data"
for i in 1 2 3; do head -c 3000 /dev/urandom | base64 > "$tmp/data/doc$i.txt"; done
TINY="--layers 1 --dim 8 --heads 2 --train-len 8 --batch 1 --threads 1"
step_of() { "$LEXT" info "$1" 2>/dev/null | sed -nE 's/^training state +step ([0-9]+) of.*/\1/p'; }

# ---- 1. SIGKILL at random moments -------------------------------------------------------
seed=${LEXT_FAULT_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$seed
ck=$tmp/kill/model.st
mkdir -p "$tmp/kill"
kills=50 in_write=0 before_first=0 lost=0 broken=0 older=0 resume_failed=0 last=0 max_strays=0 unexpected=0
for i in $(seq $kills); do
    if [ -f "$ck" ]; then
        "$LEXT" train --resume "$ck" --save-every 1 --log-every 1000000 --threads 1 > "$tmp/kill.log" 2>&1 &
    else
        "$LEXT" train --data "$tmp/data" $TINY --steps 1000000000 --save-every 1 \
            --log-every 1000000 --out "$ck" > "$tmp/kill.log" 2>&1 &
    fi
    pid=$!
    ms=$((5 + RANDOM % 296)) # 5 to 300 ms: start-up, the first save, or deep in the run
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null; rc=$?
    [ $rc -ne 137 ] && unexpected=$((unexpected + 1)) && cp "$tmp/kill.log" "$tmp/unexpected.$i.log" # exited or crashed before the kill
    grep -q "training failed" "$tmp/kill.log" && resume_failed=$((resume_failed + 1))
    strays=$(find "$tmp/kill" -name 'model.st.tmp.*' | wc -l)
    [ "$strays" -gt "$max_strays" ] && max_strays=$strays
    [ -f "$ck.tmp.$pid" ] && in_write=$((in_write + 1)) # died between creating it and the rename
    if [ ! -f "$ck" ]; then
        if [ "$last" -eq 0 ]; then before_first=$((before_first + 1)); else lost=$((lost + 1)); fi
        continue
    fi
    s=$(step_of "$ck")
    # a full load (every tensor, finite weights) as well as the header `info` reads
    if [ -z "$s" ] || ! "$LEXT" generate --model "$ck" --tokens 1 --threads 1 > /dev/null 2>&1; then
        broken=$((broken + 1)); cp "$ck" "$tmp/broken.$i.st"; continue
    fi
    [ "$s" -lt "$last" ] && older=$((older + 1))
    last=$s
done
note "seed $seed: $kills kills; $in_write inside a checkpoint write (a temporary file left), $before_first before the first save; last step $last"
note "stray temporary files: at most $max_strays at once (each resumed run removes those of dead runs)"
if [ $broken -eq 0 ] && [ $lost -eq 0 ] && [ $older -eq 0 ] && [ "$last" -gt 0 ]; then
    ok "after every SIGKILL the checkpoint is a complete training checkpoint, never older than the last"
else bad "SIGKILL: $broken unloadable, $lost vanished, $older went back in steps (last step $last)"; fi
if [ $in_write -ge 5 ]; then ok "at least 5 of the kills landed inside a checkpoint write ($in_write)"
else bad "only $in_write kills landed inside a write: the test did not test much"; fi
if [ $resume_failed -eq 0 ] && [ $unexpected -eq 0 ]; then ok "every resume from a killed run's checkpoint started, and every run was still running when killed"
else bad "$resume_failed resumes failed, $unexpected runs ended before their kill: $(cat "$tmp"/unexpected.*.log 2>/dev/null | tail -3)"; fi
# a last run to the end: resumes, removes the strays, finishes, and writes no new one
strays=$(find "$tmp/kill" -name 'model.st.tmp.*' | wc -l)
if "$LEXT" train --resume "$ck" --steps $((last + 3)) --threads 1 > "$tmp/final.log" 2>&1 &&
    [ "$(step_of "$ck")" = $((last + 3)) ]; then
    ok "resuming the last checkpoint runs to the end (step $((last + 3)))"
else bad "final resume: $(tail -2 "$tmp/final.log")"; fi
left=$(find "$tmp/kill" -name 'model.st.tmp.*' | wc -l)
if [ "$left" -eq 0 ] && { [ "$strays" -eq 0 ] || grep -q "^removed $strays temporary file" "$tmp/final.log"; }; then
    ok "stale temporary files of killed runs are removed and reported ($strays before, 0 after)"
else bad "temporary files: $strays before the last run, $left after: $(ls "$tmp/kill")"; fi
# a temporary file of a live process, or one whose name only looks similar, is not touched
sleep 30 & live=$!
dead=$(sh -c 'echo $$'); # a pid that has just ended: its file goes, the others stay
touch "$tmp/kill/model.st.tmp.$live" "$tmp/kill/model.st.tmp.12x" "$tmp/kill/other.st.tmp.999999" "$tmp/kill/model.st.tmp.$dead"
"$LEXT" train --resume "$ck" --steps $((last + 4)) --threads 1 > /dev/null 2>&1; rc=$?
if [ $rc -eq 0 ] && [ ! -f "$tmp/kill/model.st.tmp.$dead" ] && [ -f "$tmp/kill/model.st.tmp.$live" ] && [ -f "$tmp/kill/model.st.tmp.12x" ] && [ -f "$tmp/kill/other.st.tmp.999999" ]; then
    ok "temporary files of live processes and other names are left alone"
else bad "the clean-up removed a file it must keep: $(ls "$tmp/kill")"; fi
kill $live 2>/dev/null; wait $live 2>/dev/null

# ---- 2. a full disk -----------------------------------------------------------------------
full=$tmp/full/model.st
mkdir -p "$tmp/full"
"$LEXT" train --data "$tmp/data" $TINY --steps 2 --out "$full" > /dev/null 2>&1
cp "$full" "$tmp/full.orig"
size_kib=$(( $(stat -c %s "$full") / 1024 ))
# in a subshell: the limit and the ignored SIGXFSZ stay there (and pass to lext by exec)
err=$( (ulimit -f $((size_kib / 2)); trap '' XFSZ; exec "$LEXT" train --resume "$full" --steps 4 --threads 1) 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "cannot write .*model.st.tmp.*File too large" <<<"$err"; then
    ok "a full disk while saving: a clear error and exit $rc"
else bad "full disk: exit $rc, message: $err"; fi
if cmp -s "$full" "$tmp/full.orig"; then ok "the previous checkpoint is byte for byte intact after the failed save"
else bad "the previous checkpoint changed after a failed save"; fi
if [ -z "$(find "$tmp/full" -name 'model.st.tmp.*')" ]; then ok "the failed save leaves no temporary file"
else bad "a failed save left $(ls "$tmp/full")"; fi
# the same at the first save of a fresh run: no checkpoint appears
err=$( (ulimit -f 4; trap '' XFSZ; exec "$LEXT" train --data "$tmp/data" $TINY --steps 2 --out "$tmp/full/new.st") 2>&1 >/dev/null); rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ ! -e "$tmp/full/new.st" ] && [ -z "$(find "$tmp/full" -name 'new.st*')" ]; then
    ok "a full disk at the first save: exit $rc, no file at all"
else bad "full disk at the first save: exit $rc, $(ls "$tmp/full"): $err"; fi
# outputs written in place: /dev/full accepts the open and fails every write with ENOSPC
model=$tmp/full.orig
expect_full() { # name, command...: non-zero exit (no crash) and a message naming the problem
    local name=$1; shift
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qiE "cannot write|no space" <<<"$err"; then ok "$name: exit $rc, '$(tail -1 <<<"$err")'"
    else bad "$name: exit $rc: $err"; fi
}
expect_full "eval --json /dev/full" "$LEXT" eval --model "$model" --data "$tmp/data" --lengths 8,16 --attn causal --json /dev/full --threads 1
expect_full "resolution --csv /dev/full" "$LEXT" resolution --model "$model" --data "$tmp/data" --length 16 --csv /dev/full --threads 1
err=$("$LEXT" generate --model "$model" --tokens 50 --threads 1 2>&1 > /dev/full); rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "cannot write the output" <<<"$err"; then ok "generate > /dev/full: exit $rc"
else bad "generate > /dev/full: exit $rc: $err"; fi

# ---- 3. memory that cannot be had ---------------------------------------------------------
# expect_nomem NAME CMD...: fails within 10 s, names a size in bytes, starts nothing.
# Under ASan mapping many GiB (and their shadow) takes seconds by itself: 60 s there.
max_ms=10000
[ -n "${LEXT_SANITIZER:-}" ] && max_ms=60000
expect_nomem() {
    local name=$1; shift
    local out rc t0 t1
    t0=$(date +%s%N)
    out=$(timeout 120 "$@" --out "$tmp/mem.st" 2>&1); rc=$? # the timeout: should it start
    t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 ))
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qE "[0-9]{6,} bytes" <<<"$out" &&
        ! grep -qE "^(data|training at|resuming at)" <<<"$out" && [ ! -e "$tmp/mem.st" ] && [ $ms -lt $max_ms ]; then
        ok "$name: exit $rc in $ms ms: $(grep -oE 'lext train: .{0,150}' <<<"$out" | head -1)..."
    else bad "$name: exit $rc in $ms ms: $out"; fi
}
expect_nomem "--dim 65536 --layers 1024" "$LEXT" train --data "$tmp/data" --dim 65536 --layers 1024 --heads 1024 --steps 1
expect_nomem "--batch 1048576 --train-len 1024" "$LEXT" train --data "$tmp/data" --layers 2 --dim 64 --heads 2 --batch 1048576 --train-len 1024 --steps 1
# more than memory and swap, each buffer alone less: every allocation succeeds (the kernel
# overcommits) and only the sum can tell. dim 4096 costs 3.2 GB a layer in weights,
# gradients and Adam moments.
# what lext compares with (src/train.c, memory_available): RAM + swap, or a cgroup's limit
have_kb=$(awk '/^(MemTotal|SwapTotal):/ {s += $2} END {print s}' /proc/meminfo)
swap_kb=$(awk '/^SwapTotal:/ {print $2}' /proc/meminfo)
cg=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || echo max)
if [ "$cg" != max ]; then
    cgs=$(cat /sys/fs/cgroup/memory.swap.max 2>/dev/null || echo max)
    [ "$cgs" != max ] && [ $((cgs / 1024)) -lt "$swap_kb" ] && swap_kb=$((cgs / 1024))
    [ $((cg / 1024 + swap_kb)) -lt "$have_kb" ] && have_kb=$((cg / 1024 + swap_kb))
fi
layers=$(( have_kb * 3 / 2 / 3145728 + 1 ))
if [ "$layers" -le 1024 ]; then
    expect_nomem "--dim 4096 --layers $layers (1.5 x this machine's $((have_kb / 1048576)) GiB)" \
        "$LEXT" train --data "$tmp/data" --dim 4096 --layers "$layers" --heads 32 --train-len 64 --batch 2 --steps 1
else note "skipped the memory-and-swap check: this machine has more than 2 TB"; fi
# under `ulimit -v`: OpenBLAS alone reserves a few hundred MB of address space at start-up
# (and spins for ever when it cannot), so first find what a trivial run needs here
if [ -n "${LEXT_SANITIZER:-}" ]; then
    note "skipped ulimit -v under the sanitizer: it reserves terabytes of address space"
else
    base=0
    for kb in 262144 524288 1048576 2097152 4194304 8388608; do
        if (ulimit -v $kb; timeout 10 "$LEXT" info "$tmp/full.orig" > /dev/null 2>&1); then base=$kb; break; fi
    done
    if [ $base -eq 0 ]; then bad "ulimit -v: lext does not start even with 8 GiB of address space"
    else
        limit=$((base + 786432)) # 768 MiB above a trivial run; the model below needs 1.6 GB
        expect_nomem "ulimit -v $((limit / 1024)) MiB, --dim 1024 --layers 8" \
            bash -c 'ulimit -v '$limit'; exec "$@"' _ "$LEXT" train --data "$tmp/data" --dim 1024 --layers 8 --heads 8 --train-len 64 --batch 4 --steps 1 --threads 1
    fi
fi

summary test_faults.sh
