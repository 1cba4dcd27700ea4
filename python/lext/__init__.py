"""lext - byte-level causal transformer language models (XPOS, RoPE, ALiBi, ...) from
Python, over the C library liblext.so (ctypes; no compiled extension).

    import lext
    lext.train("corpus/", "m.safetensors", steps=200, pos="xpos", progress=print)
    m = lext.Model.load("m.safetensors")
    m.logits(b"hello")                     # numpy (T, 256) float32, no copy
    m.perplexity("test/", [256, 1024], modes=["causal", "bca", "window"])
    for b in m.generate(b"Once", 100): print(b.decode("latin-1"), end="")

Every failure of the library raises LextError with the library's own message
(lext_last_error()); wrong Python arguments raise TypeError/ValueError before reaching it.
Arrays are shared with the library where it can use them in place: token arrays that are
already contiguous int32 are passed as they are, logits are a view of the library's
workspace, a model's tensors are views of its parameters, and generation's logits are
written by the library straight into one numpy buffer."""
import ctypes
import os
import tempfile

import numpy as np

from . import _lib
from ._lib import lib

__all__ = ["LextError", "Model", "train", "version", "POS_SCHEMES", "ATTN_MODES",
           "set_threads", "library_path"]

library_path = _lib.path
POS_SCHEMES = ("none", "sinusoidal", "learned", "alibi", "rope", "xpos")
ATTN_MODES = ("causal", "bca", "window")


class LextError(Exception):
    """A failure reported by liblext: .status (the lext_status number), .status_name
    ("out of memory", ...) and the library's message as the exception's text."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = lib.lext_status_name(status).decode()
        super().__init__(message)


def _check(status, what=None):
    if status != 0:
        msg = lib.lext_last_error().decode(errors="replace")
        raise LextError(status, f"{what}: {msg}" if what else msg)


def version():
    """The linked library's version, "MAJOR.MINOR.PATCH"."""
    return lib.lext_version().decode()


def set_threads(n):
    """Thread count of the library (n <= 0: all cores)."""
    lib.lext_set_threads(int(n))


def _path(p, what):
    if not isinstance(p, (str, bytes, os.PathLike)):
        raise TypeError(f"{what} must be a path, not {type(p).__name__}")
    return os.fsencode(p)


def _tokens(tokens):
    """tokens as a contiguous int32 array: bytes-like objects become their byte values;
    a numpy array must already be integer-typed (int32 is used in place, no copy)."""
    if isinstance(tokens, str):
        raise TypeError("tokens must be bytes or an integer array, not str (encode it first)")
    if isinstance(tokens, (bytes, bytearray, memoryview)):
        return np.frombuffer(tokens, dtype=np.uint8).astype(np.int32)
    if isinstance(tokens, np.ndarray):
        if tokens.dtype != np.int32:
            raise TypeError(f"token array must have dtype int32, not {tokens.dtype}")
        if tokens.ndim != 1:
            raise ValueError(f"token array must be 1-D, not {tokens.ndim}-D")
        return np.ascontiguousarray(tokens)
    raise TypeError(f"tokens must be bytes or an int32 numpy array, not {type(tokens).__name__}")


def _attn(mode, train_len, block=None, window=None):
    m = ctypes.c_int()
    if not isinstance(mode, str):
        raise TypeError(f"attention mode must be a str ({', '.join(ATTN_MODES)})")
    _check(lib.lext_attn_parse(mode.encode(), ctypes.byref(m)), "attention mode")
    a = lib.lext_attn_make(m.value, train_len)
    if block is not None:
        a.block = int(block)
    if window is not None:
        a.window = int(window)
    _check(lib.lext_attn_validate(ctypes.byref(a)), "attention")
    return a


def _view(ptr, shape, owner, dtype=np.float32):
    """A numpy array over library memory (no copy), keeping owner alive as long as it."""
    n = int(np.prod(shape))
    buf = (ctypes.c_float * n).from_address(ctypes.addressof(ptr.contents))
    buf._lext_owner = owner
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


