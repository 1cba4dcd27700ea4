/* attention.c - the mask rule and tiled attention (see attention.h). */
#include "internal.h"
#include "attention.h"
#include "tile.h"
#include "vmath.h"

#include <math.h>
#include <string.h>

/* ---- masks ----------------------------------------------------------------------------- */

static const char *const attn_names[LEXT_ATTN_COUNT] = {"causal", "bca", "window"};

const char *lext_attn_name(lext_attn_mode m) {
    return (unsigned)m < LEXT_ATTN_COUNT ? attn_names[m] : "invalid";
}

lext_status lext_attn_parse(const char *s, lext_attn_mode *out) {
    for (int m = 0; m < LEXT_ATTN_COUNT; m++)
        if (s && strcmp(s, attn_names[m]) == 0) {
            *out = (lext_attn_mode)m;
            return LEXT_OK;
        }
    return lext_fail(LEXT_ERR_ARG, "unknown attention mode '%s' (expected causal, bca or window)",
                     s ? s : "(null)");
}

lext_attn lext_attn_make(lext_attn_mode m, int64_t train_len) {
    lext_attn a = {m, train_len, train_len};
    return a;
}

lext_status lext_attn_validate(const lext_attn *a) {
    if ((unsigned)a->mode >= LEXT_ATTN_COUNT)
        return lext_fail(LEXT_ERR_ARG, "invalid attention mode %d", (int)a->mode);
    if (a->mode == LEXT_ATTN_BCA && (a->block <= 0 || a->block % 2 != 0))
        return lext_fail(LEXT_ERR_ARG,
                         "bca block must be positive and even (query blocks are block/2), got %lld",
                         (long long)a->block);
    if (a->mode == LEXT_ATTN_WINDOW && a->window <= 0)
        return lext_fail(LEXT_ERR_ARG, "attention window must be at least 1, got %lld",
                         (long long)a->window);
    return LEXT_OK;
}

int64_t lext_attn_lo(const lext_attn *a, int64_t T, int64_t i) {
    switch (a->mode) {
    case LEXT_ATTN_CAUSAL: return 0;
    case LEXT_ATTN_BCA: {
        /* LeX section 3.3: only for inputs longer than l; query blocks of h = l/2, each
         * sees the whole previous block and the causal part of its own */
        if (T <= a->block) return 0;
        int64_t h = a->block / 2, b = i / h;
        return b > 0 ? (b - 1) * h : 0;
    }
    case LEXT_ATTN_WINDOW: return i - a->window + 1 > 0 ? i - a->window + 1 : 0;
    case LEXT_ATTN_COUNT: break;
    }
    LEXT_ASSERT(!"invalid attention mode");
    return 0;
}

/* ---- tiles ----------------------------------------------------------------------------- */

enum { BQ = 64, BK = 128 }; /* query rows and keys per tile */

/* Row stride of staged rows: hd rounded up to 16 floats, plus 16 (64 bytes). The natural
 * strides (3D, 2D or D floats: 3, 2 or 1 KiB for the default model) put every row a
 * kernel streams through into 2 to 4 of the L1 cache's 64 sets; an odd number of cache
 * lines per row uses them all. */
static int64_t hd_ld(int64_t hd) { return (hd + 15) / 16 * 16 + 16; }

/* Per thread: S and dP tiles (BQ x BK), the accumulator (BQ x hd), row statistics (4 BQ). */
static size_t scratch_floats(int64_t hd) { return 2 * BQ * BK + (size_t)BQ * (size_t)hd + 4 * BQ; }

