#!/usr/bin/env bash
# test_cli.sh - the command line end to end: bad input gives a message naming the problem
# and a non-zero exit; resume is exact; Ctrl-C saves; a non-finite loss keeps the last
# good checkpoint.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

# a small corpus: documents of various lengths
mkdir -p "$tmp/data/sub" "$tmp/empty" "$tmp/short"
for i in 1 2 3 4 5 6; do
    head -c $((3000 + i * 500)) /dev/urandom | base64 > "$tmp/data/doc$i.txt"
done
cp "$tmp/data/doc1.txt" "$tmp/data/sub/nested.txt"
echo "tiny" > "$tmp/data/tiny.txt"
echo "short doc" > "$tmp/short/a.txt"; echo "also short" > "$tmp/short/b.txt"
: > "$tmp/emptyfile"
SMALL="--layers 1 --dim 32 --heads 2 --train-len 32 --batch 2"

expect_fail "missing data path" "no such file" $LEXT train --data "$tmp/nope" $SMALL --steps 1 --out "$tmp/x.st"
expect_fail "no --data" "--data" $LEXT train $SMALL --steps 1 --out "$tmp/x.st"
expect_fail "empty directory" "no non-empty document" $LEXT train --data "$tmp/empty" $SMALL --steps 1 --out "$tmp/x.st"
expect_fail "empty file" "no non-empty document" $LEXT train --data "$tmp/emptyfile" $SMALL --steps 1 --out "$tmp/x.st"
expect_fail "no document long enough" "no document is long enough" $LEXT train --data "$tmp/short" $SMALL --steps 1 --out "$tmp/x.st"
expect_fail "unknown --pos" "unknown position scheme 'xyz'" $LEXT train --data "$tmp/data" $SMALL --pos xyz --steps 1
expect_fail "dim not divisible by heads" "not divisible by heads" $LEXT train --data "$tmp/data" --dim 30 --heads 4 --steps 1
expect_fail "odd head dim with rope" "even head dimension" $LEXT train --data "$tmp/data" --dim 24 --heads 8 --pos rope --steps 1
expect_fail "odd head dim with xpos" "even head dimension" $LEXT train --data "$tmp/data" --dim 24 --heads 8 --pos xpos --steps 1
expect_fail "steps not a number" "--steps: 'ten' is not an integer" $LEXT train --data "$tmp/data" --steps ten
expect_fail "negative batch" "--batch" $LEXT train --data "$tmp/data" --batch -3
expect_fail "unknown option" "unknown option --bogus" $LEXT train --data "$tmp/data" --bogus 1
expect_fail "option without value" "needs a value" $LEXT train --data
expect_fail "unknown command" "unknown command" $LEXT frobnicate
want=$(sed -n 's/^#define LEXT_VERSION "\(.*\)"$/\1/p' include/lext.h)
if [ -n "$want" ] && [ "$($LEXT --version)" = "lext $want" ]; then ok "--version prints the header's LEXT_VERSION ($want)"
else bad "--version: '$($LEXT --version 2>&1)', header says '$want'"; fi
expect_fail "info on a missing file" "cannot open" $LEXT info "$tmp/none.st"
head -c 100 /dev/urandom > "$tmp/garbage.st"
expect_fail "info on garbage" "checkpoint" $LEXT info "$tmp/garbage.st"

# a run, its size and its info
if $LEXT train --data "$tmp/data" $SMALL --steps 6 --out "$tmp/m.st" > "$tmp/train.log" 2>&1; then
    if grep -q "skipped as shorter than 33 bytes" "$tmp/train.log" && grep -q "^data: 7 documents used" "$tmp/train.log"; then
        ok "train counts skipped documents"
    else bad "train counts skipped documents: $(head -3 "$tmp/train.log")"; fi
else bad "small training run: $(tail -2 "$tmp/train.log")"; fi
if $LEXT info "$tmp/m.st" | grep -q "training state   step 6 of 6"; then ok "info shows the training state"; else bad "info"; fi
expect_fail "resume cannot change the model" "cannot change when resuming" $LEXT train --resume "$tmp/m.st" --dim 64
expect_fail "a changed option on resume names the checkpoint's value and the new one" \
    "--pos cannot change when resuming: $tmp/m.st has xpos, the command line asks for rope" \
    $LEXT train --resume "$tmp/m.st" --pos rope
