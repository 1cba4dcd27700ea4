#!/usr/bin/python3
"""test_parity.py - lext (C, float32) against the independent PyTorch reference
(tests/reference.py, float64), for every position scheme.

For each case a tiny random model is built in PyTorch (weights std 0.35, so the test has
signal), written with tests/safetensors_io.py plus the "lext" metadata (proving a
PyTorch-written file loads in lext), and build/tests/tool_parity runs it. Compared, each as
max|lext - ref| / max|ref| over the tensor (ref = the float64 reference):
  - causal logits (T = 12, B = 2, some targets ignored), loss, and EVERY parameter
    gradient (written by lext as a safetensors file);                       tol 1e-4
  - 10 AdamW steps on the same batch (lr 1e-2, warm-up 3, cosine to 0.1 over 8 steps so
    the clamp after the end is hit, weight decay 0.1 so that decay on a wrong tensor shows,
    clipping at 1.0 active): each step's loss (before its update) and the loss after the
    last step, RELATIVE |a - b| / |b|;                                        tol 1e-4
    each step's lr;                                                           tol 1e-9
    each step's gradient norm before clipping: step 0 (same weights)          tol 1e-4,
    steps 1-9 (the weights have drifted apart, see (*))                       tol 1e-3
  - the weights lext saves after the 10 steps (read back with safetensors_io) against the
    reference's;                                                              tol 1e-3 (*)
  - logits and gradients under --attn bca (block l = 8) and window (W = 5) at
    T = 5 l / 2 + 3 = 23 > l (learned cases have train_len 24 so T = 23 is allowed), the
    bca logits also at T = 8 = l, where bca must be plain causal.          tol 1e-4
(*) Why the trajectory gets 1e-3. Adam divides by sqrt(v) + eps (eps = 1e-6), so an update
    depends on a gradient element g through d/dg [g / (|g| + eps)] = eps / (|g| + eps)^2,
    up to 1/(4 eps) at |g| = eps. float32 gradients carry absolute errors of ~1e-7 max|g|,
    so a weight whose gradient happens to pass near eps gets an update determined only to
    lr * 1e-7 max|g| / (4 eps) ~ lr * 0.03 max|g|: summed over the steps, up to ~1e-3 of a
    weight of size ~1 when max|g| ~ 1. Such weights then shift the later gradients (one
    case's gradient norm reaches 10: a sharp region). Measured over 80 random cases: weights
    <= 6e-5, later gradient norms <= 2e-4, per-step losses <= 1e-5; and lext's gradient at
    its own drifted weights matches the reference's at those same weights to ~3e-7, so the
    drift is the trajectory's conditioning, not a computation error. A wrong formula (decay
    on the wrong tensors, bias correction, schedule, clipping) changes the losses by >= 1e-4
    and the weights by >= 1e-3 (checked by mutating the reference).
    The key part of attn.qkv.bias is the extreme case and is compared apart: its true
    gradient is exactly 0 without rope/xpos (it adds the same q_i . b_k to every score of row
    i, which the softmax ignores) and nearly 0 with them for slowly rotating pairs, so
    lext's moves there are pure amplified noise (about 0.5% of sum_s lr_s). lext and the
    reference must agree there to 5% of sum_s lr_s (a real gradient moves them by
    ~sum_s lr_s), and the reference must leave them in place without rope/xpos.

bf16 (--precision bf16; README "Precision"): the same tiny cases, lext with bf16 matrix
products against the reference with the same bf16 products (reference.BF16MatMul: operands
rounded by torch's float32 -> bfloat16 conversion, sums in float64): logits, loss, every
gradient and the losses of 10 AdamW steps. Tolerance 1e-2, and 1e-5 in at least half of the
cases. Why two: lext's operands are float32 values, the reference's float64 values of the
same computation, about 1e-7 apart. When an operand lies closer than that to a midpoint
between two bf16 numbers, the two round it to different neighbours: one bf16 step, 2^-8 of
the operand, which moves a 16-term dot product by up to ~2^-8 of its largest term and
reaches the logits and gradients at ~1e-3 (measured: 2 of the 10 cases, worst 3.8e-3). Where
no operand flipped, lext and the reference agree to ~1e-7, as in fp32. Along 10 AdamW
steps the weights drift by ~1e-7 (above), enough to flip some weight's rounding in every
case: those losses agree to ~1e-4..3e-3. A bf16 product done wrong (an operand not rounded,
the bias rounded, dy not rounded in the backward) moves every case by 1e-3..1e-2, so no case
would reach 1e-5; and each case must also be closer to the bf16 reference than to the fp32
one (typically 1e-2 away).

The reference runs fresh every time (no stored numbers). The last line is
"test_parity.py: N passed, M failed"; the exit status is non-zero on any failure.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import reference as ref  # noqa: E402
import safetensors_io as sio  # noqa: E402

try:  # optional cross-check with the real library, never required
    import safetensors.torch as st_torch  # type: ignore
    from safetensors import safe_open  # type: ignore
except Exception:  # noqa: BLE001
    st_torch = None

# LEXT_BUILD (tests/run.sh) names another build directory, e.g. build-asan for `make asan`
with open(os.path.join(ROOT, "include", "lext.h")) as _h:
    LEXT_FORMAT_VERSION = int(next(ln.split()[2] for ln in _h if ln.startswith("#define LEXT_FORMAT_VERSION ")))
TOOL = os.path.join(ROOT, os.environ.get("LEXT_BUILD") or "build", "tests", "tool_parity")
TOL = 1e-4          # logits, loss, gradients, per-step losses / lr / grad norms
TOL_TRAJ = 1e-3     # weights and gradient norms along the 10-step trajectory (docstring)
TOL_WEIGHTS = TOL_TRAJ
TOL_BF16 = 1e-2      # --precision bf16 against the reference's bf16 products, every case (docstring)
TOL_BF16_EXACT = 1e-5  # ... in the cases that no rounding flip touched, at least BF16_MIN_EXACT of them
BF16_MIN_EXACT = 0.5
STEPS, LR, WARMUP, TOTAL, MIN_RATIO, WD = 10, 1e-2, 3, 8, 0.1, 0.1
T_TRAIN, B_TRAIN = 12, 2
BLOCK, WINDOW = 8, 5
T_LONG = 5 * BLOCK // 2 + 3  # 23

torch.set_num_threads(1)  # tiny tensors: threads only add overhead
# lext keeps its threads (the parallel paths are part of what is tested) but waits passively,
# so a busy machine does not turn its OpenMP spin-waits into seconds per run
TOOL_ENV = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")

passed = failed = 0


def record(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"  FAIL {what}{': ' + detail if detail else ''}", flush=True)
    return ok


def rel_err(a, b):
    """max|a - b| / max|b| (b the reference); max|a - b| when b is all zero."""
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape:
        return float("inf")
    num = (a - b).abs().max().item() if a.numel() else 0.0
    den = b.abs().max().item() if b.numel() else 0.0
    return num / den if den > 0 else num


def scalar_err(a, b):
    return abs(a - b) / abs(b) if b != 0 else abs(a)


# ---- cases -----------------------------------------------------------------------------


def config(pos, **kw):
    c = {
        "format_version": 1,
        "n_layer": 2,
        "n_head": 2,
        "d_model": 16,
        "d_ff": 48,
        "vocab_size": 256,
        "train_len": 16,
        "pos": pos,
        "xpos_gamma": 0.4,
        "xpos_scale_base": 512.0,
        "rope_base": 10000.0,
        "tied": True,
        "norm_eps": 1e-5,
    }
    c.update(kw)
    return c


CASES = [
    ("none", config("none")),
    ("sinusoidal", config("sinusoidal", n_head=4)),
    ("learned", config("learned", train_len=24)),
    ("learned-untied", config("learned", train_len=24, tied=False, vocab_size=61)),
    # embed_scale (format 2); every other case is a format-1 file without the key: unscaled
    ("sinusoidal-embed-scale", config("sinusoidal", n_head=4, format_version=2, embed_scale=True)),
    ("learned-embed-scale-untied",
     config("learned", train_len=24, tied=False, format_version=2, embed_scale=True)),
    ("xpos-embed-scale-false", config("xpos", format_version=2, embed_scale=False)),
    ("alibi", config("alibi", n_head=4)),
    ("alibi-3heads", config("alibi", n_head=3, d_model=24, tied=False)),
    ("rope", config("rope")),
    ("rope-base100-untied", config("rope", rope_base=100.0, tied=False, n_head=4)),
    ("xpos-B8", config("xpos", xpos_scale_base=8.0)),
    ("xpos-B512", config("xpos", n_head=4, d_model=32, d_ff=64)),
]


# Context extension (lext.h "Context extension"; reference.rotary_factors): rotary models at
# T_LONG = 23 > train_len 16, logits (inference workspace) and every gradient (training
# workspace) under each scaling, auto (s = 23/16) and fixed factors, causal and bca/window.
SCALING_CASES = [
    ("rope linear auto", config("rope"), {"kind": "linear"}, "causal"),
    ("rope ntk s=4", config("rope", n_head=4, d_model=32, d_ff=64), {"kind": "ntk", "factor": 4.0}, "causal"),
    ("rope dynamic-ntk f=2", config("rope"), {"kind": "dynamic-ntk", "factor": 2.0}, "causal"),
    ("rope dynamic-ntk auto", config("rope", rope_base=100.0), {"kind": "dynamic-ntk"}, "causal"),
    ("rope yarn auto", config("rope"), {"kind": "yarn"}, "causal"),
    # head dim 16 and beta 1 / 0.25 give a fractional ramp over pairs 0..3
    ("rope yarn s=4 ramp bca", config("rope", d_model=32, d_ff=64),
     {"kind": "yarn", "factor": 4.0, "beta_fast": 1.0, "beta_slow": 0.25}, "bca"),
    ("xpos linear s=2", config("xpos", xpos_scale_base=8.0), {"kind": "linear", "factor": 2.0}, "causal"),
    ("xpos linear decay-scaled", config("xpos", xpos_scale_base=8.0),
     {"kind": "linear", "factor": 3.0, "xpos_decay_scaled": True}, "causal"),
    ("xpos yarn auto decay-scaled window", config("xpos", xpos_scale_base=8.0),
     {"kind": "yarn", "xpos_decay_scaled": True}, "window"),
    ("xpos ntk auto bca", config("xpos", xpos_scale_base=8.0), {"kind": "ntk"}, "bca"),
    ("xpos dynamic-ntk f=3", config("xpos", xpos_scale_base=8.0), {"kind": "dynamic-ntk", "factor": 3.0}, "causal"),
]


def scaling_args(sc):
    a = ["--rope-scaling", sc["kind"], "--rope-factor", repr(float(sc.get("factor", 0.0)))]
    if "beta_fast" in sc:
        a += ["--yarn-beta-fast", repr(sc["beta_fast"]), "--yarn-beta-slow", repr(sc["beta_slow"])]
    if sc.get("xpos_decay_scaled"):
        a += ["--xpos-decay-scaled", "1"]
    return a


def run_scaling_case(label, cfg, sc, mode, seed, tmp):
    """Returns (worst logits/loss error, worst gradient error)."""
    model = random_model(cfg, seed)
    ckpt = os.path.join(tmp, "model.safetensors")
    save_model(model, cfg, ckpt)
    model, _, _ = load_reference(ckpt, cfg)
    toks, targs = make_batch(cfg, 2, T_LONG, seed + 1)
    batch = os.path.join(tmp, "batch.bin")
    write_batch(batch, toks, targs)
    kw = {"block": BLOCK} if mode == "bca" else {"window": WINDOW} if mode == "window" else {}
    extra = ["--attn", mode] + (["--block", str(BLOCK)] if mode == "bca" else
                                ["--window", str(WINDOW)] if mode == "window" else [])
    with torch.no_grad():
        plain = model(toks, mode, **kw)
    model.set_rope_scaling(sc)
    lg = model(toks, mode, **kw)
    lo = ref.loss_fn(lg, targs)
    lo.backward()
    logits_path = os.path.join(tmp, "logits.bin")
    a = run_tool(["--ckpt", ckpt, "--batch", batch, "--logits", logits_path] + extra + scaling_args(sc))
    b = run_tool(["--ckpt", ckpt, "--batch", batch, "--grads", os.path.join(tmp, "grads.safetensors")]
                 + extra + scaling_args(sc))
    # the scaling must change the model at this length, or the comparison proves nothing
    moved = rel_err(lg.detach(), plain)
    record(moved > 1e-3, f"{label}: the scaling changes the logits at T={T_LONG}", f"only {moved:.3g}")
    e = rel_err(read_logits(logits_path, 2, T_LONG, cfg["vocab_size"]), lg.detach())
    e = max(e, scalar_err(a["loss"], lo.item()), scalar_err(b["loss"], lo.item()))
    record(e <= TOL, f"{label}: logits and loss", f"rel err {e:.3g}")
    eg, _ = compare_grads(label, tmp, cfg, model, grads_of(model))
    # logits at 1x, 2x and 4x the training length too (inference workspace)
    for T in EXT_LENGTHS:
        toks, targs = make_batch(cfg, 2, T, seed + T)
        write_batch(batch, toks, targs)
        with torch.no_grad():
            lg = model(toks, mode, **kw)
        run_tool(["--ckpt", ckpt, "--batch", batch, "--logits", logits_path] + extra + scaling_args(sc))
        eT = rel_err(read_logits(logits_path, 2, T, cfg["vocab_size"]), lg)
        record(eT <= TOL, f"{label}: logits at T={T}", f"rel err {eT:.3g}")
        e = max(e, eT)
    return e, eg


# Attention extensions (lext.h "Attention extensions"; reference.ext_positions): logits at
# 1x, 2x and 4x the training length 16, each method on its own and in combinations that
# make sense; inference only, so a gradient run must be refused.
EXT_CASES = [
    ("rope sinks cache window", config("rope"), {"kind": "sinks", "sinks": 2, "sink_pos": "cache"}, "window", 6, None),
    ("xpos sinks cache bca", config("xpos", xpos_scale_base=8.0), {"kind": "sinks", "sinks": 3, "sink_pos": "cache"}, "bca", 8, None),
    ("rope sinks capped (lambda)", config("rope"), {"kind": "sinks", "sinks": 2, "sink_pos": "capped"}, "window", 6, None),
    ("xpos sinks capped bca", config("xpos", xpos_scale_base=8.0), {"kind": "sinks", "sinks": 4, "sink_pos": "capped"}, "bca", 8, None),
    ("rope sinks absolute", config("rope"), {"kind": "sinks", "sinks": 2, "sink_pos": "absolute"}, "window", 5, None),
    ("alibi sinks absolute", config("alibi", n_head=4), {"kind": "sinks", "sinks": 2, "sink_pos": "absolute"}, "window", 6, None),
    ("rope self-extend", config("rope"), {"kind": "self-extend", "group": 4, "neighbors": 6}, "causal", None, None),
    ("xpos self-extend", config("xpos", xpos_scale_base=8.0), {"kind": "self-extend", "group": 3, "neighbors": 5}, "causal", None, None),
    ("rope rerope", config("rope"), {"kind": "rerope", "clip": 6}, "causal", None, None),
    ("xpos rerope", config("xpos", xpos_scale_base=8.0), {"kind": "rerope", "clip": 4}, "causal", None, None),
    ("xpos sinks cache + ntk", config("xpos", xpos_scale_base=8.0), {"kind": "sinks", "sinks": 2, "sink_pos": "cache"}, "window", 6,
     {"kind": "ntk", "factor": 2.0}),
    ("rope self-extend + dynamic-ntk", config("rope"), {"kind": "self-extend", "group": 2, "neighbors": 4}, "causal", None,
     {"kind": "dynamic-ntk", "factor": 2.0}),
]
EXT_LENGTHS = (16, 32, 64)


def ext_args(e):
    if e["kind"] == "sinks":
        return ["--sinks", str(e["sinks"]), "--sink-pos", e["sink_pos"]]
    if e["kind"] == "self-extend":
        return ["--se-group", str(e["group"]), "--se-neighbors", str(e["neighbors"])]
    return ["--rerope", str(e["clip"])]


def run_ext_case(label, cfg, e, mode, size, sc, seed, tmp):
    """Returns the worst logits/loss error over EXT_LENGTHS."""
    model = random_model(cfg, seed)
    ckpt = os.path.join(tmp, "model.safetensors")
    save_model(model, cfg, ckpt)
    model, _, _ = load_reference(ckpt, cfg)
    kw = {"block": size} if mode == "bca" else {"window": size} if mode == "window" else {}
    extra = ["--attn", mode] + (["--block", str(size)] if mode == "bca" else
                                ["--window", str(size)] if mode == "window" else [])
    if sc:
        extra += scaling_args(sc)
        model.set_rope_scaling(sc)
    batch, logits_path = os.path.join(tmp, "batch.bin"), os.path.join(tmp, "logits.bin")
    worst = 0.0
    for T in EXT_LENGTHS:
        toks, targs = make_batch(cfg, 2, T, seed + T)
        write_batch(batch, toks, targs)
        with torch.no_grad():
            model.set_attn_ext(None)
            plain = model(toks, mode, **kw)
            model.set_attn_ext(e)
            lg = model(toks, mode, **kw)
            lo = ref.loss_fn(lg, targs)
        a = run_tool(["--ckpt", ckpt, "--batch", batch, "--logits", logits_path] + extra + ext_args(e))
        err = max(rel_err(read_logits(logits_path, 2, T, cfg["vocab_size"]), lg), scalar_err(a["loss"], lo.item()))
        record(err <= TOL, f"{label}: logits and loss at T={T}", f"rel err {err:.3g}")
        worst = max(worst, err)
        if T == EXT_LENGTHS[-1]:  # past the mask's reach the method must change something
            moved = rel_err(lg, plain)
            record(moved > 1e-3, f"{label}: the extension changes the logits at T={T}", f"only {moved:.3g}")
    # inference only: a gradient run is refused with a message that says so
    p = subprocess.run([TOOL, "--ckpt", ckpt, "--batch", batch, "--grads", os.path.join(tmp, "g.safetensors")]
                       + extra + ext_args(e), capture_output=True, text=True, env=TOOL_ENV)
    record(p.returncode == 1 and "inference-only" in p.stderr, f"{label}: backward refused",
           f"exit {p.returncode}: {p.stderr.strip()}")
    return worst


def random_model(cfg, seed):
    """A float64 reference model with float32-representable random weights: matrices and
    embeddings N(0, 0.35^2), biases N(0, 0.2^2), LayerNorm gains 1 + N(0, 0.2^2)."""
    g = torch.Generator().manual_seed(seed)
    model = ref.LextReference(cfg).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if p.dim() == 2:
                v = 0.35 * r
            elif "norm" in name and name.endswith(".weight"):
                v = 1.0 + 0.2 * r
            else:
                v = 0.2 * r
            p.copy_(v.float().double())  # what the float32 file will hold
    return model


def save_model(model, cfg, path):
    tensors = {k: v.float() for k, v in model.state_dict().items()}
    sio.save_file(tensors, path, metadata={"lext": json.dumps(cfg)})


def load_reference(path, cfg, precision="fp32"):
    tensors, meta = sio.load(path)
    model = ref.LextReference(cfg, precision).double()
    model.load_state_dict({k: v.double() for k, v in tensors.items()}, strict=True)
    return model, tensors, meta


def write_batch(path, tokens, targets):
    B, T = tokens.shape
    with open(path, "wb") as f:
        f.write(np.array([B, T], dtype="<i4").tobytes())
        f.write(tokens.numpy().astype("<i4").tobytes())
        f.write(targets.numpy().astype("<i4").tobytes())


def make_batch(cfg, B, T, seed):
    g = torch.Generator().manual_seed(seed)
    V = cfg["vocab_size"]
    tokens = torch.randint(0, V, (B, T), generator=g)
    targets = torch.randint(0, V, (B, T), generator=g)
    targets[0, 1] = -1  # ignored targets must not count
    targets[-1, -1] = -100
    return tokens, targets


def run_tool(args):
    p = subprocess.run([TOOL] + args, capture_output=True, text=True, env=TOOL_ENV)
    if p.returncode != 0:
        raise RuntimeError(f"tool_parity {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    out = {"steps": []}
    for line in p.stdout.splitlines():
        f = line.split()
        if f[0] == "step":
            out["steps"].append((float(f[3]), float(f[5]), float(f[7])))
        elif f[0] in ("loss", "final_loss"):
            out[f[0]] = float(f[1])
        elif f[0] == "targets":
            out["targets"] = int(f[1])
    return out


def read_logits(path, B, T, V):
    return torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(B, T, V).astype(np.float64))


def cross_check_safetensors(path, tensors, meta):
    """With the real safetensors library installed, it must read the same file identically."""
    if st_torch is None:
        return True
    other = st_torch.load_file(path)
    with safe_open(path, framework="pt") as f:
        other_meta = f.metadata() or {}
    same = set(other) == set(tensors) and all(torch.equal(other[k], tensors[k]) for k in tensors)
    return same and other_meta == meta


# ---- one case --------------------------------------------------------------------------


def grads_of(model):
    return {k: p.grad.detach().clone() for k, p in model.named_parameters()}


def compare_grads(label, tmp, cfg, model, ref_grads):
    """Reads lext's gradient file and compares every tensor; returns (worst, name)."""
    tensors, meta = sio.load(os.path.join(tmp, "grads.safetensors"))
    record(cross_check_safetensors(os.path.join(tmp, "grads.safetensors"), tensors, meta),
           f"{label}: safetensors library reads the gradient file differently")
    ok = record(set(tensors) == set(ref_grads), f"{label}: gradient tensor names",
                f"lext {sorted(set(tensors) ^ set(ref_grads))} differ")
    worst, worst_name = 0.0, "-"
    if not ok:
        return float("inf"), "names"
    for name, gref in ref_grads.items():
        e = rel_err(tensors[name], gref)
        record(e <= TOL, f"{label}: gradient {name}", f"rel err {e:.3g} > {TOL:g}")
        if e > worst or math.isnan(e):
            worst, worst_name = e, name
    return worst, worst_name


