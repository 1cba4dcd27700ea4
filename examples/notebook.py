#!/usr/bin/env python3
"""notebook.py - lext from Python as a notebook would use it: train a small model on a
text, evaluate its perplexity by length under every attention mode, and stream a
continuation. After `make install` and `pip install ./python` (README, "Python"):

    python3 examples/notebook.py TEXT_FILE_OR_DIR [OUT.safetensors]
"""
import sys

import lext

data = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else "notebook.safetensors"
print("lext", lext.version())


def progress(r):
    if r["event"] == "step":
        print(f"  step {r['step']}/{r['total_steps']}  loss {r['loss']:.4f}  lr {r['lr']:.2e}")


model = lext.train(data, out, steps=20, batch=4, pos="xpos", n_layer=2, d_model=64, n_head=4,
                   train_len=64, log_every=5, progress=progress)
print("trained:", model.config["pos"], model.num_params, "parameters")
for cell in model.perplexity(data, [64, 128, 256], modes=["causal", "bca", "window"]):
    print(f"  length {cell['length']:4d}  {cell['mode']:6s}  perplexity {cell['perplexity']:.3f}")
logits = model.logits(b"The quick brown fox")
print("logits", logits.shape, logits.dtype)
print("generated: ", end="")
for b in model.generate(b"The ", 80, temperature=0.8, top_k=40):
    sys.stdout.write(b.decode("latin-1"))
    sys.stdout.flush()
print()
