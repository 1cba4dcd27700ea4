"""torch_model.py - an efficient float32 PyTorch implementation of the lext model, the
baseline of the benchmark harness (bench/run.py). Same architecture and parameter names
as the parity reference tests/reference.py (so a lext checkpoint loads with
load_state_dict(strict=True)), but written for speed rather than for independence:

    x = embed[tokens]
    per block (pre-LayerNorm):  x = x + out(attn(attn_norm(x)));  x = x + down(gelu_tanh(up(mlp_norm(x))))
    logits = norm(x) @ embed.weight^T            (tied embeddings)
    attn: qkv = Linear(D, 3D) split into q | k | v, head h owns columns h*hd .. (h+1)*hd - 1;
          rope/xpos rotate interleaved pairs (2j, 2j+1) by t*theta_j, theta_j = base^(-2j/hd);
          xpos also scales queries by zeta_j^((t-c)/B) and keys by zeta_j^(-(t-c)/B),
          zeta_j = (2j + gamma hd) / ((1 + gamma) hd), c = ceil(T/2);
          scores = q k^T / sqrt(hd) + mask (0 on allowed keys, -inf elsewhere), softmax, @ v.

Efficiency choices (torch 1.13 has no fused attention):
  - rotation tables with the xpos scales folded in, one (T, hd/2) complex table for queries
    and one for keys, built once per length in float64 and rounded to float32 (as lext
    builds its tables); the rotation is one complex multiply on a view of q (or k);
  - the causal mask is a precomputed additive (T, T) float tensor, fused into the score
    product by torch.baddbmm (beta = 1), so scores take one pass to build;
  - batched matrix products over (batch x heads) with torch.bmm;
  - in inference (no autograd) the (B*H, T, T) score tensor is built in slices of at most
    `max_score_bytes` (1 GiB), so long sequences fit in memory: the arithmetic is the same.
"""

import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import reference  # noqa: E402  (tests/reference.py: the same rotary factors, optimizer, schedule)


def rotary_tables(T, hd, pos, base=10000.0, gamma=0.4, scale_base=512.0):
    """(rot_q, rot_k), each (T, hd/2) complex64: s e^{i t theta_j} with s the query / key
    scale (1 for rope): the parity reference's factors (float64), rounded to float32 parts."""
    cos, sin, qs, ks = reference.rotary_factors(T, hd, base, pos == "xpos", gamma, scale_base)
    cx = lambda s: torch.view_as_complex(torch.stack((cos * s, sin * s), -1).float().contiguous())  # noqa: E731
    return cx(qs), cx(ks)


def rotate(x, rot):
    """x (..., T, hd), pairs (2j, 2j+1) read as complex numbers x0 + i x1, multiplied by rot
    (T, hd/2): y0 = s (x0 cos - x1 sin), y1 = s (x1 cos + x0 sin). One complex multiply
    (as in LLaMA's reference code) is ~3x faster here, forward + backward, than the same
    arithmetic on separate real views."""
    xc = torch.view_as_complex(x.unflatten(-1, (-1, 2)))
    return torch.view_as_real(xc * rot).flatten(-2)


def causal_mask(T):
    """(T, T) float32: 0 where key j <= query i, -inf above the diagonal."""
    return torch.full((T, T), float("-inf")).triu_(1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg["d_model"]
        self.H = cfg["n_head"]
        self.hd = D // self.H
        self.qkv = nn.Linear(D, 3 * D)
        self.out = nn.Linear(D, D)
        self.max_score_bytes = 1 << 30

    def forward(self, x, tables, mask):
        B, T, D = x.shape
        H, hd = self.H, self.hd
        qkv = self.qkv(x).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)  # (3, B, H, T, hd)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if tables is not None:
            q, k = rotate(q, tables[0]), rotate(k, tables[1])
        q = q.reshape(B * H, T, hd)
        kt = k.reshape(B * H, T, hd).transpose(1, 2)
        v = v.reshape(B * H, T, hd)
        scale = 1.0 / math.sqrt(hd)
        step = B * H
        if not torch.is_grad_enabled():
            step = max(1, min(B * H, self.max_score_bytes // (T * T * 4)))
        if step >= B * H:
            att = torch.softmax(torch.baddbmm(mask, q, kt, alpha=scale), dim=-1)
            y = torch.bmm(att, v)
        else:  # inference on long sequences: the same products, a slice of heads at a time
            y = torch.empty_like(q)
            for s in range(0, B * H, step):
                e = min(s + step, B * H)
                att = torch.softmax(torch.baddbmm(mask, q[s:e], kt[s:e], alpha=scale), dim=-1)
                torch.bmm(att, v[s:e], out=y[s:e])
                del att
        return self.out(y.view(B, H, T, hd).transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.up = nn.Linear(cfg["d_model"], cfg["d_ff"])
        self.down = nn.Linear(cfg["d_ff"], cfg["d_model"])

    def forward(self, x):
        return self.down(F.gelu(self.up(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, eps = cfg["d_model"], cfg["norm_eps"]
        self.attn_norm = nn.LayerNorm(D, eps=eps)
        self.attn = Attention(cfg)
        self.mlp_norm = nn.LayerNorm(D, eps=eps)
        self.mlp = MLP(cfg)

    def forward(self, x, tables, mask):
        x = x + self.attn(self.attn_norm(x), tables, mask)
        return x + self.mlp(self.mlp_norm(x))


class TorchLext(nn.Module):
    """cfg: the checkpoint's "lext" metadata dict. Supports pos none, rope and xpos, causal
    attention, tied or untied output."""

    def __init__(self, cfg):
        super().__init__()
        if cfg["pos"] not in ("none", "rope", "xpos"):
            raise ValueError(f"torch_model supports none, rope and xpos, not {cfg['pos']!r}")
        self.cfg = dict(cfg)
        D, V = cfg["d_model"], cfg["vocab_size"]
        self.embed = nn.Embedding(V, D)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layer"]))
        self.norm = nn.LayerNorm(D, eps=cfg["norm_eps"])
        if not cfg["tied"]:
            self.lm_head = nn.Linear(D, V, bias=False)
        self._cache = {}

    def _tables(self, T):
        if T not in self._cache:
            c = self.cfg
            hd = c["d_model"] // c["n_head"]
            tabs = None
            if c["pos"] in ("rope", "xpos"):
                tabs = rotary_tables(T, hd, c["pos"], c["rope_base"], c["xpos_gamma"],
                                     c["xpos_scale_base"])
            self._cache[T] = (tabs, causal_mask(T))
        return self._cache[T]

    def forward(self, tokens):
        """tokens (B, T) int64 -> logits (B, T, V)."""
        T = tokens.shape[1]
        tables, mask = self._tables(T)
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, tables, mask)
        W = self.embed.weight if self.cfg["tied"] else self.lm_head.weight
        return F.linear(self.norm(x), W)


# lext's optimizer and schedule, as the parity reference states them
make_adamw = reference.make_adamw
schedule_lr = reference.schedule_lr
