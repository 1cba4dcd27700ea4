/*
 * trainopts.h - `lext train`'s options: the one table (names, kinds, ranges, help) and the
 * checks that turn the parsed values into lext_train_opts. cmd_train.c runs them for the
 * command; fuzz/fuzz_args.c runs the very same table and checks on arbitrary input.
 */
#ifndef LEXT_CLI_TRAINOPTS_H
#define LEXT_CLI_TRAINOPTS_H

#include "args.h"
#include "lext.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRAIN_MAX_OPTS 44

typedef struct {
    const char *pos, *precision, *data, *val, *out, *resume, *init, *task;
    int64_t layers, heads, dim, ffn, train_len, batch, steps;
    int64_t warmup, eval_every, save_every, stop_after, log_every, val_batches, seed, threads;
    int64_t accum;
    double timeout;
    double lr, min_lr, wd, clip, b1, b2, eps, gamma, scale_base, rope_base;
    bool untied, embed_scale;
    cli_opt opts[TRAIN_MAX_OPTS]; /* point into this struct: never copy it */
    size_t n_opts;
} train_args;

/* The defaults and the option table (whose destinations are a's fields). */
void train_args_init(train_args *a);
/* After cli_parse succeeded: the checks of the combination (what --resume fixes, --data
 * required, the model's configuration, --precision) and, when they pass, the model,
 * optimizer and run settings in o (lext_train_opts_default first) and more (--init,
 * --task). A fresh command whose --out already holds a training checkpoint of exactly
 * that run becomes a resume of it (o->resume = out): rerunning a crashed or killed job
 * continues it. Returns 0, or the exit
 * status after printing "lext train: ...". The caller sets out, stop and the report. */
int train_args_apply(const train_args *a, bool tty, lext_train_opts *o, lext_train_more *more);
/* "passkey" or "passkey:F" (F in (0, 1]; plain passkey: 0.5) -> F. 0, or 1 after printing. */
int parse_task(const char *cmd, const char *s, double *passkey);

#endif
