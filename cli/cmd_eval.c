/*
 * cmd_eval.c - `lext eval`: perplexity by segment length under one or more attention
 * masks, by the paper's protocol (LeX section 4; lext_evaluate does the work). Prints a
 * table with lengths as rows and masks as columns, then every cell in detail, and writes
 * the same as JSON with --json. A progress line goes to stderr when it is a terminal.
 */
#include "args.h"
#include "commands.h"
#include "evalopts.h"
#include "parallel.h"
#include "lext.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_LENGTHS = 64 };

/* ---- progress -------------------------------------------------------------------------- */

/* The callback runs after every forward pass, so it must stay O(1): it times cells and
 * redraws the line at most ten times a second. */
typedef struct {
    bool tty, line_open;
    double t0, t_last_pass, t_last_draw;
    const int64_t *lengths;
    size_t n_lengths;
    const lext_attn *modes;
    size_t n_modes;
    double *cell_seconds; /* (n_lengths, n_modes) wall time between progress reports */
    int64_t last_done;
    double tokens_done, tokens_total; /* for the ETA: a segment of L costs about L tokens */
} progress_state;

static void on_progress(const lext_eval_progress *p, void *user) {
    progress_state *ps = user;
    double now = cli_now();
    size_t li = 0, k = 0; /* lengths and modes are distinct (checked), so the cell is unique */
    while (li + 1 < ps->n_lengths && ps->lengths[li] != p->length) li++;
    while (k + 1 < ps->n_modes && ps->modes[k].mode != p->mode) k++;
    ps->cell_seconds[li * ps->n_modes + k] += now - ps->t_last_pass;
    ps->t_last_pass = now;
    ps->tokens_done += (double)(p->done - ps->last_done) * (double)p->length;
    ps->last_done = p->done;
    if (!ps->tty || (now - ps->t_last_draw < 0.1 && p->done < p->total)) return;
    ps->t_last_draw = now;
    double el = now - ps->t0;
    double eta = ps->tokens_done > 0 ? el * (ps->tokens_total - ps->tokens_done) / ps->tokens_done
                                     : -1;
    char els[32], etas[32], mask[48];
    fmt_duration(els, sizeof els, el);
    fmt_duration(etas, sizeof etas, eta);
    cli_mask_name(&ps->modes[k], mask, sizeof mask);
    fprintf(stderr, "\r\033[Keval %lld/%lld segments  length %lld  %s  %s elapsed  ETA %s",
            (long long)p->done, (long long)p->total, (long long)p->length, mask, els, etas);
    fflush(stderr);
    ps->line_open = true;
}

/* ---- output ---------------------------------------------------------------------------- */

static double cell_loss(const lext_eval_cell *c) {
    return c->tokens > 0 ? c->loss_sum / (double)c->tokens : NAN;
}

/* perplexity with 3 decimals, or 4 significant digits once it explodes */
static void fmt_ppl(char *buf, size_t n, double ppl) {
    if (!isfinite(ppl)) snprintf(buf, n, "inf");
    else if (ppl < 1e5) snprintf(buf, n, "%.3f", ppl);
    else snprintf(buf, n, "%.4g", ppl);
}

/* "256 (1x, train)", "1024 (4x)", "128 (0.5x)" */
static void fmt_length(char *buf, size_t n, int64_t L, int train_len) {
    snprintf(buf, n, "%lld (%.3gx%s)", (long long)L, (double)L / train_len,
             L == train_len ? ", train" : "");
}

/* The index (1-based) of a skipped cell's reason among the distinct reasons, for the
 * footnote marks; reasons[] collects them. */
static int reason_index(const char *why, const char **reasons, int *n_reasons) {
    for (int i = 0; i < *n_reasons; i++)
        if (strcmp(reasons[i], why) == 0) return i + 1;
    reasons[(*n_reasons)++] = why;
    return *n_reasons;
}

