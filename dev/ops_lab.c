/*
 * ops_lab.c - the kernel lab: times every op of one training step of config A (4 layers,
 * dim 256, 4 heads, ffn 1024, T 256, batch 16) in isolation, so a change to one kernel can
 * be measured against the whole step. Not a test and not the benchmark (bench/run.py is).
 *   make build/dev/ops_lab && build/dev/ops_lab [reps]
 */
#include "model.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static float *buf(size_t n) {
    float *p = aligned_alloc(64, ((n * 4 + 63) / 64) * 64);
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

#define TIME(label, flops, stmt)                                                           \
    do {                                                                                   \
        stmt;                                                                              \
        double best = 1e9;                                                                 \
        for (int r_ = 0; r_ < reps; r_++) {                                                \
            double t_ = now();                                                             \
            stmt;                                                                          \
            t_ = now() - t_;                                                               \
            best = t_ < best ? t_ : best;                                                  \
        }                                                                                  \
        printf("%-34s %8.3f ms", label, best * 1e3);                                       \
        if ((flops) > 0) printf("  %6.1f GFLOP/s", (flops) / best / 1e9);                  \
        printf("\n");                                                                      \
    } while (0)

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    const int64_t B = 16, T = 256, D = 256, H = 4, hd = 64, F = 1024, V = 256, N = B * T;
    float *x = buf(N * D), *y = buf(N * D), *qkv = buf(N * 3 * D), *fc = buf(N * F), *fc2 = buf(N * F);
    float *w3 = buf(3 * D * D), *b3 = buf(3 * D), *wd = buf(D * D), *wu = buf(F * D), *wdn = buf(D * F);
    float *dw = buf(F * D), *db = buf(F), *mean = buf(N), *rstd = buf(N), *lse = buf(N * H);
    float *att = buf(N * D), *qk = buf(N * 2 * D), *dqkv = buf(N * 3 * D), *dqk = buf(N * 2 * D);
    float *logits = buf(N * V), *dlogits = buf(N * V), *losses = buf(N);
    int32_t *tgt = malloc(sizeof(int32_t) * N);
    for (int64_t i = 0; i < N; i++) tgt[i] = (int32_t)(i % V);
    attn_scratch ws;
    attn_scratch_init(&ws, hd, H, N, true);
    lext_attn causal = {LEXT_ATTN_CAUSAL, 0, 0};
    lext_config c;
    lext_config_default(&c);
    rotary_table rt;
    rotary_table_init(&rt, &c, T);
    rotary_table_fill(&rt, &c, NULL, 0, T, rotary_centre(T), T);
    printf("config A ops, N = %lld rows, best of %d, %d threads\n", (long long)N, reps, lext_get_threads());
    TIME("linear qkv fwd 4096x768x256", 2.0 * N * 3 * D * D, linear_forward(qkv, x, w3, b3, N, D, 3 * D, NULL));
    TIME("linear qkv bwd dinp", 2.0 * N * 3 * D * D, linear_backward(x, NULL, NULL, qkv, y, w3, N, D, 3 * D, NULL));
    TIME("linear qkv bwd dw", 2.0 * N * 3 * D * D, linear_backward(NULL, w3, NULL, qkv, y, w3, N, D, 3 * D, NULL));
    TIME("linear qkv bwd db", 0, linear_backward(NULL, NULL, b3, qkv, y, w3, N, D, 3 * D, NULL));
    TIME("linear out fwd 4096x256x256", 2.0 * N * D * D, linear_forward(y, att, wd, b3, N, D, D, NULL));
    TIME("linear out bwd dinp+dw+db", 4.0 * N * D * D, linear_backward(att, wd, db, y, x, wd, N, D, D, NULL));
    TIME("linear up fwd 4096x1024x256", 2.0 * N * F * D, linear_forward(fc, x, wu, db, N, D, F, NULL));
    TIME("linear up bwd dinp+dw+db", 4.0 * N * F * D, linear_backward(x, dw, db, fc, y, wu, N, D, F, NULL));
    TIME("linear down fwd 4096x256x1024", 2.0 * N * F * D, linear_forward(y, fc, wdn, b3, N, F, D, NULL));
    TIME("linear down bwd dinp+dw+db", 4.0 * N * F * D, linear_backward(fc2, dw, db, y, fc, wdn, N, F, D, NULL));
    TIME("lm head fwd 4096x256x256", 2.0 * N * V * D, linear_forward(logits, x, wd, NULL, N, D, V, NULL));
    TIME("lm head bwd dinp+dw", 4.0 * N * V * D, linear_backward(y, wd, NULL, dlogits, x, wd, N, D, V, NULL));
    TIME("layernorm fwd", 0, layernorm_forward(y, mean, rstd, x, b3, b3, N, D, 1e-5f));
    TIME("layernorm bwd", 0, layernorm_backward(att, wd, db, y, mean, rstd, x, b3, N, D));
    TIME("gelu fwd", 0, gelu_forward(fc2, fc, N * F));
    TIME("gelu bwd", 0, gelu_backward(fc2, fc, fc, N * F));
    TIME("residual", 0, residual_forward(y, x, att, N * D));
    TIME("rotary fwd (xpos)", 0, rotary_forward(qk, 2 * D, qkv, 3 * D, &rt, B, T, D, H));
    TIME("rotary bwd (xpos)", 0, rotary_backward(dqkv, 3 * D, qk, 2 * D, &rt, B, T, D, H));
    {
        lext_config rc = c;
        rc.pos = LEXT_POS_ROPE;
        rotary_table rr;
        rotary_table_init(&rr, &rc, T);
        rotary_table_fill(&rr, &rc, NULL, 0, T, rotary_centre(T), T);
        TIME("rotary fwd (rope)", 0, rotary_forward(qk, 2 * D, qkv, 3 * D, &rr, B, T, D, H));
        TIME("rotary bwd (rope)", 0, rotary_backward(dqkv, 3 * D, qk, 2 * D, &rr, B, T, D, H));
        rotary_table_free(&rr);
    }
    double attf = 4.0 * B * H * T * T * hd / 2; /* causal half of QK^T and PV */
    TIME("attention fwd (causal)", attf, attention_forward(att, lse, qk, qk + D, 2 * D, qkv + 2 * D, 3 * D, NULL, &causal, NULL, B, T, H, hd, &ws));
    TIME("attention bwd (causal)", attf * 2.5, attention_backward(dqk, dqk + D, 2 * D, dqkv + 2 * D, 3 * D, y, att, lse, qk, qk + D, 2 * D, qkv + 2 * D, 3 * D, NULL, &causal, B, T, H, hd, &ws));
    TIME("xent fwd", 0, xent_forward(losses, logits, tgt, N, V, NULL));
    TIME("xent bwd", 0, xent_backward(dlogits, logits, tgt, N, V, 1.0f / N));
    TIME("memset N*F", 0, memset(fc2, 0, sizeof(float) * N * F));
    TIME("embed bwd", 0, embed_backward(wd, x, tgt, 1.0f, N, D));
    return 0;
}
