#!/usr/bin/python3
"""bf16_curve.py - does --precision bf16 train like fp32? Two runs of `lext train` on real
text, identical but for --precision (same model, seed, data order, schedule), and their loss
curves side by side.

    /usr/bin/python3 bench/bf16_curve.py [--steps 500] [--corpus corpora/pydoc] [--out DIR]

The corpus is built with `lext corpus pydoc` when it is missing. The model is the
experiment's (4 layers x 128, 4 heads, xpos, length 256, batch 16, lr 1e-3), so the two
runs take about 7 minutes on 2 cores. Compared, as |bf16 - fp32| / fp32:
  - the validation loss (fixed windows of the valid split) every 100 steps and at the end;
  - the training loss averaged over windows of 50 steps (single steps are noisy batches).
The target (issue: "a loss curve within 1% of fp32 after 500 steps on real text") is the
final validation loss and the last 50-step training mean within 1%. Writes DIR/bf16_curve.md
and DIR/bf16_curve.json [DIR = build/bench]; exits 1 only when a run fails, never on the
numbers.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEXT = os.path.join(ROOT, "lext")
MODEL = ["--pos", "xpos", "--layers", "4", "--dim", "128", "--heads", "4", "--train-len", "256",
         "--batch", "16", "--lr", "1e-3", "--seed", "1"]
STEP = re.compile(r"^step (\d+)/\d+ loss (\S+) .*tok/s ([\d,]+)")
VAL = re.compile(r"^step (\d+): validation loss (\S+)")


def run(precision, args, out_dir):
    ck = os.path.join(out_dir, f"bf16_curve_{precision}.safetensors")
    if os.path.exists(ck):  # a fresh run: the same command would continue the one it holds
        os.remove(ck)
    cmd = [LEXT, "train", "--data", os.path.join(args.corpus, "train"), "--val",
           os.path.join(args.corpus, "valid"), "--eval-every", "100", "--steps", str(args.steps),
           "--log-every", "1", "--precision", precision, "--out", ck] + MODEL
    print("  " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd),
          flush=True)
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"bf16_curve: lext train --precision {precision} failed: {p.stderr.strip()}")
    train, val, tps = {}, {}, None
    for line in p.stdout.splitlines():
        m = STEP.match(line)
        if m:
            train[int(m.group(1))] = float(m.group(2))
            tps = float(m.group(3).replace(",", ""))
        m = VAL.match(line)
        if m:
            val[int(m.group(1))] = float(m.group(2))
    if len(train) != args.steps or args.steps not in val:
        sys.exit(f"bf16_curve: the {precision} run printed {len(train)} steps, validation at "
                 f"{sorted(val)}")
    os.unlink(ck)
    return {"train": train, "val": val, "tokens_per_s": tps, "wall_s": wall, "command": cmd}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--corpus", default=os.path.join(ROOT, "corpora", "pydoc"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    args = ap.parse_args()
    if args.steps < 100:
        sys.exit("bf16_curve: --steps must be >= 100")
    os.makedirs(args.out, exist_ok=True)
    if not os.path.isdir(os.path.join(args.corpus, "train")):
        subprocess.run([LEXT, "corpus", "pydoc", args.corpus], check=True)
    runs = {p: run(p, args, args.out) for p in ("fp32", "bf16")}
    a, b = runs["fp32"], runs["bf16"]
    rel = lambda x, y: abs(y - x) / abs(x)  # noqa: E731
    W = 50
    windows = []
    for s0 in range(1, args.steps + 1, W):
        s1 = min(s0 + W - 1, args.steps)
        ma = sum(a["train"][s] for s in range(s0, s1 + 1)) / (s1 - s0 + 1)
        mb = sum(b["train"][s] for s in range(s0, s1 + 1)) / (s1 - s0 + 1)
        windows.append((s0, s1, ma, mb, rel(ma, mb)))
    vals = [(s, a["val"][s], b["val"][s], rel(a["val"][s], b["val"][s])) for s in sorted(a["val"])
            if s in b["val"]]
    final_val, final_train = vals[-1][3], windows[-1][4]
    held = final_val <= 0.01 and final_train <= 0.01
    L = [f"# bf16 against fp32 training, {args.steps} steps on {os.path.relpath(args.corpus, ROOT)}",
         "",
         "`lext train` " + " ".join(MODEL) + ", `--precision fp32` and `--precision bf16`; "
         "everything else identical.",
         "",
         f"| | fp32 | bf16 |", "|---|---|---|",
         f"| tokens/s (last report) | {a['tokens_per_s']:,.0f} | {b['tokens_per_s']:,.0f} |",
         f"| wall time (s, with validation) | {a['wall_s']:.0f} | {b['wall_s']:.0f} |",
         "",
         "| validation at step | fp32 loss | bf16 loss | relative difference |", "|---|---|---|---|"]
    L += [f"| {s} | {x:.4f} | {y:.4f} | {d:.2%} |" for s, x, y, d in vals]
    L += ["", "| training steps | fp32 mean loss | bf16 mean loss | relative difference |",
          "|---|---|---|---|"]
    L += [f"| {s0}-{s1} | {x:.4f} | {y:.4f} | {d:.2%} |" for s0, s1, x, y, d in windows]
    L += ["", f"Target: within 1% after {args.steps} steps. Final validation loss "
          f"{final_val:.2%}, last {W}-step training mean {final_train:.2%}: "
          + ("HELD." if held else "MISSED.")]
    md = "\n".join(L) + "\n"
    with open(os.path.join(args.out, "bf16_curve.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, "bf16_curve.json"), "w") as f:
        json.dump({"steps": args.steps, "runs": runs, "windows": windows, "val": vals,
                   "final_val_rel": final_val, "final_train_rel": final_train, "held": held},
                  f, indent=1)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
