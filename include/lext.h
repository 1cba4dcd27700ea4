/*
 * lext.h - the whole public interface of the lext library.
 *
 * lext is a decoder-only causal transformer language model over bytes, with a choice of
 * position scheme (none, sinusoidal, learned, ALiBi, RoPE, XPOS) and of attention mask at
 * inference (full causal, blockwise causal "BCA", sliding window), after
 * Sun et al. 2022, "A Length-Extrapolatable Transformer" (LeX).
 *
 * Dimension glossary, used in every shape comment of the project:
 *   B  batch size              T  sequence length (tokens)
 *   D  model width (d_model)   H  number of heads        hd = D/H head dimension
 *   F  MLP width (d_ff)        V  vocabulary size (256)  L  number of layers
 *
 * Conventions
 *   - Every function that can fail returns lext_status; LEXT_OK is 0. On failure a
 *     human-readable message naming the problem is available from lext_last_error()
 *     (per thread). The library never exits the process and never prints.
 *   - Objects come in create/free pairs; free(NULL) is a no-op.
 *   - Matrices are row-major float32; weights use PyTorch's nn.Linear layout [out, in].
 *   - Gradients accumulate (+=) into the model's gradient buffers; call
 *     lext_model_zero_grad() before a fresh backward pass.
 */
#ifndef LEXT_H
#define LEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Version and exports
 * ------------------------------------------------------------------------------------- */

/* The library's version, defined here once: the Makefile reads it for the shared
 * library's name and soname (liblext.so.MAJOR), lext.pc and `lext --version`. A minor
 * version only adds to the API; see README, "ABI". */
#define LEXT_VERSION_MAJOR 1
#define LEXT_VERSION_MINOR 1
#define LEXT_VERSION_PATCH 0
#define LEXT_VERSION "1.1.0"

/* Marks the public API. The shared library is built with -fvisibility=hidden, so these
 * functions are the only symbols it exports; the library's internal functions stay
 * private to it. */
#if defined(__GNUC__) || defined(__clang__)
#define LEXT_API __attribute__((visibility("default")))
#else
#define LEXT_API
#endif

/* The version of the library actually linked, "MAJOR.MINOR.PATCH" (compare with
 * LEXT_VERSION, the version of this header). Never NULL. */
LEXT_API const char *lext_version(void);

/* ---------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------- */

typedef enum {
    LEXT_OK = 0,
    LEXT_ERR_NOMEM,   /* an allocation failed; the message names the size asked for */
    LEXT_ERR_IO,      /* open/read/write/rename failed; the message names the path and errno */
    LEXT_ERR_FORMAT,  /* a file's content is malformed (checkpoint, JSON, ...) */
    LEXT_ERR_CONFIG,  /* an invalid model or run configuration */
    LEXT_ERR_ARG,     /* an invalid argument to a library call */
    LEXT_ERR_DATA,    /* unusable training/evaluation data */
    LEXT_ERR_NUMERIC, /* a loss or gradient became NaN or infinite */
    LEXT_ERR_INTERNAL
} lext_status;

/* Short name of a status ("out of memory", ...). Never NULL. */
LEXT_API const char *lext_status_name(lext_status s);
/* The detailed message of the last failure on this thread ("" if none). */
LEXT_API const char *lext_last_error(void);

/* ---------------------------------------------------------------------------------------
 * Model configuration
 * ------------------------------------------------------------------------------------- */

/* Position schemes. Values are stored in checkpoints by name, never by number. */
typedef enum {
    LEXT_POS_NONE = 0,   /* NoPE: causal mask only */
    LEXT_POS_SINUSOIDAL, /* Vaswani et al. absolute sinusoids added to the embedding */
    LEXT_POS_LEARNED,    /* learned absolute table [train_len, D]; cannot go past train_len */
    LEXT_POS_ALIBI,      /* Press et al. linear bias -m_h (i - j) on the scaled logits */
    LEXT_POS_ROPE,       /* Su et al. rotary embedding, interleaved pairs */
    LEXT_POS_XPOS,       /* Sun et al. rotary embedding with exponential decay (LeX Eq. 5-10) */
    LEXT_POS_COUNT
} lext_pos_kind;

LEXT_API const char *lext_pos_name(lext_pos_kind k);
/* Parses "none", "sinusoidal", "learned", "alibi", "rope", "xpos". */
LEXT_API lext_status lext_pos_parse(const char *s, lext_pos_kind *out);

typedef struct {
    int n_layer;            /* L   [4] */
    int n_head;             /* H   [4] */
    int d_model;            /* D   [256] */
    int d_ff;               /* F   [4 D] */
    int vocab_size;         /* V   [256]: byte-level */
    int train_len;          /* training context length l [256] */
    lext_pos_kind pos;      /* [xpos] */
    double xpos_gamma;      /* XPOS gamma in zeta_j = (2j + gamma d) / ((1 + gamma) d) [0.4] */
    double xpos_scale_base; /* XPOS scale base B in zeta^(n / B) [512] */
    double rope_base;       /* rotary frequency base, theta_j = base^(-2j/d) [10000] */
    bool tied;              /* output projection tied to the token embedding [true] */
    bool embed_scale;       /* token embeddings times sqrt(D) before the absolute position add
                             * (Vaswani et al. 2017, fairseq transformer_lm); the output
                             * projection is unscaled [false]. It sits in the padding after
                             * `tied`: the struct's size and every other offset are as in 1.0 */
    double norm_eps;        /* LayerNorm epsilon, inside the square root [1e-5] */
} lext_config;

/* Fills the defaults given in brackets above. */
LEXT_API void lext_config_default(lext_config *c);
/* Checks every constraint (D divisible by H, even head dim for rope/xpos, positive sizes,
 * ...) and names the first one violated. */
LEXT_API lext_status lext_config_validate(const lext_config *c);

/* ---------------------------------------------------------------------------------------
 * Attention at inference
 * ------------------------------------------------------------------------------------- */

typedef enum {
    LEXT_ATTN_CAUSAL = 0, /* query i sees keys 0..i */
    LEXT_ATTN_BCA,        /* blockwise causal (LeX section 3.3): see lext_attn */
    LEXT_ATTN_WINDOW,     /* query i sees keys i-W+1..i */
    LEXT_ATTN_COUNT
} lext_attn_mode;

