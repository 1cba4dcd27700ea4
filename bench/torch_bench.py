#!/usr/bin/python3
"""torch_bench.py - the PyTorch side of the benchmark harness: the same units as
build/bench/bench_lext (see bench/bench_lext.c), on bench/torch_model.py, same JSON lines.

    torch_bench.py train --model MODEL --batches FILE [--lr X] [common]
    torch_bench.py eval  --model MODEL --batches FILE [common]          (causal only)
    common: --warmup N [1] --reps N [5] --threads N [2] --sync [--foreach 0|1]

MODEL is a lext checkpoint (safetensors + "lext" metadata), read with tests/safetensors_io.py,
so both sides start from identical weights. A train unit is: set the lr of lext's schedule
(warm-up 0, cosine to 0.1 lr over warm-up + reps steps), zero_grad(set_to_none), forward,
cross-entropy, backward, clip_grad_norm_(1.0), AdamW.step() (betas 0.9/0.98, eps 1e-6,
weight decay 0.01 on 2-D tensors: lext's defaults). An eval unit: forward and loss under
torch.inference_mode().

Threads: torch.set_num_threads(--threads). OMP_WAIT_POLICY must be in the environment
before torch is imported (bench/run.py sets it); the "ready" line reports what was in effect.
"""

import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))


def maxrss_kb():
    """Peak resident set, kB: VmHWM of this process's own address space. (getrusage's
    ru_maxrss carries over the high-water mark of the parent's address space when the
    harness starts us with vfork + exec, so it is reported apart, as ru_maxrss_kb.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def emit(obj):
    print(json.dumps(obj), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=("train", "eval"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--batches", required=True)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--foreach", type=int, default=1, help="AdamW foreach implementation")
    ap.add_argument("--sync", action="store_true")
    a = ap.parse_args()

    rss_start = maxrss_kb()
    import numpy as np
    import torch
    import torch.nn.functional as F

    import safetensors_io as sio
    from torch_model import TorchLext, make_adamw, schedule_lr

    torch.set_num_threads(a.threads)
    rss_import = maxrss_kb()

    tensors, meta = sio.load(a.model)
    cfg = json.loads(meta["lext"])
    model = TorchLext(cfg)
    model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    del tensors

    with open(a.batches, "rb") as f:
        n, B, W = np.frombuffer(f.read(12), dtype="<i4")
        raw = np.frombuffer(f.read(), dtype=np.uint8)
    n, B, W = int(n), int(B), int(W)
    raw = torch.from_numpy(raw[: n * B * W].astype(np.int64)).view(n, B, W)
    inputs, targets = raw[:, :, :-1].contiguous(), raw[:, :, 1:].contiguous()
    T, V = W - 1, cfg["vocab_size"]
    total = a.warmup + a.reps

    ready = {"event": "ready", "impl": "torch", "cmd": a.cmd, "n_layer": cfg["n_layer"],
             "d_model": cfg["d_model"], "n_head": cfg["n_head"], "d_ff": cfg["d_ff"],
             "train_len": cfg["train_len"], "pos": cfg["pos"], "tied": cfg["tied"],
             "n_params": sum(p.numel() for p in model.parameters()),
             "threads": torch.get_num_threads(), "batch": B, "len": T,
             "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
             "torch": torch.__version__, "maxrss_kb_after_import": rss_import,
             "maxrss_kb_at_start": rss_start}
    if a.cmd == "train":
        model.train()
        opt = make_adamw(model, a.lr, foreach=bool(a.foreach))
        ready.update(lr=a.lr, foreach=bool(a.foreach))
    else:
        model.eval()
        ready.update(attn="causal")
    emit(ready)

    k = -1
    while True:  # without --sync: warmup + reps units; with it: one per line until quit
        k += 1
        if a.sync:
            line = sys.stdin.readline()
            if not line or line.startswith("quit"):
                break
        elif k >= total:
            break
        phase = "warmup" if k < a.warmup else "timed"
        if a.cmd == "train":
            x, y = inputs[k % n], targets[k % n]
            lr = schedule_lr(k, a.lr, 0, total)
            t0 = time.perf_counter()
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, V), y.reshape(-1))
            loss.backward()
            gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            dt = time.perf_counter() - t0
            emit({"event": "unit", "phase": phase, "i": k, "seconds": dt, "tokens": B * T,
                  "loss": loss.item(), "grad_norm": float(gn), "lr": lr})
            del logits, loss
        else:
            x, y = inputs[0], targets[0]
            t0 = time.perf_counter()
            with torch.inference_mode():
                logits = model(x)
                loss = F.cross_entropy(logits.view(-1, V), y.reshape(-1))
            dt = time.perf_counter() - t0
            emit({"event": "unit", "phase": phase, "i": k, "seconds": dt, "tokens": B * T,
                  "loss": loss.item()})
            del logits, loss
    emit({"event": "done", "impl": "torch", "maxrss_kb": maxrss_kb(),
          "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})


if __name__ == "__main__":
    main()