def run_case(label, cfg, seed, tmp):
    worst = {}
    model = random_model(cfg, seed)
    ckpt = os.path.join(tmp, "model.safetensors")
    save_model(model, cfg, ckpt)
    # the reference reads the very file lext reads
    model, tensors, meta = load_reference(ckpt, cfg)
    record(cross_check_safetensors(ckpt, tensors, meta), f"{label}: safetensors library disagrees on the model file")

    # ---- causal logits, loss, gradients, then 10 AdamW steps ----
    tokens, targets = make_batch(cfg, B_TRAIN, T_TRAIN, seed + 1)
    batch = os.path.join(tmp, "batch.bin")
    write_batch(batch, tokens, targets)
    logits_path, grads_path = os.path.join(tmp, "logits.bin"), os.path.join(tmp, "grads.safetensors")
    final_path = os.path.join(tmp, "final.safetensors")
    try:
        out = run_tool(["--ckpt", ckpt, "--batch", batch, "--logits", logits_path,
                        "--grads", grads_path, "--steps", str(STEPS), "--lr", repr(LR),
                        "--warmup", str(WARMUP), "--total", str(TOTAL),
                        "--min-lr-ratio", repr(MIN_RATIO), "--wd", repr(WD), "--out", final_path])
    except RuntimeError as e:
        record(False, f"{label}: tool_parity (training run)", str(e))
        return None
    record(True, f"{label}: lext loads the PyTorch-written model")

    model.zero_grad()
    logits = model(tokens)
    loss = ref.loss_fn(logits, targets)
    loss.backward()
    ref_grads = grads_of(model)
    n_targets = int((targets >= 0).sum())
    record(out["targets"] == n_targets, f"{label}: counted targets", f"{out['targets']} != {n_targets}")
    e = rel_err(read_logits(logits_path, B_TRAIN, T_TRAIN, cfg["vocab_size"]), logits.detach())
    record(e <= TOL, f"{label}: causal logits", f"rel err {e:.3g}")
    worst["logits"] = e
    e = scalar_err(out["loss"], loss.item())
    record(e <= TOL, f"{label}: loss", f"lext {out['loss']:.9g} ref {loss.item():.9g}")
    worst["loss"] = e
    worst["grads"], worst_grad_name = compare_grads(label, tmp, cfg, model, ref_grads)

    # the reference trains a fresh copy of the same weights
    model, _, _ = load_reference(ckpt, cfg)
    log, final = ref.train(model, tokens, targets, STEPS, LR, WARMUP, TOTAL, MIN_RATIO, WD, 1.0)
    ok = record(len(out["steps"]) == STEPS, f"{label}: lext ran {STEPS} steps", str(len(out["steps"])))
    e_loss = e_gn = 0.0
    if ok:
        for s, ((la, lra, gna), (lb, lrb, gnb)) in enumerate(zip(out["steps"], log)):
            e = scalar_err(la, lb)
            record(e <= TOL, f"{label}: step {s} loss", f"lext {la:.9g} ref {lb:.9g}")
            e_loss = max(e_loss, e)
            record(scalar_err(lra, lrb) <= 1e-9, f"{label}: step {s} lr", f"lext {lra:.9g} ref {lrb:.9g}")
            # step 0 is the gradient checked above; later norms follow the trajectory
            e = scalar_err(gna, gnb)
            tol = TOL if s == 0 else TOL_TRAJ
            record(e <= tol, f"{label}: step {s} gradient norm", f"lext {gna:.9g} ref {gnb:.9g}")
            e_gn = max(e_gn, e)
        clipped = sum(1 for (_, _, gn) in log if gn > 1.0)
        record(clipped > 0, f"{label}: clipping exercised", "no step had a gradient norm above 1")
    e = scalar_err(out["final_loss"], final)
    record(e <= TOL, f"{label}: loss after {STEPS} steps", f"lext {out['final_loss']:.9g} ref {final:.9g}")
    worst["steps"] = max(e_loss, e)
    worst["gnorm"] = e_gn

    final_tensors, final_meta = sio.load(final_path)
    record(cross_check_safetensors(final_path, final_tensors, final_meta),
           f"{label}: safetensors library disagrees on lext's saved model")
    meta_cfg = json.loads(final_meta.get("lext", "{}"))
    # lext writes its own format version and every field, embed_scale included (false
    # where a format-1 input had no such key)
    want = dict(cfg, format_version=LEXT_FORMAT_VERSION, embed_scale=cfg.get("embed_scale", False))
    record(meta_cfg == want, f"{label}: lext writes the same configuration", f"{meta_cfg} != {want}")
    ref_state = model.state_dict()
    e_w = 0.0
    if record(set(final_tensors) == set(ref_state), f"{label}: saved tensor names"):
        D, rotary = cfg["d_model"], cfg["pos"] in ("rope", "xpos")
        sum_lr = sum(lr for (_, lr, _) in log)
        for name, w in ref_state.items():
            a, b = final_tensors[name].double().clone(), w.double().clone()
            if name.endswith("attn.qkv.bias"):
                # The key bias adds q_i . b_k to every score of row i, which the softmax
                # ignores: without rope/xpos its true gradient is exactly 0, and with them
                # nearly so for the pairs whose angles t theta_j stay small (theta_3 = 1e-3 at
                # hd = 8). Adam normalises such a gradient against eps = 1e-6, so float32
                # rounding noise there moves lext's weights by sum_s lr_s |g| / (|g| + eps),
                # far below sum_s lr_s but far above the 1e-4 tolerance. Checked apart; its
                # gradient itself is checked to 1e-4 above.
                k0 = tensors[name].double()[D : 2 * D]
                ref_move = (b[D : 2 * D] - k0).abs().max().item()
                lext_move = (a[D : 2 * D] - k0).abs().max().item()
                diff = (a[D : 2 * D] - b[D : 2 * D]).abs().max().item()
                record(diff < 0.05 * sum_lr and (rotary or ref_move < 1e-9),
                       f"{label}: key bias (near-zero true gradient) {name}",
                       f"lext and the reference differ by {diff:.3g} (bound {0.05 * sum_lr:.3g}); "
                       f"moved {lext_move:.3g} in lext, {ref_move:.3g} in the reference")
                a[D : 2 * D] = b[D : 2 * D]
            e = rel_err(a, b)
            record(e <= TOL_WEIGHTS, f"{label}: weights after steps {name}", f"rel err {e:.3g}")
            e_w = max(e_w, e)
        moved = max(rel_err(final_tensors[k], tensors[k]) for k in ref_state)
        record(moved > 10 * TOL_WEIGHTS, f"{label}: the steps moved the weights", f"only {moved:.3g}")
    worst["weights"] = e_w

    # ---- bca and window at T > l, logits (inference workspace) and gradients ----
    model, _, _ = load_reference(ckpt, cfg)
    toks, targs = make_batch(cfg, 2, T_LONG, seed + 2)
    write_batch(batch, toks, targs)
    for mode, extra in (("bca", ["--block", str(BLOCK)]), ("window", ["--window", str(WINDOW)])):
        kw = {"block": BLOCK} if mode == "bca" else {"window": WINDOW}
        model.zero_grad()
        lg = model(toks, mode, **kw)
        lo = ref.loss_fn(lg, targs)
        lo.backward()
        try:
            a = run_tool(["--ckpt", ckpt, "--batch", batch, "--attn", mode, "--logits", logits_path] + extra)
            b = run_tool(["--ckpt", ckpt, "--batch", batch, "--attn", mode, "--grads", grads_path] + extra)
        except RuntimeError as ex:
            record(False, f"{label}: tool_parity ({mode})", str(ex))
            continue
        e = rel_err(read_logits(logits_path, 2, T_LONG, cfg["vocab_size"]), lg.detach())
        e = max(e, scalar_err(a["loss"], lo.item()), scalar_err(b["loss"], lo.item()))
        record(e <= TOL, f"{label}: {mode} logits and loss at T={T_LONG}", f"rel err {e:.3g}")
        worst[mode] = e
        eg, name = compare_grads(f"{label} {mode}", tmp, cfg, model, grads_of(model))
        worst[mode + "-grads"] = eg

    # bca at T = l is plain causal
    toks, targs = make_batch(cfg, 1, BLOCK, seed + 3)
    write_batch(batch, toks, targs)
    try:
        run_tool(["--ckpt", ckpt, "--batch", batch, "--attn", "bca", "--block", str(BLOCK),
                  "--logits", logits_path])
        with torch.no_grad():
            lg = model(toks, "bca", block=BLOCK)
            lc = model(toks, "causal")
        e = rel_err(read_logits(logits_path, 1, BLOCK, cfg["vocab_size"]), lg)
        record(e <= TOL and torch.equal(lg, lc), f"{label}: bca at T=l is causal", f"rel err {e:.3g}")
        worst["bca@T=l"] = e
    except RuntimeError as ex:
        record(False, f"{label}: tool_parity (bca at T=l)", str(ex))
    worst["_grad_name"] = worst_grad_name
    return worst


