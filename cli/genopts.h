/*
 * genopts.h - `lext generate`'s options: the one table and the checks that need no model
 * (sampling parameters, the attention mode and its size, --max-context). cmd_generate.c
 * runs them for the command; fuzz/fuzz_args.c runs the same on arbitrary input.
 */
#ifndef LEXT_CLI_GENOPTS_H
#define LEXT_CLI_GENOPTS_H

#include "args.h"
#include "evalopts.h"
#include "lext.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GEN_MAX_OPTS 32
#define CAUSAL_MAX_CONTEXT 4096 /* default --max-context */

typedef struct {
    const char *model_path, *prompt, *prompt_file, *attn_name;
    int64_t tokens, top_k, seed, window, block, max_context, threads;
    double temperature, top_p;
    bool stats;
    cli_scaling scaling;
    cli_ext ext_opts;
    /* set by gen_args_check */
    lext_rope_scaling rope_scaling; /* an auto factor is resolved by the command, knowing the prompt */
    lext_attn_ext ext;              /* cli_ext_parse (--lambda sets the window mode) */
    lext_attn_mode mode;
    bool window_given, block_given;
    cli_opt opts[GEN_MAX_OPTS]; /* point into this struct: never copy it */
    size_t n_opts;
} gen_args;

/* The defaults and the option table (whose destinations are a's fields). */
void gen_args_init(gen_args *a);
/* After cli_parse succeeded: --model and --tokens given, --prompt and --prompt-file not
 * both, temperature >= 0, top-p in (0, 1], top-k >= 0, a known --attn and only its own
 * size option (--window, --block even and >= 2, --max-context >= 1, default 4096). Sets
 * mode, window_given, block_given, max_context and rope_scaling (cli_scaling_parse). Returns 0, or the exit status after
 * printing "lext generate: ...". */
int gen_args_check(gen_args *a);

#endif
