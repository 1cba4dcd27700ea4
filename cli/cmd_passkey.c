/*
 * cmd_passkey.c - `lext passkey`: passkey retrieval by length and depth (lext.h, "Passkey
 * retrieval"), under every attention mode and inference method the model takes. For each
 * mode, context length L and depth, `--trials` prompts of L - 5 bytes (the same prompts for
 * every mode and model: each drawn from the seed, L, the depth and the trial), each scored
 * from one forward pass of the L bytes prompt + " " + the key's first four digits: greedy exact match, digits
 * right teacher-forced, and the answer's log-probability. Prints a table per mode (length
 * x depth, exact-match accuracy), writes JSON and an SVG heatmap.
 */
#include "args.h"
#include "commands.h"
#include "evalopts.h"
#include "lext.h"
#include "svg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_LEN = 32, MAX_DEPTHS = 101, TOKENS_PER_PASS = 16384 };

typedef struct {
    int64_t trials, exact, digits;
    double logprob;
} cell;

/* the prompt's seed: one per (seed, length, depth, trial), so every mode and every model
 * sees the same prompts (splitmix64 over the four) */
static uint64_t prompt_seed(uint64_t seed, int64_t L, double depth, int64_t t) {
    uint64_t z = seed;
    const uint64_t parts[3] = {(uint64_t)L, (uint64_t)llround(depth * 1000), (uint64_t)t};
    for (int i = 0; i < 3; i++) {
        z += 0x9e3779b97f4a7c15ULL + parts[i];
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
    }
    return z;
}

static int parse_depths(const char *s, double *out, size_t *n) {
    char buf[1024], *words[MAX_DEPTHS], err[128];
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    if (parse_word_list(buf, words, MAX_DEPTHS, n, err, sizeof err)) return -1;
    for (size_t i = 0; i < *n; i++)
        if (parse_f64(words[i], 0, 100, &out[i], err, sizeof err)) return -1;
    return *n ? 0 : -1;
}

