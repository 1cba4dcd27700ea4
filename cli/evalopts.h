/*
 * evalopts.h - what eval and resolution share: the attention options --attn (a comma list of
 * modes), --block (bca's l) and --window (W). They are checked before anything is loaded,
 * so a typo fails at once; the masks themselves need the model's training length, which
 * is the default for both block and window (lext_attn_make).
 */
#ifndef LEXT_CLI_EVALOPTS_H
#define LEXT_CLI_EVALOPTS_H

#include "args.h"
#include "lext.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    lext_attn_mode mode[LEXT_ATTN_COUNT]; /* in the order given, no repeats */
    size_t n;
    bool block_given, window_given;
    int64_t block, window;
} cli_masks;

/* Parses list ("causal,bca") and checks the overrides: block positive and even, window at
 * least 1, each given only with the mode it applies to. Prints "lext <cmd>: ..." and
 * returns 1 on error, 0 otherwise. */
int cli_masks_parse(const char *cmd, const char *list, bool block_given, int64_t block,
                    bool window_given, int64_t window, cli_masks *out);
/* One mask per mode for a model trained at train_len: lext_attn_make, then the overrides,
 * then lext_attn_validate (an odd train_len as bca's default block is an error that asks
 * for --block). out has room for mk->n masks. Returns 0, or 1 after printing. */
int cli_masks_build(const char *cmd, const cli_masks *mk, int64_t train_len, lext_attn *out);
/* "causal", "bca l=256", "window W=256" */
void cli_mask_name(const lext_attn *a, char *buf, size_t n);

/* ---- context extension: --rope-scaling, --rope-factor, --yarn-beta-fast/slow, --xpos-decay,
 * shared by eval, resolution and generate (lext.h "Context extension") ---- */
typedef struct {
    const char *method, *factor, *xpos_decay; /* "none"; "auto" or S; "true" or "scaled" */
    double beta_fast, beta_slow;
} cli_scaling;

#define CLI_SCALING_NOPTS 5
/* the option table's entries for s, to splice into a command's table */
#define CLI_SCALING_OPTS(s)                                                                         \
    {"--rope-scaling", OPT_STR, &(s)->method, 0, 0,                                                \
     "context extension of rope/xpos: none|linear|ntk|dynamic-ntk|yarn [none]", 0},               \
        {"--rope-factor", OPT_STR, &(s)->factor, 0, 0,                                             \
         "scale factor S >= 1, or auto = length / train length (dynamic-ntk: 1) [auto]", 0},      \
        {"--yarn-beta-fast", OPT_NUM, &(s)->beta_fast, -1e300, 1e300,                              \
         "yarn: pairs turning more than this often over the train length keep theta [32]", 0},    \
        {"--yarn-beta-slow", OPT_NUM, &(s)->beta_slow, -1e300, 1e300,                              \
         "yarn: pairs turning less than this often are interpolated [1]", 0},                     \
    {                                                                                              \
        "--xpos-decay", OPT_STR, &(s)->xpos_decay, 0, 0,                                           \
            "xpos decay on true positions or stretched by S: true|scaled [true]", 0                \
    }

void cli_scaling_init(cli_scaling *s);
/* Parses and checks what needs no model: a known method, a factor (auto or a number >= 1),
 * each option only with the method it applies to (a factor or --xpos-decay scaled need a
 * method, the betas yarn). Fills out; returns 0, or 1 after printing "lext <cmd>: ...". */
int cli_scaling_parse(const char *cmd, const cli_scaling *s, const cli_opt *opts, size_t nopts,
                      lext_rope_scaling *out);
/* Sets r on m (lext_model_set_rope_scaling: scaling an alibi model, a scaled decay on rope,
 * ... are refused with the library's message). Returns 0, or 1 after printing. */
int cli_scaling_apply(const char *cmd, lext_model *m, const lext_rope_scaling *r);
/* "none"; "yarn, factor auto (length / train length), beta_fast 32, beta_slow 1, xpos decay
 * on true positions" */
