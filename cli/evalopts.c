/* evalopts.c - --attn, --block and --window, and the model summary line (see evalopts.h). */
#include "evalopts.h"
#include "args.h"

#include <cjson/cJSON.h>
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

void cli_scaling_init(cli_scaling *s) {
    lext_rope_scaling d;
    lext_rope_scaling_default(&d);
    *s = (cli_scaling){"none", "auto", "true", d.beta_fast, d.beta_slow};
}

int cli_scaling_parse(const char *cmd, const cli_scaling *s, const cli_opt *opts, size_t nopts,
                      lext_rope_scaling *out) {
    lext_rope_scaling_default(out);
    if (lext_rope_scaling_parse(s->method, &out->kind)) return cli_lib_error(cmd, "--rope-scaling");
    const bool none = out->kind == LEXT_ROPE_SCALING_NONE;
    if (cli_find(opts, nopts, "--rope-factor")->given && none)
        return cli_error(cmd, "--rope-factor applies with --rope-scaling linear, ntk, dynamic-ntk "
                              "or yarn");
    if (strcmp(s->factor, "auto") != 0) {
        char err[128];
        if (parse_f64(s->factor, 1, 1e6, &out->factor, err, sizeof err))
            return cli_error(cmd, "--rope-factor: %s (expected auto or a factor >= 1, e.g. 4)", err);
    }
    const bool bf = cli_find(opts, nopts, "--yarn-beta-fast")->given,
               bs = cli_find(opts, nopts, "--yarn-beta-slow")->given;
    if ((bf || bs) && out->kind != LEXT_ROPE_SCALING_YARN)
        return cli_error(cmd, "--yarn-beta-fast and --yarn-beta-slow apply with --rope-scaling yarn");
    out->beta_fast = s->beta_fast;
    out->beta_slow = s->beta_slow;
    if (strcmp(s->xpos_decay, "scaled") == 0) out->xpos_decay_scaled = true;
    else if (strcmp(s->xpos_decay, "true") != 0)
        return cli_error(cmd, "--xpos-decay must be true (the decay on true positions) or scaled "
                              "(its scale base times the factor), got '%s'",
                         s->xpos_decay);
    if (lext_rope_scaling_validate(out, NULL)) return cli_lib_error(cmd, "--rope-scaling");
    return 0;
}

int cli_scaling_apply(const char *cmd, lext_model *m, const lext_rope_scaling *r) {
    if (lext_model_set_rope_scaling(m, r)) return cli_lib_error(cmd, "--rope-scaling");
    return 0;
}

void cli_scaling_describe(const lext_rope_scaling *r, char *buf, size_t n) {
    if (r->kind == LEXT_ROPE_SCALING_NONE) {
        snprintf(buf, n, "none");
        return;
    }
    char f[64];
    if (r->factor > 0) snprintf(f, sizeof f, "factor %g", r->factor);
    else if (r->kind == LEXT_ROPE_SCALING_DYNAMIC_NTK) snprintf(f, sizeof f, "factor 1");
    else snprintf(f, sizeof f, "factor auto (length / train length)");
    size_t k = (size_t)snprintf(buf, n, "%s, %s", lext_rope_scaling_name(r->kind), f);
    if (k < n && r->kind == LEXT_ROPE_SCALING_YARN)
        k += (size_t)snprintf(buf + k, n - k, ", beta_fast %g, beta_slow %g", r->beta_fast, r->beta_slow);
    if (k < n && r->xpos_decay_scaled) snprintf(buf + k, n - k, ", xpos decay scaled");
}

void *cli_scaling_json(const lext_rope_scaling *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", lext_rope_scaling_name(r->kind));
    if (r->factor > 0) cJSON_AddNumberToObject(o, "factor", r->factor);
    else cJSON_AddStringToObject(o, "factor", "auto");
    cJSON_AddNumberToObject(o, "beta_fast", r->beta_fast);
    cJSON_AddNumberToObject(o, "beta_slow", r->beta_slow);
    cJSON_AddStringToObject(o, "xpos_decay", r->xpos_decay_scaled ? "scaled" : "true");
    return o;
}

void cli_ext_init(cli_ext *x) { *x = (cli_ext){0, 0, "cache", NULL, NULL}; }

/* "G,W" -> two integers >= 1 */
static int parse_pair(const char *cmd, const char *opt, const char *s, const char *what,
                      int64_t *a, int64_t *b) {
    int64_t v[2];
    size_t n = 0;
    char err[128];
    if (parse_i64_list(s, 1, 1 << 30, v, 2, &n, err, sizeof err) || n != 2)
        return cli_error(cmd, "%s expects %s, two integers >= 1 separated by a comma, got '%s'%s%s",
                         opt, what, s, n == 2 ? ": " : "", n == 2 ? err : "");
    *a = v[0], *b = v[1];
    return 0;
}