lext_status attn_scratch_init(attn_scratch *ws, int64_t hd, int64_t H, int64_t max_tokens,
                              bool backward) {
    *ws = (attn_scratch){0};
    ws->n_threads = lext_num_threads();
    ws->per_thread = scratch_floats(hd);
    ws->per_thread = (ws->per_thread + 15) & ~(size_t)15; /* keep each slice 64-byte aligned */
    ws->max_tokens = max_tokens;
    /* transposed rows are padded (kt_ld): up to 1/4 more; staged rows: hd_ld floats */
    const size_t kv = ((size_t)max_tokens + (size_t)max_tokens / 4 + 64) * (size_t)H * (size_t)hd;
    const size_t rows = (size_t)max_tokens * (size_t)H * (size_t)hd_ld(hd);
    lext_status s = lext_alloc((void **)&ws->buf,
                               ws->per_thread * (size_t)ws->n_threads * sizeof(float),
                               "attention scratch");
    if (!s) s = lext_alloc((void **)&ws->kt, kv * sizeof(float), "transposed keys");
    if (!s) s = lext_alloc((void **)&ws->vp, rows * sizeof(float), "staged values");
    if (!s && backward) s = lext_alloc((void **)&ws->vt, kv * sizeof(float), "transposed values");
    /* the backward never reads the staged values (it reads vt): their rows hold its queries */
    if (!s && backward) ws->qp = ws->vp;
    if (!s && backward) s = lext_alloc((void **)&ws->kp, rows * sizeof(float), "staged keys");
    if (!s && backward) s = lext_alloc((void **)&ws->dop, rows * sizeof(float), "staged gradients");
    if (s) attn_scratch_free(ws);
    else
        ws->bytes = (ws->per_thread * (size_t)ws->n_threads + kv + rows +
                     (backward ? kv + 2 * rows : 0)) * sizeof(float);
    return s;
}

lext_status attn_scratch_add_ext(attn_scratch *ws, int64_t hd, int64_t H) {
    if (ws->ktb) return LEXT_OK;
    const size_t kv = ((size_t)ws->max_tokens + (size_t)ws->max_tokens / 4 + 64) * (size_t)H * (size_t)hd;
    LEXT_TRY(lext_alloc((void **)&ws->ktb, kv * sizeof(float), "transposed map-B keys"));
    ws->bytes += kv * sizeof(float);
    return LEXT_OK;
}

void attn_scratch_free(attn_scratch *ws) {
    float *bufs[] = {ws->buf, ws->kt, ws->vt, ws->vp, ws->kp, ws->dop, ws->ktb}; /* qp is vp */
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) lext_free(bufs[i]);
    *ws = (attn_scratch){0};
}

/* Row stride of the transposed buffers: T padded by 16 floats for T >= 64. A tile reads
 * hd consecutive rows; with a stride that is a multiple of 4 KiB (T = 1024, 4096, ...) or
 * of 1 KiB (T = 256) they all fall into a few sets of the L1 cache and evict each other,
 * which halved the speed of the score products. One extra cache line per row spreads
 * them over every set. */
static int64_t kt_ld(int64_t T) { return T >= 64 ? T + 16 : T; }

/* dst (B, H, T, hd_ld(hd)) = src's head columns: dst[b][h][t][d] = src[(b T + t) ld + h hd + d] */
static void stage_heads(float *dst, const float *src, int64_t ld, int64_t B, int64_t T, int64_t H,
                        int64_t hd) {
    const int64_t ldp = hd_ld(hd);
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * H; bh++) {
        const int64_t b = bh / H, h = bh % H;
        for (int64_t t = 0; t < T; t++)
            memcpy(dst + (bh * T + t) * ldp, src + (b * T + t) * ld + h * hd,
                   (size_t)hd * sizeof(float));
    }
}

/* dst (B, H, hd, kt_ld(T)) = src's head columns transposed:
 * dst[b][h][d][t] = src[(b T + t) ld + h hd + d] */
static void transpose_heads(float *dst, const float *src, int64_t ld, int64_t B, int64_t T,
                            int64_t H, int64_t hd) {
    const int64_t ldt = kt_ld(T);
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * H; bh++) {
        const int64_t b = bh / H, h = bh % H;
        tile_transpose(dst + bh * hd * ldt, ldt, src + b * T * ld + h * hd, ld, T, hd);
    }
}

static float *scratch_of(attn_scratch *ws) {
    int t = lext_thread_id();
    LEXT_ASSERT(t < ws->n_threads);
    return ws->buf + (size_t)t * ws->per_thread;
}

/* Scores of a tile: S (nq, nk) = scale Q K^T + bias, with disallowed entries -inf; Kt is
 * the key block transposed (hd rows of ldkt floats, from transpose_heads). Returns false
 * when the whole tile is masked. (The callers start j0 at the band of the tile's FIRST row,
 * whose lo is the smallest: lo never decreases with i, so no tile is wholly left of the
 * band; rows of one tile may start their bands in different key tiles.) */