def run_bf16_case(label, cfg, seed, tmp):
    """--precision bf16 against the reference's bf16 products (reference.BF16MatMul): logits,
    loss, every gradient, and 10 AdamW steps. Also measured against the fp32 reference, which
    must explain lext's numbers far worse: proof that the products really are bf16."""
    worst = {}
    model = random_model(cfg, seed)
    ckpt = os.path.join(tmp, "model.safetensors")
    save_model(model, cfg, ckpt)
    tokens, targets = make_batch(cfg, B_TRAIN, T_TRAIN, seed + 1)
    batch = os.path.join(tmp, "batch.bin")
    write_batch(batch, tokens, targets)
    logits_path, grads_path = os.path.join(tmp, "logits.bin"), os.path.join(tmp, "grads.safetensors")
    try:
        out = run_tool(["--ckpt", ckpt, "--batch", batch, "--logits", logits_path,
                        "--grads", grads_path, "--steps", str(STEPS), "--lr", repr(LR),
                        "--warmup", str(WARMUP), "--total", str(TOTAL),
                        "--min-lr-ratio", repr(MIN_RATIO), "--wd", repr(WD), "--precision", "bf16"])
    except RuntimeError as e:
        record(False, f"{label}: tool_parity (bf16 training run)", str(e))
        return None
    lext_logits = read_logits(logits_path, B_TRAIN, T_TRAIN, cfg["vocab_size"])
    lext_grads, _ = sio.load(grads_path)
    for precision in ("bf16", "fp32"):
        model, _, _ = load_reference(ckpt, cfg, precision)
        logits = model(tokens)
        loss = ref.loss_fn(logits, targets)
        loss.backward()
        ref_grads = grads_of(model)
        if not record(set(lext_grads) == set(ref_grads), f"{label}: bf16 gradient tensor names",
                      f"{sorted(set(lext_grads) ^ set(ref_grads))} differ"):
            return None
        e_grads = max(rel_err(lext_grads[k], g) for k, g in ref_grads.items())
        worst[precision] = (rel_err(lext_logits, logits.detach()),
                            scalar_err(out["loss"], loss.item()), e_grads)
    e_logits, e_loss, e_grads = worst["bf16"]
    record(e_logits <= TOL_BF16, f"{label}: bf16 logits", f"rel err {e_logits:.3g}")
    record(e_loss <= TOL_BF16, f"{label}: bf16 loss", f"rel err {e_loss:.3g}")
    record(e_grads <= TOL_BF16, f"{label}: bf16 gradients", f"worst rel err {e_grads:.3g}")
    f_logits, _, f_grads = worst["fp32"]
    record(f_logits > e_logits and f_grads > e_grads, f"{label}: bf16 products are bf16",
           f"the fp32 reference is closer than the bf16 one: logits {f_logits:.3g} vs {e_logits:.3g}, "
           f"gradients {f_grads:.3g} vs {e_grads:.3g}")
    model, _, _ = load_reference(ckpt, cfg, "bf16")
    log, final = ref.train(model, tokens, targets, STEPS, LR, WARMUP, TOTAL, MIN_RATIO, WD, 1.0)
    e_steps = scalar_err(out["final_loss"], final)
    if record(len(out["steps"]) == STEPS, f"{label}: bf16 lext ran {STEPS} steps"):
        e_steps = max([e_steps] + [scalar_err(a[0], b[0]) for a, b in zip(out["steps"], log)])
    record(e_steps <= TOL_BF16, f"{label}: bf16 losses of {STEPS} AdamW steps", f"worst rel err {e_steps:.3g}")
    return {"logits": e_logits, "loss": e_loss, "grads": e_grads, "steps": e_steps,
            "fp32-logits": f_logits, "fp32-grads": f_grads}


