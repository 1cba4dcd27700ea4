#!/usr/bin/env bash
# make_seeds.sh - rewrites the seed corpora fuzz/corpus/<target>/ (committed; run this only
# to change them): tiny checkpoints written by ./lext, a few directory trees in the data
# harness's record format, and argument strings. Needs ./lext and python3 (stdlib only).
set -eu
cd "$(dirname "$0")/.."
LEXT=${LEXT_BIN:-./lext}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
c=fuzz/corpus
rm -rf "$c" && mkdir -p "$c/checkpoint" "$c/data" "$c/args"

# ---- checkpoints: the smallest models of several schemes (a few KiB each) ----
for i in 1 2 3 4; do echo "the quick brown fox jumps over the lazy dog $i"; done > "$tmp/text.txt"
T="--data $tmp/text.txt --layers 1 --ffn 2 --train-len 4 --batch 1 --steps 2 --threads 1"
$LEXT train $T --dim 2 --heads 1 --pos xpos --out "$c/checkpoint/xpos-train.st" > /dev/null
$LEXT train $T --dim 2 --heads 1 --pos learned --untied --out "$c/checkpoint/learned-untied-train.st" > /dev/null
$LEXT train $T --dim 4 --heads 2 --pos alibi --out "$c/checkpoint/alibi-train.st" > /dev/null
$PY - "$c/checkpoint" <<'EOF'
import json, struct, sys
d = sys.argv[1]

def read(path):
    b = open(path, "rb").read()
    n = int.from_bytes(b[:8], "little")
    return json.loads(b[8:8 + n]), b[8 + n:]

def write(path, hdr, tensors):
    """tensors: name -> bytes, laid out in the given order"""
    off, data = 0, b""
    for name, raw in tensors.items():
        hdr[name]["data_offsets"] = [off, off + len(raw)]
        off += len(raw)
        data += raw
    j = json.dumps(hdr, separators=(",", ":")).encode()
    j += b" " * (-len(j) % 8)
    open(path, "wb").write(len(j).to_bytes(8, "little") + j + data)

# a model-only checkpoint: the training one without lext_train and the Adam moments
hdr, data = read(f"{d}/xpos-train.st")
del hdr["__metadata__"]["lext_train"]
keep = {k: v for k, v in hdr.items() if k != "__metadata__" and not k.startswith("optimizer.")}
raw = {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in keep.items()}
write(f"{d}/xpos-model.st", {"__metadata__": hdr["__metadata__"], **keep}, raw)

# vocabulary 3, width 2, rope, written here (as PyTorch would): the reader's other writer
cfg = {"format_version": 1, "n_layer": 1, "n_head": 1, "d_model": 2, "d_ff": 1, "vocab_size": 3,
       "train_len": 2, "pos": "rope", "xpos_gamma": 0.4, "xpos_scale_base": 512,
       "rope_base": 10000, "tied": True, "norm_eps": 1e-05}
D, F, V = 2, 1, 3
shapes = {"embed.weight": [V, D]}
for n, s in [("attn_norm.weight", [D]), ("attn_norm.bias", [D]), ("attn.qkv.weight", [3 * D, D]),
             ("attn.qkv.bias", [3 * D]), ("attn.out.weight", [D, D]), ("attn.out.bias", [D]),
             ("mlp_norm.weight", [D]), ("mlp_norm.bias", [D]), ("mlp.up.weight", [F, D]),
             ("mlp.up.bias", [F]), ("mlp.down.weight", [D, F]), ("mlp.down.bias", [D])]:
    shapes[f"layers.0.{n}"] = s
shapes["norm.weight"], shapes["norm.bias"] = [D], [D]
hdr, raw = {"__metadata__": {"lext": json.dumps(cfg)}}, {}
for i, (name, s) in enumerate(shapes.items()):
    n = s[0] * (s[1] if len(s) > 1 else 1)
    hdr[name] = {"dtype": "F32", "shape": s}
    raw[name] = struct.pack(f"<{n}f", *[0.1 * ((i + k) % 5 - 2) for k in range(n)])
write(f"{d}/rope-vocab3-model.st", hdr, raw)
EOF

# ---- data: [window byte][batch/flags byte] then records [ctl][len][content] ----
$PY - "$c/data" <<'EOF'
import sys
d = sys.argv[1]
def rec(ctl, content):
    return bytes([ctl, len(content)]) + content
docs = [b"The quick brown fox jumps over the lazy dog. " * 2, b"short", b"",
        b"a second document, somewhat longer than the window", bytes(range(40))]
seeds = {
    # window 7, batch 8, evaluation: plain files, nested, hidden, links, an empty directory
    "tree": bytes([0x25, 0x47]) + rec(0x00, docs[0]) + rec(0x01, docs[3]) + rec(0x46, docs[1])
            + rec(0x04, docs[4]) + rec(0x08, b"") + rec(0x10, b"") + rec(0x22, docs[2])
            + rec(0xC1, docs[0]) + rec(0x83, docs[4]),
    # the first file loaded on its own
    "single-file": bytes([0x03, 0x81]) + rec(0x00, docs[3]) + rec(0x00, docs[0]),
    # only empty or hidden documents: no usable data
    "nothing-usable": bytes([0x10, 0x00]) + rec(0x00, b"") + rec(0x04, docs[0]) + rec(0xC2, docs[3]),
    # documents shorter than the window, then one just long enough
    "window-edge": bytes([0x1F, 0x43]) + rec(0x00, b"x" * 32) + rec(0x01, b"y" * 33),
}
for name, b in seeds.items():
    open(f"{d}/{name}", "wb").write(b)
EOF

# ---- args: [parser][range/capacity] then NUL-separated strings (see fuzz_args.c) ----
a() { local name=$1; shift; printf "$@" > "$c/args/$name"; }
a i64-plain      '\000\000123'
a i64-negative   '\000\002-5'
a i64-overflow   '\000\0009223372036854775808'
a f64-lr         '\001\0023e-4'
a f64-nan        '\001\000nan'
a f64-hex        '\001\0000x1p-3'
a list-lengths   '\002\200256,512,1024'
a list-empty-item '\002\200256,,1024'
a words-modes    '\003\003causal,bca,window'
a budget-4x      '\004\0034x'
a budget-half    '\004\0030.5X'
a train-options  '\005\000--data\000/tmp/corpus\000--steps\000100\000--lr=3e-4\000--untied\000--pos\000rope\000--batch\0008'
a train-bad      '\005\000--steps\000ten\000--dim'
a generate-sampling '\006\000--model\000m.st\000--tokens\000100\000--temperature\0000.8\000--top-k\00040\000--top-p\0000.9\000--seed\0007'
a generate-greedy '\006\000--model=m.st\000--tokens=5\000--temperature=0\000--\000-x'
a masks          '\007\003causal,bca,window\0008\0005'
echo "seeds: $(find "$c" -type f | wc -l) files in $c"