static bool tile_scores(float *S, const float *Kt, int64_t ldkt, const float *qt, int64_t ldqk,
                        int64_t i0, int64_t nq, int64_t j0, int64_t nk, int64_t hd, float scale,
                        float slope, const lext_attn *mask, int64_t T) {
    tile_gemm(S, BK, qt, ldqk, 1, Kt, ldkt, nq, nk, hd, scale, 0.0f);
    bool any = false;
    for (int64_t r = 0; r < nq; r++) {
        /* row i admits columns [lo - j0, i - j0] of the tile: three branch-free runs */
        const int64_t i = i0 + r, lo = lext_attn_lo(mask, T, i);
        int64_t c0 = lo - j0, c1 = i - j0 + 1; /* allowed: [c0, c1) */
        c0 = c0 < 0 ? 0 : c0 > nk ? nk : c0;
        c1 = c1 < c0 ? c0 : c1 > nk ? nk : c1;
        float *srow = S + r * BK;
        for (int64_t c = 0; c < c0; c++) srow[c] = -INFINITY;
        if (slope != 0.0f) {
            const float base = slope * (float)(i - j0);
#pragma omp simd
            for (int64_t c = c0; c < c1; c++) srow[c] += slope * (float)c - base; /* -m (i - j) */
        }
        for (int64_t c = c1; c < nk; c++) srow[c] = -INFINITY;
        any |= c1 > c0;
    }
    return any;
}

/* tile_scores under an extension (ext_row_of): part 0 scores the rows' sinks [0, ns), part
 * 1 their bands [lo, i]; columns j < bhi take map B's scores SB = scale QB KB^T (computed
 * only when some row of the tile has one). Alibi (absolute sinks only: no map B) adds the
 * bias of the true distance. */
static bool tile_scores_ext(float *S, float *SB, const float *Kt, const float *KtB, int64_t ldkt,
                            const float *qt, const float *qtB, int64_t ldqk, int64_t i0, int64_t nq,
                            int64_t j0, int64_t nk, int64_t hd, float scale, float slope,
                            const lext_attn *mask, const lext_attn_ext *e, int part, int64_t T) {
    int64_t c0s[BQ], c1s[BQ], cbs[BQ];
    bool any = false, need_b = false;
    for (int64_t r = 0; r < nq; r++) {
        const int64_t i = i0 + r;
        const ext_row er = ext_row_of(e, mask, T, i);
        int64_t a0 = part ? er.lo : 0, a1 = part ? i + 1 : er.ns;
        int64_t c0 = a0 - j0, c1 = a1 - j0, cb = er.bhi - j0;
        c0 = c0 < 0 ? 0 : c0 > nk ? nk : c0;
        c1 = c1 < c0 ? c0 : c1 > nk ? nk : c1;
        cb = cb < c0 ? c0 : cb > c1 ? c1 : cb;
        c0s[r] = c0, c1s[r] = c1, cbs[r] = cb;
        any |= c1 > c0;
        need_b |= cb > c0;
    }
    if (!any) return false;
    tile_gemm(S, BK, qt, ldqk, 1, Kt, ldkt, nq, nk, hd, scale, 0.0f);
    if (need_b) tile_gemm(SB, BK, qtB, ldqk, 1, KtB, ldkt, nq, nk, hd, scale, 0.0f);
    for (int64_t r = 0; r < nq; r++) {
        float *srow = S + r * BK;
        const int64_t c0 = c0s[r], c1 = c1s[r], cb = cbs[r];
        for (int64_t c = 0; c < c0; c++) srow[c] = -INFINITY;
        for (int64_t c = c0; c < cb; c++) srow[c] = SB[r * BK + c];
        if (slope != 0.0f) {
            const float base = slope * (float)(i0 + r - j0);
            for (int64_t c = c0; c < c1; c++) srow[c] += slope * (float)c - base;
        }
        for (int64_t c = c1; c < nk; c++) srow[c] = -INFINITY;
    }
    return true;
}