int cli_ext_parse(const char *cmd, const cli_ext *x, const cli_opt *opts, size_t nopts,
                  const char **attn_s, bool *window_given, int64_t *window, lext_attn_ext *out) {
    lext_attn_ext_default(out);
    const bool sinks = cli_find(opts, nopts, "--sinks")->given,
               pos = cli_find(opts, nopts, "--sink-pos")->given,
               se = cli_find(opts, nopts, "--self-extend")->given,
               rr = cli_find(opts, nopts, "--rerope")->given,
               lam = cli_find(opts, nopts, "--lambda")->given;
    if (sinks + se + rr + lam > 1)
        return cli_error(cmd, "--sinks, --self-extend, --rerope and --lambda are exclusive: give one");
    if (pos && !sinks)
        return cli_error(cmd, "--sink-pos applies with --sinks (--lambda places its sinks itself)");
    if (sinks) {
        out->kind = LEXT_EXT_SINKS;
        out->sinks = x->sinks;
        if (lext_sink_pos_parse(x->sink_pos, &out->sink_pos)) return cli_lib_error(cmd, "--sink-pos");
    } else if (se) {
        out->kind = LEXT_EXT_SELF_EXTEND;
        if (parse_pair(cmd, "--self-extend", x->self_extend, "G,W (group size, neighbour window)",
                       &out->group, &out->neighbors))
            return 1;
    } else if (rr) {
        out->kind = LEXT_EXT_REROPE;
        out->clip = x->rerope;
    } else if (lam) {
        int64_t g = 0, l = 0;
        if (parse_pair(cmd, "--lambda", x->lambda, "G,L (global keys, local window)", &g, &l)) return 1;
        if (cli_find(opts, nopts, "--attn")->given && strcmp(*attn_s, "window") != 0)
            return cli_error(cmd, "--lambda is a window of L keys plus G sinks: it takes no --attn "
                                  "other than window");
        if (*window_given)
            return cli_error(cmd, "--lambda G,L sets the window to L: drop --window");
        *attn_s = "window";
        *window_given = true;
        *window = l;
        *out = (lext_attn_ext){LEXT_EXT_SINKS, g, LEXT_SINK_CAPPED, 0, 0, 0};
    }
    if (out->kind == LEXT_EXT_SINKS) { /* every mode must be window or bca */
        char buf[256], *words[8], err[128];
        size_t nw = 0;
        snprintf(buf, sizeof buf, "%s", *attn_s);
        if (!parse_word_list(buf, words, 8, &nw, err, sizeof err))
            for (size_t i = 0; i < nw; i++)
                if (strcmp(words[i], "window") != 0 && strcmp(words[i], "bca") != 0)
                    return cli_error(cmd, "--sinks applies with --attn window or bca, not %s "
                                          "(causal attention already sees every key)",
                                     words[i]);
    }
    if (lext_attn_ext_validate(out, NULL, NULL)) return cli_lib_error(cmd, "attention extension");
    return 0;
}

int cli_ext_apply(const char *cmd, lext_model *m, const lext_attn_ext *e) {
    if (lext_model_set_attn_ext(m, e)) return cli_lib_error(cmd, lext_attn_ext_name(e->kind));
    return 0;
}

void cli_ext_describe(const lext_attn_ext *e, char *buf, size_t n) {
    switch (e->kind) {
    case LEXT_EXT_SINKS:
        snprintf(buf, n, "sinks %lld (%s positions)", (long long)e->sinks, lext_sink_pos_name(e->sink_pos));
        break;
    case LEXT_EXT_SELF_EXTEND:
        snprintf(buf, n, "self-extend G %lld, W %lld", (long long)e->group, (long long)e->neighbors);
        break;
    case LEXT_EXT_REROPE: snprintf(buf, n, "rerope W %lld", (long long)e->clip); break;
    default: snprintf(buf, n, "none"); break;
    }
}

void *cli_ext_json(const lext_attn_ext *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", lext_attn_ext_name(e->kind));
    if (e->kind == LEXT_EXT_SINKS) {
        cJSON_AddNumberToObject(o, "sinks", (double)e->sinks);
        cJSON_AddStringToObject(o, "sink_pos", lext_sink_pos_name(e->sink_pos));
    } else if (e->kind == LEXT_EXT_SELF_EXTEND) {
        cJSON_AddNumberToObject(o, "group", (double)e->group);
        cJSON_AddNumberToObject(o, "neighbors", (double)e->neighbors);
    } else if (e->kind == LEXT_EXT_REROPE) {
        cJSON_AddNumberToObject(o, "window", (double)e->clip);
    }
    return o;
}

int cli_inference_parse(const char *cmd, const cli_opt *opts, size_t nopts, const cli_ext *xo,
                        const cli_scaling *scl, const char **attn_s, int64_t block, int64_t window,
                        cli_masks *mk, lext_attn_ext *ext, lext_rope_scaling *rs) {
    bool window_given = cli_find(opts, nopts, "--window")->given;
    if (cli_ext_parse(cmd, xo, opts, nopts, attn_s, &window_given, &window, ext)) return 1;
    if (cli_masks_parse(cmd, *attn_s, cli_find(opts, nopts, "--block")->given, block, window_given,
                        window, mk))
        return 1;
    return cli_scaling_parse(cmd, scl, opts, nopts, rs);
}

void cli_inference_describe(FILE *f, const lext_rope_scaling *rs, const lext_attn_ext *ext) {
    char line[256];
    if (rs && rs->kind != LEXT_ROPE_SCALING_NONE) {
        cli_scaling_describe(rs, line, sizeof line);
        fprintf(f, "rope scaling: %s\n", line);
    }
    if (ext && ext->kind != LEXT_EXT_NONE) {
        cli_ext_describe(ext, line, sizeof line);
        fprintf(f, "attention extension: %s\n", line);
    }
}

void cli_model_summary(const lext_model *m, char *buf, size_t n) {
    const lext_config *c = lext_model_config(m);
    char np[32];
    fmt_count(np, sizeof np, (double)lext_model_num_params(m));
    snprintf(buf, n, "%s, %d layers, %d heads, dim %d, ffn %d, train length %d, %s parameters",
             lext_pos_name(c->pos), c->n_layer, c->n_head, c->d_model, c->d_ff, c->train_len, np);
}

