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
 "lengths": [16, 32, 64], "long_lengths": [128], "resolution_lengths": [16, 32], "steps": 4, "batch": 2,
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
check "REPORT.md says the retrieval section was left out, and how to run it" 'grep -q "### Retrieval: passkey by length" "$tmp/res/REPORT.md" && grep -q "Left out of this run. .lext experiment --passkey" "$tmp/res/REPORT.md"'
check "REPORT.md lists the exact commands" 'grep -q "^lext train --data" "$tmp/res/REPORT.md" && grep -q "^lext eval --model" "$tmp/res/REPORT.md"'
check "five models, five eval reports, five at the long lengths, 2 x 8 under context extension" '[ $(ls "$tmp/res/models" | wc -l) -eq 5 ] && [ $(ls "$tmp/res/eval"/*.json | wc -l) -eq 26 ] && [ $(ls "$tmp/res/eval"/*-long.json | wc -l) -eq 5 ] && [ $(ls "$tmp/res/eval"/{rope,xpos}-ext-{linear,ntk,dynamic-ntk,yarn,self-extend,rerope,sinks,lambda}.json | wc -l) -eq 16 ]'
check "the context-extension table: rope and xpos, ten rows each, every cell an interval, a best per length past 1x" \
    '$PY -c "
import json, re, sys
md = open(sys.argv[1]).read()
body = md.split(\"### Context extension\", 1)[1].split(\"###\", 1)[0]
rows = [l for l in body.splitlines() if l.startswith(\"| \") and not l.startswith(\"| model\")]
assert [tuple(c.strip() for c in r.strip(\"|\").split(\"|\")[:2]) for r in rows] == [
    (s, m) for s in (\"rope\", \"xpos\") for m in (\"none\", \"linear (PI)\", \"ntk\", \"dynamic-ntk\", \"yarn\",
    \"self-extend (G 32, W l/2)\", \"rerope (W l/2)\", \"sinks 4 + window l\", \"lambda (4 global + l local)\", \"bca\")], rows
for r in rows:
    for cell in r.strip(\"|\").split(\"|\")[2:]:
        assert re.fullmatch(r\" [0-9.]+ \\[[0-9.]+, [0-9.]+\\] \", cell), (r, cell)
best = [l for l in body.splitlines() if re.match(r\"- (32|64) \\([0-9.]+x\\): \\*\\*(rope|xpos) \\+ \", l)]
assert len(best) == 2, body
# the report of one method records it, and its factor is length / train length
e = json.load(open(sys.argv[2]))
assert e[\"rope_scaling\"][\"method\"] == \"yarn\" and [c[\"rope_factor\"] for c in e[\"cells\"]] == [1, 2, 4], e[\"rope_scaling\"]
# lambda: a window of the training length plus 4 capped sinks
lam = json.load(open(sys.argv[3]))
assert lam[\"attn_ext\"] == {\"method\": \"sinks\", \"sinks\": 4, \"sink_pos\": \"capped\"}, lam[\"attn_ext\"]
assert lam[\"modes\"] == [{\"mode\": \"window\", \"window\": 16}], lam[\"modes\"]
" "$tmp/res/REPORT.md" "$tmp/res/eval/rope-ext-yarn.json" "$tmp/res/eval/xpos-ext-lambda.json"'
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
check "a rerun skips completed steps" '[ $rc -eq 0 ] && [ $(grep -c "already complete" "$tmp/rerun.log") -eq 46 ]'

# seeds, a second corpus (with the cross-domain table) and a learning-rate sweep
mkdir -p "$tmp/src2"
for f in tests/*.py tests/*.sh scripts/* bench/* python/*/*.py README.md; do
    [ -f "$f" ] && [ "$(wc -c < "$f")" -ge 1500 ] && cp "$f" "$tmp/src2/"
done
$LEXT corpus --from "$tmp/src2" --min-bytes 1500 "$tmp/other" > /dev/null 2>&1
$LEXT experiment --config "$tmp/tiny.json" --corpus "$tmp/corpus,$tmp/other" --seeds 2 --lr-sweep 3e-3 \
    --out "$tmp/res2" > "$tmp/exp2.log" 2>&1
rc=$?
check "--seeds 2 on two corpora with --lr-sweep runs to the end (exit $rc)" '[ $rc -eq 0 ]'
[ $rc -eq 0 ] || tail -20 "$tmp/exp2.log"
check "2 corpora x 5 schemes x 2 seeds: 20 models, named by corpus, scheme and seed" \
    '[ $(ls "$tmp/res2/models"/*.safetensors | wc -l) -eq 20 ] && [ -f "$tmp/res2/models/other-xpos-seed2.safetensors" ] && [ -f "$tmp/res2/models/corpus-rope.safetensors" ]'
check "every table for each corpus, and the cross-domain one with its 10 evaluations" \
    'for t in "Perplexity by evaluation length (as the paper.s Table 2), corpus" "Table 2), other" "Longer lengths: bca and window, other" "Attention resolution (as the paper.s Table 3), other" "Cross-domain: trained on corpus, tested on other" "Learning-rate sweep"; do grep -q "$t" "$tmp/res2/REPORT.md" || exit 1; done; [ $(ls "$tmp/res2/eval"/corpus-*-on-other.json | wc -l) -eq 10 ]'
check "with seeds, a cell is the mean, the seeds' standard deviation and the 95% interval" \
    '$PY -c "
import re, sys
md = open(sys.argv[1]).read()
body = md.split(\"Table 2), corpus\", 1)[1].split(\"###\", 1)[0]
rows = [l for l in body.splitlines() if l.startswith(\"| \") and not l.startswith(\"| model\")]
assert len(rows) == 6, rows
for row in rows:
    for cell in row.strip(\"|\").split(\"|\")[1:]:
        m = re.fullmatch(r\" ([0-9.]+) ±([0-9.]+) \\[([0-9.]+), ([0-9.]+)\\] \", cell)
        assert m, (row, cell)
        x, sd, lo, hi = map(float, m.groups())
        assert lo <= x <= hi and sd > 0, cell
" "$tmp/res2/REPORT.md"'
check "each corpus's plot: one line per scheme and mask over the 2 seeds, each with its band" \
    '$PY -c "
import sys, xml.etree.ElementTree as ET
for f in sys.argv[1:]:
    r = ET.parse(f).getroot()
    cls = [e.get(\"class\") for e in r.iter()]
    txt = [e.text for e in r.iter() if e.text and \"(2 seeds)\" in e.text]
    assert cls.count(\"series\") == 10 and cls.count(\"band\") == 10 and len(txt) == 10, (f, cls.count(\"series\"), cls.count(\"band\"), txt)
" "$tmp/res2/corpus-ppl.svg" "$tmp/res2/other-ppl.svg"'
check "the seeds train with --seed 1 and --seed 2, and their models score the documents differently" \
    'grep -q -- "--seed 1 --out $tmp/res2/models/corpus-xpos.safetensors" "$tmp/res2/commands.txt" && grep -q -- "--seed 2 --out $tmp/res2/models/corpus-xpos-seed2.safetensors" "$tmp/res2/commands.txt" && $PY -c "
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a[\"cells\"] != b[\"cells\"], \"two seeds, the same results\"
" "$tmp/res2/eval/corpus-xpos.json" "$tmp/res2/eval/corpus-xpos-seed2.json"'
# the second seed is reproducible: its training command, run again, gives the same weights
cmd2=$(grep -- "--out $tmp/res2/models/corpus-xpos-seed2.safetensors" "$tmp/res2/commands.txt" | head -1)
cmd2=${cmd2/#lext /$LEXT }
eval "${cmd2/--out $tmp\/res2\/models\/corpus-xpos-seed2.safetensors/--out $tmp/again.safetensors}" > /dev/null 2>&1
check "a seed is reproducible: its training command again gives the same weights" \
    '$PY -c "
import sys, torch
sys.path.insert(0, \"tests\")
import safetensors_io as sio
a, b = sio.load_file(sys.argv[1]), sio.load_file(sys.argv[2])
w = [k for k in a if not k.startswith(\"train.\")]
assert w and sorted(a) == sorted(b), (sorted(a), sorted(b))
for k in w: assert torch.equal(a[k], b[k]), k
" "$tmp/res2/models/corpus-xpos-seed2.safetensors" "$tmp/again.safetensors"'
check "the sweep states its decision and the models train at the rate it chose" \
    '$PY -c "
import re, sys
md = open(sys.argv[1]).read()
cmds = open(sys.argv[2]).read()
sec = md.split(\"### Learning-rate sweep\", 1)[1].split(\"###\", 1)[0]
rates = re.findall(r\"\\| lr ([0-9.e-]+)\", sec.split(\"\\n| model\", 1)[1].splitlines()[0])
assert len(rates) == 2, rates
own = \"every scheme trains with its own best rate\" in sec
shared = \"shared rate\" in sec and \"within noise of every\" in sec
assert own or shared, sec
for row in [l for l in sec.splitlines() if l.startswith(\"| \") and not l.startswith(\"| model\")]:
    cells = row.strip(\"|\").split(\"|\")
    scheme = cells[0].strip()
    best = [rates[i] for i, c in enumerate(cells[1:3]) if \"**\" in c]
    assert len(best) == 1, row
    lr = best[0] if own else \"0.001\"
    m = re.search(r\"--pos %s .*--lr ([0-9.e-]+) --seed 1 --out \\S*/models/corpus-%s.safetensors\" % (scheme, scheme), cmds)
    assert m and float(m.group(1)) == float(lr), (scheme, lr, m and m.group(1))
" "$tmp/res2/REPORT.md" "$tmp/res2/commands.txt"'
$LEXT experiment --config "$tmp/tiny.json" --corpus "$tmp/corpus,$tmp/other" --seeds 2 --lr-sweep 3e-3 \
    --out "$tmp/res2" > "$tmp/rerun2.log" 2>&1
rc=$?
n_steps=$(grep -c '^\[[0-9]*/' "$tmp/rerun2.log")
check "a rerun with seeds, two corpora and the sweep skips every step but the two plots ($n_steps)" \
    '[ $rc -eq 0 ] && [ "$n_steps" -gt 100 ] && [ $(grep -c "already complete" "$tmp/rerun2.log") -eq $((n_steps - 2)) ]'

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
echo '{"passkey": 1}' > "$tmp/bad5.json"
want=("" "unknown key 'stepz'" "unknown position scheme 'warp'" "'steps' must be an integer" "is not a JSON object"
      "'passkey' must be true or false")
for b in 1 2 3 4 5; do
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

# bad --seeds, --lr-sweep, --sweep-fraction, --long and --corpus values are refused by name
bad_opts=("--seeds 0" "--seeds 99" "--lr-sweep abc" "--lr-sweep 1e-3,1e-3" "--lr-sweep ,"
          "--sweep-fraction 0.5" "--lr-sweep 1e-3 --sweep-fraction 2" "--long 8" "--long x"
          "--corpus ''" "--corpus a,b,c" "--corpus $tmp/corpus,$tmp/nowhere" "--corpus $tmp/corpus,$tmp/corpus"
          "--passkey")
bad_msgs=("--seeds" "--seeds" "--lr-sweep: 'abc'" "given twice" "--lr-sweep"
          "--sweep-fraction applies to --lr-sweep" "--sweep-fraction" "exceed the training length" "--long"
          "--corpus" "at most 2 corpora" "holds no corpus" "both corpora are named"
          "--passkey needs a training length of at least 252")
for i in "${!bad_opts[@]}"; do
    err=$(eval "$LEXT experiment --config \"$tmp/tiny.json\" --out \"$tmp/badopt\" ${bad_opts[$i]}" 2>&1 >/dev/null); rc=$?
    check "experiment ${bad_opts[$i]}: refused naming the problem" \
        '[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -qF -- "${bad_msgs[$i]}" <<<"$err"'
done
check "refused options leave nothing behind" '[ ! -e "$tmp/badopt/models" ]'

summary test_experiment.sh