void attention_forward(float *out, float *lse, const float *q, const float *k, int64_t ldqk,
                       const float *v, int64_t ldv, const float *slopes, const lext_attn *mask,
                       const attn_ext_args *x, int64_t B, int64_t T, int64_t H, int64_t hd,
                       attn_scratch *ws) {
    const lext_attn_ext *e = x && x->e && x->e->kind != LEXT_EXT_NONE ? x->e : NULL;
    const bool map_b = ext_has_map_b(e);
    const float scale = 1.0f / sqrtf((float)hd);
    const int64_t D = H * hd, nqt = (T + BQ - 1) / BQ;
    const int64_t ntask = B * H * nqt;
    LEXT_ASSERT(B * kt_ld(T) <= ws->max_tokens + ws->max_tokens / 4 + 64);
    transpose_heads(ws->kt, k, ldqk, B, T, H, hd);
    if (map_b) {
        LEXT_ASSERT(ws->ktb && x->q && x->k);
        transpose_heads(ws->ktb, x->k, ldqk, B, T, H, hd);
    }
    stage_heads(ws->vp, v, ldv, B, T, H, hd);
    const int64_t ldp = hd_ld(hd);
#pragma omp parallel for schedule(dynamic, 1) num_threads(ws->n_threads)
    for (int64_t task = 0; task < ntask; task++) {
        int64_t qt = task % nqt, bh = task / nqt, h = bh % H, b = bh / H;
        int64_t i0 = qt * BQ, nq = T - i0 < BQ ? T - i0 : BQ;
        float *S = scratch_of(ws), *acc = S + 2 * BQ * BK, *mrow = acc + BQ * hd, *lrow = mrow + BQ;
        const int64_t ldt = kt_ld(T);
        const float *Kt = ws->kt + bh * hd * ldt; /* (hd, ldt) */
        const float slope = slopes ? slopes[h] : 0.0f;
        const float *qt_ = q + (b * T + i0) * ldqk + h * hd;
        const float *vb = ws->vp + bh * T * ldp; /* (T, ldp) */
        memset(acc, 0, sizeof(float) * (size_t)(nq * hd));
        for (int64_t r = 0; r < nq; r++) mrow[r] = -INFINITY, lrow[r] = 0.0f;
        /* with an extension: first the sinks (ns is non-decreasing in i: the last row has
         * the most), then the bands */
        const int64_t ns_max = e ? ext_row_of(e, mask, T, i0 + nq - 1).ns : 0;
        const float *KtB = map_b ? ws->ktb + bh * hd * ldt : NULL;
        const float *qtB = map_b ? x->q + (b * T + i0) * ldqk + h * hd : NULL;
        for (int part = e ? 0 : 1; part < 2; part++)
        /* lo is non-decreasing in i for every mode, so the band starts at lo(i0) */
        for (int64_t j0 = part ? lext_attn_lo(mask, T, i0) : 0, j_end = part ? i0 + nq : ns_max;
             j0 < j_end; j0 += BK) {
            int64_t nk = j_end - j0 < BK ? j_end - j0 : BK;
            if (e ? !tile_scores_ext(S, S + BQ * BK, Kt + j0, KtB ? KtB + j0 : NULL, ldt, qt_, qtB,
                                     ldqk, i0, nq, j0, nk, hd, scale, slope, mask, e, part, T)
                  : !tile_scores(S, Kt + j0, ldt, qt_, ldqk, i0, nq, j0, nk, hd, scale, slope, mask, T))
                continue;
            for (int64_t r = 0; r < nq; r++) {
                float *s = S + r * BK, mx = mrow[r];
#pragma omp simd reduction(max : mx)
                for (int64_t c = 0; c < nk; c++) mx = s[c] > mx ? s[c] : mx;
                if (mx == -INFINITY) { /* row fully masked in this tile */
                    for (int64_t c = 0; c < nk; c++) s[c] = 0.0f;
                    continue;
                }
                float corr = lext_expf(mrow[r] - mx), sum = 0.0f; /* exp(-inf) = 0 at start */
#pragma omp simd reduction(+ : sum)
                for (int64_t c = 0; c < nk; c++) {
                    s[c] = lext_expf(s[c] - mx);
                    sum += s[c];
                }
                lrow[r] = lrow[r] * corr + sum;
                mrow[r] = mx;
                float *a = acc + r * hd;
                for (int64_t d = 0; d < hd; d++) a[d] *= corr;
            }
            /* acc (nq, hd) += P (nq, nk) @ V (nk, hd) */
            tile_gemm(acc, hd, S, BK, 1, vb + j0 * ldp, ldp, nq, hd, nk, 1.0f, 1.0f);
        }
        for (int64_t r = 0; r < nq; r++) {
            float inv = 1.0f / lrow[r];
            float *o = out + (b * T + i0 + r) * D + h * hd;
            for (int64_t d = 0; d < hd; d++) o[d] = acc[r * hd + d] * inv;
            lse[(b * H + h) * T + i0 + r] = mrow[r] + logf(lrow[r]);
        }
    }
}

