#!/usr/bin/env bash
# test_eval_cli.sh - eval, resolution and plot end to end on a tiny model: the JSON report
# parses and has every cell, learned positions past train_len are n/a (not an error), the
# CSV and SVG files are complete and well-formed, and bad input gives a message naming the
# problem and a non-zero exit.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

# documents: five long ones and a short one (skipped at every length here)
mkdir -p "$tmp/data" "$tmp/short"
for i in 1 2 3 4 5; do head -c $((1500 + i * 300)) /dev/urandom | base64 > "$tmp/data/doc$i.txt"; done
echo "a short document" > "$tmp/data/short.txt"
echo "too short" > "$tmp/short/a.txt"
SMALL="--layers 1 --dim 32 --heads 2 --train-len 32 --batch 2 --steps 5"
$LEXT train --data "$tmp/data" $SMALL --out "$tmp/xpos.st" > "$tmp/train.log" 2>&1 || bad "train xpos: $(tail -2 "$tmp/train.log")"
$LEXT train --data "$tmp/data" $SMALL --pos learned --out "$tmp/learned.st" > "$tmp/train2.log" 2>&1 || bad "train learned: $(tail -2 "$tmp/train2.log")"

# ---- eval ------------------------------------------------------------------------------
if $LEXT eval --model "$tmp/xpos.st" --data "$tmp/data" --lengths 32,64,128 --attn causal,bca,window \
        --json "$tmp/a.json" > "$tmp/eval.out" 2> "$tmp/eval.err"; then
    ok "eval runs"
else bad "eval: $(cat "$tmp/eval.err")"; fi
if grep -q "^32 (1x, train)" "$tmp/eval.out" && grep -q "^128 (4x)" "$tmp/eval.out" &&
   grep -q "5 used (the first 128 bytes of each), 1 skipped as shorter than 128 bytes" "$tmp/eval.out"; then
    ok "eval table marks the training length and counts documents"
else bad "eval table: $(head -12 "$tmp/eval.out")"; fi
if [ ! -s "$tmp/eval.err" ]; then ok "no progress line when stderr is not a terminal"; else bad "stderr: $(cat "$tmp/eval.err")"; fi
# bca alone (not copied from a causal cell of the same run) at the training length
$LEXT eval --model "$tmp/xpos.st" --data "$tmp/data" --lengths 32,128 --attn bca --json "$tmp/bca.json" > /dev/null 2>&1 ||
    bad "eval --attn bca alone"
if $PY - "$tmp/a.json" "$tmp/data" "$tmp/bca.json" <<'PYEOF'
import json, math, os, sys
r = json.load(open(sys.argv[1]))
longest = max(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(sys.argv[2]) for f in fs)
cfg = r["config"]
for k in ["n_layer", "n_head", "d_model", "d_ff", "vocab_size", "train_len", "pos", "xpos_gamma",
          "xpos_scale_base", "rope_base", "tied", "norm_eps"]:
    assert k in cfg, k
assert cfg["train_len"] == 32 and cfg["pos"] == "xpos"
assert {k: v for k, v in r["documents"].items() if k != "names"} == {"total": 6, "used": 5, "skipped": 1, "longest": longest,
                          "bytes_per_document": 128}, r["documents"]