expect_fail "a changed learning rate on resume names both values" "has 0.0003, the command line asks for 0.001" \
    $LEXT train --resume "$tmp/m.st" --lr 1e-3
expect_fail "a changed flag on resume names both values" "--embed-scale cannot change when resuming: $tmp/m.st has unscaled, the command line asks for scaled" \
    $LEXT train --resume "$tmp/m.st" --embed-scale
# the original command with --resume added: every fixed option equal to the checkpoint's
if $LEXT train --resume "$tmp/m.st" --data "$tmp/data" $SMALL --pos xpos --lr 3e-4 --seed 1 --steps 8 \
        --out "$tmp/same.st" > "$tmp/same.log" 2>&1 && grep -q "resuming at step 6 of 8" "$tmp/same.log"; then
    ok "resume with options equal to the checkpoint's is accepted"
else bad "resume with the original options: $(tail -2 "$tmp/same.log")"; fi
cp "$tmp/m.st" "$tmp/trunc.st"; truncate -s $(( $(stat -c %s "$tmp/trunc.st") * 3 / 4 )) "$tmp/trunc.st"  # past the header, inside the tensors
expect_fail "resume from a truncated checkpoint" "outside the" $LEXT train --resume "$tmp/trunc.st"

# resume is exact: 2N steps == N steps + resumed N steps, bit for bit
losses() { grep '^step [0-9]*/' "$1" | awk '{print $2, $4}'; }
RUN="--data $tmp/data $SMALL --steps 12 --log-every 1 --seed 7"
$LEXT train $RUN --out "$tmp/full.st" > "$tmp/full.log" 2>&1
$LEXT train $RUN --out "$tmp/half.st" --stop-after 6 > "$tmp/half.log" 2>&1
$LEXT train --resume "$tmp/half.st" --log-every 1 >> "$tmp/half.log" 2>&1
if [ "$(losses "$tmp/full.log" | wc -l)" -eq 12 ] && diff <(losses "$tmp/full.log") <(losses "$tmp/half.log") > /dev/null; then
    ok "resume repeats an uninterrupted run bit for bit"
else bad "resume determinism: $(diff <(losses "$tmp/full.log") <(losses "$tmp/half.log") | head -4)"; fi
tensors() { $PY -c "import sys; d=open(sys.argv[1],'rb').read(); n=int.from_bytes(d[:8],'little'); sys.stdout.buffer.write(d[8+n:])" "$1"; }
if [ -s "$tmp/full.st" ] && [ -s "$tmp/half.st" ] && cmp -s <(tensors "$tmp/full.st") <(tensors "$tmp/half.st"); then
    ok "resumed and uninterrupted runs end with identical weights and optimizer state"
else bad "final tensors differ after resume (or are missing)"; fi

# bf16 matrix products: resume keeps the checkpoint's precision and stays exact
expect_fail "unknown precision" "unknown precision 'fp16'" $LEXT train --data "$tmp/data" $SMALL --steps 1 --precision fp16 --out "$tmp/x.st"
$LEXT train $RUN --precision bf16 --out "$tmp/bfull.st" > "$tmp/bfull.log" 2>&1
$LEXT train $RUN --precision bf16 --out "$tmp/bhalf.st" --stop-after 6 > "$tmp/bhalf.log" 2>&1
$LEXT train --resume "$tmp/bhalf.st" --log-every 1 >> "$tmp/bhalf.log" 2>&1
if grep -q "bf16 matrix products" "$tmp/bfull.log" && [ "$(grep -c 'bf16 matrix products' "$tmp/bhalf.log")" -eq 2 ] \
   && [ "$(losses "$tmp/bfull.log" | wc -l)" -eq 12 ] && diff <(losses "$tmp/bfull.log") <(losses "$tmp/bhalf.log") > /dev/null \
   && cmp -s <(tensors "$tmp/bfull.st") <(tensors "$tmp/bhalf.st"); then
    ok "bf16 training resumes in bf16, bit for bit"
