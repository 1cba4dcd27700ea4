/*
 * evalopts.h - what eval and resolution share: the attention options --attn (a comma list of
 * modes), --block (bca's l) and --window (W). They are checked before anything is loaded,
 * so a typo fails at once; the masks themselves need the model's training length, which
 * is the default for both block and window (lext_attn_make).
 */
#ifndef LEXT_CLI_EVALOPTS_H
#define LEXT_CLI_EVALOPTS_H

#include "lext.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* "xpos, 4 layers, 4 heads, dim 256, ffn 1024, train length 256, 3,290,880 parameters" */
void cli_model_summary(const lext_model *m, char *buf, size_t n);

#endif