LEXT_API const char *lext_attn_name(lext_attn_mode m);
LEXT_API lext_status lext_attn_parse(const char *s, lext_attn_mode *out);

/* An attention mask. Every mode admits, for query i, the contiguous key range
 * [lext_attn_lo(a, T, i), i]; this one rule drives training, evaluation, the naive
 * oracle and the kv-cache decoder alike.
 *   causal: lo = 0
 *   bca:    with l = block and h = l/2: if T <= l, lo = 0 (plain causal, as in the paper);
 *           else query i in block b = floor(i/h) sees from (b-1) h: lo = max(0, (b-1) h)
 *   window: lo = max(0, i - window + 1) */
typedef struct {
    lext_attn_mode mode;
    int64_t block;  /* bca: l, even and > 0 */
    int64_t window; /* window: W > 0 */
} lext_attn;

/* Fills a mask for mode m with the model's training length as block and window. */
LEXT_API lext_attn lext_attn_make(lext_attn_mode m, int64_t train_len);
LEXT_API lext_status lext_attn_validate(const lext_attn *a);
/* First key visible to query i (0 <= i < T) in a sequence of length T. */
LEXT_API int64_t lext_attn_lo(const lext_attn *a, int64_t T, int64_t i);

/* ---------------------------------------------------------------------------------------
 * Model
 * ------------------------------------------------------------------------------------- */

typedef struct lext_model lext_model;

/* Allocates parameters and gradients for c (validated first); weights are zero until
 * lext_model_init() or a checkpoint load. */
LEXT_API lext_status lext_model_create(const lext_config *c, lext_model **out);
LEXT_API void lext_model_free(lext_model *m);
LEXT_API const lext_config *lext_model_config(const lext_model *m);

/* GPT-2 style initialisation from seed: N(0, 0.02) weights, residual output projections
 * scaled by 1/sqrt(2L), zero biases, unit LayerNorm gains. */
LEXT_API void lext_model_init(lext_model *m, uint64_t seed);

/* The parameter table: one entry per named tensor, in checkpoint order. It drives
 * allocation, the optimizer, checkpoint I/O and test reporting. */
typedef struct {
    const char *name; /* e.g. "layers.0.attn.qkv.weight" */
    int ndim;         /* 1 or 2 */
    int64_t shape[2]; /* [out, in] for weights */
    size_t numel;
    bool decay;       /* weight decay applies (matrices and embeddings, not norms/biases) */
    float *data;
    float *grad;
} lext_param;

LEXT_API int lext_model_num_tensors(const lext_model *m);
LEXT_API const lext_param *lext_model_tensor(const lext_model *m, int i);
/* The entry named name, or NULL. */
LEXT_API const lext_param *lext_model_find_tensor(const lext_model *m, const char *name);
LEXT_API size_t lext_model_num_params(const lext_model *m);
/* Flat views: all parameters (and all gradients) in table order, num_params floats. */
LEXT_API float *lext_model_params(lext_model *m);
LEXT_API float *lext_model_grads(lext_model *m);
LEXT_API void lext_model_zero_grad(lext_model *m);

/* ---------------------------------------------------------------------------------------
 * Context extension of rotary models (rope, xpos) at inference
 *
 * The methods people apply today to a RoPE model to run it past its training length l,
 * each a change of the rotary frequencies theta_j = base^(-2j/d) (d = head dim, j = 0..d/2-1)
 * and positions t, with s the scale factor:
 *   linear       Position Interpolation (Chen et al. 2023): angle (t / s) theta_j
 *   ntk          NTK-aware scaling (bloc97 2023): base' = base s^(d/(d-2)), angle t theta'_j
 *   dynamic-ntk  dynamic NTK (emozilla 2023): ntk whose s grows with the context, here by
 *                position: the token at position p is rotated (query and key alike) with
 *                s(p) = max(1, f (p+1)/l - (f-1)), f = the factor (auto: 1), the base a kv
 *                cache that never re-rotates its keys used when p was the newest token
 *                (Hugging Face's rule); causal, so a score never depends on later tokens
 *   yarn         YaRN (Peng et al. 2023): NTK-by-parts, theta'_j = (1-r_j) theta_j / s +
 *                r_j theta_j with the ramp r_j = 1 - clamp((j-lo)/(hi-lo), 0, 1) between the
 *                dims lo = floor(dim(beta_fast)), hi = ceil(dim(beta_slow)) that turn
 *                beta times over l, dim(b) = d ln(l / (2 pi b)) / (2 ln base), clamped to
 *                [0, d-1]; and the attention factor 0.1 ln s + 1 on cos and sin (so on
 *                every logit squared), as the YaRN reference does
 * XPOS keeps its decay zeta_j^((t-c)/B) on true positions, unless xpos_decay_scaled: then
 * zeta_j^((t-c)/(s B)), the decay stretched by the same factor.
 * A static factor of 0 means auto: s = max(1, T/l) for a sequence of T tokens (every
 * forward of length T; a causal decoder takes its max context as T; a window decoder needs
 * a factor). The setting belongs to the model object, is not saved in checkpoints, and
 * applies to every forward, evaluation, score and decoder created after it is set;
 * gradients stay exact under it (fine-tuning with Position Interpolation works).
 * ------------------------------------------------------------------------------------- */

typedef enum {
    LEXT_ROPE_SCALING_NONE = 0,
    LEXT_ROPE_SCALING_LINEAR,
    LEXT_ROPE_SCALING_NTK,
    LEXT_ROPE_SCALING_DYNAMIC_NTK,
    LEXT_ROPE_SCALING_YARN,
    LEXT_ROPE_SCALING_COUNT
} lext_rope_scaling_kind;

typedef struct {
    lext_rope_scaling_kind kind; /* [none] */
    double factor;               /* s >= 1, or 0: auto (see above) [0] */
    double beta_fast, beta_slow; /* yarn's ramp ends, in rotations over l [32, 1] */
    bool xpos_decay_scaled;      /* xpos only, with linear, ntk or yarn: B -> s B [false] */
} lext_rope_scaling;