assert r["block"] == 32 and r["window"] == 32
cells = r["cells"]
assert len(cells) == 9, len(cells)
for c in cells:
    L = c["length"]
    assert c["docs"] == 5 and c["segments"] == 5 * (128 // L) and c["tokens"] == c["segments"] * (L - 1), c
    assert abs(c["ppl"] - math.exp(c["loss"])) < 1e-9 * c["ppl"], c
    assert abs(c["bits_per_byte"] - c["loss"] / math.log(2)) < 1e-12, c
    # per document (the bootstrap's unit): one sum per used document, adding up to the cell
    assert len(c["doc_loss"]) == len(c["doc_tokens"]) == r["documents"]["used"], c
    assert all(t == (128 // L) * (L - 1) for t in c["doc_tokens"]) and sum(c["doc_tokens"]) == c["tokens"], c
    assert abs(sum(c["doc_loss"]) / c["tokens"] - c["loss"]) < 1e-9 * c["loss"], c
    assert len(set(c["doc_loss"])) > 1, c  # the documents differ
assert len(r["documents"]["names"]) == r["documents"]["used"] == 5, r["documents"]
assert sorted({c["mode"] for c in cells}) == ["bca", "causal", "window"]
# bca, evaluated on its own, is causal at the training length, and not past it
alone = {c["length"]: c["loss"] for c in json.load(open(sys.argv[3]))["cells"]}
causal = {c["length"]: c["loss"] for c in cells if c["mode"] == "causal"}
assert alone[32] == causal[32] and alone[128] != causal[128], (alone, causal)
PYEOF
then ok "eval JSON: configuration, documents, 9 cells with consistent numbers"
else bad "eval JSON content"; fi

# learned positions past train_len: n/a with a reason, exit 0
if $LEXT eval --model "$tmp/learned.st" --data "$tmp/data" --lengths 32,64 --attn causal,bca \
        --json "$tmp/learned.json" > "$tmp/learned.out" 2>&1; then
    if grep -q "n/a \[1\]" "$tmp/learned.out" && grep -q "^\[1\] not computed: learned positions" "$tmp/learned.out" &&
       $PY -c '
import json, sys
c = json.load(open(sys.argv[1]))["cells"]
assert len(c) == 4
assert all(x["ppl"] is not None for x in c if x["length"] == 32)
assert all(x["ppl"] is None and x["loss"] is None and x["bits_per_byte"] is None and "learned" in x["reason"] for x in c if x["length"] == 64)
' "$tmp/learned.json"; then ok "learned positions past train_len are n/a with a footnote and null in JSON"
    else bad "learned n/a: $(cat "$tmp/learned.out")"; fi
else bad "eval of learned positions past train_len failed: $(tail -2 "$tmp/learned.out")"; fi

check_cmd "eval with --block, --window, --threads and --batch-tokens" \
    $LEXT eval --model "$tmp/xpos.st" --data "$tmp/data" --lengths 64 --attn bca,window --block 16 --window 8 --threads 1 --batch-tokens 64 --json "$tmp/bw.json"
if $PY -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["block"] == 16 and r["window"] == 8
assert [(c["mode"], c.get("block"), c.get("window")) for c in r["cells"]] == [("bca", 16, None), ("window", None, 8)]
' "$tmp/bw.json"; then ok "eval JSON records the block and window used"; else bad "block/window in JSON"; fi

# ---- resolution ------------------------------------------------------------------------
if $LEXT resolution --model "$tmp/xpos.st" --data "$tmp/data" --length 64 --csv "$tmp/r.csv" \
        --svg "$tmp/r.svg" > "$tmp/res.out" 2>&1; then
    if grep -q "^mean " "$tmp/res.out" && grep -q "^theory " "$tmp/res.out" && grep -q "< 1 for any" "$tmp/res.out" &&
       [ "$(head -1 "$tmp/r.csv")" = "distance,layer0,mean,theory" ] && [ "$(wc -l < "$tmp/r.csv")" -eq 65 ]; then
        ok "resolution: R per layer, mean, theory, the R < 1 note; CSV with every distance"
    else bad "resolution output: $(head -20 "$tmp/res.out"; head -2 "$tmp/r.csv")"; fi
else bad "resolution: $(tail -3 "$tmp/res.out")"; fi
svg_series() { # FILE -> number of series paths, after checking the file is well-formed SVG
    $PY - "$1" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg" and root.get("viewBox") and root.get("version") == "1.1", root.attrib
print(sum(1 for p in root.iter(ns + "path") if p.get("class") == "series"))
PYEOF
}
n=$(svg_series "$tmp/r.svg" 2>&1)
if [ "$n" = "3" ]; then ok "resolution SVG is well-formed with layer, mean and theory series"; else bad "resolution SVG: $n"; fi
if $LEXT resolution --model "$tmp/xpos.st" --data "$tmp/data" --length 128 --attn bca --docs 2 \
        --csv "$tmp/rb.csv" > "$tmp/resb.out" 2>&1 &&
   [ "$(wc -l < "$tmp/rb.csv")" -eq 33 ] && grep -q "2 of 6 documents used" "$tmp/resb.out" &&
   grep -q "only distances 0..31 occur" "$tmp/resb.out"; then
    ok "resolution under bca keeps only the distances the mask allows; --docs limits documents"
else bad "resolution bca: $(head -8 "$tmp/resb.out")"; fi

# ---- plot ------------------------------------------------------------------------------
if $LEXT plot "$tmp/a.json" "$tmp/learned.json" -o "$tmp/ppl.svg" > "$tmp/plot.out" 2>&1; then
    n=$(svg_series "$tmp/ppl.svg" 2>&1)
    # 3 masks of the xpos model, 2 of the learned one (each with its one computable length)
    if [ "$n" = "5" ] && grep -q 'class="vline"' "$tmp/ppl.svg" && grep -q "xpos, bca l=32" "$tmp/ppl.svg"; then
        ok "plot: well-formed SVG, one series per (model, mask), the training length marked"
    else bad "plot SVG: $n series; $(cat "$tmp/plot.out")"; fi
else bad "plot: $(cat "$tmp/plot.out")"; fi
# seeds of one model (file names differing by -seedN) are one line per mask, the mean with
# its interval band; one colour for the scheme, a line style per mask
$PY - "$tmp/a.json" "$tmp/seed2.json" "$tmp/seed2-alibi.json" <<'PYEOF'
import json, math, sys
r = json.load(open(sys.argv[1]))
r["model"] = r["model"].replace("xpos.st", "xpos-seed2.st")
for c in r["cells"]:  # seed 2: every document 10% more perplexing
    c["doc_loss"] = [l + t * math.log(1.1) for l, t in zip(c["doc_loss"], c["doc_tokens"])]
    c["ppl"] *= 1.1
json.dump(r, open(sys.argv[2], "w"))
r["config"]["pos"] = "alibi"
json.dump(r, open(sys.argv[3], "w"))
PYEOF
if $LEXT plot "$tmp/a.json" "$tmp/seed2.json" -o "$tmp/seeds.svg" > "$tmp/seeds.out" 2>&1 &&
   $PY - "$tmp/seeds.svg" "$tmp/a.json" <<'PYEOF'
import json, sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
paths = [p for p in root.iter(ns + "path") if p.get("class") == "series"]
bands = [p for p in root.iter(ns + "path") if p.get("class") == "band"]
assert len(paths) == 3 and len(bands) == 3, (len(paths), len(bands))
assert len({p.get("stroke") for p in paths}) == 1, "one scheme, one colour"
dash = sorted(str(p.get("stroke-dasharray")) for p in paths)
assert dash == ["2,3", "7,4", "None"], dash  # window dotted, bca dashed, causal solid
labels = [t.text for t in root.iter(ns + "text") if t.text and "seeds" in t.text]
assert sorted(labels) == ["xpos, bca l=32 (2 seeds)", "xpos, causal (2 seeds)", "xpos, window W=32 (2 seeds)"], labels
PYEOF
then ok "plot: two seeds are one line per mask with an interval band, labelled by scheme"
else bad "plot of two seeds: $(cat "$tmp/seeds.out")"; fi
expect_fail "plot: seeds of one model with two schemes" "seeds of one model share its scheme" \
    $LEXT plot "$tmp/a.json" "$tmp/seed2-alibi.json" -o "$tmp/x.svg"
# markup, a control character, invalid UTF-8 and valid UTF-8 in the title
check_cmd "plot with --y log and --out" $LEXT plot "$tmp/a.json" --out "$tmp/ppl2.svg" --y log --title $'a <b> & "c" \x01 \xff\xfe caf\xc3\xa9'
n=$(svg_series "$tmp/ppl2.svg" 2>&1)
if [ "$n" = "3" ] && grep -q "café" "$tmp/ppl2.svg"; then ok "plot escapes its title"; else bad "plot with a title to escape: $n"; fi

# ---- bad input -------------------------------------------------------------------------
E="$LEXT eval --model $tmp/xpos.st --data $tmp/data"
expect_fail "lengths with a word" "'abc' is not an integer" $E --lengths 256,abc
expect_fail "length 0" "0 is out of range" $E --lengths 0
expect_fail "negative length" "-5 is out of range" $E --lengths -5
expect_fail "empty lengths" "--lengths: an empty value" $E --lengths ""
expect_fail "empty item in lengths" "an empty item" $E --lengths 256,,512
expect_fail "length 1" "out of range" $E --lengths 1,32
expect_fail "repeated length" "64 is given twice" $E --lengths 64,32,64
expect_fail "odd block" "positive even" $E --attn bca --block 7
expect_fail "zero block" "positive even" $E --attn bca --block 0
expect_fail "negative block" "positive even" $E --attn bca --block -4
expect_fail "block without bca" "add bca to --attn" $E --attn causal --block 16
expect_fail "window of 0" "--window must be at least 1" $E --attn window --window 0
expect_fail "unknown mode" "unknown attention mode 'sliding'" $E --attn causal,sliding
expect_fail "repeated mode" "causal is given twice" $E --attn causal,causal
expect_fail "missing model file" "cannot open" $LEXT eval --model "$tmp/none.st" --data "$tmp/data" --lengths 32
expect_fail "missing data" "$tmp/nodata" $LEXT eval --model "$tmp/xpos.st" --data "$tmp/nodata" --lengths 32
expect_fail "no --model" "--model" $LEXT eval --data "$tmp/data"
expect_fail "data shorter than the largest length" "6 document(s), the longest" $E --lengths 32,100000
expect_fail "json into a missing directory" "cannot create" $E --lengths 32 --json "$tmp/no/dir/x.json"
R="$LEXT resolution --model $tmp/xpos.st --data $tmp/data"
expect_fail "resolution without --length" "--length L is required" $R
expect_fail "resolution with two masks" "one mask at a time" $R --length 32 --attn causal,bca
expect_fail "resolution: no document long enough" "the longest" $R --length 100000
expect_fail "resolution: window of 0" "at least 1" $R --length 32 --attn window --window 0
expect_fail "resolution: learned past train_len" "learned position" $LEXT resolution --model "$tmp/learned.st" --data "$tmp/data" --length 64
echo '{"cells": 3' > "$tmp/broken.json"
echo '{"hello": 1}' > "$tmp/other.json"
# a report from elsewhere with a 300-byte scheme name: its labels are cut, never a crash
$PY - "$tmp/a.json" "$tmp/longpos.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["config"]["pos"] = "p" * 300
json.dump(d, open(sys.argv[2], "w"))
PYEOF
check_cmd "plot a report with a 300-byte scheme name" $LEXT plot "$tmp/longpos.json" "$tmp/a.json" -o "$tmp/long.svg"
expect_fail "plot without -o" "-o FILE.svg is required" $LEXT plot "$tmp/a.json"
expect_fail "plot without reports" "expects one or more" $LEXT plot -o "$tmp/x.svg"
expect_fail "plot of a missing file" "cannot open" $LEXT plot "$tmp/none.json" -o "$tmp/x.svg"
expect_fail "plot of broken JSON" "not valid JSON" $LEXT plot "$tmp/broken.json" -o "$tmp/x.svg"
expect_fail "plot of other JSON" "not an eval report" $LEXT plot "$tmp/other.json" -o "$tmp/x.svg"
expect_fail "plot with a bad --y" "--y" $LEXT plot "$tmp/a.json" -o "$tmp/x.svg" --y cubic

# ---- context extension (--rope-scaling): the same options in eval, resolution, generate ----
# periodic text (a random 13-byte pattern repeated), so that attention by relative position
# is what the model learns and a change of the rotation shows in the perplexity; on random
# bytes a tiny model learns only byte frequencies and ignores positions
mkdir -p "$tmp/per"
for i in 1 2 3; do
    $PY -c "import random; random.seed($i); p = ''.join(random.choice('abcdefghijklmnop') for _ in range(13)); print((p * 400)[:4000])" > "$tmp/per/d$i.txt"
done
$LEXT train --data "$tmp/per" --layers 1 --dim 32 --heads 2 --train-len 32 --batch 4 --steps 60 --lr 0.01 \
    --pos rope --out "$tmp/rope.st" > "$tmp/train3.log" 2>&1 || bad "train rope: $(tail -2 "$tmp/train3.log")"
$LEXT train --data "$tmp/data" $SMALL --pos alibi --out "$tmp/alibi.st" > "$tmp/train4.log" 2>&1 || bad "train alibi: $(tail -2 "$tmp/train4.log")"
ER="$LEXT eval --model $tmp/rope.st --data $tmp/per --lengths 32,128 --attn causal,bca"
check_cmd "eval rope, no scaling" $ER --json "$tmp/rs0.json"
check_cmd "eval rope --rope-scaling yarn (auto)" $ER --rope-scaling yarn --json "$tmp/rs1.json"
check_cmd "eval rope --rope-scaling ntk --rope-factor 3" $ER --rope-scaling ntk --rope-factor 3 --json "$tmp/rs2.json"
check_cmd "eval xpos --rope-scaling linear --xpos-decay scaled" $LEXT eval --model "$tmp/xpos.st" --data "$tmp/data" \
    --lengths 32,128 --rope-scaling linear --xpos-decay scaled --json "$tmp/rs3.json"
if $PY - "$tmp/rs0.json" "$tmp/rs1.json" "$tmp/rs2.json" "$tmp/rs3.json" <<'PYEOF'
import json, sys
r0, r1, r2, r3 = (json.load(open(p)) for p in sys.argv[1:])
assert r0["rope_scaling"]["method"] == "none", r0["rope_scaling"]
assert r1["rope_scaling"] == {"method": "yarn", "factor": "auto", "beta_fast": 32, "beta_slow": 1, "xpos_decay": "true"}, r1["rope_scaling"]
assert r2["rope_scaling"]["factor"] == 3 and r3["rope_scaling"]["xpos_decay"] == "scaled"
ppl = lambda r: {(c["length"], c["mode"]): c["ppl"] for c in r["cells"]}
fac = lambda r: {(c["length"], c["mode"]): c["rope_factor"] for c in r["cells"]}
p0, p1, p2 = ppl(r0), ppl(r1), ppl(r2)
# auto: factor 1 at the training length (the model unchanged there), 4 at 4x
assert fac(r1) == {(32, "causal"): 1, (32, "bca"): 1, (128, "causal"): 4, (128, "bca"): 4}, fac(r1)
assert p1[(32, "causal")] == p0[(32, "causal")], (p1, p0)
assert abs(p1[(128, "causal")] - p0[(128, "causal")]) > 1e-3 * p0[(128, "causal")], ("yarn changed nothing at 4x", p1, p0)
# a fixed factor applies at every length
assert set(fac(r2).values()) == {3} and abs(p2[(32, "causal")] - p0[(32, "causal")]) > 1e-4 * p0[(32, "causal")], (fac(r2), p2, p0)
PYEOF
then ok "eval JSON records the scaling and the factor of every cell; auto is 1 at the training length"
else bad "eval rope-scaling JSON"; fi
if $ER --rope-scaling yarn 2>&1 | grep -q "^rope scaling: yarn, factor auto (length / train length), beta_fast 32, beta_slow 1"; then
    ok "eval prints the scaling"
else bad "eval does not print the scaling"; fi
check_cmd "resolution under yarn" $LEXT resolution --model "$tmp/rope.st" --data "$tmp/per" --length 128 --rope-scaling yarn --json "$tmp/rr.json"
check_cmd "resolution under dynamic-ntk" $LEXT resolution --model "$tmp/rope.st" --data "$tmp/per" --length 128 --rope-scaling dynamic-ntk --json "$tmp/rd.json"
if $PY - "$tmp/rr.json" "$tmp/rd.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["rope_scaling"]["method"] == "yarn" and a["rope_factor"] == 4 and a["theory_R"] is not None, a
# dynamic-ntk scores depend on both positions: no theoretical curve, said as null
assert b["rope_scaling"]["method"] == "dynamic-ntk" and b["theory_R"] is None, b
PYEOF
then ok "resolution JSON records the scaling; no theory curve under dynamic-ntk"
else bad "resolution rope-scaling JSON"; fi
if $LEXT generate --model "$tmp/rope.st" --prompt "hello" --tokens 59 --temperature 0 --rope-scaling linear \
        > "$tmp/gen.out" 2> "$tmp/gen.err" && grep -q "^rope scaling: linear, factor 2 (auto: context / train length)" "$tmp/gen.err"; then
    ok "generate resolves an auto factor to its context (64 / 32)"
else bad "generate --rope-scaling: $(tail -3 "$tmp/gen.err")"; fi
# sampled (a 5-step model's greedy output is one repeated byte either way): the same seed
# draws other bytes once the scaling changes the logits
GS="$LEXT generate --model $tmp/rope.st --prompt hello --tokens 59 --temperature 1 --seed 3"
if [ "$($GS --rope-scaling linear --rope-factor 8 2>/dev/null | wc -c)" -eq 59 ] &&
   ! cmp -s <($GS --rope-scaling linear --rope-factor 8 2>/dev/null) <($GS 2>/dev/null); then
    ok "generate under linear scaling differs from unscaled"
else bad "generate under linear scaling is the unscaled output"; fi
expect_fail "rope scaling on alibi" "applies to rope and xpos models; this model uses alibi" \
    $LEXT eval --model "$tmp/alibi.st" --data "$tmp/data" --lengths 32 --rope-scaling linear
expect_fail "rope scaling on alibi (generate)" "this model uses alibi" \
    $LEXT generate --model "$tmp/alibi.st" --tokens 3 --rope-scaling ntk
expect_fail "unknown rope scaling" "unknown rope scaling 'pi'" $ER --rope-scaling pi
expect_fail "rope factor below 1" "--rope-factor" $ER --rope-scaling linear --rope-factor 0.5
expect_fail "rope factor not a number" "--rope-factor" $ER --rope-scaling linear --rope-factor two
expect_fail "rope factor without a method" "--rope-factor applies with --rope-scaling" $ER --rope-factor 2
expect_fail "yarn betas without yarn" "apply with --rope-scaling yarn" $ER --rope-scaling ntk --yarn-beta-fast 16
expect_fail "yarn beta_fast <= beta_slow" "beta_fast > beta_slow" $ER --rope-scaling yarn --yarn-beta-fast 1 --yarn-beta-slow 2
expect_fail "scaled decay on rope" "applies to xpos models; this model uses rope" $ER --rope-scaling linear --xpos-decay scaled
expect_fail "scaled decay with dynamic-ntk" "needs a static scaling" $ER --rope-scaling dynamic-ntk --xpos-decay scaled
expect_fail "bad --xpos-decay" "--xpos-decay must be true" $ER --xpos-decay sometimes
expect_fail "resolution: scaling on alibi" "this model uses alibi" \
    $LEXT resolution --model "$tmp/alibi.st" --data "$tmp/data" --length 32 --rope-scaling yarn

# ---- attention extensions (--sinks, --self-extend, --rerope, --lambda) ----
EW="$LEXT eval --model $tmp/rope.st --data $tmp/per --lengths 32,128"
check_cmd "eval --sinks 2 with window" $EW --attn window,bca --sinks 2 --json "$tmp/x1.json"
check_cmd "eval --lambda 2,32" $EW --lambda 2,32 --json "$tmp/x2.json"
check_cmd "eval --self-extend 4,8" $EW --attn causal --self-extend 4,8 --json "$tmp/x3.json"
check_cmd "eval --rerope 8" $EW --attn causal --rerope 8 --json "$tmp/x4.json"
check_cmd "eval window without sinks" $EW --attn window --json "$tmp/x0.json"
if $PY - "$tmp/x0.json" "$tmp/x1.json" "$tmp/x2.json" "$tmp/x3.json" "$tmp/x4.json" "$tmp/rs0.json" <<'PYEOF'
import json, sys
x0, x1, x2, x3, x4, r0 = (json.load(open(p)) for p in sys.argv[1:])
assert x0["attn_ext"] == {"method": "none"}, x0["attn_ext"]
assert x1["attn_ext"] == {"method": "sinks", "sinks": 2, "sink_pos": "cache"}, x1["attn_ext"]
assert x2["attn_ext"] == {"method": "sinks", "sinks": 2, "sink_pos": "capped"} and x2["modes"] == [{"mode": "window", "window": 32}], x2
assert x3["attn_ext"] == {"method": "self-extend", "group": 4, "neighbors": 8}, x3["attn_ext"]
assert x4["attn_ext"] == {"method": "rerope", "window": 8}, x4["attn_ext"]
ppl = lambda r, m, L: [c["ppl"] for c in r["cells"] if c["mode"] == m and c["length"] == L][0]
# at 4x the sinks change the window's perplexity; at 1x (every key inside the window) nothing
assert ppl(x1, "window", 32) == ppl(x0, "window", 32) and ppl(x1, "window", 128) != ppl(x0, "window", 128)
# self-extend and rerope change causal attention past their windows, at 1x already (W = 8 < 32)
for x in (x3, x4):
    assert abs(ppl(x, "causal", 128) - ppl(r0, "causal", 128)) > 1e-4 * ppl(r0, "causal", 128), (x, r0)
PYEOF
then ok "eval JSON records the extension; sinks change nothing inside the window"
else bad "eval attention-extension JSON"; fi
if $LEXT generate --model "$tmp/rope.st" --prompt hello --tokens 80 --attn window --window 16 --sinks 2 \
        --temperature 0 > "$tmp/gs.out" 2> "$tmp/gs.err" && [ "$(wc -c < "$tmp/gs.out")" -eq 80 ] &&
   grep -q "^attention extension: sinks 2 (cache positions)" "$tmp/gs.err"; then
    ok "generate with sinks runs past the window"
else bad "generate --sinks: $(tail -3 "$tmp/gs.err")"; fi
check_cmd "resolution with --rerope" $LEXT resolution --model "$tmp/rope.st" --data "$tmp/per" --length 64 --rerope 8 --json "$tmp/xr.json"
expect_fail "sinks with causal attention" "--sinks applies with --attn window or bca, not causal" $EW --attn causal,bca --sinks 2
expect_fail "two extensions" "exclusive" $EW --attn causal --rerope 8 --self-extend 4,8
expect_fail "--sink-pos without --sinks" "--sink-pos applies with --sinks" $EW --sink-pos absolute
expect_fail "unknown sink position" "unknown sink position 'front'" $EW --attn window --sinks 2 --sink-pos front
expect_fail "--self-extend with one number" "--self-extend expects G,W" $EW --self-extend 4
expect_fail "--self-extend not numbers" "--self-extend expects G,W" $EW --self-extend a,b
expect_fail "--self-extend G of 0" "--self-extend expects G,W" $EW --self-extend 0,8
expect_fail "--rerope 0" "--rerope" $EW --rerope 0
expect_fail "--lambda with --attn causal" "--lambda is a window" $EW --attn causal --lambda 2,32
expect_fail "--lambda with --window" "drop --window" $EW --lambda 2,32 --window 8
expect_fail "cache sinks on alibi" "needs rope or xpos; this model uses alibi" \
    $LEXT eval --model "$tmp/alibi.st" --data "$tmp/data" --lengths 32 --attn window --sinks 2
check_cmd "absolute sinks on alibi" $LEXT eval --model "$tmp/alibi.st" --data "$tmp/data" --lengths 64 --attn window --sinks 2 --sink-pos absolute
expect_fail "self-extend on alibi (generate)" "this model uses alibi" \
    $LEXT generate --model "$tmp/alibi.st" --tokens 3 --attn causal --self-extend 2,4
expect_fail "generate: sinks with causal" "--sinks applies with --attn window or bca" \
    $LEXT generate --model "$tmp/rope.st" --tokens 3 --attn causal --sinks 2

summary test_eval_cli.sh