class _Handle:
    """Owns one C object and frees it when the last Python reference (including numpy
    views made from it) goes."""

    def __init__(self, ptr, free):
        self.ptr, self._free = ptr, free

    def __del__(self):
        if self.ptr:
            self._free(self.ptr)
            self.ptr = None


class Model:
    """A lext model (lext_model). Make one with Model.load(path) or Model.create(...)."""

    def __init__(self, handle):
        self._h = handle

    @classmethod
    def load(cls, path):
        """Reads a checkpoint (fully validated by the library; LextError otherwise)."""
        p = ctypes.c_void_p()
        _check(lib.lext_checkpoint_load(_path(path, "path"), ctypes.byref(p), None, None))
        return cls(_Handle(p, lib.lext_model_free))

    @classmethod
    def create(cls, seed=1, **config):
        """A freshly initialised model; config keys are lext_config's fields (n_layer,
        n_head, d_model, d_ff, train_len, pos, xpos_gamma, xpos_scale_base, rope_base,
        tied, norm_eps), each defaulting as in lext.h."""
        c = _config(**config)
        p = ctypes.c_void_p()
        _check(lib.lext_model_create(ctypes.byref(c), ctypes.byref(p)))
        m = cls(_Handle(p, lib.lext_model_free))
        lib.lext_model_init(p, int(seed))
        return m

    def save(self, path):
        """Writes the model (no training state) as a lext checkpoint, atomically."""
        _check(lib.lext_checkpoint_save(_path(path, "path"), self._h.ptr, None))

    @property
    def config(self):
        c = lib.lext_model_config(self._h.ptr).contents
        d = {name: getattr(c, name) for name, _ in _lib.Config._fields_}
        d["pos"] = lib.lext_pos_name(c.pos).decode()
        return d

    @property
    def num_params(self):
        return lib.lext_model_num_params(self._h.ptr)

    def tensors(self):
        """{name: numpy view} of every parameter, in checkpoint order. The views are the
        model's own memory: writing into them changes the model."""
        out = {}
        for i in range(lib.lext_model_num_tensors(self._h.ptr)):
            t = lib.lext_model_tensor(self._h.ptr, i).contents
            shape = tuple(t.shape[:t.ndim])
            out[t.name.decode()] = _view(t.data, shape, self._h)
        return out

    def set_rope_scaling(self, method="none", factor=None, beta_fast=32.0, beta_slow=1.0,
                         xpos_decay="true"):
        """Context extension of a rope or xpos model at inference (README, "Context
        extension"): method none, linear, ntk, dynamic-ntk or yarn; factor a number >= 1
        or None (auto: length / training length); xpos_decay "true" or "scaled". Applies to
        every later logits, loss, perplexity and generation; not saved."""
        _need_11("set_rope_scaling")
        r = _lib.RopeScaling()
        lib.lext_rope_scaling_default(ctypes.byref(r))
        k = ctypes.c_int()
        _check(lib.lext_rope_scaling_parse(str(method).encode(), ctypes.byref(k)), "method")
        r.kind = k.value
        r.factor = 0.0 if factor is None else float(factor)
        r.beta_fast, r.beta_slow = float(beta_fast), float(beta_slow)
        if xpos_decay not in ("true", "scaled"):
            raise ValueError(f"xpos_decay must be 'true' or 'scaled', not {xpos_decay!r}")
        r.xpos_decay_scaled = xpos_decay == "scaled"
        _check(lib.lext_model_set_rope_scaling(self._h.ptr, ctypes.byref(r)), "rope scaling")

    def set_attn_ext(self, sinks=None, sink_pos="cache", self_extend=None, rerope=None):
        """An attention extension at inference (README, "Context extension"): sinks=K with
        window or bca attention (sink_pos cache, absolute or capped), self_extend=(G, W),
        or rerope=W; none of them: off. Inference only (gradients() refuses)."""
        _need_11("set_attn_ext")
        e = _lib.AttnExt()
        lib.lext_attn_ext_default(ctypes.byref(e))
        given = [x is not None for x in (sinks, self_extend, rerope)]
        if sum(given) > 1:
            raise ValueError("give one of sinks, self_extend and rerope")
        if sinks is not None:
            e.kind, e.sinks = 1, int(sinks)
            p = ctypes.c_int()
            _check(lib.lext_sink_pos_parse(str(sink_pos).encode(), ctypes.byref(p)), "sink_pos")
            e.sink_pos = p.value
        elif self_extend is not None:
            e.kind, (e.group, e.neighbors) = 2, (int(self_extend[0]), int(self_extend[1]))
        elif rerope is not None:
            e.kind, e.clip = 3, int(rerope)
        _check(lib.lext_model_set_attn_ext(self._h.ptr, ctypes.byref(e)), "attention extension")

    def logits(self, tokens, attn="causal", block=None, window=None):
        """Logits (T, V) float32 of every position of tokens (bytes, or a 1-D int32
        array, used in place) under attention mode attn. The array is a view of the
        workspace the library wrote them into (not copied)."""
        tok = _tokens(tokens)
        T = tok.shape[0]
        if T < 1:
            raise ValueError("tokens must not be empty")
        cfg = lib.lext_model_config(self._h.ptr).contents
        a = _attn(attn, cfg.train_len, block, window)
        ctx = ctypes.c_void_p()
        _check(lib.lext_ctx_create(self._h.ptr, 1, T, False, ctypes.byref(ctx)))
        owner = _Handle(ctx, lib.lext_ctx_free)
        owner.model = self._h  # the workspace refers to the model
        _check(lib.lext_forward(self._h.ptr, ctx, tok.ctypes.data, None, 1, T,
                                ctypes.byref(a), None))
        return _view(lib.lext_ctx_logits(ctx), (T, cfg.vocab_size), owner)

    def _scored_pass(self, tokens, attn, block, window, backward):
        """The library's forward pass with targets tokens[1:] (and its backward pass, into
        freshly zeroed gradients, when backward): the mean loss in nats."""
        tok = _tokens(tokens)
        T = tok.shape[0] - 1
        if T < 1:
            raise ValueError("tokens must hold at least 2 bytes")
        cfg = lib.lext_model_config(self._h.ptr).contents
        a = _attn(attn, cfg.train_len, block, window)
        ctx = ctypes.c_void_p()
        _check(lib.lext_ctx_create(self._h.ptr, 1, T, backward, ctypes.byref(ctx)))
        owner = _Handle(ctx, lib.lext_ctx_free)
        loss = ctypes.c_float()
        if backward:
            lib.lext_model_zero_grad(self._h.ptr)
        _check(lib.lext_forward(self._h.ptr, ctx, tok.ctypes.data, tok[1:].ctypes.data, 1, T,
                                ctypes.byref(a), ctypes.byref(loss)))
        if backward:
            _check(lib.lext_backward(self._h.ptr, ctx))
        del owner
        return float(loss.value)

    def loss(self, tokens, attn="causal", block=None, window=None):
        """Mean next-byte cross-entropy (nats) of tokens[1:] given the bytes before."""
        return self._scored_pass(tokens, attn, block, window, backward=False)

    def gradients(self, tokens, attn="causal", block=None, window=None):
        """(loss, {name: gradient}) of the mean next-byte cross-entropy of tokens[1:]: the
        library's forward and backward pass. The gradients are views of the model's own
        gradient buffers (no copy), overwritten by the next call."""
        loss = self._scored_pass(tokens, attn, block, window, backward=True)
        out = {}
        for i in range(lib.lext_model_num_tensors(self._h.ptr)):
            t = lib.lext_model_tensor(self._h.ptr, i).contents
            out[t.name.decode()] = _view(t.grad, tuple(t.shape[:t.ndim]), self._h)
        return loss, out

    def perplexity(self, data, lengths, modes=("causal",), block=None, window=None,
                   batch_tokens=16384):
        """lext eval's protocol (README, "lext eval") on data, a file or directory of
        documents (or bytes: one document): a list of dicts, one per (length, mode), with
        perplexity, loss (nats per byte), tokens, segments, docs, and skipped/why for a
        cell the model cannot compute (learned positions past train_len)."""
        if isinstance(data, (bytes, bytearray)):
            with tempfile.NamedTemporaryFile(suffix=".txt") as f:
                f.write(data)
                f.flush()
                return self.perplexity(f.name, lengths, modes, block, window, batch_tokens)
        if isinstance(modes, str):
            modes = [modes]
        lengths = [int(n) for n in lengths]
        if not lengths or not modes:
            raise ValueError("give at least one length and one mode")
        cfg = lib.lext_model_config(self._h.ptr).contents
        am = (_lib.Attn * len(modes))(*[_attn(m, cfg.train_len, block, window) for m in modes])
        ln = (ctypes.c_int64 * len(lengths))(*lengths)
        cells = (_lib.EvalCell * (len(lengths) * len(modes)))()
        summ = _lib.EvalSummary()
        ds = _lib.Dataset()
        _check(lib.lext_dataset_load(_path(data, "data"), ctypes.byref(ds)))
        try:
            _check(lib.lext_evaluate(self._h.ptr, ctypes.byref(ds), ln, len(lengths), am,
                                     len(modes), int(batch_tokens), cells, ctypes.byref(summ),
                                     None, None))
        finally:
            lib.lext_dataset_free(ctypes.byref(ds))
        out = []
        for c in cells:
            loss = c.loss_sum / c.tokens if c.tokens else float("nan")
            out.append({"length": c.length, "mode": lib.lext_attn_name(c.attn.mode).decode(),
                        "perplexity": float(np.exp(loss)), "loss": loss, "tokens": c.tokens,
                        "segments": c.segments, "docs": c.docs, "skipped": c.skipped,
                        "why": c.why.decode(errors="replace")})
        return out

    def generate(self, prompt, n, temperature=0.8, top_k=0, top_p=1.0, seed=1,
                 attn="window", block=None, window=None, max_context=None):
        """An iterator over n generated bytes (each a 1-byte bytes object) continuing
        prompt, from a kv-cache decoder (lext generate's): window and bca run in constant
        memory for any n; causal holds up to max_context tokens [len(prompt) + n]."""
        tok = _tokens(prompt)
        if tok.shape[0] < 1:
            raise ValueError("the prompt must not be empty")
        if int(n) < 0:
            raise ValueError("n must be >= 0")
        cfg = lib.lext_model_config(self._h.ptr).contents
        a = _attn(attn, cfg.train_len, block, window)
        ctx_len = int(max_context) if max_context else tok.shape[0] + int(n)
        d = ctypes.c_void_p()
        _check(lib.lext_decoder_create(self._h.ptr, ctypes.byref(a), ctx_len, 256,
                                       ctypes.byref(d)))
        return self._stream(_Handle(d, lib.lext_decoder_free), tok, int(n), float(temperature),
                            int(top_k), float(top_p), int(seed), cfg.vocab_size)

    def _stream(self, dec, tok, n, temperature, top_k, top_p, seed, V):
        logits = np.empty(V, dtype=np.float32)  # the library writes each step's here
        rng = _lib.Rng()
        lib.lext_rng_seed(ctypes.byref(rng), seed)
        _check(lib.lext_decoder_feed(self._h.ptr, dec.ptr, tok.ctypes.data, tok.shape[0],
                                     logits.ctypes.data))
        one = np.zeros(1, dtype=np.int32)
        for _ in range(n):
            one[0] = lib.lext_sample(logits.ctypes.data, V, temperature, top_k, top_p,
                                     ctypes.byref(rng))
            yield bytes([int(one[0])])
            _check(lib.lext_decoder_feed(self._h.ptr, dec.ptr, one.ctypes.data, 1,
                                         logits.ctypes.data))