def torch_model_checks():
    """bench/torch_model.py, the benchmark's PyTorch baseline, is written for speed (complex
    rotations, additive masks, baddbmm): it must compute the same model, in float32, to the
    same 1e-4 as lext, or the benchmark compares lext with something else."""
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import torch_model  # noqa: E402

    worst = 0.0
    for i, (label, cfg) in enumerate(CASES):
        if cfg["pos"] not in ("none", "rope", "xpos"):
            continue
        model = random_model(cfg, 9000 + i)
        fast = torch_model.TorchLext(cfg)
        fast.load_state_dict({k: v.float() for k, v in model.state_dict().items()}, strict=True)
        tokens, targets = make_batch(cfg, B_TRAIN, T_TRAIN, 9100 + i)
        ref_loss = ref.loss_fn(model(tokens), targets)
        ref_loss.backward()
        logits = fast(tokens)
        loss = ref.loss_fn(logits, targets)
        loss.backward()
        e = max(rel_err(logits.detach(), model(tokens).detach()), scalar_err(loss.item(), ref_loss.item()))
        fast_grads = {k: p.grad for k, p in fast.named_parameters()}
        for k, g in grads_of(model).items():
            e = max(e, rel_err(fast_grads[k], g))
        record(e <= TOL, f"bench/torch_model.py {label}: logits, loss and gradients", f"rel err {e:.3g}")
        worst = max(worst, e)
    print(f"  bench/torch_model.py (the benchmark's PyTorch model, float32) against the reference: "
          f"worst {worst:.1e}", flush=True)