static void print_tables(const lext_eval_cell *cells, const int64_t *lengths, size_t nl,
                         const lext_attn *modes, size_t nm, int train_len,
                         const lext_eval_summary *sum, int64_t N) {
    const char *reasons[MAX_LENGTHS * LEXT_ATTN_COUNT] = {0};
    int n_reasons = 0;
    char buf[64], cnt[32], cnt2[32];
    fmt_count(cnt, sizeof cnt, (double)sum->docs_used);
    fmt_count(cnt2, sizeof cnt2, (double)sum->longest);
    printf("documents: %s used (the first %lld bytes of each), %zu skipped as shorter than %lld "
           "bytes; the longest has %s bytes\n\n",
           cnt, (long long)N, sum->docs_skipped, (long long)N, cnt2);

    /* perplexity: lengths as rows, masks as columns */
    printf("perplexity by segment length (x: multiple of the training length %d)\n", train_len);
    printf("%-18s", "length");
    for (size_t k = 0; k < nm; k++) {
        cli_mask_name(&modes[k], buf, sizeof buf);
        printf("  %14s", buf);
    }
    printf("\n");
    for (size_t li = 0; li < nl; li++) {
        fmt_length(buf, sizeof buf, lengths[li], train_len);
        printf("%-18s", buf);
        for (size_t k = 0; k < nm; k++) {
            const lext_eval_cell *c = &cells[li * nm + k];
            if (c->skipped)
                snprintf(buf, sizeof buf, "n/a [%d]", reason_index(c->why, reasons, &n_reasons));
            else fmt_ppl(buf, sizeof buf, exp(cell_loss(c)));
            printf("  %14s", buf);
        }
        printf("\n");
    }

    /* every cell in detail */
    printf("\n%-8s  %-14s  %6s  %9s  %11s  %11s  %12s  %9s\n", "length", "mask", "docs",
           "segments", "tokens", "loss (nats)", "perplexity", "bits/byte");
    for (size_t li = 0; li < nl; li++)
        for (size_t k = 0; k < nm; k++) {
            const lext_eval_cell *c = &cells[li * nm + k];
            char mask[48];
            cli_mask_name(&modes[k], mask, sizeof mask);
            if (c->skipped) {
                printf("%-8lld  %-14s  %6s  %9s  %11s  %11s  %12s  %9s   [%d]\n",
                       (long long)c->length, mask, "-", "-", "-", "n/a", "n/a", "n/a",
                       reason_index(c->why, reasons, &n_reasons));
                continue;
            }
            double loss = cell_loss(c);
            fmt_count(cnt, sizeof cnt, (double)c->tokens);
            fmt_ppl(buf, sizeof buf, exp(loss));
            printf("%-8lld  %-14s  %6lld  %9lld  %11s  %11.6f  %12s  %9.5f\n", (long long)c->length,
                   mask, (long long)c->docs, (long long)c->segments, cnt, loss, buf,
                   loss / log(2.0));
        }
    for (int i = 0; i < n_reasons; i++) printf("[%d] not computed: %s\n", i + 1, reasons[i]);
}

static cJSON *config_json(const lext_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(o, "n_head", c->n_head);
    cJSON_AddNumberToObject(o, "d_model", c->d_model);
    cJSON_AddNumberToObject(o, "d_ff", c->d_ff);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "train_len", c->train_len);
    cJSON_AddStringToObject(o, "pos", lext_pos_name(c->pos));
    cJSON_AddNumberToObject(o, "xpos_gamma", c->xpos_gamma);
    cJSON_AddNumberToObject(o, "xpos_scale_base", c->xpos_scale_base);
    cJSON_AddNumberToObject(o, "rope_base", c->rope_base);
    cJSON_AddBoolToObject(o, "tied", c->tied);
    cJSON_AddBoolToObject(o, "embed_scale", c->embed_scale);
    cJSON_AddNumberToObject(o, "norm_eps", c->norm_eps);
    return o;
}

static cJSON *mask_json(const lext_attn *a) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", lext_attn_name(a->mode));
    if (a->mode == LEXT_ATTN_BCA) cJSON_AddNumberToObject(o, "block", (double)a->block);
    if (a->mode == LEXT_ATTN_WINDOW) cJSON_AddNumberToObject(o, "window", (double)a->window);
    return o;
}