def _need_11(what):
    if not _lib.has_11:
        raise LextError(-1, f"{what} needs liblext 1.1 or later; {_lib.path} is {version()}")


def _config(**kw):
    c = _lib.Config()
    lib.lext_config_default(ctypes.byref(c))
    names = {name for name, _ in _lib.Config._fields_}
    for k, v in kw.items():
        if k not in names:
            raise TypeError(f"unknown model setting {k!r} (one of {', '.join(sorted(names))})")
        if k == "pos":
            p = ctypes.c_int()
            if not isinstance(v, str):
                raise TypeError("pos must be a str")
            _check(lib.lext_pos_parse(v.encode(), ctypes.byref(p)), "pos")
            v = p.value
        setattr(c, k, v)
    if "d_ff" not in kw and "d_model" in kw:
        c.d_ff = 4 * c.d_model
    _check(lib.lext_config_validate(ctypes.byref(c)))
    return c


_EVENTS = ("start", "step", "val", "save", "stop")


def train(data, out, *, steps=1000, batch=16, lr=3e-4, warmup=None, seed=1, val=None,
          resume=None, eval_every=0, save_every=0, log_every=1, threads=None, progress=None,
          **model):
    """lext train as a function: trains on data (file or directory) and writes the
    checkpoint out; model settings as Model.create (pos="xpos", n_layer, d_model, ...).
    progress(report) is called with a dict per event ("start", "step" every log_every
    steps, "val", "save", "stop"); returning False from it stops training cleanly after
    the current step, saving the checkpoint; an exception it raises stops it the same way
    and is raised again here. On resume, the checkpoint fixes the model and optimizer.
    Returns the trained Model (loaded from out)."""
    o = _lib.TrainOpts()
    lib.lext_train_opts_default(ctypes.byref(o))
    if resume is None:
        o.model = _config(**model)
    elif model:
        raise TypeError("model settings cannot be given when resuming: the checkpoint fixes them")
    o.optim.total_steps = int(steps)
    o.optim.lr = float(lr)
    o.optim.warmup = min(100, int(steps) // 10) if warmup is None else int(warmup)
    keep = [_path(data, "data") if data is not None else None, _path(out, "out"),
            _path(val, "val") if val is not None else None,
            _path(resume, "resume") if resume is not None else None]
    o.data, o.out, o.val, o.resume = keep
    o.batch = int(batch) if resume is None else 0
    o.steps = int(steps)
    o.eval_every, o.save_every, o.log_every = int(eval_every), int(save_every), int(log_every)
    o.seed = int(seed)
    stop = ctypes.c_int(0)
    o.stop = ctypes.pointer(stop)
    raised = []

    def report(r, user):
        r = r.contents
        if progress is None or raised:
            return
        d = {"event": _EVENTS[r.event], "step": r.step, "total_steps": r.total_steps,
             "loss": r.loss, "grad_norm": r.grad_norm, "lr": r.lr,
             "tokens_per_s": r.tokens_per_s, "elapsed_s": r.elapsed_s, "eta_s": r.eta_s}
        if r.event == 2:
            d["val_loss"] = r.val_loss
        if r.event == 3:
            d["path"] = r.path.decode()
        if r.event == 0:
            d.update(n_params=r.n_params, n_docs=r.n_docs, resumed=r.resumed)
        try:
            if progress(d) is False:
                stop.value = 1
        except BaseException as e:  # raised again below, after the library saved
            raised.append(e)
            stop.value = 1

    o.report = _lib.REPORT_FN(report)
    if threads is not None:
        set_threads(threads)
    status = lib.lext_train(ctypes.byref(o))
    if raised:
        raise raised[0]
    _check(status, "training failed")
    return Model.load(out)
