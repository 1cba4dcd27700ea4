#!/usr/bin/python3
"""run.py - the benchmark harness: lext against a PyTorch model of the same shape, in one
run, on this machine. See bench/README.md for what each number means.

    bench/run.py              full run (several minutes; run it on a quiet machine)
    bench/run.py --smoke      every code path on tiny shapes, seconds; for CI
    options: --reps N (timed repetitions, default 5, min 5 in a full run), --warmup N,
             --out DIR (results.json and results.md; default bench/, smoke: build/bench/smoke),
             --only train,threads,eval,generate (subset), --wait-load X --wait-max S (wait
             up to S seconds for the 1-minute load average to drop below X before starting)

How it measures. Every measured configuration runs in its own process (so its peak RSS is
its own): build/bench/bench_lext for lext, bench/torch_bench.py for PyTorch. The processes
of one comparison are started together, set up (load the same initial weights, read the
same batches), then driven in lock-step through stdin ("--sync"): one unit (a training
step, an evaluation pass, a generation run) of one process at a time, the others idle,
with a short pause between units so that the previous process's worker threads have gone
to sleep. Warm-up units first, then --reps rounds; the order of the processes alternates
from round to round. A measurement is the median over its timed units.

Exit status: 0 when everything ran (whatever the speeds: MISS is a result, not a failure),
1 when some process failed to run or produced no result (the table says which).
"""

