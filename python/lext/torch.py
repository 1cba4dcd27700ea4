"""lext.torch - any lext checkpoint as a torch.nn.Module, and a module back as a lext
checkpoint (README, "PyTorch").

    import lext.torch
    net = lext.torch.load("m.safetensors")           # LextModule, float32 by default
    logits = net(tokens)                             # (B, T) int64 -> (B, T, 256)
    logits = net(tokens, attn="bca", block=256)      # every mask lext has
    lext.torch.save(net, "tuned.safetensors")        # readable by the C library and the CLI

The module follows the model of include/lext.h and the README ("Model", "Checkpoint
format"): pre-LayerNorm blocks, qkv rows all q then all k then all v, interleaved rotary
pairs, XPOS scale zeta_j^(t/B) on queries and its inverse on keys, ALiBi slopes of Press et
al., GELU in its tanh form, tied or untied output, token embeddings optionally scaled by
sqrt(D) (embed_scale). Its state_dict() keys are the
checkpoint's tensor names. Checkpoints are read and written by liblext itself (so every
check of the C reader applies, and weights round-trip bit for bit in float32)."""
import math

import numpy as np
import torch
import torch.nn as nn

from . import Model as _CModel

_ATTN = ("causal", "bca", "window")


def _alibi_slopes(n):
    def pow2(k):
        return [2.0 ** (-8.0 * h / k) for h in range(1, k + 1)]
    if n & (n - 1) == 0:
        return pow2(n)
    p = 1 << (n.bit_length() - 1)
    return pow2(p) + _alibi_slopes(2 * p)[0::2][: n - p]