LEXT_API void lext_rope_scaling_default(lext_rope_scaling *r);
/* "none", "linear", "ntk", "dynamic-ntk", "yarn". Never NULL. */
LEXT_API const char *lext_rope_scaling_name(lext_rope_scaling_kind k);
LEXT_API lext_status lext_rope_scaling_parse(const char *s, lext_rope_scaling_kind *out);
/* Checks r on its own and against the model config c (scaling needs rope or xpos, the
 * decay flag xpos and a static method, ntk a head dim > 2); names the problem. */
LEXT_API lext_status lext_rope_scaling_validate(const lext_rope_scaling *r, const lext_config *c);
/* The factor s that r applies to a sequence of T tokens of a model trained at train_len
 * (dynamic-ntk: at its last position, T - 1); 1 for none; with T < 1 (no known length) the
 * given static factor, else 1. */
LEXT_API double lext_rope_scaling_factor(const lext_rope_scaling *r, int64_t T, int64_t train_len);
/* Sets (validated; NULL: none) or reads the model's scaling. Not thread-safe against
 * concurrent forwards of the same model. */
LEXT_API lext_status lext_model_set_rope_scaling(lext_model *m, const lext_rope_scaling *r);
LEXT_API const lext_rope_scaling *lext_model_rope_scaling(const lext_model *m);

/* Attention extensions at inference: which keys a query sees beyond its mask, and at which
 * positions a far key is scored. For query i with its mask's band [lo, i] (lext_attn_lo):
 *   sinks        StreamingLLM (Xiao et al. 2023, arXiv 2309.17453), with window or bca: the
 *                first K positions stay visible to every query, keys [0, min(K, lo)) plus
 *                the band. sink_pos says where a sink sits:
 *                  absolute  at its true position (any scheme);
 *                  cache     at its index in a cache that holds the K sinks then the band
 *                            (StreamingLLM's convention; rope/xpos): the query is rotated as
 *                            if at i - (lo - K'), K' = min(K, lo), the sinks at their own;
 *                  capped    LM-Infinite's Lambda (Han et al. 2023, arXiv 2308.16137): every
 *                            far sink at distance C, the window W or bca's block l (the query
 *                            rotated by C, the sink unrotated; rope/xpos)
 *   self-extend  Self-Extend (Jin et al. 2024, arXiv 2401.01325; datamllab/LongLM), rope/xpos:
 *                keys within the neighbour window keep exact positions (i - j < W); farther
 *                keys use grouped positions: query floor(i/G) + W - floor(W/G), key
 *                floor(j/G)
 *   rerope       ReRoPE (Su 2023), rope/xpos: relative position clipped at W: keys with
 *                i - j >= W scored at distance W (the query rotated by W, the key unrotated)
 * XPOS's scales follow the same positions, so its decay goes by the distance used. They are
 * inference-only: lext_backward refuses a forward that ran with one. The setting belongs to
 * the model, is not saved, applies to every forward, score and decoder created after it
 * (workspaces need it at creation: lext_ctx_create sizes the second rotated copy), and
 * combines with a rope scaling.
 */
typedef enum {
    LEXT_EXT_NONE = 0,
    LEXT_EXT_SINKS,
    LEXT_EXT_SELF_EXTEND,
    LEXT_EXT_REROPE,
    LEXT_EXT_COUNT
} lext_attn_ext_kind;

typedef enum { LEXT_SINK_CACHE = 0, LEXT_SINK_ABSOLUTE, LEXT_SINK_CAPPED, LEXT_SINK_COUNT } lext_sink_pos;

typedef struct {
    lext_attn_ext_kind kind; /* [none] */
    int64_t sinks;           /* sinks: K >= 1 */
    lext_sink_pos sink_pos;  /* sinks: [cache] */
    int64_t group, neighbors; /* self-extend: G >= 1, W >= 1 */
    int64_t clip;             /* rerope: W >= 1 */
} lext_attn_ext;

LEXT_API void lext_attn_ext_default(lext_attn_ext *e);
/* "none", "sinks", "self-extend", "rerope"; "cache", "absolute", "capped". Never NULL. */
LEXT_API const char *lext_attn_ext_name(lext_attn_ext_kind k);
LEXT_API const char *lext_sink_pos_name(lext_sink_pos p);
LEXT_API lext_status lext_sink_pos_parse(const char *s, lext_sink_pos *out);
/* Checks e against the config c (NULL: alone) and, when attn is not NULL, against a mask
 * (sinks need window or bca); names the problem. */
LEXT_API lext_status lext_attn_ext_validate(const lext_attn_ext *e, const lext_config *c,
                                            const lext_attn *attn);
/* Sets (validated; NULL: none) or reads the model's attention extension. */
LEXT_API lext_status lext_model_set_attn_ext(lext_model *m, const lext_attn_ext *e);
LEXT_API const lext_attn_ext *lext_model_attn_ext(const lext_model *m);

/* ---------------------------------------------------------------------------------------
 * Forward and backward
 * ------------------------------------------------------------------------------------- */

/* A workspace for running a model on sequences of up to max_len tokens, up to
 * max_batch * max_len tokens per call (so short sequences can be batched more deeply).
 * Buffers are sized once, up front, for (max_batch, max_len): nothing is allocated while
 * running. With training = true it keeps every layer's activations for lext_backward();
 * otherwise it keeps one layer's worth, so memory grows linearly with max_len and never
 * with L or T^2 (attention runs in tiles with an online softmax). */
typedef struct lext_ctx lext_ctx;

LEXT_API lext_status lext_ctx_create(const lext_model *m, int64_t max_batch, int64_t max_len,
                            bool training, lext_ctx **out);
LEXT_API void lext_ctx_free(lext_ctx *ctx);
/* Bytes held by the workspace. */
LEXT_API size_t lext_ctx_bytes(const lext_ctx *ctx);

/* Runs the model on tokens (B, T) under mask attn (NULL: causal).
 * With targets (B, T) non-NULL, *loss receives the mean cross-entropy (nats) over the
 * B*T predictions; a target < 0 is ignored (not counted). logits (B, T, V) stay in the
 * workspace (lext_ctx_logits) until the next call. Fails for T > max_len, B*T above the
 * workspace's capacity,
 * tokens outside [0, V), or T > train_len with learned positions. */
