/* genopts.c - `lext generate`'s option table and model-free checks (see genopts.h). */
#include "genopts.h"

#include <string.h>

void gen_args_init(gen_args *a) {
    memset(a, 0, sizeof *a);
    a->attn_name = "window";
    a->tokens = -1, a->seed = 1;
    a->temperature = 0.8, a->top_p = 1.0;
    cli_scaling_init(&a->scaling);
    cli_ext_init(&a->ext_opts);
    const cli_opt opts[] = {
        {"--model", OPT_STR, &a->model_path, 0, 0, "checkpoint to generate from (required)", 0},
        {"--prompt", OPT_STR, &a->prompt, 0, 0, "prompt text, as bytes [empty]", 0},
        {"--prompt-file", OPT_STR, &a->prompt_file, 0, 0, "read the prompt from a file (- : stdin)", 0},
        {"--tokens", OPT_INT, &a->tokens, 0, (double)(1LL << 40), "bytes to generate (required)", 0},
        {"--temperature", OPT_NUM, &a->temperature, -1e300, 1e300, "softmax temperature, 0 = greedy [0.8]", 0},
        {"--top-k", OPT_INT, &a->top_k, (double)INT32_MIN, (double)INT32_MAX, "keep the K most likely bytes, 0 = off [0]", 0},
        {"--top-p", OPT_NUM, &a->top_p, -1e300, 1e300, "nucleus: smallest set reaching mass P, in (0, 1]; 1 = off [1.0]", 0},
        {"--seed", OPT_INT, &a->seed, 0, (double)INT64_MAX, "sampling seed [1]", 0},
        {"--attn", OPT_STR, &a->attn_name, 0, 0, "window|bca|causal [window]", 0},
        {"--window", OPT_INT, &a->window, -1e18, 1e18, "window: keys per query [model's train_len]", 0},
        {"--block", OPT_INT, &a->block, -1e18, 1e18, "bca: block l, even; generation sees the last l keys [train_len]", 0},
        {"--max-context", OPT_INT, &a->max_context, -1e18, 1e18, "causal: prompt + tokens limit [4096]", 0},
        {"--threads", OPT_INT, &a->threads, 1, 4096, "threads [all cores]", 0},
        {"--stats", OPT_FLAG, &a->stats, 0, 0, "also print a machine-readable stats line to stderr", 0},
        CLI_SCALING_OPTS(&a->scaling),
        CLI_EXT_OPTS(&a->ext_opts),
    };
    _Static_assert(sizeof opts / sizeof *opts <= GEN_MAX_OPTS, "raise GEN_MAX_OPTS");
    a->n_opts = sizeof opts / sizeof *opts;
    memcpy(a->opts, opts, sizeof opts);
}

static bool given(const gen_args *a, const char *name) {
    return cli_find(a->opts, a->n_opts, name)->given;
}

int gen_args_check(gen_args *a) {
    const char *cmd = "generate";
    if (!a->model_path)
        return cli_error(cmd, "--model M is required (a checkpoint written by lext train)");
    if (!given(a, "--tokens"))
        return cli_error(cmd, "--tokens N is required (how many bytes to generate)");
    if (a->prompt && a->prompt_file)
        return cli_error(cmd, "--prompt and --prompt-file are exclusive: give one of them");
    if (!(a->temperature >= 0))
        return cli_error(cmd, "--temperature must be >= 0 (0 = greedy), got %g", a->temperature);
    if (!(a->top_p > 0 && a->top_p <= 1))
        return cli_error(cmd, "--top-p must be in (0, 1] (1 = off), got %g", a->top_p);
    if (a->top_k < 0)
        return cli_error(cmd, "--top-k must be >= 0 (0 = off), got %lld", (long long)a->top_k);
    a->window_given = given(a, "--window");
    if (cli_ext_parse(cmd, &a->ext_opts, a->opts, a->n_opts, &a->attn_name, &a->window_given,
                      &a->window, &a->ext))
        return 1;
    if (lext_attn_parse(a->attn_name, &a->mode)) return cli_lib_error(cmd, "--attn");
    a->block_given = given(a, "--block");
    const bool maxc_given = given(a, "--max-context");
    if (a->window_given && a->mode != LEXT_ATTN_WINDOW)
        return cli_error(cmd, "--window applies to --attn window only (bca uses --block)");
    if (a->block_given && a->mode != LEXT_ATTN_BCA)
        return cli_error(cmd, "--block applies to --attn bca only (window uses --window)");
    if (maxc_given && a->mode != LEXT_ATTN_CAUSAL)
        return cli_error(cmd, "--max-context applies to --attn causal only (window and bca "
                              "keep a fixed number of keys and run for any length)");
    if (a->window_given && a->window < 1)
        return cli_error(cmd, "--window must be at least 1, got %lld", (long long)a->window);
    if (a->block_given && (a->block < 2 || a->block % 2))
        return cli_error(cmd, "--block must be positive and even (query blocks are block/2), got %lld",
                         (long long)a->block);
    if (maxc_given && a->max_context < 1)
        return cli_error(cmd, "--max-context must be at least 1, got %lld", (long long)a->max_context);
    if (!maxc_given) a->max_context = CAUSAL_MAX_CONTEXT;
    return cli_scaling_parse(cmd, &a->scaling, a->opts, a->n_opts, &a->rope_scaling);
}