def self_checks():
    """Checks of the reference's own building blocks against hand-computed values."""
    # ALiBi slopes: 8 heads -> 2^-1..2^-8; 3 heads -> 2^-4, 2^-8, then 2^-2 (from 4 heads)
    s8 = ref.alibi_slopes(8)
    record(s8 == [2.0 ** -h for h in range(1, 9)], "reference: alibi slopes for 8 heads", str(s8))
    s3 = ref.alibi_slopes(3)
    record(s3 == [2.0 ** -4, 2.0 ** -8, 2.0 ** -2], "reference: alibi slopes for 3 heads", str(s3))
    s6 = ref.alibi_slopes(6)
    record(s6 == [2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8, 2.0 ** -1, 2.0 ** -3],
           "reference: alibi slopes for 6 heads", str(s6))
    # bca mask, l = 4 (h = 2), T = 7: query 5 is in block 2, sees keys 2..5
    m = ref.attention_mask(7, "bca", block=4)
    record(m[5].tolist() == [False, False, True, True, True, True, False], "reference: bca row",
           str(m[5].tolist()))
    record(int(m.sum(1).max()) <= 4 and int(m[2:].sum(1).min()) >= 3, "reference: bca key counts in [h+1, l]")
    w = ref.attention_mask(7, "window", window=3)
    record(w[6].tolist() == [False] * 4 + [True] * 3, "reference: window row")
    # XPOS closed form (lex-paper.md section 1): the logit depends on m - n only
    hd, T = 8, 9
    g = torch.Generator().manual_seed(5)
    q, k = torch.randn(hd, generator=g, dtype=torch.float64), torch.randn(hd, generator=g, dtype=torch.float64)
    cos, sin, qs, ks = ref.rotary_factors(T, hd, 10000.0, True, 0.4, 8.0)
    mpos, npos = 7, 3
    qr = ref.apply_rotary(q[None], cos[mpos:mpos + 1], sin[mpos:mpos + 1], qs[mpos:mpos + 1])[0]
    kr = ref.apply_rotary(k[None], cos[npos:npos + 1], sin[npos:npos + 1], ks[npos:npos + 1])[0]
    j = torch.arange(hd // 2, dtype=torch.float64)
    theta = 10000.0 ** (-2 * j / hd)
    zeta = (2 * j + 0.4 * hd) / (1.4 * hd)
    dlt = mpos - npos
    closed = (zeta ** (dlt / 8.0) * ((q[0::2] * k[0::2] + q[1::2] * k[1::2]) * torch.cos(dlt * theta)
                                     + (q[0::2] * k[1::2] - q[1::2] * k[0::2]) * torch.sin(dlt * theta))).sum()
    e = abs((qr @ kr).item() - closed.item())
    record(e < 1e-12, "reference: xpos matches the closed form", f"diff {e:.3g}")
    # safetensors_io round trip with metadata
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "x.safetensors")
        t = {"a": torch.arange(6, dtype=torch.float32).view(2, 3), "b": torch.tensor([1, -2], dtype=torch.int32)}
        sio.save_file(t, p, metadata={"k": "v"})
        back, meta = sio.load(p)
        with open(p, "rb") as f:
            hlen = int.from_bytes(f.read(8), "little")
        record(meta == {"k": "v"} and all(torch.equal(back[k], t[k]) for k in t) and hlen % 8 == 0,
               "safetensors_io: round trip")