LEXT_API lext_status lext_forward(lext_model *m, lext_ctx *ctx, const int32_t *tokens,
                         const int32_t *targets, int64_t B, int64_t T, const lext_attn *attn,
                         float *loss);
/* Backpropagates the loss of the last lext_forward (which must have had targets, on a
 * training workspace) and accumulates into the model's gradients. */
LEXT_API lext_status lext_backward(lext_model *m, lext_ctx *ctx);
/* Arithmetic of the matrix products of the linear layers (qkv, out, up, down, output
 * projection). bf16: operands rounded to bfloat16, products accumulated in fp32, master
 * weights, gradients and optimizer state in fp32 (see README, "Precision"). */
typedef enum {
    LEXT_PRECISION_AUTO = -1, /* lext_train_opts only: fp32 fresh, the checkpoint's on resume */
    LEXT_PRECISION_FP32 = 0,
    LEXT_PRECISION_BF16 = 1
} lext_precision;
LEXT_API const char *lext_precision_name(lext_precision p);
/* Parses "fp32" or "bf16". */
LEXT_API lext_status lext_precision_parse(const char *s, lext_precision *out);
/* Sets the workspace's precision (a new workspace is fp32). bf16 allocates, once, a bf16
 * copy of the parameters and two operand buffers of (max_batch * max_len) rows. */
LEXT_API lext_status lext_ctx_set_precision(lext_ctx *ctx, lext_precision p);

/* Logits of the last forward: (B, T, V). */
LEXT_API const float *lext_ctx_logits(const lext_ctx *ctx);
/* Number of targets counted by the last forward's loss. */
LEXT_API int64_t lext_ctx_num_targets(const lext_ctx *ctx);

/* ---------------------------------------------------------------------------------------
 * Optimizer: AdamW, warm-up then cosine decay, gradient-norm clipping
 * ------------------------------------------------------------------------------------- */

typedef struct {
    double lr;           /* peak learning rate [3e-4] */
    double min_lr_ratio; /* the cosine decays to lr * min_lr_ratio [0.1] */
    int64_t warmup;      /* linear warm-up steps [min(100, total/10)] */
    int64_t total_steps; /* length of the schedule */
    double beta1, beta2; /* [0.9, 0.98], LeX section 4 */
    double eps;          /* [1e-6] */
    double weight_decay; /* decoupled, on tensors with decay set [0.01] */
    double grad_clip;    /* max global L2 norm, 0 = off [1.0] */
} lext_optim_config;

LEXT_API void lext_optim_config_default(lext_optim_config *c, int64_t total_steps);

typedef struct lext_optim lext_optim;

LEXT_API lext_status lext_optim_create(const lext_model *m, const lext_optim_config *c, lext_optim **out);
LEXT_API void lext_optim_free(lext_optim *o);
/* Learning rate used at step (0-based). */
LEXT_API double lext_optim_lr(const lext_optim_config *c, int64_t step);
/* One AdamW update from the model's gradients, as step number `step` (0-based): clips the
 * global gradient norm, applies the schedule, updates the moments and the weights.
 * *grad_norm (may be NULL) receives the norm before clipping. Fails with
 * LEXT_ERR_NUMERIC, changing nothing, if the gradients are not finite. */
LEXT_API lext_status lext_optim_step(lext_optim *o, lext_model *m, int64_t step, float *grad_norm);
/* Adam moments (num_params floats each, in parameter-table order) for checkpointing. */
LEXT_API float *lext_optim_m(lext_optim *o);
LEXT_API float *lext_optim_v(lext_optim *o);
LEXT_API const lext_optim_config *lext_optim_get_config(const lext_optim *o);

/* ---------------------------------------------------------------------------------------
 * Random numbers: xoshiro256** seeded through splitmix64, state saved in checkpoints
 * ------------------------------------------------------------------------------------- */

typedef struct {
    uint64_t s[4];
} lext_rng;

LEXT_API void lext_rng_seed(lext_rng *r, uint64_t seed);
LEXT_API uint64_t lext_rng_u64(lext_rng *r);
/* Uniform in [0, n), without modulo bias; n > 0. */
LEXT_API uint64_t lext_rng_below(lext_rng *r, uint64_t n);
/* Uniform in [0, 1) with 53 random bits. */
LEXT_API double lext_rng_uniform(lext_rng *r);
/* Standard normal (Box-Muller, no cached second value, so the state alone is the state). */
LEXT_API double lext_rng_normal(lext_rng *r);

/* ---------------------------------------------------------------------------------------
 * Data: documents of bytes, training windows sampled inside documents
 * ------------------------------------------------------------------------------------- */

typedef struct {
    char *name;     /* path relative to the data root */
    uint8_t *bytes; /* content, owned by the dataset */
    size_t len;
} lext_doc;

typedef struct {
    lext_doc *docs; /* sorted by name */
    size_t n_docs;
    size_t total_bytes;
} lext_dataset;

/* Loads a text file (one document) or a directory of documents, read recursively, in
 * byte order of their relative paths; hidden entries (".name") are skipped. Fails with
 * LEXT_ERR_DATA when the path is missing, or has no non-empty document. */
LEXT_API lext_status lext_dataset_load(const char *path, lext_dataset *out);
LEXT_API void lext_dataset_free(lext_dataset *d);

/* Uniform sampling of windows of n bytes over every position where one fits inside a
 * document: a document of len bytes offers len - n + 1 windows. */
typedef struct {
    const lext_dataset *data;
    size_t window;      /* n = train_len + 1 */
    size_t n_usable;    /* documents with len >= window */
    size_t n_skipped;   /* documents too short, skipped */
    uint64_t n_windows; /* total number of distinct windows */
    uint64_t *cum;      /* (n_docs + 1) prefix sums of windows per document */
} lext_sampler;

/* Fails with LEXT_ERR_DATA, saying how many documents there are and how long the longest
 * is, when no document holds a window. */
LEXT_API lext_status lext_sampler_init(lext_sampler *s, const lext_dataset *d, size_t window);
LEXT_API void lext_sampler_free(lext_sampler *s);
/* Draws B windows; writes inputs (B, n-1) and next-byte targets (B, n-1). */
LEXT_API void lext_sampler_batch(const lext_sampler *s, lext_rng *rng, int64_t B, int32_t *inputs,
                        int32_t *targets);

