"""reference.py - an independent PyTorch reference of the lext model, written from the
formulas of docs/lex-paper.md and the checkpoint layout (not from the C code), for the
parity test tests/test_parity.py. Meant to run in float64.

Model (pre-LayerNorm decoder, byte-level):
    x = s * embed[tokens] (+ PE[t] for sinusoidal / learned),  s = sqrt(D) with embed_scale
        (Vaswani et al. 2017; absent or false: s = 1), the output projection unscaled
    for each block:  x = x + attn(attn_norm(x));  x = x + mlp(mlp_norm(x))
    logits = norm(x) @ W^T,   W = embed.weight (tied) or lm_head.weight
    mlp(x) = down(gelu_tanh(up(x)))
    attn: qkv = Linear(D, 3D): rows [0, D) are q, [D, 2D) k, [2D, 3D) v; head h owns rows
          h*hd .. (h+1)*hd - 1 of each. rope/xpos transform q and k (interleaved pairs);
          score(i, j) = q_i . k_j / sqrt(hd)  - m_h (i - j) [alibi];  keys outside the mask
          get -inf; softmax over keys; heads concatenated; out = Linear(D, D).
Parameter names are the checkpoint's names (embed.weight, layers.0.attn.qkv.weight, ...).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

POS_SCHEMES = ("none", "sinusoidal", "learned", "alibi", "rope", "xpos")

# ---- position schemes ------------------------------------------------------------------


def alibi_slopes(n):
    """Press et al.: for n a power of two, m_h = 2^(-8h/n), h = 1..n; otherwise the slopes of
    the largest power of two p < n, followed by every other slope of 2p (the even-indexed
    ones: 2^(-8/(2p) * (1, 3, 5, ...))) up to n slopes in all."""

    def pow2(k):
        return [2.0 ** (-8.0 * h / k) for h in range(1, k + 1)]

    if (n & (n - 1)) == 0:
        return pow2(n)
    p = 1 << (n.bit_length() - 1)
    return pow2(p) + alibi_slopes(2 * p)[0::2][: n - p]


def sinusoidal_table(T, D):
    """PE[t, 2i] = sin(t / 10000^(2i/D)), PE[t, 2i+1] = cos(t / 10000^(2i/D)); float64."""
    t = torch.arange(T, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, D, 2, dtype=torch.float64)[None, :]
    ang = t / torch.pow(torch.tensor(10000.0, dtype=torch.float64), two_i / D)
    pe = torch.zeros(T, D, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang)[:, : D // 2]
    return pe


def rope_scaling_factor(scaling, T, L):
    """The static factor s of a scaling dict for a sequence of T tokens trained at L:
    the given factor, or (factor 0 = auto) max(1, T / L)."""
    f = float(scaling.get("factor", 0.0))
    return f if f > 0 else max(1.0, T / L)


def _yarn_inv_freq(hd, base, s, L, beta_fast, beta_slow):
    """YaRN's NTK-by-parts frequencies, written after Hugging Face's
    _yarn_find_correction_dim / _yarn_linear_ramp_mask (LlamaYaRNScaledRotaryEmbedding)."""
    def correction_dim(rot):
        return (hd * math.log(L / (rot * 2 * math.pi))) / (2 * math.log(base))

    low = max(math.floor(correction_dim(beta_fast)), 0)
    high = min(math.ceil(correction_dim(beta_slow)), hd - 1)
    if low == high:
        high += 0.001
    pos_freqs = base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    extrapolation = 1.0 / pos_freqs
    interpolation = 1.0 / (s * pos_freqs)
    ramp = torch.clamp((torch.arange(hd // 2, dtype=torch.float64) - low) / (high - low), 0, 1)
    extrapolation_mask = 1 - ramp
    return interpolation * (1 - extrapolation_mask) + extrapolation * extrapolation_mask


def rotary_factors(T, hd, base, xpos, gamma, scale_base, scaling=None, train_len=None, positions=None):
    """cos, sin of t*theta_j and the query / key scales, each (T, hd/2), float64.
    theta_j = base^(-2j/hd). XPOS: zeta_j = (2j + gamma*hd) / ((1+gamma)*hd), query scale
    zeta_j^((t-c)/B), key scale zeta_j^(-(t-c)/B), c = ceil(T/2). RoPE: scales 1.

    scaling (a dict: kind, factor, beta_fast, beta_slow, xpos_decay_scaled; None = none) is
    a context extension, each written from its paper / Hugging Face's rule:
      linear: positions t / s;   ntk: base * s^(d/(d-2));
      dynamic-ntk: row t gets ntk with s_t = max(1, f (t+1)/L - (f-1)) (HF's rule at the
                   step when t was the newest token; f = factor, 1 when 0);
      yarn: NTK-by-parts frequencies and cos, sin times 0.1 ln s + 1.
    xpos_decay_scaled: B -> s B.
    positions: the positions to rotate to (any shape; default arange(T)); the results then
    have that shape plus (hd/2), with T still the sequence length (auto factor, centre)."""
    P = hd // 2
    j = torch.arange(P, dtype=torch.float64)
    t = torch.arange(T, dtype=torch.float64) if positions is None else torch.as_tensor(positions, dtype=torch.float64)
    kind = scaling["kind"] if scaling else "none"
    L = train_len
    theta = torch.pow(torch.tensor(float(base), dtype=torch.float64), -2.0 * j / hd)
    mscale, s = 1.0, 1.0
    if kind == "none":
        ang = t[..., None] * theta
    elif kind == "linear":
        s = rope_scaling_factor(scaling, T, L)
        ang = (t / s)[..., None] * theta
    elif kind == "ntk":
        s = rope_scaling_factor(scaling, T, L)
        b2 = base * s ** (hd / (hd - 2))
        ang = t[..., None] * torch.pow(torch.tensor(b2, dtype=torch.float64), -2.0 * j / hd)
    elif kind == "dynamic-ntk":
        f = float(scaling.get("factor", 0.0)) or 1.0
        st = torch.clamp(f * (t + 1) / L - (f - 1), min=1.0)  # each position's own factor
        bt = base * st ** (hd / (hd - 2))
        ang = t[..., None] * torch.pow(bt[..., None], -2.0 * j / hd)
    elif kind == "yarn":
        s = rope_scaling_factor(scaling, T, L)
        inv = _yarn_inv_freq(hd, base, s, L, scaling.get("beta_fast", 32.0), scaling.get("beta_slow", 1.0))
        ang = t[..., None] * inv
        if s > 1:
            mscale = 0.1 * math.log(s) + 1.0
    else:
        raise ValueError(f"unknown rope scaling {kind!r}")
    cos, sin = mscale * torch.cos(ang), mscale * torch.sin(ang)
    if xpos:
        B = scale_base * (s if scaling and scaling.get("xpos_decay_scaled") else 1.0)
        zeta = (2.0 * j + gamma * hd) / ((1.0 + gamma) * hd)
        c = math.ceil(T / 2)
        p = (t - c) / B
        qs = torch.pow(zeta, p[..., None])
        ks = torch.pow(zeta, -p[..., None])
    else:
        qs = ks = torch.ones(t.shape + (P,), dtype=torch.float64)
    return cos, sin, qs, ks


def ext_positions(T, ext, mode, block, window):
    """The attention extension's (lext.h "Attention extensions") allowed keys and the
    positions each (query i, key j) pair is scored at, from each method's own definition:
    (allowed (T, T) bool, Pq (T, T), Pk (T, T)); Pq[i, j] - Pk[i, j] is the distance used.
      sinks: the first K keys visible to every query besides the mask (window or bca);
        absolute: true positions;  cache (StreamingLLM): each query's visible keys in order
        form its cache, positions are indices in it;  capped (LM-Infinite): a sink outside
        the mask's reach sits at distance C (the window, or bca's block).
      self-extend (LongLM): i - j < W exact; else q at i // G + W - W // G, k at j // G.
      rerope: i - j < W exact; else distance W."""
    allowed = attention_mask(T, mode, block, window)
    i = torch.arange(T)[:, None].expand(T, T)
    j = torch.arange(T)[None, :].expand(T, T)
    Pq, Pk = i.clone(), j.clone()
    kind = ext["kind"]
    if kind == "sinks":
        K = ext["sinks"]
        band = allowed.clone()
        allowed = allowed | ((j < K) & (j <= i))
        extra = allowed & ~band  # the sinks the mask alone would not show
        if ext["sink_pos"] == "cache":
            for qi in range(T):
                vis = torch.nonzero(allowed[qi]).flatten().tolist()
                for rank, kj in enumerate(vis):
                    Pq[qi, kj], Pk[qi, kj] = len(vis) - 1, rank
        elif ext["sink_pos"] == "capped":
            C = window if mode == "window" else block
            Pq = torch.where(extra, torch.full_like(Pq, C), Pq)
            Pk = torch.where(extra, torch.zeros_like(Pk), Pk)
        elif ext["sink_pos"] != "absolute":
            raise ValueError(ext["sink_pos"])
    elif kind == "self-extend":
        G, W = ext["group"], ext["neighbors"]
        far = (i - j) >= W
        Pq = torch.where(far, i // G + W - W // G, Pq)
        Pk = torch.where(far, j // G, Pk)
    elif kind == "rerope":
        W = ext["clip"]
        far = (i - j) >= W
        Pq = torch.where(far, torch.full_like(Pq, W), Pq)
        Pk = torch.where(far, torch.zeros_like(Pk), Pk)
    else:
        raise ValueError(kind)
    return allowed, Pq, Pk


def apply_rotary(x, cos, sin, scale):
    """x (..., T, hd) with pair j = components (2j, 2j+1):
    x'[2j] = s (x[2j] cos - x[2j+1] sin),  x'[2j+1] = s (x[2j+1] cos + x[2j] sin)."""
    cos, sin, scale = (u.to(x.dtype) for u in (cos, sin, scale))
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y0 = scale * (x0 * cos - x1 * sin)
    y1 = scale * (x1 * cos + x0 * sin)
    return torch.stack((y0, y1), dim=-1).flatten(-2)


# ---- masks -----------------------------------------------------------------------------


def attention_mask(T, mode="causal", block=None, window=None):
    """The T x T boolean matrix allowed[i, j] (query i, key j), element by element from the
    definitions:
      causal: j <= i
      bca (block l, query blocks of h = l/2): T <= l: causal; else query i in block
              b = i // h sees keys (b-1)*h <= j <= i
      window W: i - W + 1 <= j <= i"""
    allowed = torch.zeros(T, T, dtype=torch.bool)
    for i in range(T):
        for j in range(T):
            if mode == "causal":
                ok = j <= i
            elif mode == "bca":
                if T <= block:
                    ok = j <= i
                else:
                    h = block // 2
                    b = i // h
                    ok = (b - 1) * h <= j <= i
            elif mode == "window":
                ok = i - window + 1 <= j <= i
            else:
                raise ValueError(f"unknown attention mode {mode!r}")
            allowed[i, j] = ok
    return allowed


# ---- bf16 matrix products (lext train --precision bf16) ---------------------------------


def to_bf16(x):
    """x rounded to the nearest bfloat16 (ties to even) from its float32 value, kept in x's
    dtype. torch's own float32 -> bfloat16 conversion does the rounding."""
    return x.to(torch.float32).to(torch.bfloat16).to(x.dtype)


