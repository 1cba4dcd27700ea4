#!/usr/bin/env bash
# test_experiment.sh - the whole pipeline of `lext experiment` end to end on a tiny corpus
# made here (`lext corpus --from`), in seconds: corpus splits and manifests, training,
# evaluation, resolution, plot, report, the rerun that skips finished steps, and bad
# configs. It checks the pipeline, not the numbers.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
case $LEXT in /*) ;; *) LEXT=$PWD/$LEXT ;; esac  # absolute, as it always was here
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

# documents of real-looking text (this repository's sources), 40 of them, >= 2000 bytes
mkdir -p "$tmp/src/a" "$tmp/src/b"
i=0
for f in src/*.c cli/*.c include/lext.h tests/*.c; do
    [ "$(wc -c < "$f")" -ge 2000 ] || continue
    if [ $((i % 2)) -eq 0 ]; then cp "$f" "$tmp/src/a/"; else cp "$f" "$tmp/src/b/"; fi
    i=$((i + 1)); [ $i -ge 40 ] && break
done
echo "tiny" > "$tmp/src/a/small.txt"

$LEXT corpus --from "$tmp/src" --min-bytes 2000 "$tmp/corpus" > "$tmp/corpus.log" 2>&1
check "corpus --from builds splits and manifests" \
    '[ -f "$tmp/corpus/corpus.json" ] && [ -f "$tmp/corpus/train.tsv" ] && [ -d "$tmp/corpus/train" ] && [ -d "$tmp/corpus/test" ]'
n_docs=$(cat "$tmp/corpus/"{train,valid,test}.tsv | wc -l)
check "every kept document is in exactly one manifest ($n_docs)" '[ "$n_docs" -eq $i ]'
check "the small file was left out" '[ -s "$tmp/corpus/train.tsv" ] && ! grep -q small.txt "$tmp/corpus/"*.tsv'
check "manifest sha256 matches the content" \
    '$PY -c "
import hashlib,sys
d=sys.argv[1]
for s in (\"train\",\"valid\",\"test\"):
    for line in open(f\"{d}/{s}.tsv\"):
        i,n,h=line.rstrip(\"\n\").split(\"\t\"); b=open(f\"{d}/{s}/{i}\",\"rb\").read()
        assert len(b)==int(n) and hashlib.sha256(b).hexdigest()==h, i
        v=int(hashlib.sha256(i.encode()).hexdigest()[:8],16)%100
        assert s==(\"train\" if v<80 else \"valid\" if v<90 else \"test\"), (i,s,v)
" "$tmp/corpus"'
$LEXT corpus --from "$tmp/src" --min-bytes 2000 "$tmp/corpus2" > /dev/null 2>&1
check "same input, same output, byte for byte" 'diff -r "$tmp/corpus" "$tmp/corpus2" > /dev/null'
mkdir -p "$tmp/notacorpus"; echo keep > "$tmp/notacorpus/file"
if $LEXT corpus --from "$tmp/src" "$tmp/notacorpus" > /dev/null 2>&1; then bad "refuses to replace a non-corpus directory"
else check "refuses to replace a non-corpus directory" '[ -f "$tmp/notacorpus/file" ]'; fi

cat > "$tmp/tiny.json" <<'JSON'
{"schemes": ["sinusoidal", "alibi", "rope", "xpos", "none"], "train_len": 16,
 "lengths": [16, 32, 64], "resolution_lengths": [16, 32], "steps": 4, "batch": 2,
 "layers": 1, "heads": 2, "dim": 16}
JSON
start=$(date +%s)
$LEXT experiment --config "$tmp/tiny.json" --corpus "$tmp/corpus" --out "$tmp/res" > "$tmp/exp.log" 2>&1
rc=$?
check "experiment runs to the end (exit $rc, $(( $(date +%s) - start )) s)" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || tail -20 "$tmp/exp.log"
for t in "Perplexity by evaluation length" "Blockwise causal attention ablation" "Attention resolution"; do
    check "stdout and REPORT.md have the table '$t'" 'grep -q "$t" "$tmp/exp.log" && grep -q "$t" "$tmp/res/REPORT.md"'
done
check "REPORT.md states which claims held" 'grep -q "Which of the paper.s claims held" "$tmp/res/REPORT.md"'
check "every perplexity in the tables has a 95% interval around it" \
    '$PY -c "
import re, sys
md = open(sys.argv[1]).read()
n = 0
for sec in (\"Perplexity by evaluation length\", \"Blockwise causal attention ablation\"):
    body = md.split(sec, 1)[1].split(\"###\", 1)[0]
    for row in [l for l in body.splitlines() if l.startswith(\"| \") and not l.startswith(\"| model\")]:
        for cell in row.strip(\"|\").split(\"|\")[1:]:
            m = re.fullmatch(r\" ([0-9.]+) \\[([0-9.]+), ([0-9.]+)\\] \", cell)
            assert m, (sec, row, cell)
            x, lo, hi = map(float, m.groups())
            assert lo <= x <= hi and lo < hi, (sec, cell)
            n += 1
assert n >= 5 * 3 + 10 * 2, n
" "$tmp/res/REPORT.md"'
check "every claim is judged: holds, fails or not resolved at this budget, with its interval" \
    '$PY -c "
import re, sys
md = open(sys.argv[1]).read().split(\"claims held here\", 1)[1].split(\"\\n## \", 1)[0]
claims = [l for l in md.splitlines() if l.startswith(\"- \") and \"Table 3\" not in l]
assert len(claims) == 7, claims
for c in claims:
    assert re.search(r\"\\*\\*(holds|fails|not resolved at this budget)\\*\\* \\(.*\\[[0-9.]+, [0-9.]+\\]\", c), c
" "$tmp/res/REPORT.md"'
check "REPORT.md lists the exact commands" 'grep -q "^lext train --data" "$tmp/res/REPORT.md" && grep -q "^lext eval --model" "$tmp/res/REPORT.md"'
check "five models, five eval reports" '[ $(ls "$tmp/res/models" | wc -l) -eq 5 ] && [ $(ls "$tmp/res/eval"/*.json | wc -l) -eq 5 ]'
check "embed_scale: the sinusoidal model scales its token embeddings, no other does" \
    '$PY -c "
import json, sys
sys.path.insert(0, \"tests\")
import safetensors_io as sio
d = sys.argv[1]
for s in (\"sinusoidal\", \"alibi\", \"rope\", \"xpos\", \"none\"):
    cfg = json.loads(sio.load(f\"{d}/{s}.safetensors\")[1][\"lext\"])
    assert cfg[\"embed_scale\"] is (s == \"sinusoidal\"), (s, cfg)
" "$tmp/res/models"'
check "resolution at 1x and 2x (+ bca at 2x) for each scheme" '[ $(ls "$tmp/res/resolution"/*.json | wc -l) -eq 15 ]'
check "the perplexity plot is well-formed SVG with 10 series" \
    '$PY -c "
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
n = sum(1 for e in r.iter() if e.get(\"class\") == \"series\")
assert n == 10, n
" "$tmp/res/ppl.svg"'
check "every table cell is a number" '[ -s "$tmp/res/REPORT.md" ] && ! grep -q "| n/a" "$tmp/res/REPORT.md"'

# a rerun skips every finished step
$LEXT experiment --config "$tmp/tiny.json" --corpus "$tmp/corpus" --out "$tmp/res" > "$tmp/rerun.log" 2>&1
rc=$?
check "a rerun skips completed steps" '[ $rc -eq 0 ] && [ $(grep -c "already complete" "$tmp/rerun.log") -eq 25 ]'

# a changed plan is not skipped: more steps resume the models (and redo their reports);
# another model shape retrains from scratch
sed 's/"steps": 4/"steps": 6/' "$tmp/tiny.json" > "$tmp/more.json"
$LEXT experiment --config "$tmp/more.json" --corpus "$tmp/corpus" --out "$tmp/res" > "$tmp/more.log" 2>&1
rc=$?
check "more steps: every model resumed to 6 steps, every report redone" \
    '[ $rc -eq 0 ] && [ $(grep -c "already complete" "$tmp/more.log") -eq 0 ] && grep -q -- "--resume" "$tmp/res/logs/train-xpos.log" && $LEXT info "$tmp/res/models/xpos.safetensors" | grep -q "step 6 of 6"'
sed 's/"dim": 16/"dim": 24/' "$tmp/more.json" > "$tmp/wider.json"
$LEXT experiment --config "$tmp/wider.json" --corpus "$tmp/corpus" --out "$tmp/res" > "$tmp/wider.log" 2>&1
rc=$?
check "another model shape: trained from scratch" \
    '[ $rc -eq 0 ] && ! grep -q -- "--resume" "$tmp/res/logs/train-rope.log" && $LEXT info "$tmp/res/models/rope.safetensors" | grep -qE "d_model +24"'

# bad configs
echo '{"schemes": ["rope"], "stepz": 3}' > "$tmp/bad1.json"
echo '{"schemes": ["warp"]}' > "$tmp/bad2.json"
echo '{"steps": -1}' > "$tmp/bad3.json"
echo 'not json' > "$tmp/bad4.json"
want=("" "unknown key 'stepz'" "unknown position scheme 'warp'" "'steps' must be an integer" "is not a JSON object")
for b in 1 2 3 4; do
    err=$($LEXT experiment --config "$tmp/bad$b.json" --corpus "$tmp/corpus" --out "$tmp/bad" 2>&1 >/dev/null); rc=$?
    check "bad config $b is refused naming the problem (${want[$b]})" '[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qF -- "${want[$b]}" <<<"$err"'
done

# SIGTERM to the experiment alone: the training step it runs is told too, saves, and stops
cat > "$tmp/long.json" <<'JSON'
{"schemes": ["xpos"], "train_len": 16, "lengths": [16, 32], "resolution_lengths": [16],
 "steps": 1000000, "batch": 2, "layers": 1, "heads": 2, "dim": 16}
JSON
$LEXT experiment --config "$tmp/long.json" --corpus "$tmp/corpus" --out "$tmp/term" > "$tmp/term.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -qs "^step " "$tmp/term/logs/train-xpos.log" && break; sleep 0.1; done
kill -TERM $pid
wait $pid; rc=$?
check "SIGTERM: the experiment stops with a failure status, the training step saved and stopped" \
    '[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "stopped at step" "$tmp/term/logs/train-xpos.log" && $LEXT info "$tmp/term/models/xpos.safetensors" | grep -q "training state"'

err=$($LEXT experiment --budget lots 2>&1 >/dev/null); rc=$?
check "a bad --budget is refused" '[ $rc -ne 0 ] && echo "$err" | grep -q "budget"'

summary test_experiment.sh
