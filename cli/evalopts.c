/* evalopts.c - --attn, --block and --window, and the model summary line (see evalopts.h). */
#include "evalopts.h"
#include "args.h"

#include <stdio.h>
#include <string.h>

int cli_masks_parse(const char *cmd, const char *list, bool block_given, int64_t block,
                    bool window_given, int64_t window, cli_masks *out) {
    memset(out, 0, sizeof *out);
    char buf[256], *words[8], err[256];
    size_t nw = 0;
    if (strlen(list) >= sizeof buf) return cli_error(cmd, "--attn: the list is too long");
    strcpy(buf, list); /* parse_word_list splits in place */
    if (parse_word_list(buf, words, sizeof words / sizeof *words, &nw, err, sizeof err))
        return cli_error(cmd, "--attn: %s (expected modes separated by commas, e.g. causal,bca)",
                         err);
    bool has_bca = false, has_window = false;
    for (size_t i = 0; i < nw; i++) {
        lext_attn_mode m;
        if (lext_attn_parse(words[i], &m)) return cli_lib_error(cmd, "--attn");
        for (size_t j = 0; j < out->n; j++)
            if (out->mode[j] == m) return cli_error(cmd, "--attn: %s is given twice", words[i]);
        if (out->n == LEXT_ATTN_COUNT) return cli_error(cmd, "--attn: too many modes");
        out->mode[out->n++] = m;
        has_bca |= m == LEXT_ATTN_BCA;
        has_window |= m == LEXT_ATTN_WINDOW;
    }
    if (block_given) {
        if (block <= 0 || block % 2 != 0)
            return cli_error(cmd,
                             "--block must be a positive even number of bytes (bca splits the "
                             "input into query blocks of block/2), got %lld",
                             (long long)block);
        if (!has_bca) return cli_error(cmd, "--block applies to bca only: add bca to --attn");
    }
    if (window_given) {
        if (window < 1)
            return cli_error(cmd, "--window must be at least 1 (each query sees itself and the "
                                  "window-1 bytes before it), got %lld",
                             (long long)window);
        if (!has_window)
            return cli_error(cmd, "--window applies to the window mode only: add window to --attn");
    }
    out->block_given = block_given, out->block = block;
    out->window_given = window_given, out->window = window;
    return 0;
}

int cli_masks_build(const char *cmd, const cli_masks *mk, int64_t train_len, lext_attn *out) {
    for (size_t k = 0; k < mk->n; k++) {
        lext_attn a = lext_attn_make(mk->mode[k], train_len);
        if (mk->block_given) a.block = mk->block;
        if (mk->window_given) a.window = mk->window;
        if (a.mode == LEXT_ATTN_BCA && !mk->block_given && train_len % 2 != 0)
            return cli_error(cmd,
                             "bca takes the model's train_len %lld as its block by default, but "
                             "the block must be even: give one with --block",
                             (long long)train_len);
        if (lext_attn_validate(&a)) return cli_lib_error(cmd, "--attn");
        out[k] = a;
    }
    return 0;
}

void cli_mask_name(const lext_attn *a, char *buf, size_t n) {
    switch (a->mode) {
    case LEXT_ATTN_BCA: snprintf(buf, n, "bca l=%lld", (long long)a->block); break;
    case LEXT_ATTN_WINDOW: snprintf(buf, n, "window W=%lld", (long long)a->window); break;
    default: snprintf(buf, n, "%s", lext_attn_name(a->mode)); break;
    }
}

void cli_model_summary(const lext_model *m, char *buf, size_t n) {
    const lext_config *c = lext_model_config(m);
    char np[32];
    fmt_count(np, sizeof np, (double)lext_model_num_params(m));
    snprintf(buf, n, "%s, %d layers, %d heads, dim %d, ffn %d, train length %d, %s parameters",
             lext_pos_name(c->pos), c->n_layer, c->n_head, c->d_model, c->d_ff, c->train_len, np);
}