static cJSON *config_json(const lext_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pos", lext_pos_name(c->pos));
    cJSON_AddNumberToObject(o, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(o, "n_head", c->n_head);
    cJSON_AddNumberToObject(o, "d_model", c->d_model);
    cJSON_AddNumberToObject(o, "train_len", c->train_len);
    return o;
}

int cmd_passkey(int argc, char **argv) {
    const char *cmd = "passkey";
    const char *model_path = NULL, *lengths_s = NULL, *depths_s = "0,10,20,30,40,50,60,70,80,90,100";
    const char *attn_s = "causal", *json_path = NULL, *svg_path = NULL, *filler_path = NULL;
    int64_t trials = 20, seed = 1, block = 0, window = 0, threads = 0, distractors = 0;
    bool show = false;
    cli_scaling scl;
    cli_scaling_init(&scl);
    cli_ext xo;
    cli_ext_init(&xo);
    cli_opt opts[] = {
        {"--model", OPT_STR, &model_path, 0, 0, "checkpoint to test (byte-level)", 0},
        {"--lengths", OPT_STR, &lengths_s, 0, 0, "context lengths L: the prompt is L - 5 bytes [1x,2x,4x,8x,16x the training length]", 0},
        {"--depths", OPT_STR, &depths_s, 0, 0, "key depths, % of the filler before it [0,10,...,100]", 0},
        {"--trials", OPT_INT, &trials, 1, 1 << 20, "prompts per length and depth [20]", 0},
        {"--seed", OPT_INT, &seed, 0, (double)INT64_MAX, "draws the keys (and filler, distractors) [1]", 0},
        {"--filler", OPT_STR, &filler_path, 0, 0, "documents whose text is the filler (harder) [the reference's sentences]", 0},
        {"--distractors", OPT_INT, &distractors, 0, LEXT_PASSKEY_MAX_DISTRACTORS, "\"The pass code is N.\" sentences in the filler [0]", 0},
        {"--attn", OPT_STR, &attn_s, 0, 0, "masks, any of causal,bca,window [causal]", 0},
        {"--block", OPT_INT, &block, -1e18, 1 << 30, "bca block l, even [train length]", 0},
        {"--window", OPT_INT, &window, -1e18, 1 << 30, "window W [train length]", 0},
        {"--json", OPT_STR, &json_path, 0, 0, "write every cell as JSON", 0},
        {"--svg", OPT_STR, &svg_path, 0, 0, "draw the accuracy heatmaps (length x depth) as SVG", 0},
        {"--show", OPT_FLAG, &show, 0, 0, "print the first prompt of each length and depth, then exit", 0},
        {"--threads", OPT_INT, &threads, 1, 4096, "threads [all cores]", 0},
        CLI_SCALING_OPTS(&scl),
        CLI_EXT_OPTS(&xo),
    };
    const size_t n = sizeof opts / sizeof *opts;
    int rc = cli_parse(cmd, "--model FILE [options]", argc, argv, opts, n, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!model_path) return cli_error(cmd, "--model FILE is required (a checkpoint from lext train)");
    double depths[MAX_DEPTHS];
    size_t nd = 0;
    if (parse_depths(depths_s, depths, &nd))
        return cli_error(cmd, "--depths: expected percentages in 0..100 separated by commas (e.g. "
                              "0,50,100), got '%s'",
                         depths_s);
    lext_attn_ext ext;
    cli_masks mk;
    lext_rope_scaling rs;
    if (cli_inference_parse(cmd, opts, n, &xo, &scl, &attn_s, block, window, &mk, &ext, &rs)) return 1;

    lext_model *m = NULL;
    if (lext_checkpoint_load(model_path, &m, NULL, NULL)) return cli_lib_error(cmd, "--model");
    const lext_config *c = lext_model_config(m);
    lext_attn modes[LEXT_ATTN_COUNT];
    lext_dataset filler = {0};
    lext_ctx *ctx = NULL;
    int32_t *tok = NULL;
    uint8_t *buf = NULL;
    char (*keys)[LEXT_PASSKEY_DIGITS + 1] = NULL;
    cell *cells = NULL;
    cJSON *root = NULL;
    rc = 0;
    if (c->vocab_size != 256) {
        rc = cli_error(cmd, "%s has a vocabulary of %d; the passkey task is bytes (256)", model_path,
                       c->vocab_size);
        goto done;
    }
    if (cli_scaling_apply(cmd, m, &rs) || cli_ext_apply(cmd, m, &ext) ||
        cli_masks_build(cmd, &mk, c->train_len, modes)) {
        rc = 1;
        goto done;
    }
    int64_t lengths[MAX_LEN];
    size_t nl = 0;
    char err[256];
    if (lengths_s) {
        if (parse_i64_list(lengths_s, 1, 1 << 24, lengths, MAX_LEN, &nl, err, sizeof err)) {
            rc = cli_error(cmd, "--lengths: %s (expected lengths in bytes separated by commas)", err);
            goto done;
        }
    } else {
        for (int k = 0; k < 5; k++) lengths[nl++] = (int64_t)c->train_len << k;
    }
    /* a context of L bytes: the prompt (L - 5), the space and four digits; the fifth digit is
     * predicted from them, so L = the training length is the training samples' shape */
    const int64_t Lmin = lext_passkey_min_length() + LEXT_PASSKEY_DIGITS;
    int64_t Lmax = 0;
    for (size_t i = 0; i < nl; i++) {
        if (lengths[i] < Lmin) {
            rc = cli_error(cmd, "--lengths: a context of %lld bytes is shorter than the passkey "
                                "template and its answer (%lld bytes without filler)",
                           (long long)lengths[i], (long long)Lmin);
            goto done;
        }
        Lmax = lengths[i] > Lmax ? lengths[i] : Lmax;
    }
    if (c->pos == LEXT_POS_LEARNED && Lmax > c->train_len) {
        rc = cli_error(cmd, "learned positions cover %d bytes, not a context of %lld", c->train_len,
                       (long long)Lmax);
        goto done;
    }
    if (filler_path && lext_dataset_load(filler_path, &filler)) {
        rc = cli_lib_error(cmd, "--filler");
        goto done;
    }
    lext_set_threads((int)threads);
    /* one workspace for the longest: a pass holds as many prompts of one length as fit in
     * TOKENS_PER_PASS tokens (at least one) */
    const int64_t Tmax = Lmax;
    const int64_t max_batch = TOKENS_PER_PASS / Tmax > 0 ? TOKENS_PER_PASS / Tmax : 1;
    const int64_t cap_tokens = max_batch * Tmax;
    if (!show && lext_ctx_create(m, max_batch, Tmax, false, &ctx)) {
        rc = cli_lib_error(cmd, "workspace");
        goto done;
    }
    tok = malloc((size_t)cap_tokens * sizeof *tok);
    buf = malloc((size_t)Lmax + 1);
    keys = malloc((size_t)cap_tokens * sizeof *keys);
    cells = calloc(mk.n * nl * nd, sizeof *cells);
    if (!tok || !buf || !keys || !cells) {
        rc = cli_error(cmd, "out of memory");
        goto done;
    }
    char line[256];
    cli_model_summary(m, line, sizeof line);
    if (!show) {
        printf("model: %s (%s)\n", model_path, line);
        printf("passkey: %lld trials per length and depth, seed %lld, filler %s%s%s\n", (long long)trials,
               (long long)seed, filler_path ? "from " : "the reference's sentences",
               filler_path ? filler_path : "", distractors ? ", with distractors" : "");
        cli_inference_describe(stdout, &rs, &ext);
        fflush(stdout);
    }
    const bool tty = is_tty(STDERR_FILENO);
    const double t0 = cli_now();
    for (size_t li = 0; li < nl; li++) {
        const int64_t T = lengths[li], L = T - LEXT_PASSKEY_DIGITS, per = cap_tokens / T;
        for (size_t di = 0; di < nd; di++) {
            lext_passkey_spec sp;
            lext_passkey_spec_default(&sp);
            sp.length = L;
            sp.depth = depths[di];
            sp.filler = filler_path ? &filler : NULL;
            sp.distractors = (int)distractors;
            if (show) {
                char key[LEXT_PASSKEY_DIGITS + 1];
                sp.seed = prompt_seed((uint64_t)seed, T, depths[di], 0);
                if (lext_passkey_make(&sp, buf, key)) {
                    rc = cli_lib_error(cmd, "prompt");
                    goto done;
                }
                printf("=== context %lld (prompt %lld) depth %g key %s\n", (long long)T, (long long)L,
                       depths[di], key);
                fwrite(buf, 1, (size_t)L, stdout);
                printf("\n");
                continue;
            }
            for (int64_t t0_ = 0; t0_ < trials; t0_ += per) {
                const int64_t B = trials - t0_ < per ? trials - t0_ : per;
                for (int64_t b = 0; b < B; b++) {
                    sp.seed = prompt_seed((uint64_t)seed, T, depths[di], t0_ + b);
                    if (lext_passkey_make(&sp, buf, keys[b])) {
                        rc = cli_lib_error(cmd, "prompt");
                        goto done;
                    }
                    int32_t *row = tok + b * T;
                    for (int64_t i = 0; i < L; i++) row[i] = buf[i];
                    row[L] = ' ';
                    for (int k = 0; k < LEXT_PASSKEY_DIGITS - 1; k++) row[L + 1 + k] = (unsigned char)keys[b][k];
                }
                for (size_t k = 0; k < mk.n; k++) {
                    if (lext_forward(m, ctx, tok, NULL, B, T, &modes[k], NULL)) {
                        rc = cli_lib_error(cmd, "forward");
                        goto done;
                    }
                    const float *lg = lext_ctx_logits(ctx);
                    cell *ce = &cells[(k * nl + li) * nd + di];
                    for (int64_t b = 0; b < B; b++) {
                        lext_passkey_score sc;
                        lext_passkey_score_logits(lg + ((size_t)(b * T + L - 1)) * (size_t)c->vocab_size,
                                                  c->vocab_size, keys[b], &sc);
                        ce->trials++;
                        ce->exact += sc.exact;
                        ce->digits += sc.digits_right;
                        ce->logprob += sc.logprob;
                    }
                }
            }
            if (tty) {
                fprintf(stderr, "\r\033[Kpasskey: length %lld, depth %g done (%.0f s)", (long long)T,
                        depths[di], cli_now() - t0);
                fflush(stderr);
            }
        }
    }
    if (tty) fprintf(stderr, "\r\033[K");
    if (show) goto done;

    /* tables: per mode, depth rows x length columns, exact-match accuracy */
    for (size_t k = 0; k < mk.n; k++) {
        char mname[48];
        cli_mask_name(&modes[k], mname, sizeof mname);
        printf("\n%s: greedy exact match, %% of %lld trials (rows: depth %%, columns: context length)\n",
               mname, (long long)trials);
        printf("%-7s", "depth");
        for (size_t li = 0; li < nl; li++) printf(" %8lld", (long long)lengths[li]);
        printf("\n");
        for (size_t di = 0; di < nd; di++) {
            printf("%-7g", depths[di]);
            for (size_t li = 0; li < nl; li++) {
                const cell *ce = &cells[(k * nl + li) * nd + di];
                printf(" %8.0f", 100.0 * (double)ce->exact / (double)ce->trials);
            }
            printf("\n");
        }
        printf("%-7s", "all");
        for (size_t li = 0; li < nl; li++) {
            int64_t e = 0, tr = 0;
            for (size_t di = 0; di < nd; di++) e += cells[(k * nl + li) * nd + di].exact, tr += cells[(k * nl + li) * nd + di].trials;
            printf(" %8.1f", 100.0 * (double)e / (double)tr);
        }
        printf("\n%-7s", "digits");
        for (size_t li = 0; li < nl; li++) {
            int64_t dg = 0, tr = 0;
            for (size_t di = 0; di < nd; di++) dg += cells[(k * nl + li) * nd + di].digits, tr += cells[(k * nl + li) * nd + di].trials;
            printf(" %8.1f", 100.0 * (double)dg / (double)(tr * LEXT_PASSKEY_DIGITS));
        }
        printf("   (%% of digits right, teacher-forced)\n");
    }
    printf("\nscored in %.1f s with %d threads\n", cli_now() - t0, lext_get_threads());

    if (json_path) {
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "lext", "passkey");
        cJSON_AddStringToObject(root, "model", model_path);
        cJSON_AddItemToObject(root, "config", config_json(c));
        cJSON_AddNumberToObject(root, "trials", (double)trials);
        cJSON_AddNumberToObject(root, "seed", (double)seed);
        if (filler_path) cJSON_AddStringToObject(root, "filler", filler_path);
        else cJSON_AddStringToObject(root, "filler", "reference");
        cJSON_AddNumberToObject(root, "distractors", (double)distractors);
        cJSON_AddItemToObject(root, "rope_scaling", cli_scaling_json(&rs));
        cJSON_AddItemToObject(root, "attn_ext", cli_ext_json(&ext));
        cJSON *jl = cJSON_AddArrayToObject(root, "lengths");
        for (size_t li = 0; li < nl; li++) cJSON_AddItemToArray(jl, cJSON_CreateNumber((double)lengths[li]));
        cJSON *jd = cJSON_AddArrayToObject(root, "depths");
        for (size_t di = 0; di < nd; di++) cJSON_AddItemToArray(jd, cJSON_CreateNumber(depths[di]));
        cJSON *jm = cJSON_AddArrayToObject(root, "modes");
        cJSON *jc = cJSON_AddArrayToObject(root, "cells");
        for (size_t k = 0; k < mk.n; k++) {
            cJSON *mo = cJSON_CreateObject();
            cJSON_AddStringToObject(mo, "mode", lext_attn_name(modes[k].mode));
            if (modes[k].mode == LEXT_ATTN_BCA) cJSON_AddNumberToObject(mo, "block", (double)modes[k].block);
            if (modes[k].mode == LEXT_ATTN_WINDOW) cJSON_AddNumberToObject(mo, "window", (double)modes[k].window);
            cJSON_AddItemToArray(jm, mo);
            for (size_t li = 0; li < nl; li++)
                for (size_t di = 0; di < nd; di++) {
                    const cell *ce = &cells[(k * nl + li) * nd + di];
                    cJSON *o = cJSON_CreateObject();
                    cJSON_AddStringToObject(o, "mode", lext_attn_name(modes[k].mode));
                    cJSON_AddNumberToObject(o, "length", (double)lengths[li]);
                    cJSON_AddNumberToObject(o, "depth", depths[di]);
                    cJSON_AddNumberToObject(o, "trials", (double)ce->trials);
                    cJSON_AddNumberToObject(o, "exact", (double)ce->exact);
                    cJSON_AddNumberToObject(o, "accuracy", (double)ce->exact / (double)ce->trials);
                    cJSON_AddNumberToObject(o, "digit_accuracy",
                                            (double)ce->digits / (double)(ce->trials * LEXT_PASSKEY_DIGITS));
                    cJSON_AddNumberToObject(o, "mean_logprob",
                                            ce->logprob / (double)(ce->trials * LEXT_PASSKEY_DIGITS));
                    cJSON_AddItemToArray(jc, o);
                }
        }
        char *text = cJSON_Print(root);
        FILE *f = text ? fopen(json_path, "w") : NULL;
        bool bad = !f || fputs(text, f) < 0 || fputc('\n', f) == EOF;
        if (f && fclose(f) != 0) bad = true;
        free(text);
        if (bad) {
            rc = cli_error(cmd, "cannot write %s: %s", json_path, strerror(errno));
            goto done;
        }
        printf("wrote %s\n", json_path);
    }
    if (svg_path) {
        char (*xl)[24] = malloc(nl * sizeof *xl), (*yl)[24] = malloc(nd * sizeof *yl);
        const char **xt = malloc(nl * sizeof *xt), **yt = malloc(nd * sizeof *yt);
        double *v = malloc(mk.n * nl * nd * sizeof *v);
        svg_heat_panel *panels = malloc(mk.n * sizeof *panels);
        char (*pt)[48] = malloc(mk.n * sizeof *pt);
        if (!xl || !yl || !xt || !yt || !v || !panels || !pt) rc = cli_error(cmd, "out of memory");
        else {
            for (size_t li = 0; li < nl; li++) snprintf(xl[li], sizeof xl[li], "%lld", (long long)lengths[li]), xt[li] = xl[li];
            for (size_t di = 0; di < nd; di++) snprintf(yl[di], sizeof yl[di], "%g%%", depths[di]), yt[di] = yl[di];
            for (size_t k = 0; k < mk.n; k++) {
                for (size_t di = 0; di < nd; di++)
                    for (size_t li = 0; li < nl; li++) {
                        const cell *ce = &cells[(k * nl + li) * nd + di];
                        v[(k * nd + di) * nl + li] = (double)ce->exact / (double)ce->trials;
                    }
                cli_mask_name(&modes[k], pt[k], sizeof pt[k]);
                panels[k] = (svg_heat_panel){pt[k], v + k * nd * nl};
            }
            char title[512];
            snprintf(title, sizeof title, "passkey retrieval, %s: greedy exact match (%lld trials per cell)",
                     model_path, (long long)trials);
            svg_heatmap h = {title, "context length (bytes)", "depth of the key", xt, nl, yt, nd, panels, mk.n};
            if (svg_heatmap_write(&h, svg_path, err, sizeof err)) rc = cli_error(cmd, "--svg: %s", err);
            else printf("wrote %s\n", svg_path);
        }
        free(xl), free(yl), free(xt), free(yt), free(v), free(panels), free(pt);
    }
done:
    cJSON_Delete(root);
    free(tok);
    free(buf);
    free(keys);
    free(cells);
    lext_ctx_free(ctx);
    lext_dataset_free(&filler);
    lext_model_free(m);
    return rc;
}