/* Builds the whole report; cJSON_Print allocates, so a NULL anywhere means out of memory
 * and shows up as a NULL text below. */
/* The names of the documents used (at least N bytes), in the order of the per-document
 * sums; NULL when out of memory. */
static cJSON *used_names(const lext_dataset *d, int64_t N) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < d->n_docs; i++)
        if (d->docs[i].len >= (size_t)N) cJSON_AddItemToArray(a, cJSON_CreateString(d->docs[i].name));
    return a;
}

static cJSON *report_json(const char *model_path, const lext_config *c,
                          const lext_rope_scaling *rs, const lext_attn_ext *ext, const char *data_path,
                          const lext_dataset *data, const lext_eval_summary *sum, int64_t N,
                          const int64_t *lengths, size_t nl, const lext_attn *modes, size_t nm,
                          const lext_eval_cell *cells, const double *doc_loss,
                          const double *seconds, double total_s, int64_t batch_tokens) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "lext", "eval");
    cJSON_AddNumberToObject(root, "version", 1);
    cJSON_AddStringToObject(root, "model", model_path);
    cJSON_AddItemToObject(root, "config", config_json(c));
    cJSON_AddItemToObject(root, "rope_scaling", cli_scaling_json(rs));
    cJSON_AddItemToObject(root, "attn_ext", cli_ext_json(ext));
    cJSON_AddStringToObject(root, "data", data_path);
    cJSON *docs = cJSON_AddObjectToObject(root, "documents");
    cJSON_AddNumberToObject(docs, "total", (double)data->n_docs);
    cJSON_AddNumberToObject(docs, "used", (double)sum->docs_used);
    cJSON_AddNumberToObject(docs, "skipped", (double)sum->docs_skipped);
    cJSON_AddNumberToObject(docs, "longest", (double)sum->longest);
    cJSON_AddNumberToObject(docs, "bytes_per_document", (double)N);
    /* the documents of every cell's "doc_loss" and "doc_tokens", in this order */
    cJSON_AddItemToObject(docs, "names", used_names(data, N));
    /* what bca and window use, whether or not those modes ran */
    lext_attn bca = lext_attn_make(LEXT_ATTN_BCA, c->train_len);
    lext_attn win = lext_attn_make(LEXT_ATTN_WINDOW, c->train_len);
    for (size_t k = 0; k < nm; k++) {
        if (modes[k].mode == LEXT_ATTN_BCA) bca = modes[k];
        if (modes[k].mode == LEXT_ATTN_WINDOW) win = modes[k];
    }
    cJSON_AddNumberToObject(root, "block", (double)bca.block);
    cJSON_AddNumberToObject(root, "window", (double)win.window);
    cJSON *jl = cJSON_AddArrayToObject(root, "lengths");
    for (size_t li = 0; li < nl; li++) cJSON_AddItemToArray(jl, cJSON_CreateNumber((double)lengths[li]));
    cJSON *jm = cJSON_AddArrayToObject(root, "modes");
    for (size_t k = 0; k < nm; k++) cJSON_AddItemToArray(jm, mask_json(&modes[k]));
    cJSON_AddNumberToObject(root, "batch_tokens", (double)batch_tokens);
    cJSON_AddNumberToObject(root, "threads", lext_get_threads());
    cJSON_AddNumberToObject(root, "seconds", total_s);
    cJSON *jc = cJSON_AddArrayToObject(root, "cells");
    for (size_t li = 0; li < nl; li++)
        for (size_t k = 0; k < nm; k++) {
            const lext_eval_cell *e = &cells[li * nm + k];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "length", (double)e->length);
            cJSON_AddNumberToObject(o, "ratio", (double)e->length / c->train_len);
            /* the factor applied at this length (dynamic-ntk: at the segment's last byte) */
            cJSON_AddNumberToObject(o, "rope_factor", lext_rope_scaling_factor(rs, e->length, c->train_len));
            cJSON_AddStringToObject(o, "mode", lext_attn_name(e->attn.mode));
            if (e->attn.mode == LEXT_ATTN_BCA) cJSON_AddNumberToObject(o, "block", (double)e->attn.block);
            if (e->attn.mode == LEXT_ATTN_WINDOW)
                cJSON_AddNumberToObject(o, "window", (double)e->attn.window);
            cJSON_AddNumberToObject(o, "docs", (double)e->docs);
            cJSON_AddNumberToObject(o, "segments", (double)e->segments);
            cJSON_AddNumberToObject(o, "tokens", (double)e->tokens);
            double loss = cell_loss(e);
            if (!e->skipped) { /* per document: what a paired bootstrap resamples */
                const double *dl = doc_loss + (li * nm + k) * sum->docs_used;
                const double per = (double)(N / e->length) * (double)(e->length - 1);
                cJSON *jd = cJSON_AddArrayToObject(o, "doc_loss");
                cJSON *jt = cJSON_AddArrayToObject(o, "doc_tokens");
                for (size_t i = 0; i < sum->docs_used; i++) {
                    cJSON_AddItemToArray(jd, cJSON_CreateNumber(dl[i]));
                    cJSON_AddItemToArray(jt, cJSON_CreateNumber(per));
                }
            }
            if (e->skipped || !isfinite(loss)) {
                cJSON_AddNullToObject(o, "loss");
                cJSON_AddNullToObject(o, "ppl");
                cJSON_AddNullToObject(o, "bits_per_byte");
                cJSON_AddStringToObject(o, "reason", e->skipped ? e->why : "no token scored");
            } else {
                cJSON_AddNumberToObject(o, "loss", loss);
                cJSON_AddNumberToObject(o, "ppl", exp(loss));
                cJSON_AddNumberToObject(o, "bits_per_byte", loss / log(2.0));
                cJSON_AddNumberToObject(o, "seconds", seconds[li * nm + k]);
            }
            cJSON_AddItemToArray(jc, o);
        }
    return root;
}