/* ---------------------------------------------------------------------------------------
 * Checkpoints: safetensors files (see README, "Checkpoint format")
 * ------------------------------------------------------------------------------------- */

/* 2: the metadata's "embed_scale" (absent in version 1: unscaled). A version-1 reader would
 * ignore the key and compute a scaled model wrongly, so it must refuse these files. */
#define LEXT_FORMAT_VERSION 2

/* Training state carried by a training checkpoint so that --resume continues exactly. */
typedef struct {
    int64_t step;             /* optimizer steps done */
    lext_rng rng;             /* data sampler state */
    lext_optim_config optim;  /* schedule and AdamW settings */
    int64_t batch;            /* sequences per step */
    uint64_t seed;            /* the run's seed */
    char data_path[4096];     /* training data (informational; resume can override) */
    lext_precision precision; /* of the run's matrix products (fp32 in older checkpoints) */
    char machine[512];        /* lext_system_machine() of the run that saved it ("" if older) */
    float *m, *v;             /* Adam moments, num_params floats each; owned by caller */
} lext_train_state;

/* Writes model (and, when ts is non-NULL, its training state) to path atomically: a
 * temporary file in the same directory, fsync, rename, fsync of the directory. A failure
 * leaves whatever was at path untouched. */
LEXT_API lext_status lext_checkpoint_save(const char *path, const lext_model *m,
                                 const lext_train_state *ts);
/* Reads a checkpoint, validating everything: header length, JSON, metadata, dtypes,
 * shapes, offsets in range and not overlapping, every tensor present. Creates the model.
 * When ts is non-NULL and the file has training state, fills it (allocating ts->m, ts->v,
 * released by lext_train_state_free) and sets *has_train (may be NULL). */
LEXT_API lext_status lext_checkpoint_load(const char *path, lext_model **out, lext_train_state *ts,
                                 bool *has_train);
/* The same from a checkpoint's bytes in memory (size bytes at buf, only read, not kept);
 * name stands for the path in error messages. One parser serves both. */
LEXT_API lext_status lext_checkpoint_load_memory(const void *buf, size_t size, const char *name,
                                        lext_model **out, lext_train_state *ts, bool *has_train);
LEXT_API void lext_train_state_free(lext_train_state *ts);
/* Reads only the configuration (for `lext info`). */
LEXT_API lext_status lext_checkpoint_read_config(const char *path, lext_config *c, bool *has_train,
                                        int64_t *step);

/* ---------------------------------------------------------------------------------------
 * Evaluation by length (LeX section 4, "Evaluation protocol")
 * ------------------------------------------------------------------------------------- */

/* One (length, mask) cell of an evaluation. */
typedef struct {
    int64_t length;     /* L: segment length in bytes */
    lext_attn attn;
    int64_t docs;       /* documents that contributed */
    int64_t segments;   /* segments evaluated */
    int64_t tokens;     /* predictions scored: (L - 1) per segment */
    double loss_sum;    /* sum of their losses, nats */
    bool skipped;       /* not computable for this model (learned positions past train_len) */
    char why[160];      /* the reason when skipped */
} lext_eval_cell;

typedef struct {
    int64_t done, total; /* segments evaluated / to evaluate, all cells together */
    int64_t length;
    lext_attn_mode mode;
    size_t cell;         /* the cell being evaluated (index into cells) */
} lext_eval_progress;

typedef struct {
    size_t docs_used;    /* documents with at least N = max(lengths) bytes */
    size_t docs_skipped; /* shorter ones */
    size_t longest;      /* the longest document, bytes */
} lext_eval_summary;

/* The paper's protocol: from every document take its first N = max(lengths) bytes
 * (shorter documents are skipped and counted); split them into floor(N/L) consecutive
 * segments of each length L; evaluate every segment on its own from a fresh context: the
 * model reads L bytes and predicts bytes 2..L from the ones before them (L - 1 scored
 * predictions, no start token, nothing carried over). cells (n_lengths x n_modes, row-
 * major by length) receive the sums. Segments of one length are batched up to
 * batch_tokens tokens per forward pass. Fails with LEXT_ERR_DATA, saying how many
 * documents there were and how long the longest was, when none has N bytes. */
LEXT_API lext_status lext_evaluate(lext_model *m, const lext_dataset *d, const int64_t *lengths,
                          size_t n_lengths, const lext_attn *modes, size_t n_modes,
                          int64_t batch_tokens, lext_eval_cell *cells, lext_eval_summary *sum,
                          void (*progress)(const lext_eval_progress *p, void *user), void *user);
/* lext_evaluate, and the per-document loss sums the bootstrap needs: doc_loss (n_lengths *
 * n_modes cells, sum->docs_used documents) row-major by cell, in the order the documents
 * are in d, of which those shorter than max(lengths) are left out. Every document of a
 * cell of length L scores floor(N/L) (L - 1) predictions. A skipped cell's row is NaN.
 * doc_cap is doc_loss's size in doubles; too small fails with LEXT_ERR_ARG naming the
 * size needed (call lext_evaluate first, or count the documents of >= N bytes). */
LEXT_API lext_status lext_evaluate_docs(lext_model *m, const lext_dataset *d,
                                        const int64_t *lengths, size_t n_lengths,
                                        const lext_attn *modes, size_t n_modes,
                                        int64_t batch_tokens, lext_eval_cell *cells,
                                        lext_eval_summary *sum, double *doc_loss, size_t doc_cap,
                                        void (*progress)(const lext_eval_progress *p, void *user),
                                        void *user);

/* ---------------------------------------------------------------------------------------
 * Intervals: paired bootstrap over documents
 * ------------------------------------------------------------------------------------- */

/* Per-document loss sums of one model family on one evaluation cell: loss (n_seeds,
 * n_docs) row-major, the sum of the scored predictions' losses (nats) of document d for the
 * model trained with seed s; tokens (n_docs), how many predictions document d scored (the
 * same for every seed and model: the documents are the same). */