class BF16MatMul(torch.autograd.Function):
    """y = bf16(x) @ bf16(w)^T with exact products and a wide sum; backward straight through
    the rounding: dx = bf16(dy) @ bf16(w), dw = bf16(dy)^T @ bf16(x). The bias, added outside,
    takes the unrounded dy."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return to_bf16(x) @ to_bf16(w).t()

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        dyr = to_bf16(dy)
        dx = dyr @ to_bf16(w)
        dw = dyr.reshape(-1, dy.shape[-1]).t() @ to_bf16(x).reshape(-1, x.shape[-1])
        return dx, dw


def matmul_t(x, w, precision):
    """x @ w^T, in bf16 as lext computes it when precision == "bf16"."""
    return BF16MatMul.apply(x, w) if precision == "bf16" else x @ w.t()


class Linear(nn.Linear):
    """nn.Linear whose product follows the model's precision."""

    precision = "fp32"

    def forward(self, x):
        y = matmul_t(x, self.weight, self.precision)
        return y + self.bias if self.bias is not None else y


# ---- the model -------------------------------------------------------------------------


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg["d_model"]
        self.cfg = cfg
        self.H = cfg["n_head"]
        self.hd = D // self.H
        self.qkv = Linear(D, 3 * D)
        self.out = Linear(D, D)
        self.scaling = None  # context extension (rotary_factors), set by set_rope_scaling
        self.ext = None  # attention extension (ext_positions), set by set_attn_ext

    def pair_scores(self, q, k, Pq, Pk):
        """scores (B, H, T, T) with query i rotated (and XPOS-scaled) to Pq[i, j] and key j
        to Pk[i, j]: every pair at its own positions."""
        cfg, hd = self.cfg, self.hd
        T = q.shape[2]
        args = (T, hd, cfg["rope_base"], cfg["pos"] == "xpos", cfg["xpos_gamma"], cfg["xpos_scale_base"],
                self.scaling, cfg["train_len"])
        cq, sq, qs, _ = rotary_factors(*args, positions=Pq)  # (T, T, P)
        ck, sk, _, ks = rotary_factors(*args, positions=Pk)
        q0, q1 = q[..., 0::2][:, :, :, None, :], q[..., 1::2][:, :, :, None, :]
        k0, k1 = k[..., 0::2][:, :, None, :, :], k[..., 1::2][:, :, None, :, :]
        rq0, rq1 = qs * (q0 * cq - q1 * sq), qs * (q1 * cq + q0 * sq)
        rk0, rk1 = ks * (k0 * ck - k1 * sk), ks * (k1 * ck + k0 * sk)
        return (rq0 * rk0 + rq1 * rk1).sum(-1) / math.sqrt(hd)

    def forward(self, x, allowed, ext_pos=None):
        cfg, H, hd = self.cfg, self.H, self.hd
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)
        q, k, v = (u.view(B, T, H, hd).transpose(1, 2) for u in (q, k, v))  # (B, H, T, hd)
        pos = cfg["pos"]
        if ext_pos is not None and pos in ("rope", "xpos"):
            Pq, Pk = ext_pos
            scores = self.pair_scores(q, k, Pq, Pk)
            scores = scores.masked_fill(~allowed, float("-inf"))
            att = torch.softmax(scores, dim=-1) @ v
            return self.out(att.transpose(1, 2).reshape(B, T, D))
        if pos in ("rope", "xpos"):
            cos, sin, qs, ks = rotary_factors(
                T, hd, cfg["rope_base"], pos == "xpos", cfg["xpos_gamma"], cfg["xpos_scale_base"],
                self.scaling, cfg["train_len"],
            )
            q = apply_rotary(q, cos, sin, qs)
            k = apply_rotary(k, cos, sin, ks)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)  # (B, H, T, T)
        if pos == "alibi":
            m = torch.tensor(alibi_slopes(H), dtype=x.dtype)
            i = torch.arange(T, dtype=x.dtype)
            dist = i[:, None] - i[None, :]  # i - j
            scores = scores - m[:, None, None] * dist[None, :, :]
        scores = scores.masked_fill(~allowed, float("-inf"))
        att = torch.softmax(scores, dim=-1) @ v  # (B, H, T, hd)
        return self.out(att.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.up = Linear(cfg["d_model"], cfg["d_ff"])
        self.down = Linear(cfg["d_ff"], cfg["d_model"])
        self.act = nn.GELU(approximate="tanh")

    def forward(self, x):
        return self.down(self.act(self.up(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, eps = cfg["d_model"], cfg["norm_eps"]
        self.attn_norm = nn.LayerNorm(D, eps=eps)
        self.attn = Attention(cfg)
        self.mlp_norm = nn.LayerNorm(D, eps=eps)
        self.mlp = MLP(cfg)

    def forward(self, x, allowed, ext_pos=None):
        x = x + self.attn(self.attn_norm(x), allowed, ext_pos)
        return x + self.mlp(self.mlp_norm(x))


class LextReference(nn.Module):
    """Built from a config dict (the checkpoint's "lext" metadata JSON). state_dict() keys are
    exactly the checkpoint's tensor names; there are no buffers."""

    def __init__(self, cfg, precision="fp32"):
        super().__init__()
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"unknown precision {precision!r}")
        self.precision = precision
        if cfg["pos"] not in POS_SCHEMES:
            raise ValueError(f"unknown position scheme {cfg['pos']!r}")
        self.cfg = dict(cfg)
        D, V = cfg["d_model"], cfg["vocab_size"]
        self.embed = nn.Embedding(V, D)
        if cfg["pos"] == "learned":
            self.pos_embed = nn.Embedding(cfg["train_len"], D)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layer"]))
        self.norm = nn.LayerNorm(D, eps=cfg["norm_eps"])
        if not cfg["tied"]:
            self.lm_head = Linear(D, V, bias=False)
        for mod in self.modules():
            if isinstance(mod, Linear):
                mod.precision = precision

    def set_rope_scaling(self, scaling):
        """scaling: None or a dict (rotary_factors) applied by every layer from now on."""
        for layer in self.layers:
            layer.attn.scaling = dict(scaling) if scaling else None

    def set_attn_ext(self, ext):
        """ext: None or a dict (ext_positions) applied from now on."""
        self.ext = dict(ext) if ext else None

    def forward(self, tokens, mode="causal", block=None, window=None):
        """tokens (B, T) int64 -> logits (B, T, V)."""
        cfg = self.cfg
        B, T = tokens.shape
        x = self.embed(tokens)
        if cfg.get("embed_scale", False):
            x = x * math.sqrt(cfg["d_model"])
        if cfg["pos"] == "sinusoidal":
            x = x + sinusoidal_table(T, cfg["d_model"]).to(x.dtype)[None]
        elif cfg["pos"] == "learned":
            if T > cfg["train_len"]:
                raise ValueError(f"learned positions cover {cfg['train_len']} positions, not {T}")
            x = x + self.pos_embed.weight[:T][None]
        ext_pos = None
        if getattr(self, "ext", None):
            allowed, Pq, Pk = ext_positions(T, self.ext, mode, block, window)
            # absolute sinks change the mask only (any scheme); the others the positions too
            if not (self.ext["kind"] == "sinks" and self.ext["sink_pos"] == "absolute"):
                ext_pos = (Pq, Pk)
        else:
            allowed = attention_mask(T, mode, block, window)
        for layer in self.layers:
            x = layer(x, allowed, ext_pos)
        W = self.embed.weight if cfg["tied"] else self.lm_head.weight
        return matmul_t(self.norm(x), W, self.precision)


def loss_fn(logits, targets):
    """Mean cross-entropy over the targets >= 0 (0 when there are none)."""
    V = logits.shape[-1]
    logits, targets = logits.reshape(-1, V), targets.reshape(-1)
    keep = targets >= 0
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[keep], targets[keep], reduction="mean")


# ---- optimizer -------------------------------------------------------------------------


def schedule_lr(step, lr, warmup, total, min_lr_ratio=0.1):
    """lext's schedule at 0-based step: linear warm-up lr*(step+1)/warmup for step < warmup,
    then cosine from lr to lr*min_lr_ratio: progress = (step-warmup)/(total-warmup), clamped
    to 1 (1 when total == warmup)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    span = total - warmup
    progress = min((step - warmup) / span, 1.0) if span > 0 else 1.0
    return lr * (min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def make_adamw(model, lr, weight_decay=0.01, betas=(0.9, 0.98), eps=1e-6, foreach=None):
    """torch.optim.AdamW with decay on the 2-D tensors (matrices and embeddings) only."""
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() != 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, foreach=foreach)


def train(model, tokens, targets, steps, lr, warmup, total, min_lr_ratio=0.1,
          weight_decay=0.01, clip=1.0, mode="causal", block=None, window=None):
    """steps AdamW steps on one batch; returns a list of (loss before the step, lr, grad norm
    before clipping) and the loss after the last step."""
    opt = make_adamw(model, lr, weight_decay)
    log = []
    for step in range(steps):
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(tokens, mode, block, window), targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip) if clip > 0 else None
        cur = schedule_lr(step, lr, warmup, total, min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = cur
        opt.step()
        log.append((loss.item(), cur, float(norm) if norm is not None else float("nan")))
    with torch.no_grad():
        final = loss_fn(model(tokens, mode, block, window), targets).item()
    return log, final