void attention_backward(float *dq, float *dk, int64_t lddqk, float *dv, int64_t lddv,
                        const float *dout, const float *out, const float *lse, const float *q,
                        const float *k, int64_t ldqk, const float *v, int64_t ldv,
                        const float *slopes, const lext_attn *mask, int64_t B, int64_t T,
                        int64_t H, int64_t hd, attn_scratch *ws) {
    const float scale = 1.0f / sqrtf((float)hd);
    const int64_t D = H * hd;
    LEXT_ASSERT(B * kt_ld(T) <= ws->max_tokens + ws->max_tokens / 4 + 64 && ws->vt);
    transpose_heads(ws->kt, k, ldqk, B, T, H, hd);
    transpose_heads(ws->vt, v, ldv, B, T, H, hd);
    stage_heads(ws->qp, q, ldqk, B, T, H, hd);
    stage_heads(ws->kp, k, ldqk, B, T, H, hd);
    stage_heads(ws->dop, dout, D, B, T, H, hd);
    const int64_t ldp = hd_ld(hd);
    /* one task per (b, h): dK and dV rows are summed over query tiles inside one task, so
     * there are no races and one summation order for any thread count */
#pragma omp parallel for schedule(dynamic, 1) num_threads(ws->n_threads)
    for (int64_t bh = 0; bh < B * H; bh++) {
        int64_t h = bh % H, b = bh / H;
        float *S = scratch_of(ws), *dP = S + BQ * BK, *Drow = dP + BQ * BK + BQ * hd;
        const int64_t ldt = kt_ld(T);
        const float *Kt = ws->kt + bh * hd * ldt, *Vt = ws->vt + bh * hd * ldt; /* (hd, ldt) */
        const float slope = slopes ? slopes[h] : 0.0f;
        const float *kb = ws->kp + bh * T * ldp; /* staged rows, (T, ldp) */
        float *dkb = dk + b * T * lddqk + h * hd, *dvb = dv + b * T * lddv + h * hd;
        const float *lseb = lse + (b * H + h) * T;
        for (int64_t i0 = 0; i0 < T; i0 += BQ) {
            int64_t nq = T - i0 < BQ ? T - i0 : BQ;
            const float *qt = ws->qp + (bh * T + i0) * ldp;
            const float *dot = ws->dop + (bh * T + i0) * ldp;
            float *dqt = dq + (b * T + i0) * lddqk + h * hd;
            for (int64_t r = 0; r < nq; r++) { /* D_i = dO_i . O_i */
                const float *o = out + (b * T + i0 + r) * D + h * hd, *g = dot + r * ldp;
                float s = 0.0f;
                for (int64_t d = 0; d < hd; d++) s += g[d] * o[d];
                Drow[r] = s;
            }
            for (int64_t j0 = lext_attn_lo(mask, T, i0); j0 < i0 + nq; j0 += BK) {
                int64_t nk = i0 + nq - j0 < BK ? i0 + nq - j0 : BK;
                if (!tile_scores(S, Kt + j0, ldt, qt, ldp, i0, nq, j0, nk, hd, scale, slope, mask,
                                 T))
                    continue;
                for (int64_t r = 0; r < nq; r++) { /* P = exp(S - lse); masked -> 0 */
                    float l = lseb[i0 + r], *s = S + r * BK;
#pragma omp simd
                    for (int64_t c = 0; c < nk; c++) s[c] = lext_expf(s[c] - l);
                }
                /* dV (nk, hd) += P^T (nk, nq) @ dO (nq, hd) */
                tile_gemm(dvb + j0 * lddv, lddv, S, 1, BK, dot, ldp, nk, hd, nq, 1.0f, 1.0f);
                /* dP (nq, nk) = dO (nq, hd) @ V^T (hd, nk) */
                tile_gemm(dP, BK, dot, ldp, 1, Vt + j0, ldt, nq, nk, hd, 1.0f, 0.0f);
                for (int64_t r = 0; r < nq; r++) { /* dS = P (dP - D_i), reusing dP */
                    float *p = S + r * BK, *g = dP + r * BK;
                    for (int64_t c = 0; c < nk; c++) g[c] = p[c] * (g[c] - Drow[r]);
                }
                /* dQ (nq, hd) += scale dS (nq, nk) @ K (nk, hd) */
                tile_gemm(dqt, lddqk, dP, BK, 1, kb + j0 * ldp, ldp, nq, hd, nk, scale, 1.0f);
                /* dK (nk, hd) += scale dS^T (nk, nq) @ Q (nq, hd) */
                tile_gemm(dkb + j0 * lddqk, lddqk, dP, 1, BK, qt, ldp, nk, hd, nq, scale, 1.0f);
            }
        }
    }
}