typedef struct {
    const double *loss;   /* (n_seeds, n_docs) */
    const double *tokens; /* (n_docs), each > 0 */
    size_t n_seeds, n_docs;
} lext_doc_losses;

typedef struct {
    double est;    /* the statistic on the data as given */
    double lo, hi; /* 95% percentile interval: the 2.5% and 97.5% points of the resamples */
} lext_interval;

/* The resampling seed the experiment uses, so a report's intervals are reproducible. */
#define LEXT_BOOTSTRAP_SEED 20221220u

/* Bootstrap of a perplexity, combined over seeds. The statistic of a data set is the mean
 * over seeds of exp(sum_d loss[s][d] / sum_d tokens[d]). Each of `resamples` replicates
 * draws n_docs documents with replacement (and, with several seeds, n_seeds seeds with
 * replacement: the seed-to-seed spread widens the interval) from an lext_rng seeded with
 * seed, then takes the statistic of the draw. resamples >= 100. One document of one seed
 * has no spread to resample: then est is set and lo = hi = NaN (no interval). */
LEXT_API lext_status lext_bootstrap_ppl(const lext_doc_losses *a, int64_t resamples, uint64_t seed,
                                        lext_interval *out);
/* Paired bootstrap of the ratio ppl(a) / ppl(b) of two cells on the same documents
 * (document d of a is document d of b; seeds s of a and b paired): two models, or one model
 * at two lengths (then the token counts differ). Every replicate draws one set of
 * documents and seeds and uses it for both, so what the documents share cancels. a and b
 * need the same n_docs and n_seeds. */
LEXT_API lext_status lext_bootstrap_ratio(const lext_doc_losses *a, const lext_doc_losses *b,
                                          int64_t resamples, uint64_t seed, lext_interval *out);
/* Paired bootstrap of (ppl(a) / ppl(b)) / (ppl(c) / ppl(d)): two models' growths compared
 * on the same documents (a, b: model 1 at the long and the training length; c, d: model 2
 * at the same two lengths). One draw of documents and seeds serves all four cells, so the
 * documents' shared difficulty cancels within each growth and across the two. All four
 * need the same n_docs and n_seeds. */
LEXT_API lext_status lext_bootstrap_ratio_of_ratios(const lext_doc_losses *a, const lext_doc_losses *b,
                                                    const lext_doc_losses *c, const lext_doc_losses *d,
                                                    int64_t resamples, uint64_t seed,
                                                    lext_interval *out);

typedef enum {
    LEXT_VERDICT_HOLDS = 0,   /* the whole interval is on the claimed side of the threshold */
    LEXT_VERDICT_FAILS,       /* the whole interval is on the other side */
    LEXT_VERDICT_UNRESOLVED,  /* the interval straddles (or touches) the threshold */
    LEXT_VERDICT_COUNT
} lext_verdict;

/* A claim "statistic > threshold" (above = true) or "statistic < threshold" judged on an
 * interval. */
LEXT_API lext_verdict lext_judge(const lext_interval *iv, double threshold, bool above);
/* "holds", "fails", "not resolved at this budget". Never NULL. */
LEXT_API const char *lext_verdict_name(lext_verdict v);

/* ---------------------------------------------------------------------------------------
 * Attention resolution (LeX section 2.2 Eq. 3, section 4.3 Eq. 11)
 * ------------------------------------------------------------------------------------- */

/* Expected pre-softmax score by relative distance, per layer: the mean over heads, over
 * every (query i, key i - n) pair the mask allows, and over texts, of the scaled logit
 * q.k / sqrt(hd) with the ALiBi bias included. */
typedef struct {
    int n_layer;
    int64_t max_len;   /* distances 0 .. max_len - 1 */
    double *sum;       /* (n_layer, max_len) */
    int64_t *count;    /* (n_layer, max_len): (head, query, key) triples summed */
    double *part;      /* scratch: per-head sums of one layer, (n_head, max_len) */
    int64_t part_heads;
} lext_scores;

LEXT_API lext_status lext_scores_init(lext_scores *s, int n_layer, int64_t max_len);
LEXT_API void lext_scores_free(lext_scores *s);
/* Runs the model over tokens (1, T) under attn (NULL: causal) on an inference or
 * training workspace, adding every layer's scores to s (T <= s->max_len). */
LEXT_API lext_status lext_scores_add(lext_model *m, lext_ctx *ctx, const int32_t *tokens, int64_t T,
                            const lext_attn *attn, lext_scores *s);
/* Eq. 3 on s[0..n): R = sum_i e^{s_i} (e^{s_i} - e^{s_{i+1}}) / (sum_i e^{s_i})^2, taking
 * e^{s_n} = 0 past the last distance. With p_i = softmax(s)_i this is
 * sum p_i^2 - sum p_i p_{i+1} < 1 always (the paper's 1.08 compares only relatively). */
LEXT_API double lext_resolution(const double *s, int64_t n);
/* The theoretical expectation curve of rope/xpos (the paper's g_zeta[n], Eq. 7), as the
 * mean over pairs: g[n] = (1/P) sum_j cos(n theta_j) zeta_j^(n/B), zeta = 1 for rope.
 * Fails for other schemes. */
LEXT_API lext_status lext_expectation_curve(const lext_config *c, double *g, int64_t n);
/* The same under a context extension r (NULL: none) at sequence length T (what an auto
 * factor resolves against): the scaled frequencies theta'_j, the decay base B or sB, and
 * yarn's factor squared. dynamic-ntk has no curve (scores depend on both positions): an
 * error that says so. */
LEXT_API lext_status lext_expectation_curve_scaled(const lext_config *c, const lext_rope_scaling *r,
                                                   int64_t T, double *g, int64_t n);

/* ---------------------------------------------------------------------------------------
 * Incremental decoding with a kv cache
 * ------------------------------------------------------------------------------------- */

