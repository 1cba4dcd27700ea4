#!/usr/bin/python3
"""test_torch.py - lext.torch (python/lext/torch.py): a torch.nn.Module from any lext
checkpoint and a module back as a checkpoint, for every position scheme, tied and untied,
under every mask (causal, bca, window at T > block so the masks differ), with and
without embed_scale.

  - C -> torch -> C: the weights of a checkpoint, through the module and written back by
    lext.torch.save, read back by the C library bit for bit;
  - logits of the module against liblext's (max|a - b| / max|b|)                  tol 1e-4
  - the loss, and the gradient of every tensor (autograd) against liblext's backward
    pass (lext.Model.gradients), per tensor as above                             tol 1e-4
  - the module in float64 against tests/reference.py, the independent reference, with the
    same weights                                                                   tol 1e-9
  - a module changed in PyTorch (one SGD step on its loss) and saved: liblext reads it and
    computes the module's logits (the write-back carries the change)              tol 1e-4
Weights are drawn with std 0.35 (as tests/test_parity.py), so the logits carry signal.
Prints "test_torch.py: N passed, M failed"; exits non-zero on any failure."""
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ.setdefault("LEXT_LIBRARY", os.path.join(ROOT, "build", "liblext.so.1"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

passed = failed = 0


def record(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL {what}{': ' + detail if detail else ''}", flush=True)
    return ok


def rel(a, b):
    """max|a - b| / max|b|; inf when b is all zero or either holds a NaN (so a comparison
    with a tolerance fails rather than passing on NaN)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    den = np.abs(b).max()
    e = np.abs(a - b).max() / den if den > 0 else np.inf
    return float(e) if np.isfinite(e) else np.inf


def main():
    import lext
    import lext.torch as lt
    import reference

    tmp = tempfile.mkdtemp()
    rng = np.random.default_rng(16)
    block = 8
    cases = [(pos, tied, False) for pos in lext.POS_SCHEMES for tied in (True, False)]
    cases += [("sinusoidal", True, True), ("learned", False, True), ("xpos", True, True)]
    for pos, tied, scaled in cases:
        if True:
            name = f"{pos} {'tied' if tied else 'untied'}{' embed_scale' if scaled else ''}"
            m = lext.Model.create(seed=1, pos=pos, embed_scale=scaled, n_layer=2, d_model=24, n_head=3 if pos == "alibi" else 2,
                                  d_ff=40, train_len=24 if pos == "learned" else block, tied=tied,
                                  xpos_scale_base=64.0, rope_base=500.0)
            for k, v in m.tensors().items():
                v[:] = rng.normal(0, 0.35, v.shape).astype(np.float32)
                if k.endswith("norm.weight"):
                    v[:] += 1.0
            src = os.path.join(tmp, "src.st")
            m.save(src)
            net = lt.load(src)
            back = os.path.join(tmp, "back.st")
            lt.save(net, back)
            a, b = lext.Model.load(src).tensors(), lext.Model.load(back).tensors()
            record(a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and
                                                a[k].tobytes() == b[k].tobytes() for k in a),
                   f"{name}: C -> torch -> C weights bit for bit")
            T = 23  # > block (bca and window differ from causal), <= 24 for learned
            tok = rng.integers(0, 256, T).astype(np.int32)
            worst = 0.0
            for attn in ("causal", "bca", "window"):
                c = m.logits(tok, attn=attn, block=block, window=5)
                with torch.no_grad():
                    t = net(torch.from_numpy(tok).long(), attn=attn, block=block, window=5).numpy()
                worst = max(worst, rel(t, c))
            record(worst < 1e-4, f"{name}: logits within 1e-4 of liblext's, every mask",
                   f"{worst:.2e}")
            # gradients of the loss, every tensor, against liblext's backward pass
            worst, where = 0.0, ""
            for attn in ("causal", "bca", "window"):
                closs, cg = m.gradients(tok, attn=attn, block=block, window=5)
                net.zero_grad()
                x = torch.from_numpy(tok).long()
                tl = torch.nn.functional.cross_entropy(net(x[:-1], attn=attn, block=block,
                                                           window=5), x[1:])
                tl.backward()
                worst = max(worst, abs(tl.item() - closs) / abs(closs))
                for k, p in net.named_parameters():
                    e = rel(p.grad.numpy(), cg[k])
                    if e > worst:
                        worst, where = e, f"{attn} {k}"
            net.zero_grad()
            record(worst < 1e-4, f"{name}: loss and every gradient within 1e-4 of liblext's, every mask",
                   f"{worst:.2e} at {where}")
            # against the independent reference, float64, same weights
            net64 = lt.load(src, dtype=torch.float64)
            ref = reference.LextReference(m.config).double()
            ref.load_state_dict(net64.state_dict())
            worst = 0.0
            with torch.no_grad():
                for attn in ("causal", "bca", "window"):
                    x = torch.from_numpy(tok).long()[None]
                    worst = max(worst, rel(net64(x, attn=attn, block=block, window=5).numpy(),
                                           ref(x, attn, block, 5).numpy()))
            record(worst < 1e-9, f"{name}: float64 module equals tests/reference.py", f"{worst:.2e}")
            # a change made in PyTorch reaches the C library
            x = torch.from_numpy(tok).long()
            loss = torch.nn.functional.cross_entropy(net(x[:-1]), x[1:])
            loss.backward()
            with torch.no_grad():
                for p in net.parameters():
                    p -= 0.5 * p.grad
            tuned = os.path.join(tmp, "tuned.st")
            lt.save(net, tuned)
            with torch.no_grad():
                t = net(x).numpy()
            c = lext.Model.load(tuned).logits(tok)
            record(rel(t, c) < 1e-4 and rel(c, m.logits(tok)) > 1e-3,
                   f"{name}: a module trained in PyTorch, saved, gives liblext the same logits",
                   f"{rel(t, c):.2e}, changed by {rel(c, m.logits(tok)):.2e}")
    try:
        lt.load(os.path.join(tmp, "missing.st"))
        record(False, "lext.torch.load of a missing file raises")
    except lext.LextError as e:
        record("cannot open checkpoint" in str(e), "lext.torch.load of a missing file raises LextError", str(e))
    print(f"test_torch.py: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