def mask(T, attn="causal", block=None, window=None):
    """allowed[i, j] (T, T) bool: key j visible to query i, lext_attn_lo's rule."""
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    if attn == "causal":
        lo = torch.zeros_like(i)
    elif attn == "bca":
        if block is None or block < 2 or block % 2:
            raise ValueError(f"bca needs an even block >= 2, not {block}")
        h = block // 2
        lo = torch.zeros_like(i) if T <= block else ((i // h - 1) * h).clamp(min=0)
    elif attn == "window":
        if window is None or window < 1:
            raise ValueError(f"window needs a window >= 1, not {window}")
        lo = i - window + 1
    else:
        raise ValueError(f"unknown attention mode {attn!r} (one of {', '.join(_ATTN)})")
    return (j <= i) & (j >= lo)


class _Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg["d_model"]
        self.cfg, self.H, self.hd = cfg, cfg["n_head"], D // cfg["n_head"]
        self.qkv = nn.Linear(D, 3 * D)
        self.out = nn.Linear(D, D)

    def forward(self, x, allowed):
        cfg, H, hd = self.cfg, self.H, self.hd
        B, T, D = x.shape
        q, k, v = (u.view(B, T, H, hd).transpose(1, 2) for u in self.qkv(x).split(D, dim=-1))
        if cfg["pos"] in ("rope", "xpos"):
            P = hd // 2
            j = torch.arange(P, dtype=torch.float64)
            t = torch.arange(T, dtype=torch.float64)
            ang = t[:, None] * cfg["rope_base"] ** (-2.0 * j / hd)[None, :]
            cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
            if cfg["pos"] == "xpos":
                g = cfg["xpos_gamma"]
                zeta = (2.0 * j + g * hd) / ((1.0 + g) * hd)
                p = (t - math.ceil(T / 2)) / cfg["xpos_scale_base"]  # centre cancels in q.k
                qs = torch.pow(zeta[None, :], p[:, None]).to(x.dtype)
                ks = torch.pow(zeta[None, :], -p[:, None]).to(x.dtype)
            else:
                qs = ks = torch.ones(T, P, dtype=x.dtype)

            def rot(u, s):
                u0, u1 = u[..., 0::2], u[..., 1::2]
                return torch.stack((s * (u0 * cos - u1 * sin), s * (u1 * cos + u0 * sin)),
                                   dim=-1).flatten(-2)
            q, k = rot(q, qs), rot(k, ks)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        if cfg["pos"] == "alibi":
            m = torch.tensor(_alibi_slopes(H), dtype=x.dtype)
            i = torch.arange(T, dtype=x.dtype)
            s = s - m[:, None, None] * (i[:, None] - i[None, :])[None]
        s = s.masked_fill(~allowed, float("-inf"))
        y = torch.softmax(s, dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(B, T, D))


class _MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.up = nn.Linear(cfg["d_model"], cfg["d_ff"])
        self.down = nn.Linear(cfg["d_ff"], cfg["d_model"])

    def forward(self, x):
        return self.down(nn.functional.gelu(self.up(x), approximate="tanh"))


class _Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, eps = cfg["d_model"], cfg["norm_eps"]
        self.attn_norm, self.attn = nn.LayerNorm(D, eps=eps), _Attention(cfg)
        self.mlp_norm, self.mlp = nn.LayerNorm(D, eps=eps), _MLP(cfg)

    def forward(self, x, allowed):
        x = x + self.attn(self.attn_norm(x), allowed)
        return x + self.mlp(self.mlp_norm(x))


class LextModule(nn.Module):
    """A lext model in PyTorch, from its configuration (lext.Model.config's dict)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        D, V = cfg["d_model"], cfg["vocab_size"]
        self.embed = nn.Embedding(V, D)
        if cfg["pos"] == "learned":
            self.pos_embed = nn.Embedding(cfg["train_len"], D)
        self.layers = nn.ModuleList(_Block(cfg) for _ in range(cfg["n_layer"]))
        self.norm = nn.LayerNorm(D, eps=cfg["norm_eps"])
        if not cfg["tied"]:
            self.lm_head = nn.Linear(D, V, bias=False)

    def forward(self, tokens, attn="causal", block=None, window=None):
        """tokens (B, T) or (T,) integers -> logits (B, T, V) (or (T, V)). block and window
        default to the training length, as in the CLI."""
        squeeze = tokens.dim() == 1
        if squeeze:
            tokens = tokens[None]
        cfg = self.cfg
        T = tokens.shape[1]
        x = self.embed(tokens.long())
        if cfg.get("embed_scale", False):  # times sqrt(D) before the position add
            x = x * math.sqrt(cfg["d_model"])
        if cfg["pos"] == "sinusoidal":
            D = cfg["d_model"]
            t = torch.arange(T, dtype=torch.float64)[:, None]
            ang = t / torch.pow(torch.tensor(10000.0, dtype=torch.float64),
                                torch.arange(0, D, 2, dtype=torch.float64)[None] / D)
            pe = torch.zeros(T, D, dtype=torch.float64)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(ang), torch.cos(ang)[:, : D // 2]
            x = x + pe.to(x.dtype)[None]
        elif cfg["pos"] == "learned":
            if T > cfg["train_len"]:
                raise ValueError(f"learned positions cover {cfg['train_len']} positions, not {T}")
            x = x + self.pos_embed.weight[:T][None]
        allowed = mask(T, attn, block if block is not None else cfg["train_len"],
                       window if window is not None else cfg["train_len"])
        for layer in self.layers:
            x = layer(x, allowed)
        W = self.embed.weight if cfg["tied"] else self.lm_head.weight
        y = self.norm(x) @ W.t()
        return y[0] if squeeze else y


def from_model(m, dtype=torch.float32):
    """A LextModule holding a copy of a lext.Model's weights."""
    net = LextModule(m.config)
    state = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in m.tensors().items()}
    missing, unexpected = net.load_state_dict(state, strict=True), None
    del missing, unexpected
    return net.to(dtype)


def load(path, dtype=torch.float32):
    """A LextModule from a lext checkpoint (read and validated by liblext)."""
    return from_model(_CModel.load(path), dtype)


def to_model(net):
    """The lext.Model (C) with a LextModule's configuration and weights (as float32)."""
    cfg = {k: v for k, v in net.cfg.items() if k not in ("vocab_size",)}
    m = _CModel.create(**cfg)
    state = net.state_dict()
    views = m.tensors()
    if set(views) != set(state):
        raise ValueError(f"tensors differ from the lext layout: {sorted(set(views) ^ set(state))}")
    for name, v in views.items():
        t = state[name].detach().to("cpu", torch.float32).numpy()
        if t.shape != v.shape:
            raise ValueError(f"{name}: shape {t.shape}, lext expects {v.shape}")
        np.copyto(v, t)
    return m


def save(net, path):
    """Writes a LextModule as a lext checkpoint (model only, no training state)."""
    to_model(net).save(path)