/* A decoder holds, per layer, the keys and values of past tokens and a workspace for up to
 * `chunk` new tokens per call; everything is allocated once.
 *   causal: the cache holds the whole context, up to max_context tokens; one more is an
 *           error, never a silent truncation.
 *   window: a ring of the last W keys and values per layer (W = attn.window), so decoding
 *           runs for any number of tokens in constant memory and time per token.
 *   bca:    at generation time, the sliding window of the last l = attn.block keys, as in
 *           the paper's reference code.
 * Rope/xpos keys are cached rotated by their absolute angle but unscaled; the XPOS factor
 * zeta^((m - n)/B) is applied by relative distance when scoring, which equals the full
 * forward's s_q(m) s_k(n) exactly in real arithmetic and never leaves float range, however
 * far generation goes (lex-paper.md section 6: no mixing of centres). */
typedef struct lext_decoder lext_decoder;

LEXT_API lext_status lext_decoder_create(const lext_model *m, const lext_attn *attn, int64_t max_context,
                                int64_t chunk, lext_decoder **out);
LEXT_API void lext_decoder_free(lext_decoder *d);
/* Forgets the context (position back to 0). */
LEXT_API void lext_decoder_reset(lext_decoder *d);
/* Tokens processed so far: the position of the next one. */
LEXT_API int64_t lext_decoder_pos(const lext_decoder *d);
/* Bytes held (cache and workspace). */
LEXT_API size_t lext_decoder_bytes(const lext_decoder *d);
/* Feeds n >= 1 tokens (a prompt chunk or one generated token), in calls of at most
 * `chunk` tokens each (longer inputs are split here), and leaves the logits (V) of the
 * last one in logits (may be NULL). */
LEXT_API lext_status lext_decoder_feed(lext_model *m, lext_decoder *d, const int32_t *tokens, int64_t n,
                              float *logits);

/* Draws a token from logits (V): greedy (the first maximum) when temperature == 0;
 * otherwise softmax(logits / temperature) restricted to the top_k most likely (top_k 0:
 * all) and then to the smallest set whose probability reaches top_p (1: all). */
LEXT_API int32_t lext_sample(const float *logits, int V, double temperature, int top_k, double top_p,
                    lext_rng *rng);

/* ---------------------------------------------------------------------------------------
 * Passkey retrieval (Mohtashami & Jaggi 2023, landmark attention)
 *
 * The prompt, byte for byte as the reference (epfml/landmark-attention, llama/run_test.py):
 * lines joined by "\n": the task description; filler before; "The pass key is K. Remember
 * it. K is the pass key."; filler after; "What is the pass key? The pass key is". The
 * reference's filler is "The grass is green. The sky is blue. The sun is yellow. Here we go.
 * There and back again." repeated and joined by spaces, cut to length, the filler after
 * the key starting over as in the reference; K is 5 digits (10000..99999; the reference
 * draws 1..50000). The filler before the key is depth% of all filler (rounded). The
 * answer is " K": greedy decoding gets it right exactly when the argmax after the prompt
 * is ' ' and after each correct digit the next digit.
 * ------------------------------------------------------------------------------------- */

#define LEXT_PASSKEY_DIGITS 5
#define LEXT_PASSKEY_MAX_DISTRACTORS 16

typedef struct {
    int64_t length; /* bytes of the prompt, through the final "The pass key is" */
    double depth;   /* 0..100: the share of the filler placed before the key [50] */
    uint64_t seed;  /* draws the key (and the filler's start and the distractors) [1] */
    /* NULL: the reference's filler. Else text of these documents (joined by "\n", from a
     * document the seed picks; the filler after the key continues it): the harder variant,
     * where a copy of repeated filler cannot stand in for reading */
    const lext_dataset *filler;
    int distractors; /* " The pass code is NNNNN." sentences (other codes) in the filler [0] */
} lext_passkey_spec;

LEXT_API void lext_passkey_spec_default(lext_passkey_spec *s);
/* The template's bytes without filler: the shortest prompt. */
LEXT_API int64_t lext_passkey_min_length(void);
/* Writes the prompt (s->length bytes, no NUL) and the key (5 digits and a NUL). Fails,
 * naming the problem, for a length below lext_passkey_min_length(), a depth outside
 * 0..100, or distractors that do not fit. */
LEXT_API lext_status lext_passkey_make(const lext_passkey_spec *s, uint8_t *prompt,
                                       char key[LEXT_PASSKEY_DIGITS + 1]);

typedef struct {
    bool exact;       /* greedy decoding writes " " + key */
    int digits_right; /* digits whose argmax is right, teacher-forced (0..5) */
    double logprob;   /* sum over the 5 digits of log p(digit | prompt, digits before), nats */
} lext_passkey_score;

/* Scores from the logits (6, V) of the last byte of the prompt and of " " + the first four
 * digits (the forward of prompt + " " + key[0..3]). */
LEXT_API void lext_passkey_score_logits(const float *logits, int V, const char *key,
                                        lext_passkey_score *out);

/* ---------------------------------------------------------------------------------------
 * Training driver: data, model, optimizer, validation, checkpoints, clean stops
 * ------------------------------------------------------------------------------------- */

typedef enum {
    LEXT_TRAIN_START,  /* data loaded, model ready: n_docs, n_skipped, n_params, config */
    LEXT_TRAIN_STEP,   /* every log_every steps and after the last */
    LEXT_TRAIN_VAL,    /* a validation pass: val_loss */
    LEXT_TRAIN_SAVE,   /* a checkpoint was written to path */
    LEXT_TRAIN_STOP    /* stopped early on request (stop flag or stop_after) */
} lext_train_event;

typedef struct {
    lext_train_event event;
    int64_t step, total_steps; /* steps done so far, schedule length */
    int64_t start_step;        /* step the run (re)started from */
    float loss, grad_norm;     /* the last step's */
    double lr;
    double tokens_per_s;       /* since this invocation started */
    double elapsed_s, eta_s;
    float val_loss;
    int64_t val_tokens;
    const char *path;          /* SAVE: the checkpoint */
    /* START */
    const lext_config *config;
    size_t n_params, n_docs, n_skipped, n_val_docs, n_val_skipped;
    uint64_t data_bytes;
    int64_t batch;
    bool resumed;
    lext_precision precision;  /* of the matrix products */
    /* on resume from a checkpoint saved on another CPU, engine or kernels: its machine and
     * this one (steps are then no longer bit-identical to an uninterrupted run); else NULL */
    const char *machine_before, *machine_now;
    size_t n_stale_tmp;        /* temporary checkpoint files of dead runs removed beside out */
} lext_train_report;