static int write_text(const char *cmd, const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return cli_error(cmd, "cannot create %s: %s", path, strerror(errno));
    bool bad = fputs(text, f) < 0 || fputc('\n', f) == EOF;
    if (fclose(f) != 0) bad = true;
    if (bad) return cli_error(cmd, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* ---- over ranks (mpirun -np P lext eval) ------------------------------------------------- */

/* Each rank evaluates every P-th document long enough (the j-th of them goes to rank j mod P)
 * and sends rank 0 its cells' counts and per-document sums; rank 0 puts the documents back
 * in order and adds their sums in that order, as one process does (lext_evaluate_docs sums
 * a cell from its documents' sums). Returns LEXT_OK on rank 0 with cells, *sum and doc_loss
 * filled, (lext_status)-1 on the other ranks, or an error. */
static lext_status eval_ranks(const cli_mpi *par, lext_model *m, const lext_dataset *data, int64_t N,
                              const int64_t *lengths, size_t nl, const lext_attn *modes, size_t nm,
                              int64_t batch_tokens, lext_eval_cell *cells, lext_eval_summary *sum,
                              double *doc_loss, size_t used) {
    const int P = par->comm.size, R = par->comm.rank;
    const size_t nc = nl * nm;
    if (used < (size_t)P) {
        fprintf(stderr, "lext eval: %zu documents of at least %lld bytes cannot be split over %d ranks\n",
                used, (long long)N, P);
        return LEXT_ERR_IO;
    }
    lext_dataset view = {0}; /* this rank's documents: the structs copied, the bytes shared */
    view.docs = calloc(used / (size_t)P + 1, sizeof *view.docs);
    size_t mine = 0;
    for (size_t i = 0, j = 0; view.docs && i < data->n_docs; i++) {
        if (data->docs[i].len < (size_t)N) continue;
        if (j++ % (size_t)P == (size_t)R) view.docs[mine++] = data->docs[i];
    }
    view.n_docs = mine;
    double *dl = calloc(nc * (mine ? mine : 1), sizeof *dl);
    const size_t per = 3 + mine; /* per cell: docs, segments, tokens, then the documents' sums */
    double *pack = malloc(nc * per * sizeof *pack);
    int *counts = malloc((size_t)P * sizeof *counts);
    double *all = NULL;
    lext_status st = view.docs && dl && pack && counts ? LEXT_OK : LEXT_ERR_NOMEM;
    lext_eval_summary mysum = {0};
    if (!st)
        st = lext_evaluate_docs(m, &view, lengths, nl, modes, nm, batch_tokens, cells, &mysum, dl,
                                nc * (mine ? mine : 1), NULL, NULL);
    if (st) fprintf(stderr, "lext eval: rank %d: %s\n", R, lext_last_error());
    /* every rank takes part in the gathers, also after a failure (its status travels too) */
    for (size_t c = 0; pack && c < nc; c++) {
        double *q = pack + c * per;
        q[0] = st ? -1.0 : (double)cells[c].docs, q[1] = (double)cells[c].segments,
        q[2] = (double)cells[c].tokens;
        for (size_t i = 0; i < mine; i++) q[3 + i] = dl ? dl[c * mine + i] : NAN;
    }
    const int n = pack ? (int)(nc * per) : 0;
    int fail = cli_mpi_gather_count(par, n, counts);
    int total = 0;
    if (!fail && R == 0) {
        for (int r = 0; r < P; r++) total += counts[r];
        all = malloc((size_t)(total ? total : 1) * sizeof *all);
    }
    if (!fail) fail = cli_mpi_gather_f64(par, pack, n, R == 0 ? all : NULL, counts);
    if (!st && fail) st = LEXT_ERR_IO;
    if (R != 0) {
        free(view.docs), free(dl), free(pack), free(counts);
        return st ? st : (lext_status)-1;
    }
    /* rank 0: the cells back together, documents in order */
    size_t *base = calloc((size_t)P, sizeof *base), *ndocs = calloc((size_t)P, sizeof *ndocs);
    if (!st && (!all || !base || !ndocs)) st = LEXT_ERR_NOMEM;
    for (int r = 0, at = 0; !st && r < P; r++) {
        base[r] = (size_t)at;
        ndocs[r] = (size_t)counts[r] / nc - 3;
        if (all[at] < 0) st = LEXT_ERR_IO; /* that rank failed (it said why) */
        at += counts[r];
    }
    for (size_t c = 0; !st && c < nc; c++) {
        lext_eval_cell *ce = &cells[c];
        ce->docs = ce->segments = ce->tokens = 0;
        double loss = 0.0;
        for (int r = 0; r < P; r++) {
            const double *q = all + base[r] + c * (3 + ndocs[r]);
            ce->docs += (int64_t)q[0], ce->segments += (int64_t)q[1], ce->tokens += (int64_t)q[2];
        }
        for (size_t j = 0; j < used; j++) {
            const int r = (int)(j % (size_t)P);
            const double v = all[base[r] + c * (3 + ndocs[r]) + 3 + j / (size_t)P];
            doc_loss[c * used + j] = v;
            loss += v;
        }
        ce->loss_sum = loss;
    }
    sum->docs_used = used;
    sum->docs_skipped = data->n_docs - used;
    sum->longest = 0;
    for (size_t i = 0; i < data->n_docs; i++) sum->longest = data->docs[i].len > sum->longest ? data->docs[i].len : sum->longest;
    free(view.docs), free(dl), free(pack), free(counts), free(all), free(base), free(ndocs);
    return st;
}

/* ---- the command ----------------------------------------------------------------------- */

int cmd_eval(int argc, char **argv) {
    const char *cmd = "eval";
    const char *model_path = NULL, *data_path = NULL, *lengths_s = "256,512,1024,2048,4096";
    const char *attn_s = "causal,bca", *json_path = NULL;
    int64_t block = 0, window = 0, threads = 0, batch_tokens = 0;
    cli_scaling scl;
    cli_scaling_init(&scl);
    cli_ext xo;
    cli_ext_init(&xo);
    cli_opt opts[] = {
        {"--model", OPT_STR, &model_path, 0, 0, "checkpoint to evaluate", 0},
        {"--data", OPT_STR, &data_path, 0, 0, "text: a file, or a directory of documents", 0},
        {"--lengths", OPT_STR, &lengths_s, 0, 0, "segment lengths in bytes [256,512,1024,2048,4096]", 0},
        {"--attn", OPT_STR, &attn_s, 0, 0, "masks, any of causal,bca,window [causal,bca]", 0},
        {"--block", OPT_INT, &block, -1e18, 1 << 30, "bca block l, even [train length]", 0},
        {"--window", OPT_INT, &window, -1e18, 1 << 30, "window W for the window mask [train length]", 0},
        {"--json", OPT_STR, &json_path, 0, 0, "also write the results as JSON to this file", 0},
        {"--threads", OPT_INT, &threads, 1, 4096, "threads [all cores]", 0},
        {"--batch-tokens", OPT_INT, &batch_tokens, 1, 1 << 28,
         "tokens per forward pass [16384, at most the data, at least the largest length]", 0},
        CLI_SCALING_OPTS(&scl),
        CLI_EXT_OPTS(&xo),
    };
    const size_t n = sizeof opts / sizeof *opts;
    int rc = cli_parse(cmd, "--model FILE --data PATH [options]", argc, argv, opts, n, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (!model_path) return cli_error(cmd, "--model FILE is required (a checkpoint from lext train)");
    if (!data_path) return cli_error(cmd, "--data PATH is required (a text file or a directory)");

    int64_t lengths[MAX_LENGTHS];
    size_t nl = 0;
    char err[256];
    if (parse_i64_list(lengths_s, 2, 1 << 24, lengths, MAX_LENGTHS, &nl, err, sizeof err))
        return cli_error(cmd, "--lengths: %s (expected lengths >= 2 separated by commas, e.g. "
                              "256,512,1024)",
                         err);
    for (size_t i = 0; i < nl; i++)
        for (size_t j = 0; j < i; j++)
            if (lengths[i] == lengths[j])
                return cli_error(cmd, "--lengths: %lld is given twice", (long long)lengths[i]);
    lext_attn_ext ext;
    cli_masks mk;
    lext_rope_scaling rs;
    if (cli_inference_parse(cmd, opts, n, &xo, &scl, &attn_s, block, window, &mk, &ext, &rs)) return 1;

    /* under mpirun: the documents split over the ranks, rank 0 reports (eval_ranks) */
    cli_mpi par;
    if (cli_mpi_start(cmd, &par, 0)) return 1;
    lext_model *m = NULL;
    if (lext_checkpoint_load(model_path, &m, NULL, NULL)) {
        rc = cli_lib_error(cmd, "--model");
        cli_mpi_finish(&par, rc);
        return rc;
    }
    const lext_config *c = lext_model_config(m);
    lext_attn modes[LEXT_ATTN_COUNT];
    if (cli_scaling_apply(cmd, m, &rs) || cli_ext_apply(cmd, m, &ext) ||
        cli_masks_build(cmd, &mk, c->train_len, modes)) {
        cli_mpi_finish(&par, 1);
        lext_model_free(m);
        return 1;
    }
    const size_t nm = mk.n;
    lext_dataset data = {0};
    if (lext_dataset_load(data_path, &data)) {
        lext_model_free(m);
        rc = cli_lib_error(cmd, "--data");
        cli_mpi_finish(&par, rc);
        return rc;
    }
    lext_set_threads((int)threads);

    int64_t N = 0;
    for (size_t i = 0; i < nl; i++) N = lengths[i] > N ? lengths[i] : N;
    char line[256], bytes[32];
    cli_model_summary(m, line, sizeof line);
    fmt_count(bytes, sizeof bytes, (double)data.total_bytes);
    if (par.comm.rank == 0) printf("model: %s (%s)\n", model_path, line);
    if (par.comm.rank == 0) printf("data: %s, %zu documents, %s bytes\n", data_path, data.n_docs, bytes);
    if (par.comm.size > 1 && par.comm.rank == 0)
        printf("documents split over %d ranks (every %d-th long enough one to each)\n", par.comm.size,
               par.comm.size);
    if (par.comm.rank == 0) cli_inference_describe(stdout, &rs, &ext);
    fflush(stdout);

    /* the ETA's measure of the work: every non-skipped cell reads floor(N/L) L bytes of
     * each used document (learned positions past train_len are skipped by the library) */
    size_t used = 0;
    for (size_t i = 0; i < data.n_docs; i++) used += data.docs[i].len >= (size_t)N;
    double work = 0;
    for (size_t i = 0; i < nl; i++)
        if (!(c->pos == LEXT_POS_LEARNED && lengths[i] > c->train_len))
            work += (double)nm * (double)used * (double)(N / lengths[i] * lengths[i]);

    /* the workspace is sized (and zeroed) for batch_tokens up front, so by default ask for
     * no more than the data can fill: all of one length's segments, up to 16384 tokens */
    if (!batch_tokens) {
        double fill = (double)used * (double)N;
        batch_tokens = fill < 16384 ? (int64_t)fill : 16384;
        if (batch_tokens < N) batch_tokens = N;
    }
    lext_eval_cell *cells = calloc(nl * nm, sizeof *cells);
    double *seconds = calloc(nl * nm, sizeof *seconds);
    const size_t doc_cap = nl * nm * (used ? used : 1);
    double *doc_loss = calloc(doc_cap, sizeof *doc_loss);
    if (!cells || !seconds || !doc_loss) {
        free(cells);
        free(seconds);
        free(doc_loss);
        lext_dataset_free(&data);
        lext_model_free(m);
        return cli_error(cmd, "out of memory");
    }
    progress_state ps = {is_tty(STDERR_FILENO) && par.comm.size == 1, false, cli_now(), 0, 0, lengths, nl, modes, nm,
                         seconds, 0, 0, work};
    ps.t_last_pass = ps.t0;
    lext_eval_summary sum = {0};
    lext_status st;
    if (par.comm.size > 1) {
        st = eval_ranks(&par, m, &data, N, lengths, nl, modes, nm, batch_tokens, cells, &sum, doc_loss,
                        used);
        if (st == (lext_status)-1) { /* a rank other than 0: its share is with rank 0 */
            free(cells), free(seconds), free(doc_loss);
            lext_dataset_free(&data);
            lext_model_free(m);
            cli_mpi_finish(&par, 0);
            return 0;
        }
    } else {
        st = lext_evaluate_docs(m, &data, lengths, nl, modes, nm, batch_tokens, cells, &sum, doc_loss,
                                doc_cap, on_progress, &ps);
    }
    double total_s = cli_now() - ps.t0;
    if (ps.line_open) fprintf(stderr, "\r\033[K");
    rc = 0;
    if (st) rc = par.comm.size > 1 && st == LEXT_ERR_IO ? 1 : cli_lib_error(cmd, "evaluation failed");
    else {
        print_tables(cells, lengths, nl, modes, nm, c->train_len, &sum, N);
        char el[32];
        if (total_s < 60) snprintf(el, sizeof el, "%.2f s", total_s);
        else fmt_duration(el, sizeof el, total_s);
        printf("evaluated in %s with %d threads\n", el, lext_get_threads());
        if (json_path) {
            cJSON *root = report_json(model_path, c, &rs, &ext, data_path, &data, &sum, N, lengths, nl, modes,
                                      nm, cells, doc_loss, seconds, total_s, batch_tokens);
            char *text = root ? cJSON_Print(root) : NULL;
            if (!text) rc = cli_error(cmd, "out of memory while building the JSON report");
            else if (!(rc = write_text(cmd, json_path, text))) printf("wrote %s\n", json_path);
            free(text);
            cJSON_Delete(root);
        }
    }
    free(cells);
    free(seconds);
    free(doc_loss);
    lext_dataset_free(&data);
    lext_model_free(m);
    cli_mpi_finish(&par, rc);
    return rc;
}