def main():
    start = time.time()
    if not os.access(TOOL, os.X_OK):
        record(False, "tool_parity", f"{TOOL} is missing: run `make all` (or make build/tests/tool_parity)")
        print(f"test_parity.py: {passed} passed, {failed} failed")
        return 1
    self_checks()
    torch_model_checks()
    print(f"max|lext - ref| / max|ref| per case (lext float32, reference float64; tol {TOL:g}, "
          f"weights after {STEPS} steps {TOL_WEIGHTS:g})"
          + ("; cross-checked with the safetensors library" if st_torch else
             "; safetensors library not installed, safetensors_io only"), flush=True)
    for i, (label, cfg) in enumerate(CASES):
        with tempfile.TemporaryDirectory(prefix="lext-parity-") as tmp:
            try:
                w = run_case(label, cfg, 1000 + 17 * i, tmp)
            except Exception as ex:  # noqa: BLE001 - any crash is a failure, not a lost summary
                record(False, f"{label}: the case raised", f"{type(ex).__name__}: {ex}")
                w = None
        if w is None:
            print(f"  {label:<20} FAILED to run", flush=True)
            continue
        print(f"  {label:<20} logits {w['logits']:.1e}  loss {w['loss']:.1e}  grads {w['grads']:.1e}"
              f" ({w['_grad_name']})  11 losses {w['steps']:.1e}  gnorms {w['gnorm']:.1e}  weights {w['weights']:.1e}"
              f"  bca {w.get('bca', float('nan')):.1e}/{w.get('bca-grads', float('nan')):.1e}"
              f"  window {w.get('window', float('nan')):.1e}/{w.get('window-grads', float('nan')):.1e}"
              f"  bca@T=l {w.get('bca@T=l', float('nan')):.1e}", flush=True)
    print(f"context extension (train_len 16): max|lext - ref| / max|ref| of logits at T={T_LONG}, "
          f"{', '.join(map(str, EXT_LENGTHS))} and of every gradient at T={T_LONG}", flush=True)
    for i, (label, cfg, sc, mode) in enumerate(SCALING_CASES):
        with tempfile.TemporaryDirectory(prefix="lext-parity-") as tmp:
            try:
                e, eg = run_scaling_case(label, cfg, sc, mode, 9000 + 17 * i, tmp)
                print(f"  {label:<34} {mode:<7} logits {e:.1e}  grads {eg:.1e}", flush=True)
            except Exception as ex:  # noqa: BLE001
                record(False, f"{label}: the scaling case raised", f"{type(ex).__name__}: {ex}")
    print(f"attention extensions at T={', '.join(map(str, EXT_LENGTHS))} (train_len 16): worst "
          f"max|lext - ref| / max|ref| of logits and loss", flush=True)
    for i, (label, cfg, e, mode, size, sc) in enumerate(EXT_CASES):
        with tempfile.TemporaryDirectory(prefix="lext-parity-") as tmp:
            try:
                w = run_ext_case(label, cfg, e, mode, size, sc, 11000 + 17 * i, tmp)
                print(f"  {label:<34} {mode:<7} {w:.1e}", flush=True)
            except Exception as ex:  # noqa: BLE001
                record(False, f"{label}: the extension case raised", f"{type(ex).__name__}: {ex}")
    print(f"bf16 matrix products (--precision bf16) against the reference's bf16 products "
          f"(tol {TOL_BF16:g}; {TOL_BF16_EXACT:g} where no rounding flipped); "
          f"last columns: lext bf16 against the fp32 reference", flush=True)
    exact = ran = 0
    for i, (label, cfg) in enumerate(CASES):
        with tempfile.TemporaryDirectory(prefix="lext-parity-") as tmp:
            try:
                w = run_bf16_case(label, cfg, 5000 + 17 * i, tmp)
            except Exception as ex:  # noqa: BLE001
                record(False, f"{label}: the bf16 case raised", f"{type(ex).__name__}: {ex}")
                w = None
        if w is None:
            print(f"  {label:<20} FAILED to run", flush=True)
            continue
        ran += 1
        exact += max(w["logits"], w["loss"], w["grads"]) <= TOL_BF16_EXACT
        print(f"  {label:<20} logits {w['logits']:.1e}  loss {w['loss']:.1e}  grads {w['grads']:.1e}"
              f"  11 losses {w['steps']:.1e}   vs fp32: logits {w['fp32-logits']:.1e} grads {w['fp32-grads']:.1e}",
              flush=True)
    record(ran == len(CASES) and exact >= BF16_MIN_EXACT * len(CASES),
           "bf16: most cases agree with the reference's bf16 products as closely as fp32 does",
           f"{exact} of {len(CASES)} cases within {TOL_BF16_EXACT:g}")
    print(f"  {exact} of {len(CASES)} cases agree to {TOL_BF16_EXACT:g} on logits, loss and every "
          f"gradient (no rounding flip)", flush=True)
    print(f"({time.time() - start:.1f} s; bca/window columns: logits/gradients at T={T_LONG}, "
          f"l={BLOCK}, W={WINDOW})")
    print(f"test_parity.py: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