typedef struct {
    lext_config model;       /* architecture of a fresh run (ignored on resume) */
    lext_optim_config optim; /* total_steps is the schedule length (ignored on resume) */
    const char *data;        /* training documents (on resume, NULL: the checkpoint's) */
    const char *val;         /* validation documents or NULL */
    const char *out;         /* checkpoint path */
    const char *resume;      /* a training checkpoint to continue, or NULL */
    int64_t batch;           /* sequences per step (on resume, 0: the checkpoint's) */
    int64_t steps;           /* total steps (on resume, 0: the checkpoint's schedule) */
    int64_t eval_every;      /* validate every K steps (0: only at the end, if val) */
    int64_t save_every;      /* checkpoint every K steps (0: only at the end) */
    int64_t stop_after;      /* stop cleanly, saving, after this many steps of this run (0: off) */
    int64_t log_every;       /* STEP reports every K steps [1] */
    int64_t val_batches;     /* validation windows = val_batches * batch [8] */
    uint64_t seed;           /* initialisation and data order */
    lext_precision precision; /* [AUTO]: fp32 for a fresh run, the checkpoint's on resume */
    volatile int *stop;      /* set (e.g. from SIGINT) to stop cleanly after the current step */
    void (*report)(const lext_train_report *r, void *user);
    void *user;
} lext_train_opts;

LEXT_API void lext_train_opts_default(lext_train_opts *o);

/* Trains as the options say. Stops early on *stop or stop_after, saving a checkpoint first.
 * On a non-finite loss or gradient it stops WITHOUT saving (the last checkpoint written
 * stays the last good one) and fails with LEXT_ERR_NUMERIC, naming the step. */
LEXT_API lext_status lext_train(const lext_train_opts *o);

/* Data-parallel training over several processes (`mpirun -np P lext train`): the library
 * stays free of MPI; the caller passes the exchange. Sums are IN RANK ORDER
 * (((x_0 + x_1) + x_2) + ...), the same bits on every rank. Rank r owns the range
 * [displs[r], displs[r] + counts[r]) of a buffer:
 *   reduce_scatter_f32  every rank's buf summed, range by range: on return rank r's range
 *                       holds the sum over ranks of that range (the rest is unspecified)
 *   allgather_f32       every rank's range copied into every rank's buf
 *   gather_f32          every rank's range copied into rank 0's buf, the whole buffer;
 *                       another rank's buf points at its own range's counts[r] floats
 *   sum_f64             n doubles summed over the ranks, on every rank
 *   barrier             waits for every rank
 * Each returns LEXT_OK or an error (the callee says why). The training then updates only
 * its own share of the parameters, with only that share's Adam moments (ZeRO-1: the
 * moments are held once across the ranks; rank 0 gathers them at each checkpoint). */
typedef struct {
    int rank, size;
    lext_status (*reduce_scatter_f32)(float *buf, const size_t *counts, const size_t *displs, void *user);
    lext_status (*allgather_f32)(float *buf, const size_t *counts, const size_t *displs, void *user);
    lext_status (*gather_f32)(float *buf, const size_t *counts, const size_t *displs, void *user);
    lext_status (*sum_f64)(double *buf, size_t n, void *user);
    lext_status (*barrier)(void *user);
    void *user;
} lext_comm;

/* Options beyond lext_train_opts (a struct of its own: that one's layout is part of the ABI). */
typedef struct {
    /* A fresh run from this checkpoint's weights and architecture (o->model is ignored):
     * a new optimizer, schedule and data order (fine-tuning). Not with o->resume. [NULL] */
    const char *init;
    /* The share (0..1) of each batch's sequences replaced by passkey samples of the training
     * length (README, "lext passkey"; at least one sequence when > 0); saved with the
     * training state. -1: 0 for a fresh run, the checkpoint's on resume. [-1] */
    double passkey;
    /* Gradient accumulation: each step's batch (o->batch windows, drawn from (seed, step)
     * alone, whatever the number of ranks or where the run resumed) is cut into
     * n = accum x ranks micro-batches of batch / n windows; rank r computes micro-batches
     * r, r + P, ..., each gradient from zero; gradients and losses are summed raw, in the
     * order sum over ranks of (sum over the rank's micro-batches, in order), and scaled once
     * by the global target count. So P ranks equal one process with accum P bit for bit
     * (both sum g_0 + g_1 + ... in order). 0 with one rank: lext_train's single-batch path
     * (its own data order). On resume, 0 keeps the checkpoint's number of micro-batches
     * (accum = that / ranks). [0] */
    int64_t accum;
    const lext_comm *comm; /* NULL: one process [NULL] */
} lext_train_more;

LEXT_API void lext_train_more_default(lext_train_more *x);
/* lext_train with more options (NULL: the defaults; lext_train(o) is lext_train_with(o, NULL)). */
LEXT_API lext_status lext_train_with(const lext_train_opts *o, const lext_train_more *more);

/* ---------------------------------------------------------------------------------------
 * The machine and the matrix-product engine (lext info --system)
 * ------------------------------------------------------------------------------------- */

typedef struct {
    char cpu[192];         /* "Intel(R) Xeon(R) ... (family 6 model 143)" from /proc/cpuinfo */
    char isa[128];         /* the instruction sets that pick kernels: "avx2 fma avx512f ..." */
    char engine[64];       /* "oneDNN 2.6.3", or "OpenBLAS 0.3.21" (make BLAS=openblas) */
    char fp32_kernel[96];  /* what runs an fp32 product */
    char bf16_kernel[96];  /* what runs a bf16 product (--precision bf16) */
    bool bf16_native;      /* bf16 arithmetic (AMX) rather than fp32 on rounded operands */
    int threads;
} lext_system;

LEXT_API void lext_system_get(lext_system *s);
/* One line naming the CPU, engine and kernels: what a training checkpoint records as its
 * "machine", since bit-exact resumption holds on the same one (and thread count). */
LEXT_API void lext_system_machine(char *buf, size_t n);

/* Thread count for lext and its BLAS (one OpenMP pool). n <= 0: all cores. */
LEXT_API void lext_set_threads(int n);
LEXT_API int lext_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* LEXT_H */