void attention_forward_naive(float *out, float *lse, const float *q, const float *k,
                             int64_t ldqk, const float *v, int64_t ldv, const float *slopes,
                             const lext_attn *mask, const attn_ext_args *x, int64_t B, int64_t T,
                             int64_t H, int64_t hd) {
    const lext_attn_ext *e = x ? x->e : NULL;
    const double scale = 1.0 / sqrt((double)hd);
    const int64_t D = H * hd;
    double *S = malloc(sizeof(double) * (size_t)(T * T));
    LEXT_ASSERT(S);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            for (int64_t i = 0; i < T; i++) {
                const ext_row er = ext_row_of(e, mask, T, i);
                double mx = -INFINITY;
                for (int64_t j = 0; j < T; j++) {
                    double s = -INFINITY;
                    if ((j >= er.lo && j <= i) || j < er.ns) {
                        const bool bmap = j < er.bhi; /* map B: the extension's positions */
                        const float *qq = bmap ? x->q : q, *kk = bmap ? x->k : k;
                        s = 0.0;
                        for (int64_t d = 0; d < hd; d++)
                            s += (double)qq[(b * T + i) * ldqk + h * hd + d] *
                                 (double)kk[(b * T + j) * ldqk + h * hd + d];
                        s = s * scale - (slopes ? (double)slopes[h] * (double)(i - j) : 0.0);
                    }
                    S[i * T + j] = s;
                    if (s > mx) mx = s;
                }
                double sum = 0.0;
                for (int64_t j = 0; j < T; j++) sum += (S[i * T + j] = exp(S[i * T + j] - mx));
                for (int64_t d = 0; d < hd; d++) {
                    double o = 0.0;
                    for (int64_t j = 0; j < T; j++)
                        o += S[i * T + j] * (double)v[(b * T + j) * ldv + h * hd + d];
                    out[(b * T + i) * D + h * hd + d] = (float)(o / sum);
                }
                lse[(b * H + h) * T + i] = (float)(mx + log(sum));
            }
        }
    free(S);
}

/* ---- scores by distance (attention resolution, LeX Eq. 11) ------------------------------ */

void scores_accumulate(lext_scores *s, int l, const float *q, const float *k, int64_t ldqk,
                       const float *slopes, const lext_attn *mask, const attn_ext_args *x,
                       int64_t B, int64_t T, int64_t H, int64_t hd) {
    const lext_attn_ext *e = x ? x->e : NULL;
    LEXT_ASSERT(T <= s->max_len && l < s->n_layer && B == 1 && H <= s->part_heads);
    const double scale = 1.0 / sqrt((double)hd);
    double *part = s->part; /* per-head sums, allocated by lext_scores_add */
    memset(part, 0, (size_t)(H * T) * sizeof(double));
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < B * H; bh++) {
        int64_t b = bh / H, h = bh % H;
        double *acc = part + bh * T;
        for (int64_t i = 0; i < T; i++) {
            const ext_row er = ext_row_of(e, mask, T, i);
            /* the sinks [0, ns), then the band [lo, i]; by true distance, map B where used */
            for (int64_t j = er.ns > 0 ? 0 : er.lo; j <= i; j = j + 1 == er.ns ? er.lo : j + 1) {
                const bool bmap = j < er.bhi;
                const float *qi = (bmap ? x->q : q) + (b * T + i) * ldqk + h * hd;
                const float *kj = (bmap ? x->k : k) + (b * T + j) * ldqk + h * hd;
                double dot = 0;
                for (int64_t d = 0; d < hd; d++) dot += (double)qi[d] * (double)kj[d];
                acc[i - j] += dot * scale - (slopes ? (double)slopes[h] * (double)(i - j) : 0.0);
            }
        }
    }
    double *sum = s->sum + (size_t)l * (size_t)s->max_len;
    int64_t *cnt = s->count + (size_t)l * (size_t)s->max_len;
    for (int64_t bh = 0; bh < B * H; bh++) /* fixed order: deterministic */
        for (int64_t n = 0; n < T; n++) sum[n] += part[bh * T + n];
    for (int64_t i = 0; i < T; i++) {
        const ext_row er = ext_row_of(e, mask, T, i);
        for (int64_t j = er.ns > 0 ? 0 : er.lo; j <= i; j = j + 1 == er.ns ? er.lo : j + 1)
            cnt[i - j] += B * H;
    }
}

