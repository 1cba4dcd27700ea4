/*
 * model.h - the model's internal layout: weights carved from one flat array by the
 * parameter table, and the workspace of activations. Tests may include this header.
 */
#ifndef LEXT_MODEL_H
#define LEXT_MODEL_H

#include "attention.h"
#include "lext.h"
#include "position.h"

/* One transformer block's tensors (pointers into the flat arrays). */
typedef struct {
    float *attn_norm_w, *attn_norm_b; /* (D), (D) */
    float *qkv_w, *qkv_b;             /* (3D, D), (3D): rows q, then k, then v */
    float *out_w, *out_b;             /* (D, D), (D) */
    float *mlp_norm_w, *mlp_norm_b;   /* (D), (D) */
    float *up_w, *up_b;               /* (F, D), (F) */
    float *down_w, *down_b;           /* (D, F), (D) */
} layer_tensors;

typedef struct {
    float *embed;         /* (V, D) */
    float *pos_embed;     /* (train_len, D), learned only */
    layer_tensors *layer; /* (L) */
    float *norm_w, *norm_b; /* (D), (D) */
    float *lm_head;       /* (V, D); == embed when tied */
} model_tensors;

struct lext_model {
    lext_config cfg;
    int n_tensors;
    lext_param *table; /* (n_tensors), checkpoint order */
    char *names;       /* storage of the table's names */
    size_t num_params;
    float *params, *grads; /* (num_params) each */
    model_tensors w, g;    /* views of params and grads */
    float *alibi_slopes;   /* (H), alibi only */
    lext_rope_scaling rope_scaling; /* context extension at inference (none by default) */
    lext_attn_ext attn_ext;         /* sinks, self-extend, rerope at inference (none) */
    double train_passkey;           /* training's passkey share (lext_train_more), saved with
                                       the training state as "task_passkey" */
    int64_t train_micro;            /* micro-batches per step (0: one batch), saved as
                                       "micro_batches" */
};

/* Activations of one layer; in an inference workspace every layer shares one set. */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd; /* (N, D), (N), (N) */
    float *qkv;                       /* (N, 3D) */
    float *qk;                        /* (N, 2D) rotated q and k (rope/xpos only) */
    float *att;                       /* (N, D) attention output, heads side by side */
    float *lse;                       /* (B, H, T) attention log-sum-exp per row */
    float *res_mid;                   /* (N, D) residual after attention */
    float *ln2, *ln2_mean, *ln2_rstd; /* (N, D), (N), (N) */
    float *fc, *fc_act;               /* (N, F) before / after GELU */
} layer_acts;

struct lext_ctx {
    const lext_model *model;
    int64_t max_batch, max_len;
    bool training;
    size_t bytes;
    float *arena; /* everything below is carved from it */
    float *res;   /* (L+1 or 1, N, D) residual stream; layer l reads res[l], writes res[l+1] */
    layer_acts *layer; /* (L or 1) */
    float *lnf, *lnf_mean, *lnf_rstd; /* (N, D), (N), (N) */
    float *logits;                    /* (N, V) */
    float *losses;                    /* (N) per-row loss */
    float *tmp;                       /* (N, D) projection output before the residual add */
    float *sin_table;                 /* (max_len, D), sinusoidal only */
    /* backward scratch (training only) */
    float *dres, *dln, *dqkv, *dqk, *dfc, *dfc_act, *dlogits;
    /* bf16 matrix products (lext_ctx_set_precision; precision.h), else all NULL */
    lext_precision precision;
    float *wbf;  /* (num_params) the parameters rounded to bf16, refreshed by each forward */
    float *xbf;  /* (N, max(D, F)) a product's input rounded to bf16 */
    float *dybf; /* (N, max(3D, F, V)) a product's output gradient rounded to bf16 */
    uint16_t *bf16_scratch; /* 16-bit operand copies for gemm_bf16 (gemm.h) */
    size_t bf16_bytes;
    rotary_table rot;
    /* attention extensions with a map B (lext_model_set_attn_ext before lext_ctx_create):
     * q and k rotated to the map-B positions (N, 2D), inference only, and their tables */
    float *qkb;
    rotary_table rotqb, rotkb;
    int64_t *posb; /* (2, max_len): the map-B positions of queries, then of keys */
    size_t ext_bytes;
    bool ran_ext; /* the last forward ran with an extension: no backward */
    attn_scratch ws;
    lext_scores *scores; /* when set, the forward adds every layer's scores to it */
    /* the last forward: copies of its inputs, for the backward */
    int32_t *tokens, *targets; /* (N) each */
    int64_t B, T, n_targets;
    lext_attn attn;
    bool have_forward;
    double loss_sum; /* the last forward's summed loss over its targets (nats) */
};

/* lext_backward with the loss gradient scaled by `scale` instead of 1 / targets (1: the
 * gradient of the summed loss, for accumulation over micro-batches). */
lext_status backward_scaled(lext_model *m, lext_ctx *ctx, float scale);

/* AdamW in pieces (optim.c), for ranks that each update their own share of the parameters
 * (ZeRO-1): the norm's chunk sums, the clip factor from all of them, and the update of
 * [lo, hi) with that range's moments mm, vv. lext_optim_step is the three over everything. */
enum { OPTIM_NORM_CHUNKS = 64 };
/* an optimizer holding moments for n parameters only (a rank's share; n = num_params: all) */
lext_status optim_create_n(const lext_model *m, const lext_optim_config *c, size_t n, lext_optim **out);
void optim_norm_parts(const lext_model *m, int c0, int c1, double *part);
lext_status optim_clip_of(const lext_optim_config *c, const double *part, int64_t step,
                          float *clip, float *grad_norm);
void optim_update_range(const lext_optim_config *c, lext_model *m, int64_t step, float clip,
                        float *mm, float *vv, size_t lo, size_t hi);
double ctx_loss_sum(const lext_ctx *ctx);

#endif