void cli_scaling_describe(const lext_rope_scaling *r, char *buf, size_t n);

/* {"method": "yarn", "factor": 4 or "auto", "beta_fast", "beta_slow", "xpos_decay": "true" |
 * "scaled"} for the JSON reports (a cJSON *; void * keeps cJSON out of this header) */
void *cli_scaling_json(const lext_rope_scaling *r);

/* ---- attention extensions: --sinks, --sink-pos, --self-extend, --rerope, --lambda, shared
 * by eval, resolution and generate (lext.h "Attention extensions") ---- */
typedef struct {
    int64_t sinks, rerope;
    const char *sink_pos, *self_extend, *lambda; /* "cache"; "G,W"; "G,L" */
} cli_ext;

#define CLI_EXT_NOPTS 5
#define CLI_EXT_OPTS(x)                                                                              \
    {"--sinks", OPT_INT, &(x)->sinks, 1, 1 << 30,                                                   \
     "attention sinks: the first K positions stay visible (window or bca) [off]", 0},              \
        {"--sink-pos", OPT_STR, &(x)->sink_pos, 0, 0,                                               \
         "where sinks sit: cache (StreamingLLM), absolute, capped [cache]", 0},                    \
        {"--self-extend", OPT_STR, &(x)->self_extend, 0, 0,                                         \
         "G,W: Self-Extend, neighbours within W exact, farther keys in groups of G [off]", 0},     \
        {"--rerope", OPT_INT, &(x)->rerope, 1, 1 << 30, "W: ReRoPE, relative positions clipped at W [off]", 0}, \
    {                                                                                               \
        "--lambda", OPT_STR, &(x)->lambda, 0, 0,                                                    \
            "G,L: LM-Infinite's Lambda mask, = --attn window --window L --sinks G --sink-pos capped", 0 \
    }

void cli_ext_init(cli_ext *x);
/* Parses and checks what needs no model: at most one method, --sink-pos only with --sinks,
 * G,W and G,L pairs of integers >= 1; --lambda rewrites the masks (*attn_s "window",
 * *window_given, *window = L) and refuses an --attn other than window or a --window. Sinks
 * need every mode of *attn_s to be window or bca. Returns 0, or 1 after printing. */
int cli_ext_parse(const char *cmd, const cli_ext *x, const cli_opt *opts, size_t nopts,
                  const char **attn_s, bool *window_given, int64_t *window, lext_attn_ext *out);
/* Sets e on m (refusals name the problem: cache sinks on alibi, ...). 0, or 1 after printing. */
int cli_ext_apply(const char *cmd, lext_model *m, const lext_attn_ext *e);
/* "none", "sinks 4 (cache positions)", "self-extend G 4, W 64", "rerope W 256" */
void cli_ext_describe(const lext_attn_ext *e, char *buf, size_t n);
/* {"method": ..., and its parameters} for the JSON reports (a cJSON *) */
void *cli_ext_json(const lext_attn_ext *e);

/* The options every inference command parses alike, in order: the attention extension
 * (which may rewrite the masks: --lambda), the masks, the rope scaling. Returns 0, or 1
 * after printing. */
int cli_inference_parse(const char *cmd, const cli_opt *opts, size_t nopts, const cli_ext *xo,
                        const cli_scaling *scl, const char **attn_s, int64_t block, int64_t window,
                        cli_masks *mk, lext_attn_ext *ext, lext_rope_scaling *rs);

/* Prints "rope scaling: ..." and "attention extension: ..." lines for what is set. */
void cli_inference_describe(FILE *f, const lext_rope_scaling *rs, const lext_attn_ext *ext);

/* "xpos, 4 layers, 4 heads, dim 256, ffn 1024, train length 256, 3,290,880 parameters" */
void cli_model_summary(const lext_model *m, char *buf, size_t n);

#endif