/* ---- decoding over a kv cache --------------------------------------------------------------- */

/* One logit of the decoder: q . k with XPOS's decay z (P pairs, NULL: none), scaled. */
static inline float decode_dot(const float *qt, const float *kj, const float *z, int64_t hd) {
    float dot = 0.0f;
    /* simd reductions: lane-wise partial sums (another order than the tiled forward's,
     * within float32 rounding of it; test_decode holds them to 1e-4) */
    if (z) {
#pragma omp simd reduction(+ : dot)
        for (int64_t i = 0; i < hd / 2; i++)
            dot += z[i] * (qt[2 * i] * kj[2 * i] + qt[2 * i + 1] * kj[2 * i + 1]);
    } else {
#pragma omp simd reduction(+ : dot)
        for (int64_t d = 0; d < hd; d++) dot += qt[d] * kj[d];
    }
    return dot;
}

void attention_decode(float *out, int64_t ldo, const float *q, int64_t ldq, int64_t n,
                      int64_t p0, const float *kc, const float *vc, int64_t ldc, int64_t cap,
                      const float *slopes, const float *decay, const lext_attn *mask,
                      const decode_ext_args *x, int64_t H, int64_t hd, float *scratch,
                      int n_threads) {
    const float scale = 1.0f / sqrtf((float)hd);
    const int64_t P = hd / 2;
    const lext_attn_ext *e = x && x->e && x->e->kind != LEXT_EXT_NONE ? x->e : NULL;
    const int64_t K = e && e->kind == LEXT_EXT_SINKS ? e->sinks : 0;
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int64_t task = 0; task < n * H; task++) {
        const int64_t t = task / H, h = task % H, p = p0 + t;
        /* the one rule (ext_row_of), for a query at p of a sequence that ends at p */
        const ext_row er = ext_row_of(e, mask, p + 1, p);
        const int64_t lo = er.lo, ns = er.ns;
        LEXT_ASSERT(p - lo < cap && ns <= K); /* the cache still holds every visible key */
        float *s = scratch + (size_t)lext_thread_id() * (size_t)(cap + K);
        const float *qa = q + t * ldq + h * hd, *qb = e ? x->qb + t * ldq + h * hd : NULL;
        const float *kcb = e && x->kcb ? x->kcb : kc;
        const float slope = slopes ? slopes[h] : 0.0f;
        float mx = -INFINITY;
        /* s[0, ns): the sinks, s[ns + j - lo]: the band */
        for (int64_t j = 0; j < ns; j++) {
            const bool bmap = j < er.bhi;
            const int64_t dist = bmap ? er.qpos - ext_kpos(e, j) : p - j;
            const float v = decode_dot(bmap ? qb : qa, x->sk + j * ldc + h * hd,
                                       decay ? decay + dist * P : NULL, hd) * scale -
                            slope * (float)(p - j);
            s[j] = v;
            mx = v > mx ? v : mx;
        }
        for (int64_t j = lo; j <= p; j++) {
            const bool bmap = j < er.bhi;
            const int64_t dist = bmap ? er.qpos - ext_kpos(e, j) : p - j;
            const float v = decode_dot(bmap ? qb : qa, (bmap ? kcb : kc) + (j % cap) * ldc + h * hd,
                                       decay ? decay + dist * P : NULL, hd) * scale -
                            slope * (float)(p - j);
            s[ns + j - lo] = v;
            mx = v > mx ? v : mx;
        }
        float sum = 0.0f;
        const int64_t nk = ns + p - lo + 1;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < nk; j++) sum += (s[j] = lext_expf(s[j] - mx));
        float *o = out + t * ldo + h * hd;
        for (int64_t d = 0; d < hd; d++) o[d] = 0.0f;
        for (int64_t j = 0; j < nk; j++) {
            const float *vj = j < ns ? x->sv + j * ldc + h * hd : vc + ((lo + j - ns) % cap) * ldc + h * hd;
            const float w = s[j] / sum;
#pragma omp simd
            for (int64_t d = 0; d < hd; d++) o[d] += w * vj[d];
        }
    }
}