import argparse
import json
import math
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH_LEXT = os.path.join(ROOT, "build", "bench", "bench_lext")
SGEMM_PEAK = os.path.join(ROOT, "build", "bench", "sgemm_peak")
# lext built with `make BLAS=openblas` (make bench-openblas): the engine oneDNN replaced
BENCH_LEXT_OB = os.path.join(ROOT, "build-openblas", "bench", "bench_lext")
SGEMM_PEAK_OB = os.path.join(ROOT, "build-openblas", "bench", "sgemm_peak")
LEXT_CLI = os.path.join(ROOT, "lext")
TORCH_BENCH = os.path.join(HERE, "torch_bench.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

THREADS = 2
GAP_S = 0.25  # pause between units of different processes (OpenBLAS/GOMP spin-down)
FOREIGN_MAX = 0.10  # a unit is disturbed when other processes used > 10% of the machine
EXTRA_S = 150.0  # at most this long spent on rounds added to replace disturbed ones
REPLACE_DISTURBED = True  # off in --smoke: nothing is measured there
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
GiB = 1 << 30

# ---- configurations ----------------------------------------------------------------------

FULL = {
    "train": {
        "A": dict(layers=4, dim=256, heads=4, ffn=1024, len=256, batch=16),
        "B": dict(layers=6, dim=384, heads=6, ffn=1536, len=512, batch=8),
        # the experiment's default shape (lext experiment: 4 x 128, 300 steps of 16 x 256)
        "S": dict(layers=4, dim=128, heads=4, ffn=512, len=256, batch=16, pos=("xpos",)),
    },
    "eval_model": dict(layers=4, dim=256, heads=4, ffn=1024, len=256),  # config A
    # length -> batch (sequences per call)
    "eval": {256: 32, 1024: 8, 4096: 2, 16384: 1},
    "bca_lengths": (1024, 16384),
    "gen": dict(contexts=(256, 16384), tokens=256),
    "torch_mem_limit": 16 * GiB,
    "sgemm": dict(reps=7, min_seconds=0.5, shapes=None),
}
SMOKE = {
    "train": {"A": dict(layers=2, dim=64, heads=2, ffn=256, len=64, batch=4)},
    "eval_model": dict(layers=2, dim=64, heads=2, ffn=256, len=64),
    "eval": {64: 4, 256: 1},
    "bca_lengths": (256,),
    "gen": dict(contexts=(64, 512), tokens=16),
    "torch_mem_limit": 16 * GiB,
    "sgemm": dict(reps=2, min_seconds=0.0, shapes=["256x256x256", "512x128x256"]),
}

# ---- helpers -----------------------------------------------------------------------------


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


class RunError(RuntimeError):
    pass


def system_busy():
    """Busy CPU time of the whole machine since boot, clock ticks (/proc/stat: everything
    but idle and iowait; steal included, as time the machine could not give us)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]) - v[3] - v[4]  # user nice system idle iowait irq softirq steal


def proc_cpu(pid):
    """utime + stime of process pid (all its threads), clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return 0


class Proc:
    """A benchmark process driven one unit at a time through its stdin (--sync)."""

    def __init__(self, name, argv, env=None, unit_timeout=900.0):
        self.name, self.argv, self.timeout = name, argv, unit_timeout
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err, env=env)
        self.buf = b""
        self.units, self.ready, self.done = [], None, None

    def _line(self, timeout):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise RunError(f"{self.name}: no answer within {timeout:.0f} s")
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    self.p.wait()
                    raise RunError(f"{self.name}: exited with status {self.p.returncode}: "
                                   f"{self.stderr_tail()}")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise RunError(f"{self.name}: not a JSON line: {line[:200]!r}") from None

    def stderr_tail(self):
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace").strip()[-600:]

    def wait_ready(self):
        self.ready = self._line(self.timeout)
        if self.ready.get("event") != "ready":
            raise RunError(f"{self.name}: expected a ready line, got {self.ready}")

    def unit(self):
        b0, c0, t0 = system_busy(), proc_cpu(self.p.pid), time.monotonic()
        self.p.stdin.write(b"go\n")
        self.p.stdin.flush()
        u = self._line(self.timeout)
        b1, c1, t1 = system_busy(), proc_cpu(self.p.pid), time.monotonic()
        if u.get("event") != "unit":
            raise RunError(f"{self.name}: expected a unit line, got {u}")
        # CPU time used by anything else while this unit ran, as a fraction of the machine;
        # /proc/stat counts in ticks (10 ms), too coarse to judge units shorter than 0.2 s
        if t1 - t0 >= 0.2:
            u["foreign_cpu"] = max(0.0, ((b1 - b0) - (c1 - c0)) / (CLK_TCK * (t1 - t0) * NCPU))
        self.units.append(u)
        return u

    def finish(self):
        try:
            self.p.stdin.write(b"quit\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.done = self._line(120)
        self.p.wait(timeout=120)
        if self.p.returncode != 0:
            raise RunError(f"{self.name}: exited with status {self.p.returncode}: "
                           f"{self.stderr_tail()}")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def timed(self):
        return [u for u in self.units if u["phase"] == "timed"]

    def used(self):
        """The timed units the medians are taken over: those of clean rounds when there are
        at least 3 of them, otherwise all (and the measurement is marked noisy)."""
        t = self.timed()
        c = [u for u in t if u.get("clean", True)]
        return c if len(c) >= 3 else t

    def summary(self, key="seconds"):
        t, used = self.timed(), self.used()
        return {"name": self.name, "argv": self.argv, "ready": self.ready, "units": self.units,
                "maxrss_kb": (self.done or {}).get("maxrss_kb"),
                "median_seconds": median([u[key] for u in used]),
                "used_seconds": [u[key] for u in used],
                "timed_units": len(t), "clean_units": sum(1 for u in t if u.get("clean", True)),
                "used_units": len(used),
                "dirty_used": any(not u.get("clean", True) for u in used)}


def alternate(procs, warmup, reps):
    """Starts nothing: drives already started procs. Waits for every ready line, runs
    `warmup` untimed units of each, then rounds of one timed unit each, alternating the
    order, until `reps` rounds were clean (no unit saw more than FOREIGN_MAX of the machine
    used by other processes). Dirty rounds are kept in the record but replaced, up to
    `reps` extra rounds and EXTRA_S seconds of them."""
    for p in procs:
        p.wait_ready()
    last = None

    def one_round(r):
        nonlocal last
        order = procs if (r % 2 == 0) else list(reversed(procs))
        units = []
        for p in order:
            if last is not None and last is not p:
                time.sleep(GAP_S)
            units.append(p.unit())
            last = p
        return units

    for r in range(warmup):
        one_round(r)
    clean = rounds = 0
    extra_s = 0.0
    while clean < reps:
        t0 = time.monotonic()
        units = one_round(warmup + rounds)
        rounds += 1
        dirty = REPLACE_DISTURBED and any(u.get("foreign_cpu", 0) > FOREIGN_MAX for u in units)
        for u in units:
            u["round"], u["clean"] = rounds, not dirty
        clean += 0 if dirty else 1
        if rounds > reps:
            extra_s += time.monotonic() - t0
        if rounds >= 2 * reps or extra_s > EXTRA_S:
            break
        if dirty:
            log(f"  round {rounds} disturbed (other processes used up to "
                f"{max(u.get('foreign_cpu', 0) for u in units):.0%} of the machine): adding one")
    for p in procs:
        p.finish()


def run_group(procs, warmup, reps, failures, what):
    """alternate() with error capture: returns True when every process ran to the end."""
    try:
        alternate(procs, warmup, reps)
        return True
    except (RunError, OSError, subprocess.TimeoutExpired) as e:
        failures.append(f"{what}: {e}")
        log(f"  FAILED: {e}")
        return False
    finally:
        for p in procs:
            p.kill()


# ---- inputs ------------------------------------------------------------------------------


def load_corpus(nbytes=4 << 20):
    """Real bytes: the Python standard library's top-level modules, concatenated in name
    order (present on any machine that runs this harness); random bytes if missing."""
    import numpy as np

    d = sysconfig.get_paths().get("stdlib", "")
    parts, n = [], 0
    if os.path.isdir(d):
        for f in sorted(os.listdir(d)):
            if f.endswith(".py"):
                with open(os.path.join(d, f), "rb") as fh:
                    b = fh.read()
                parts.append(b)
                n += len(b)
                if n >= nbytes:
                    break
    if n >= 64 << 10:
        return b"".join(parts), f"{d}/*.py ({n} bytes)"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes(), "random bytes"


def write_batches(path, corpus, n, B, T, seed):
    """n batches of B windows of T + 1 bytes, uniformly placed in the corpus."""
    import numpy as np

    rng = np.random.default_rng(seed)
    W = T + 1
    if len(corpus) < W:
        corpus = corpus * (W // len(corpus) + 1)
    starts = rng.integers(0, len(corpus) - W + 1, n * B)
    buf = bytearray(np.array([n, B, W], dtype="<i4").tobytes())
    for s in starts:
        buf += corpus[s:s + W]
    with open(path, "wb") as f:
        f.write(buf)


def lext_init(path, m, pos, seed=1):
    args = [BENCH_LEXT, "init", "--layers", m["layers"], "--dim", m["dim"], "--heads",
            m["heads"], "--ffn", m["ffn"], "--len", m["len"], "--pos", pos, "--seed", seed,
            "--out", path]
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RunError(f"bench_lext init failed: {p.stderr.strip()}")


# PyTorch's best setting on this CPU: Debian's OpenBLAS 0.3.21 (torch's BLAS) falls back to
# its generic "Prescott" kernels on AVX-512 CPUs it does not know (Emerald Rapids); there
# OPENBLAS_CORETYPE=SkylakeX is PyTorch's best, and measure_train times both. Set by main().
TORCH_CORETYPE = None


def torch_env(threads_policy="PASSIVE", threads=None, coretype="best"):
    """Debian's torch does its matrix products in the system libblas.so.3 (OpenBLAS's pthread
    build here), whose pool torch.set_num_threads does not reach: give it the same count.
    coretype "best": TORCH_CORETYPE where main() found OpenBLAS misdetecting this CPU; None:
    OpenBLAS as shipped."""
    env = dict(os.environ)
    if coretype == "best" and TORCH_CORETYPE:
        env["OPENBLAS_CORETYPE"] = TORCH_CORETYPE
    env.pop("OMP_NUM_THREADS", None)
    env["OPENBLAS_NUM_THREADS"] = str(threads or THREADS)
    if threads_policy:
        env["OMP_WAIT_POLICY"] = threads_policy
    else:
        env.pop("OMP_WAIT_POLICY", None)
    return env


def lext_env():
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.pop("OMP_WAIT_POLICY", None)  # lext's own default (libgomp's)
    return env


def n_params(m, V=256):
    D, F, L = m["dim"], m["ffn"], m["layers"]
    per_layer = (3 * D * D + 3 * D) + (D * D + D) + (D * F + F) + (F * D + D) + 4 * D
    return L * per_layer + 2 * D + V * D  # + final norm + tied embedding


def train_flops_per_token(m, V=256):
    """6 (N_nonembed + V D) + 12 L T D: PaLM's convention (Chowdhery et al. 2022, app. B):
    6 flops per parameter per token for forward + backward of every matrix product
    (including the tied LM head, V D), plus the attention products QK^T and AV at full
    T x T (no credit for skipping the masked half)."""
    N = n_params(m, V)
    n_nonembed = N - V * m["dim"]
    return 6 * (n_nonembed + V * m["dim"]) + 12 * m["layers"] * m["len"] * m["dim"]


# ---- the measurements ----------------------------------------------------------------------


def measure_sgemm(cfg, res, failures):
    """The engine's own GEMM peak (lext's gemm_f32, 2 threads), and OpenBLAS's as linked into
    the BLAS=openblas build, in the same run."""
    for key, exe in (("sgemm", SGEMM_PEAK), ("sgemm_openblas", SGEMM_PEAK_OB)):
        log(f"sgemm peak ({'the engine' if key == 'sgemm' else 'OpenBLAS build'}, {THREADS} threads)")
        args = [exe, "--threads", str(THREADS), "--reps", str(cfg["reps"]), "--min-seconds",
                str(cfg["min_seconds"])]
        for s in cfg["shapes"] or []:
            args += ["--shape", s]
        p = subprocess.run(args, capture_output=True, text=True, env=lext_env())
        if p.returncode != 0:
            failures.append(f"{exe}: exited {p.returncode}: {p.stderr.strip()[-300:]}")
            continue
        rows = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        res[key] = rows
        for r in rows:
            log(f"  {r['M']}x{r['N']}x{r['K']} ({r['form']}, {r.get('engine')}, {r.get('kernel')}): "
                f"best {r['gflops_best']:.1f} GFLOP/s, median {r['gflops_median']:.1f}")


def measure_train(cfg, corpus, tmp, warmup, reps, res, failures, smoke):
    for cname, m in cfg["train"].items():
        log(f"training, config {cname}: {m}")
        procs, meta = [], {}
        try:
            bfile = os.path.join(tmp, f"train_{cname}.bin")
            write_batches(bfile, corpus, warmup + reps, m["batch"], m["len"], seed=10)
            for pos in m.get("pos", ("xpos", "rope")):
                ck = os.path.join(tmp, f"train_{cname}_{pos}.safetensors")
                lext_init(ck, m, pos)
                common = ["--model", ck, "--batches", bfile, "--warmup", str(warmup),
                          "--reps", str(reps), "--threads", str(THREADS), "--sync"]
                procs.append(Proc(f"lext train {cname} {pos}",
                                  [BENCH_LEXT, "train"] + common, env=lext_env()))
                procs.append(Proc(f"torch train {cname} {pos}",
                                  [PYTHON, TORCH_BENCH, "train"] + common, env=torch_env()))
                meta[pos] = (procs[-2], procs[-1])
                if pos == "xpos" and cname == "A":
                    # --precision bf16 against PyTorch fp32 (the target); the same
                    # weights and batches as the fp32 units, so its loss curve compares too
                    procs.append(Proc(f"lext train {cname} xpos bf16",
                                      [BENCH_LEXT, "train", "--precision", "bf16"] + common,
                                      env=lext_env()))
                    meta["xpos-bf16"] = (procs[-1], procs[-2])
                    # the same lext on the engine it replaced (make BLAS=openblas)
                    procs.append(Proc(f"lext(openblas) train {cname} xpos",
                                      [BENCH_LEXT_OB, "train"] + common, env=lext_env()))
                    meta["xpos-openblas"] = (procs[-1], procs[-4])
                    if TORCH_CORETYPE:  # PyTorch as shipped too, beside its best setting
                        procs.append(Proc(f"torch(shipped) train {cname} xpos",
                                          [PYTHON, TORCH_BENCH, "train"] + common,
                                          env=torch_env(coretype=None)))
                        meta["xpos-torchshipped"] = (procs[-1], procs[-4])
        except (RunError, OSError) as e:
            failures.append(f"training {cname}: {e}")
            for p in procs:
                p.kill()
            continue
        ok = run_group(procs, warmup, reps, failures, f"training {cname}")
        for pos, (pl, pt) in meta.items():
            key = f"{cname}_{pos}"
            res["train"][key] = {"config": dict(m, pos=pos), "ok": ok,
                                 "pos": pos,
                                 "flops_per_token": train_flops_per_token(m),
                                 "lext": pl.summary(), "torch": pt.summary()}
            if ok:
                tl, tt = res["train"][key]["lext"], res["train"][key]["torch"]
                log(f"  {pos}: lext {m['batch'] * m['len'] / tl['median_seconds']:.0f} tok/s, "
                    f"torch {m['batch'] * m['len'] / tt['median_seconds']:.0f} tok/s; "
                    f"last loss {pl.units[-1]['loss']:.4f} vs {pt.units[-1]['loss']:.4f}")


def measure_threads(cfg, corpus, tmp, warmup, reps, res, failures):
    """PyTorch's own thread setting, config A xpos: is 2 threads + OMP_WAIT_POLICY=PASSIVE
    really its best here (machine-notes.md)?"""
    m = cfg["train"]["A"]
    log("PyTorch thread settings, training config A xpos")
    bfile = os.path.join(tmp, "train_A.bin")
    ck = os.path.join(tmp, "train_A_xpos.safetensors")
    if not (os.path.exists(bfile) and os.path.exists(ck)):
        write_batches(bfile, corpus, warmup + reps, m["batch"], m["len"], seed=10)
        lext_init(ck, m, "xpos")
    settings = [("2 threads, OMP_WAIT_POLICY=PASSIVE", 2, "PASSIVE"),
                ("1 thread (torch default here), no OMP_WAIT_POLICY", 1, None),
                ("2 threads, no OMP_WAIT_POLICY", 2, None)]
    procs = []
    for name, thr, pol in settings:
        procs.append(Proc(f"torch {name}",
                          [PYTHON, TORCH_BENCH, "train", "--model", ck, "--batches", bfile,
                           "--warmup", str(warmup), "--reps", str(reps), "--threads", str(thr),
                           "--sync"], env=torch_env(pol, thr)))
    ok = run_group(procs, warmup, reps, failures, "PyTorch thread settings")
    res["torch_threads"] = {"ok": ok, "settings": [
        dict(setting=name, **p.summary()) for (name, _, _), p in zip(settings, procs)]}
    if ok:
        for (name, _, _), p in zip(settings, procs):
            log(f"  {name}: {m['batch'] * m['len'] / median([u['seconds'] for u in p.used()]):.0f} tok/s")


def torch_eval_bytes(m, B, T, V=256):
    """Rough peak of torch_bench eval: mask + two score slices (<= 1 GiB each) + logits and
    activations + the interpreter with torch (~0.5 GiB)."""
    scores = min(B * m["heads"] * T * T * 4, max(T * T * 4, GiB))
    return T * T * 4 + 2 * scores + 12 * B * T * max(V, m["ffn"]) * 4 + GiB // 2


def measure_eval(cfg, corpus, tmp, warmup, reps, res, failures):
    m = cfg["eval_model"]
    ck = os.path.join(tmp, "eval_A_xpos.safetensors")
    lext_init(ck, m, "xpos")
    for T, B in cfg["eval"].items():
        log(f"evaluation, length {T}, batch {B}")
        bfile = os.path.join(tmp, f"eval_{T}.bin")
        write_batches(bfile, corpus, 1, B, T, seed=20 + T)
        common = ["--model", ck, "--batches", bfile, "--warmup", str(warmup), "--reps",
                  str(reps), "--threads", str(THREADS), "--sync"]
        procs, names = [], []
        procs.append(Proc(f"lext eval {T} causal", [BENCH_LEXT, "eval", "--attn", "causal"] + common,
                          env=lext_env()))
        names.append("lext_causal")
        if T in cfg["bca_lengths"]:
            procs.append(Proc(f"lext eval {T} bca", [BENCH_LEXT, "eval", "--attn", "bca", "--block",
                                                     str(m["len"])] + common, env=lext_env()))
            names.append("lext_bca")
        est = torch_eval_bytes(m, B, T)
        entry = {"len": T, "batch": B, "torch_estimated_bytes": est}
        if est <= cfg["torch_mem_limit"]:
            procs.append(Proc(f"torch eval {T} causal", [PYTHON, TORCH_BENCH, "eval"] + common,
                              env=torch_env()))
            names.append("torch_causal")
        else:
            entry["torch_skipped"] = (f"estimated {est / GiB:.1f} GiB > "
                                      f"{cfg['torch_mem_limit'] / GiB:.0f} GiB")
        ok = run_group(procs, warmup, reps, failures, f"evaluation at {T}")
        entry["ok"] = ok
        for n, p in zip(names, procs):
            entry[n] = p.summary()
            if ok:
                log(f"  {n}: {B * T / entry[n]['median_seconds']:.0f} tok/s, "
                    f"loss {p.units[-1]['loss']:.4f}, maxrss {p.done['maxrss_kb'] / 1024:.0f} MiB")
        res["eval"][str(T)] = entry


def measure_generate(cfg, corpus, tmp, warmup, reps, res, failures):
    m = cfg["eval_model"]
    g = cfg["gen"]
    ck = os.path.join(tmp, "eval_A_xpos.safetensors")
    if not os.path.exists(ck):
        lext_init(ck, m, "xpos")
    prompt = os.path.join(tmp, "prompt.bin")
    need = max(g["contexts"])
    with open(prompt, "wb") as f:
        f.write((corpus * (need // len(corpus) + 1))[:need])
    log(f"generation (window {m['len']}), contexts {g['contexts']}, {g['tokens']} tokens each")
    procs = [Proc(f"lext generate {C}",
                  [BENCH_LEXT, "generate", "--model", ck, "--prompt", prompt, "--context", str(C),
                   "--tokens", str(g["tokens"]), "--window", str(m["len"]), "--warmup",
                   str(warmup), "--reps", str(reps), "--threads", str(THREADS), "--sync"],
                  env=lext_env()) for C in g["contexts"]]
    ok = run_group(procs, warmup, reps, failures, "generation")
    res["generate"] = {"ok": ok, "window": m["len"], "tokens": g["tokens"], "contexts": {}}
    for C, p in zip(g["contexts"], procs):
        s = p.summary()
        t = p.used()
        s["median_gen_seconds"] = median([u["gen_seconds"] for u in t])
        s["median_prefill_seconds"] = median([u["prefill_seconds"] for u in t])
        res["generate"]["contexts"][str(C)] = s
        if ok:
            log(f"  context {C}: {1e3 * s['median_gen_seconds'] / g['tokens']:.3f} ms/token, "
                f"prefill {C / s['median_prefill_seconds']:.0f} tok/s")


# ---- the report ----------------------------------------------------------------------------


def fmt(x, unit=""):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}{unit}"
    if abs(x) >= 10:
        return f"{x:.1f}{unit}"
    return f"{x:.3g}{unit}"


def iter_summaries(res):
    for e in res.get("train", {}).values():
        yield e.get("lext", {})
        yield e.get("torch", {})
    for s in (res.get("torch_threads") or {}).get("settings", []):
        yield s
    for e in res.get("eval", {}).values():
        for k in ("lext_causal", "lext_bca", "torch_causal"):
            if k in e:
                yield e[k]
    for s in (res.get("generate") or {}).get("contexts", {}).values():
        yield s


def build_table(res):
    """Rows: (measurement, lext, torch, ratio, target, verdict). Ratios are computed from the
    medians, never typed in."""
    rows, notes = [], []
    # how much the rest of the machine ran during the timed units (the load average cannot
    # say: it counts the benchmark's own two threads)
    fc, dirty, n_units = [], 0, 0
    for summ in iter_summaries(res):
        for u in summ.get("units", []):
            if u.get("phase") == "timed" and "foreign_cpu" in u:
                fc.append(u["foreign_cpu"])
                n_units += 1
                dirty += 0 if u.get("clean", True) else 1
    if fc:
        res["foreign_cpu"] = {"max": max(fc), "median": median(fc), "units": n_units,
                              "disturbed_units": dirty}
        notes.append(f"Other processes used at most {max(fc):.1%} of the machine during any "
                     f"timed unit (median {median(fc):.1%}); {dirty} of {n_units} timed units "
                     f"were in rounds disturbed above {FOREIGN_MAX:.0%} (replaced, see README).")
    peak = None
    for r in res.get("sgemm", []):
        if r["M"] == r["N"] == r["K"] == 2048 or peak is None:
            peak = r["gflops_best"] if (r["M"] == r["N"] == r["K"] == 2048) else peak
    if peak is None and res.get("sgemm"):
        peak = max(r["gflops_best"] for r in res["sgemm"])
    res["sgemm_peak_gflops"] = peak

    def verdict(ok, *summaries):
        """PASS/MISS, flagged when a median involved is over fewer than 5 undisturbed units
        (see alternate(): rounds disturbed by other processes are replaced while time allows)."""
        v = "PASS" if ok else "MISS"
        weak = [x for x in summaries if x and (x.get("used_units", 5) < 5 or x.get("dirty_used"))]
        if weak:
            v += " (noisy: " + ", ".join(
                f"median of {x['used_units']} units, {x['clean_units']}/{x['timed_units']} undisturbed"
                for x in weak) + ")"
        return v

    # training
    for key, e in res["train"].items():
        cname, pos = key.split("_")
        m = e["config"]
        tok = m["batch"] * m["len"]
        if pos in ("xpos-openblas", "xpos-torchshipped"):
            # comparison rows: lext on OpenBLAS against lext on the engine; PyTorch as shipped
            # against PyTorch's best setting (both pairs from the same rounds)
            if e["ok"]:
                a, b = tok / e["lext"]["median_seconds"], tok / e["torch"]["median_seconds"]
                what = ("lext built on OpenBLAS (make BLAS=openblas) vs lext on the engine"
                        if pos == "xpos-openblas" else
                        f"PyTorch with OpenBLAS as shipped vs OPENBLAS_CORETYPE={TORCH_CORETYPE}")
                rows.append((f"training {cname} xpos, tokens/s: {what}", fmt(a), fmt(b),
                             f"{a / b:.2f}x", "-", "info"))
            continue
        # xpos-bf16: lext --precision bf16 against PyTorch fp32
        want = 2.0 if pos.endswith("bf16") else 1.5
        if not e["ok"]:
            rows.append((f"training {cname} {pos} (tok/s)", "-", "-", "-", f">= {want}x", "FAILED"))
            continue
        tl = tok / e["lext"]["median_seconds"]
        tt = tok / e["torch"]["median_seconds"]
        e["lext_tok_s"], e["torch_tok_s"] = tl, tt
        rows.append((f"training {cname} {pos}, tokens/s" + (" (PyTorch fp32)" if want == 2.0 else ""),
                     fmt(tl), fmt(tt), f"{tl / tt:.2f}x",
                     f">= {want}x", verdict(tl / tt >= want, e["lext"], e["torch"])))
        fpt = e["flops_per_token"]
        gl, gt = fpt * tl * 1e-9, fpt * tt * 1e-9
        e["lext_gflops"], e["torch_gflops"] = gl, gt
        if peak:
            # the efficiency targets: 80% of the engine's fp32 peak for A and B, 60%
            # for the experiment's small shape (bf16 runs past the fp32 peak: info only)
            ptgt = None if pos.endswith("bf16") else (0.6 if cname == "S" else 0.8)
            rows.append((f"training {cname} {pos}, GFLOP/s (fraction of the engine's fp32 peak {peak:.0f})",
                         f"{gl:.0f} ({gl / peak:.0%})", f"{gt:.0f} ({gt / peak:.0%})",
                         f"{gl / gt:.2f}x", f"lext >= {ptgt:.0%}" if ptgt else "-",
                         verdict(gl / peak >= ptgt, e["lext"]) if ptgt else "info"))
        ml, mt = e["lext"]["maxrss_kb"], e["torch"]["maxrss_kb"]
        rows.append((f"training {cname} {pos}, peak RSS (MiB)", fmt(ml / 1024), fmt(mt / 1024),
                     f"{ml / mt:.2f}x", "<= 1.0x", verdict(ml <= mt)))
        # loss curves: same weights, same batches
        ll = [u["loss"] for u in e["lext"]["units"]]
        lt = [u["loss"] for u in e["torch"]["units"]]
        n = min(len(ll), len(lt))
        diff = max(abs(a - b) / abs(b) for a, b in zip(ll[:n], lt[:n])) if n else float("nan")
        e["loss_max_rel_diff"] = diff
        rows.append((f"training {cname} {pos}, loss after {n} steps (first {ll[0]:.4f})",
                     f"{ll[n - 1]:.4f}", f"{lt[n - 1]:.4f}", f"max rel diff {diff:.1e}",
                     "<= 1e-2", verdict(diff <= 1e-2)))
    # xpos end-to-end cost
    for cname in sorted({k.split("_")[0] for k in res["train"]}):
        ex, er = res["train"].get(f"{cname}_xpos"), res["train"].get(f"{cname}_rope")
        if ex and er and ex["ok"] and er["ok"]:
            # paired: xpos and rope units of the same round ran back to back under the same
            # machine conditions, so the median of the per-round ratios cancels the drift that
            # a ratio of two medians keeps (steps vary by about 5% here)
            # (pairs matched by round; rounds another process disturbed are left out, as in
            # every other median, unless no round is clean)
            def paired(a, b):
                ta = {u.get("round"): u for u in a["units"] if u["phase"] == "timed"}
                tb = {u.get("round"): u for u in b["units"] if u["phase"] == "timed"}
                both = [(ta[r], tb[r]) for r in ta if r in tb]
                clean = [(x, y) for x, y in both if x.get("clean", True) and y.get("clean", True)]
                use = clean or both
                return median([x["seconds"] / y["seconds"] for x, y in use]) if use else float("nan")
            rl = paired(ex["lext"], er["lext"])
            rt = paired(ex["torch"], er["torch"])
            rows.append((f"training {cname}: XPOS step time / RoPE step time (median of per-round ratios)", f"{rl:.3f}",
                         f"{rt:.3f}", "-", "lext <= 1.03", verdict(rl <= 1.03, ex["lext"], er["lext"])))
    # eval
    targets = {256: 2.5, 1024: 2.5, 4096: 5.0}
    for T, e in sorted(res["eval"].items(), key=lambda kv: int(kv[0])):
        T = int(T)
        tok = e["batch"] * T
        if not e["ok"]:
            rows.append((f"evaluation {T} (tok/s)", "-", "-", "-", "-", "FAILED"))
            continue
        for k in ("lext_causal", "lext_bca", "torch_causal"):
            if k in e:
                e[k]["tok_s"] = tok / e[k]["median_seconds"]
        tl = e["lext_causal"]["tok_s"]
        tt = e["torch_causal"]["tok_s"] if "torch_causal" in e else None
        tgt = targets.get(T)
        ratio = tl / tt if tt else None
        rows.append((f"evaluation {T} causal (batch {e['batch']}), tokens/s", fmt(tl),
                     fmt(tt) if tt else f"skipped: {e.get('torch_skipped', '-')}",
                     f"{ratio:.2f}x" if ratio else "-", f">= {tgt:g}x" if tgt else "-",
                     verdict(ratio >= tgt, e["lext_causal"], e["torch_causal"]) if (tgt and ratio)
                     else "info"))
        if "lext_bca" in e:
            rows.append((f"evaluation {T} bca (block {res['eval_block']}), tokens/s",
                         fmt(e["lext_bca"]["tok_s"]), "-", "-", "-", "info"))
        ml = e["lext_causal"]["maxrss_kb"]
        mt = e["torch_causal"]["maxrss_kb"] if "torch_causal" in e else None
        # the extrapolation issue's target: one 16384-token causal segment within 2 GiB
        big = int(T) == 16384
        rows.append((f"evaluation {T} causal, peak RSS (MiB)", fmt(ml / 1024),
                     fmt(mt / 1024) if mt else "-", f"{ml / mt:.2f}x" if mt else "-",
                     "lext <= 2048 MiB" if big else "-",
                     verdict(ml <= 2048 * 1024) if big else "info"))
        if "torch_causal" in e:
            a, b = e["lext_causal"]["units"][-1]["loss"], e["torch_causal"]["units"][-1]["loss"]
            e["loss_rel_diff"] = abs(a - b) / abs(b)
    ev = res["eval"]
    bl = [str(T) for T in sorted(int(t) for t in ev if "lext_bca" in ev[t] and ev[t]["ok"])]
    if len(bl) >= 2:
        lo, hi = bl[0], bl[-1]
        per = lambda e, k: e[k]["median_seconds"] / (e["batch"] * int(e["len"]))  # noqa: E731
        r = per(ev[hi], "lext_bca") / per(ev[lo], "lext_bca")
        rows.append((f"bca time per token, {hi} / {lo}", f"{r:.3f}", "-", "-", "<= 1.25",
                     verdict(r <= 1.25, ev[hi]["lext_bca"], ev[lo]["lext_bca"])))
        rc = per(ev[hi], "lext_causal") / per(ev[lo], "lext_causal")
        rows.append((f"causal time per token, {hi} / {lo}", f"{rc:.3f}", "-", "-", "-", "info"))
    # generation
    g = res.get("generate")
    if g:
        cs = sorted(g["contexts"], key=int)
        if not g["ok"]:
            rows.append(("generation", "-", "-", "-", "-", "FAILED"))
        else:
            for C in cs:
                s = g["contexts"][C]
                ms = 1e3 * s["median_gen_seconds"] / g["tokens"]
                s["ms_per_token"] = ms
                s["gen_tok_s"] = g["tokens"] / s["median_gen_seconds"]
                s["prefill_tok_s"] = int(C) / s["median_prefill_seconds"]
                rows.append((f"generation at context {C} (window {g['window']}), tokens/s",
                             f"{s['gen_tok_s']:.0f} ({ms:.3f} ms/token)", "-", "-", "-", "info"))
                rows.append((f"prefill of {C} tokens, tokens/s", fmt(s["prefill_tok_s"]), "-",
                             "-", "-", "info"))
            # single-stream generation: 3x the 1,471 tokens/s measured before the engine change
            # (Zen 3, context 256); prefill at least as fast per token as the batched forward
            s0 = g["contexts"][cs[0]]
            rows.append((f"generation at context {cs[0]}: tokens/s against 3 x 1,471",
                         f"{s0['gen_tok_s']:.0f}", "-", f"{s0['gen_tok_s'] / 1471:.2f}x", ">= 3x",
                         verdict(s0["gen_tok_s"] >= 3 * 1471, s0)))
            for C in cs:
                ecell = res["eval"].get(str(C)) or res["eval"].get(int(C))
                if ecell and ecell.get("ok") and "tok_s" in ecell.get("lext_causal", {}):
                    pf, fw = g["contexts"][C]["prefill_tok_s"], ecell["lext_causal"]["tok_s"]
                    rows.append((f"prefill of {C} tokens / batched causal forward at {C}, tokens/s",
                                 fmt(pf), fmt(fw) + " (lext eval)", f"{pf / fw:.2f}x", ">= 1.0x",
                                 verdict(pf >= fw)))
            a, b = g["contexts"][cs[0]], g["contexts"][cs[-1]]
            r = b["ms_per_token"] / a["ms_per_token"]
            rows.append((f"generation time per token, context {cs[-1]} / {cs[0]}", f"{r:.3f}",
                         "-", "-", "<= 1.1", verdict(r <= 1.1, a, b)))
            rows.append(("generation, peak RSS at context " + cs[-1] + " (MiB)",
                         fmt(b["maxrss_kb"] / 1024), "-", "-", "-", "info"))
    # torch threads
    th = res.get("torch_threads")
    if th and th["ok"]:
        base = None
        for s in th["settings"]:
            m = res["train"].get("A_xpos", {}).get("config") or {}
            tok = m.get("batch", 16) * m.get("len", 256)
            s["tok_s"] = tok / s["median_seconds"]
            base = base or s["tok_s"]
        best = th["settings"][0]["tok_s"]
        for s in th["settings"][1:]:
            notes.append(f"PyTorch training A xpos: {th['settings'][0]['setting']} "
                         f"{best:.0f} tok/s vs {s['setting']} {s['tok_s']:.0f} tok/s "
                         f"({best / s['tok_s']:.2f}x)")
    return rows, notes


def write_report(res, out_dir, smoke):
    rows, notes = build_table(res)
    res["table"] = [dict(zip(("measurement", "lext", "pytorch", "ratio", "target", "result"), r))
                    for r in rows]
    res["notes"] = notes
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    L = []
    L.append(f"# lext benchmark{' (SMOKE: tiny shapes, not a measurement)' if smoke else ''}\n")
    mi = res["machine"]
    fam = (f" (family {mi['cpu family']} model {mi['model']}, {mi.get('vector', '?')})"
           if "cpu family" in mi else "")
    L.append(f"{res['started']}, {mi['cpu']}{fam}, {mi['cores']} cores, lext commit {res['git']}; "
             f"torch {res.get('torch_version', '?')}; {THREADS} threads each; "
             f"load average at start {res['load_start']}, at end {res['load_end']}; "
             f"{res['reps']} timed repetitions (rounds alternating the processes) after "
             f"{res['warmup']} warm-up units for training, {res['warmup_other']} for evaluation "
             f"and generation; medians; "
             f"total {res['elapsed_s']:.0f} s.\n")
    L.append("| measurement | lext | PyTorch | ratio | target | result |")
    L.append("|---|---|---|---|---|---|")
    for r in rows:
        L.append("| " + " | ".join(str(c) for c in r) + " |")
    L.append("")
    ls = mi.get("lext_system")
    if ls:
        L.append("lext info --system: " + "; ".join(ls) + ".\n")
    if res.get("torch_coretype_note"):
        L.append(res["torch_coretype_note"] + "\n")
    for key, what in (("sgemm", "the engine's fp32 GEMM, lext's gemm_f32"),
                      ("sgemm_openblas", "OpenBLAS, as linked into make BLAS=openblas")):
        if res.get(key):
            r0 = res[key][0]
            L.append(f"sgemm ({what}: {r0.get('engine', '?')}, kernel {r0.get('kernel', '?')}; "
                     f"{THREADS} threads; best / median GFLOP/s): " +
                     "; ".join(f"{r['M']}x{r['N']}x{r['K']} {r['gflops_best']:.0f} / "
                               f"{r['gflops_median']:.0f}" for r in res[key]) + ".\n")
    L.append("Training FLOPs per token = 6 (N_nonembed + V D) + 12 L T D (PaLM's convention: "
             "every matrix product incl. the tied LM head, forward + backward; attention "
             "QK^T and AV over the full T x T, no credit for causal skipping); GFLOP/s = that "
             "times tokens/s; fraction = GFLOP/s / the engine's 2048^3 sgemm best. " +
             ", ".join(f"{k}: {e['flops_per_token'] / 1e6:.1f} MFLOP/token"
                       for k, e in res["train"].items() if "flops_per_token" in e) + ".\n")
    for n in notes + res.get("extra_notes", []):
        L.append(f"- {n}")
    if res["failures"]:
        L.append("\nFailures (something did not run):")
        for f in res["failures"]:
            L.append(f"- {f}")
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    return "\n".join(L)


def git_commit():
    try:
        p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True)
        d = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "src", "include"],
                           capture_output=True, text=True)
        return p.stdout.strip() + ("+dirty src" if d.stdout.strip() else "")
    except OSError:
        return "?"


def cpu_info():
    """Model, family/model numbers and the vector extensions that matter for sgemm (the
    numbers of docs/machine-notes.md came from a Zen 4 with AVX-512; other hosts differ)."""
    info = {"cpu": cpu_name()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k in ("cpu family", "model", "cpu MHz") and k not in info:
                    info[k] = v
                if k == "flags":
                    fl = set(v.split())
                    info["vector"] = " ".join(x for x in ("avx2", "fma", "avx512f", "avx512_bf16",
                                                          "amx_bf16") if x in fl)
                    break
    except OSError:
        pass
    return info


def torch_coretype(res):
    """OPENBLAS_CORETYPE for PyTorch's best setting: SkylakeX where this CPU has AVX-512 and
    OpenBLAS (the same Debian build torch uses) falls back to Prescott; None elsewhere."""
    try:
        p = subprocess.run([PYTHON, "-c", "import ctypes, ctypes.util; "
                            "b = ctypes.CDLL('libblas.so.3'); b.openblas_get_corename.restype = "
                            "ctypes.c_char_p; print(b.openblas_get_corename().decode())"],
                           capture_output=True, text=True, timeout=60)
        core = p.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        core = ""
    avx512 = "avx512f" in res["machine"].get("vector", "")
    res["torch_openblas_core"] = core or "?"
    if core.lower() == "prescott" and avx512:
        res["torch_coretype_note"] = ("PyTorch's OpenBLAS picks its generic Prescott kernels on "
                                      "this AVX-512 CPU: PyTorch runs with OPENBLAS_CORETYPE="
                                      "SkylakeX (its best setting); the row 'as shipped' is "
                                      "without it.")
        return "SkylakeX"
    res["torch_coretype_note"] = (f"PyTorch's OpenBLAS core here: {core or '?'} (not "
                                  "misdetected), so it runs as shipped: that is its best setting.")
    return None


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", default="sgemm,train,threads,eval,generate")
    ap.add_argument("--wait-load", type=float, default=None)
    ap.add_argument("--wait-max", type=float, default=1800)
    ap.add_argument("--report-only", metavar="RESULTS_JSON",
                    help="rebuild results.md (and the table in results.json) from a previous run")
    a = ap.parse_args()
    if a.report_only:
        with open(a.report_only) as f:
            res = json.load(f)
        print(write_report(res, a.out or os.path.dirname(os.path.abspath(a.report_only)),
                           res.get("smoke", False)))
        return 0

    t_start = time.monotonic()
    cfg = SMOKE if a.smoke else FULL
    global REPLACE_DISTURBED
    REPLACE_DISTURBED = not a.smoke
    reps = a.reps if a.reps is not None else (2 if a.smoke else 5)
    warmup = a.warmup if a.warmup is not None else (1 if a.smoke else 2)
    if not a.smoke and reps < 5:
        ap.error("a full run needs --reps >= 5")
    out_dir = a.out or (os.path.join(ROOT, "build", "bench", "smoke") if a.smoke else HERE)
    os.makedirs(out_dir, exist_ok=True)
    only = set(a.only.split(","))
    for exe in (BENCH_LEXT, SGEMM_PEAK, BENCH_LEXT_OB, SGEMM_PEAK_OB):
        if not os.access(exe, os.X_OK):
            log(f"run.py: {exe} is missing: run `make bench` (or make {os.path.relpath(exe, ROOT)})")
            return 1

    if a.wait_load is not None:
        t0 = time.monotonic()
        while os.getloadavg()[0] >= a.wait_load and time.monotonic() - t0 < a.wait_max:
            log(f"waiting for a quiet machine: load {os.getloadavg()[0]:.2f} >= {a.wait_load}")
            time.sleep(20)

    warmup_other = 1 if not a.smoke else warmup
    res = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "smoke": a.smoke, "reps": reps,
           "warmup": warmup, "warmup_other": warmup_other, "threads": THREADS, "git": git_commit(),
           "machine": dict(cpu_info(), cores=os.cpu_count(), uname=platform.platform()),
           "load_start": loadavg(), "train": {}, "eval": {},
           "eval_block": cfg["eval_model"]["len"], "failures": [], "extra_notes": [], "load_log": []}
    try:
        res["torch_version"] = subprocess.run(
            [PYTHON, "-c", "import torch; print(torch.__version__)"], capture_output=True,
            text=True, timeout=120).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        res["torch_version"] = "?"
    try:
        p = subprocess.run([LEXT_CLI, "info", "--system", "--threads", str(THREADS)],
                           capture_output=True, text=True, timeout=60)
        res["machine"]["lext_system"] = [" ".join(l.split()) for l in p.stdout.splitlines()]
    except (OSError, subprocess.TimeoutExpired):
        pass
    global TORCH_CORETYPE
    TORCH_CORETYPE = torch_coretype(res)
    if (res["load_start"] or [0])[0] > 0.6 and not a.smoke:
        msg = (f"the 1-minute load average was {res['load_start'][0]:.2f} at the start: other "
               "work was running, the timings are noisy")
        res["extra_notes"].append(msg)
        log("WARNING: " + msg)

    corpus, corpus_name = load_corpus()
    res["corpus"] = corpus_name
    log(f"run.py: {'smoke' if a.smoke else 'full'} run, {reps} reps after {warmup} warm-up, "
        f"corpus {corpus_name}")
    tmp = tempfile.mkdtemp(prefix="lext-bench-")
    try:
        def section(name):
            res["load_log"].append([name, time.strftime("%H:%M:%S"), loadavg()])

        if "sgemm" in only:
            section("sgemm")
            measure_sgemm(cfg["sgemm"], res, res["failures"])
        if "train" in only:
            section("train")
            measure_train(cfg, corpus, tmp, warmup, reps, res, res["failures"], a.smoke)
        if "threads" in only and not a.smoke:
            section("threads")
            measure_threads(cfg, corpus, tmp, warmup, reps, res, res["failures"])
        if "eval" in only:
            section("eval")
            measure_eval(cfg, corpus, tmp, warmup_other, reps, res, res["failures"])
        if "generate" in only:
            section("generate")
            measure_generate(cfg, corpus, tmp, warmup_other, reps, res, res["failures"])
    except RunError as e:
        res["failures"].append(str(e))
        log(f"FAILED: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["load_end"] = loadavg()
    res["load_log"].append(["end", time.strftime("%H:%M:%S"), res["load_end"]])
    res["elapsed_s"] = time.monotonic() - t_start
    try:
        text = write_report(res, out_dir, a.smoke)
    except Exception as e:  # noqa: BLE001 - a broken report is a failure to run
        log(f"run.py: writing the report failed: {e!r}")
        raise
    print(text)
    log(f"run.py: wrote {os.path.join(out_dir, 'results.md')} and results.json "
        f"({res['elapsed_s']:.0f} s)")
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