else bad "bf16 resume: $(grep -h 'training\|resuming' "$tmp/bfull.log" "$tmp/bhalf.log" | head -3)"; fi
if [ "$(losses "$tmp/bfull.log" | wc -l)" -eq 12 ] && ! diff <(losses "$tmp/full.log") <(losses "$tmp/bfull.log") > /dev/null; then
    ok "bf16 and fp32 runs differ"
else bad "--precision bf16 changed nothing"; fi
$LEXT train --resume "$tmp/bhalf.st" --precision fp32 --steps 14 --log-every 1 > "$tmp/bswitch.log" 2>&1
if grep -q "resuming at step 12 of 14.*fp32" "$tmp/bswitch.log"; then ok "--precision overrides the checkpoint's on resume"
else bad "precision override on resume: $(grep resuming "$tmp/bswitch.log")"; fi

# Ctrl-C saves a checkpoint that resumes
$LEXT train --data "$tmp/data" $SMALL --steps 100000 --log-every 1 --out "$tmp/int.st" > "$tmp/int.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^step 3/' "$tmp/int.log" 2>/dev/null && break; sleep 0.1; done
kill -INT $pid; wait $pid; rc=$?
if [ $rc -eq 0 ] && grep -q "^stopped at step" "$tmp/int.log" && $LEXT info "$tmp/int.st" > /dev/null; then
    ok "Ctrl-C saves a checkpoint and exits cleanly"
else bad "Ctrl-C: exit $rc, $(tail -2 "$tmp/int.log")"; fi

# a non-finite loss stops without saving; the last good checkpoint stays as it was
$LEXT train --data "$tmp/data" $SMALL --steps 4 --out "$tmp/good.st" > /dev/null 2>&1
$PY - "$tmp/good.st" "$tmp/blowup.st" <<'PYEOF'
import json, struct, sys
src, dst = sys.argv[1], sys.argv[2]
d = bytearray(open(src, 'rb').read())
n = int.from_bytes(d[:8], 'little')
h = json.loads(d[8:8 + n])
b, e = h['embed.weight']['data_offsets']
base = 8 + n
for off in range(base + b, base + e, 4):  # huge but finite weights: logits overflow
    d[off:off + 4] = struct.pack('<f', 3e38)
open(dst, 'wb').write(d)
PYEOF
cp "$tmp/blowup.st" "$tmp/blowup.orig"
expect_fail "non-finite loss is reported" "non-finite" $LEXT train --resume "$tmp/blowup.st" --steps 8
if cmp -s "$tmp/blowup.st" "$tmp/blowup.orig"; then ok "the last good checkpoint is untouched after a non-finite loss"; else bad "checkpoint changed after NaN"; fi

# rerunning the same command continues the run it finds at --out (a crash, a killed job)
R="$LEXT train --data $tmp/data $SMALL --steps 8 --threads 1"
$R --out "$tmp/whole.st" > /dev/null 2>&1 || bad "the uninterrupted run"
$R --stop-after 3 --out "$tmp/again.st" > /dev/null 2>&1 || bad "the run stopped after 3 steps"
out=$($R --out "$tmp/again.st" 2>&1)
if grep -q "holds this very run" <<<"$out" && grep -q "resuming at step 3 of 8" <<<"$out" &&
   cmp -s "$tmp/again.st" "$tmp/whole.st"; then
    ok "the same command again continues the stopped run, ending byte for byte as the uninterrupted one"
else bad "rerun the same command: $(tail -3 <<<"$out")"; fi
out=$($R --out "$tmp/again.st" 2>&1)
grep -q "resuming at step 8 of 8" <<<"$out" && cmp -s "$tmp/again.st" "$tmp/whole.st" &&
    ok "the same command after the end changes nothing" || bad "rerun after the end: $(tail -3 <<<"$out")"
out=$($R --lr 1e-3 --out "$tmp/again.st" 2>&1)
if ! grep -q "holds this very run" <<<"$out" && $LEXT info "$tmp/again.st" | grep -q "step 8 of 8, batch 2, lr 0.001"; then
    ok "another command (a new --lr) starts a fresh run"
else bad "a changed command: $(tail -3 <<<"$out")"; fi

summary test_cli.sh
