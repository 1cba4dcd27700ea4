#!/usr/bin/env bash
# test_system.sh - `lext info --system` names the CPU, engine and kernels; a training
# checkpoint records the machine it was trained on; resuming on the same machine says
# nothing, resuming one recorded on another machine says the steps are no longer
# bit-identical, and still resumes.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

out=$($LEXT info --system 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "^cpu  " <<<"$out" && grep -q "^engine  " <<<"$out" &&
   grep -q "^fp32 products" <<<"$out" && grep -q "^bf16 products" <<<"$out"; then
    ok "info --system names cpu, engine and kernels"
else bad "info --system (exit $rc): $out"; fi
expect_fail "info --system with a file" "takes no checkpoint" $LEXT info --system x.safetensors

mkdir -p "$tmp/data"
for i in 1 2 3; do head -c 4000 /dev/urandom | base64 > "$tmp/data/d$i.txt"; done
SMALL="--layers 1 --dim 32 --heads 2 --train-len 32 --batch 2 --threads 1"
if $LEXT train --data "$tmp/data" $SMALL --steps 2 --out "$tmp/m.st" > "$tmp/t1.log" 2>&1; then
    ok "train 2 steps"
else bad "train: $(cat "$tmp/t1.log")"; fi
machine=$($LEXT info --system | sed -n 's/^cpu  *//p')
info=$($LEXT info "$tmp/m.st")
if grep -q "^trained on .*$machine.*$($LEXT info --system | sed -n 's/^engine  *//p')" <<<"$info"; then
    ok "the checkpoint records this machine and engine"
else bad "info of the checkpoint: $info"; fi

$LEXT train --resume "$tmp/m.st" --steps 3 --threads 1 --out "$tmp/m.st" > "$tmp/t2.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && ! grep -q "another machine" "$tmp/t2.log"; then
    ok "resume on the same machine: no note"
else bad "same-machine resume (exit $rc): $(cat "$tmp/t2.log")"; fi

# the same checkpoint, as if saved elsewhere
$PY - "$tmp/m.st" "$tmp/other.st" <<'PYEOF'
import json, sys
sys.path.insert(0, "tests")
import safetensors_io as st
tensors, meta = st.load(sys.argv[1])
tr = json.loads(meta["lext_train"])
assert tr["machine"], "no machine recorded"
tr["machine"] = "Some Other CPU (family 25 model 1); OpenBLAS 0.3.21; fp32 Zen; bf16 fp32"
meta["lext_train"] = json.dumps(tr)
st.save_file(tensors, sys.argv[2], meta)
PYEOF
$LEXT train --resume "$tmp/other.st" --steps 4 --threads 1 --out "$tmp/other.st" > "$tmp/t3.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "trained on another machine or engine" "$tmp/t3.log" &&
   grep -q "checkpoint: Some Other CPU" "$tmp/t3.log" && grep -q "step 4/4" "$tmp/t3.log"; then
    ok "resume from another machine: says so, names both, and trains"
else bad "other-machine resume (exit $rc): $(cat "$tmp/t3.log")"; fi
if $LEXT info "$tmp/other.st" | grep -q "^trained on .*$machine"; then
    ok "the resumed run's checkpoint records the machine it ran on"
else bad "machine after resume: $($LEXT info "$tmp/other.st")"; fi

summary test_system.sh
