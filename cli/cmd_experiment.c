/*
 * cmd_experiment.c - `lext experiment`: the paper's comparison at CPU scale, in one
 * command.
 *
 * Every step is an ordinary lext command run as a child process (corpus, train, eval,
 * resolution, plot), so the report's "exact commands" are exactly what ran and each can be
 * repeated by hand. The driver shows progress, keeps a log per step under DIR/logs/,
 * skips steps whose outputs are already complete (rerunning the same command continues an
 * interrupted experiment), then reads the JSON the steps wrote and prints the paper's
 * Tables 2, 5 and 3 at this scale, and writes DIR/REPORT.md.
 */
#define _XOPEN_SOURCE 700
#include "args.h"
#include "commands.h"
#include "lext.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *cmd = "experiment";

#define MAX_SCHEMES 8
#define MAX_LENGTHS 16
#define MAX_ARGS 64

/* ---- the plan ---------------------------------------------------------------------------- */

typedef struct {
    char corpus[1024];      /* a corpus directory (train/ valid/ test/) */
    char corpus_name[32];   /* what to build there when missing: pydoc or linux */
    char out[1024];
    const char *schemes[MAX_SCHEMES]; /* lext_pos_name()'s static strings: nothing to free */
    size_t n_schemes;
    int64_t lengths[MAX_LENGTHS];
    size_t n_lengths;
    int64_t res_lengths[4]; /* attention resolution at these lengths */
    size_t n_res;
    int64_t train_len, steps, batch, layers, heads, dim, ffn, seed, warmup;
    double lr, budget;
    int64_t threads;
} plan;

static void plan_default(plan *p) {
    memset(p, 0, sizeof *p);
    snprintf(p->corpus, sizeof p->corpus, "corpora/pydoc");
    snprintf(p->corpus_name, sizeof p->corpus_name, "pydoc");
    snprintf(p->out, sizeof p->out, "results");
    static const char *schemes[] = {"sinusoidal", "alibi", "rope", "xpos", "none"};
    for (size_t i = 0; i < 5; i++) p->schemes[i] = schemes[i];
    p->n_schemes = 5;
    p->train_len = 256;
    for (int i = 0; i < 5; i++) p->lengths[i] = 256 << i; /* 1x .. 16x */
    p->n_lengths = 5;
    p->res_lengths[0] = 256, p->res_lengths[1] = 512, p->n_res = 2;
    /* 1x: about 15 minutes on 2 Zen 3 cores: five models of 0.83 M parameters, 300 steps of
     * 16 x 256 bytes (1.2 M tokens) each at ~10,000 tokens/s, then ~35 s of evaluation and
     * resolution per model. The default width 256 would leave time for only ~90 steps. */
    p->steps = 300;
    p->batch = 16;
    p->layers = 4, p->heads = 4, p->dim = 128, p->ffn = 0;
    p->seed = 1;
    p->warmup = -1;
    p->lr = 1e-3;
    p->budget = 1.0;
}

static char *dupstr(const char *s) {
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "lext experiment: out of memory\n");
        exit(1);
    }
    return d;
}

/* A JSON config file overriding the plan; unknown keys are errors (typos must not pass). */
static int plan_load(plan *p, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_error(cmd, "cannot open config %s: %s", path, strerror(errno));
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf) return cli_error(cmd, "out of memory");
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return cli_error(cmd, "config %s is not a JSON object", path);
    }
    int rc = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        const char *k = e->string;
        struct {
            const char *key;
            int64_t *dst;
            int64_t min, max;
        } ints[] = {{"train_len", &p->train_len, 2, 1 << 20}, {"steps", &p->steps, 1, 1LL << 40},
                    {"batch", &p->batch, 1, 1 << 20},         {"layers", &p->layers, 1, 1024},
                    {"heads", &p->heads, 1, 1024},            {"dim", &p->dim, 1, 65536},
                    {"ffn", &p->ffn, 1, 262144},              {"seed", &p->seed, 0, INT64_MAX},
                    {"warmup", &p->warmup, 0, 1LL << 40}};
        bool done = false;
        for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
            if (strcmp(k, ints[i].key) == 0) {
                done = true;
                double v = e->valuedouble;
                if (!cJSON_IsNumber(e) || floor(v) != v || v < (double)ints[i].min || v > (double)ints[i].max)
                    rc = cli_error(cmd, "config %s: '%s' must be an integer in [%lld, %lld]", path, k,
                                   (long long)ints[i].min, (long long)ints[i].max);
                else *ints[i].dst = (int64_t)v;
            }
        if (done) continue;
        if (strcmp(k, "lr") == 0) {
            if (!cJSON_IsNumber(e) || !(e->valuedouble > 0)) rc = cli_error(cmd, "config %s: 'lr' must be > 0", path);
            else p->lr = e->valuedouble;
        } else if (strcmp(k, "corpus") == 0 || strcmp(k, "corpus_name") == 0) {
            char *dst = k[6] ? p->corpus_name : p->corpus;
            size_t cap = k[6] ? sizeof p->corpus_name : sizeof p->corpus;
            if (!cJSON_IsString(e) || !*e->valuestring || strlen(e->valuestring) >= cap)
                rc = cli_error(cmd, "config %s: '%s' must be a non-empty string", path, k);
            else snprintf(dst, cap, "%s", e->valuestring);
        } else if (strcmp(k, "schemes") == 0) {
            int cnt = cJSON_GetArraySize(e);
            if (!cJSON_IsArray(e) || cnt < 1 || cnt > MAX_SCHEMES) {
                rc = cli_error(cmd, "config %s: 'schemes' must be a list of 1 to %d names", path, MAX_SCHEMES);
                continue;
            }
            p->n_schemes = 0;
            const cJSON *s;
            cJSON_ArrayForEach(s, e) {
                lext_pos_kind kind;
                if (!cJSON_IsString(s) || lext_pos_parse(s->valuestring, &kind)) {
                    rc = cli_error(cmd, "config %s: %s", path, cJSON_IsString(s) ? lext_last_error() : "scheme names are strings");
                    break;
                }
                p->schemes[p->n_schemes++] = lext_pos_name(kind);
            }
        } else if (strcmp(k, "lengths") == 0 || strcmp(k, "resolution_lengths") == 0) {
            bool res = k[0] == 'r';
            int64_t *dst = res ? p->res_lengths : p->lengths;
            size_t cap = res ? 4 : MAX_LENGTHS, *count = res ? &p->n_res : &p->n_lengths;
            int cnt = cJSON_GetArraySize(e);
            if (!cJSON_IsArray(e) || cnt < (res ? 0 : 1) || (size_t)cnt > cap) {
                rc = cli_error(cmd, "config %s: '%s' must be a list of at most %zu lengths", path, k, cap);
                continue;
            }
            *count = 0;
            const cJSON *s;
            cJSON_ArrayForEach(s, e) {
                if (!cJSON_IsNumber(s) || s->valuedouble < 2 || floor(s->valuedouble) != s->valuedouble ||
                    s->valuedouble > (1 << 24)) {
                    rc = cli_error(cmd, "config %s: '%s' holds a length that is not an integer >= 2", path, k);
                    break;
                }
                dst[(*count)++] = (int64_t)s->valuedouble;
            }
        } else {
            rc = cli_error(cmd, "config %s: unknown key '%s'", path, k);
        }
    }
    cJSON_Delete(j);
    return rc;
}

/* ---- running steps ---------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static volatile pid_t child_pid; /* the step running now, 0 between steps */
/* Ctrl-C reaches the whole process group: the child got it too, saves and exits (a second
 * one would kill it, so it is not passed on). SIGTERM is sent to this process alone: pass
 * it on so that the child saves too. SA_RESTART keeps the read of the child's output going
 * until the child has said everything and closed it. */
static void on_signal(int s) {
    interrupted = 1;
    if (s == SIGTERM && child_pid > 0) kill(child_pid, SIGTERM);
}

typedef struct {
    const plan *p;
    bool tty;
    int step, n_steps;
    double t0;
    double step_s; /* the steps' own wall time, earlier runs' included (from their logs) */
    FILE *cmds;    /* the exact commands, for the report */
} runner;

/* Appends one shell-quoted command line to buf. */
static void quote_cmd(char *buf, size_t n, char *const argv[]) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; argv[i]; i++) {
        bool plain = true;
        for (const char *c = argv[i]; *c; c++)
            plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                     strchr("-_./,=:+", *c) != NULL;
        k += (size_t)snprintf(buf + k, k < n ? n - k : 0, i ? (plain ? " %s" : " '%s'") : "%s",
                              i == 0 ? "lext" : argv[i]);
        if (k >= n) break;
    }
}

/* The seconds recorded on a finished step's log ("# seconds N" last), or 0. */
static double logged_seconds(const char *log) {
    FILE *f = fopen(log, "r");
    char buf[4096];
    double s = 0;
    while (f && fgets(buf, sizeof buf, f))
        if (strncmp(buf, "# seconds ", 10) == 0) s = atof(buf + 10);
    if (f) fclose(f);
    return s;
}

/* Runs `lext argv...` (argv[0] is ignored) as a child with its output into log; on a
 * terminal the last line it printed is shown live. With done, the step's outputs are
 * complete from an earlier run: it is recorded, not run. Returns 0 when it succeeded. */
static int run_step(runner *r, const char *what, char *const argv[], const char *log, bool done) {
    r->step++;
    char line[8192];
    quote_cmd(line, sizeof line, argv);
    if (r->cmds) fprintf(r->cmds, "%s%s\n", line, done ? "   # complete from an earlier run" : "");
    if (done) {
        printf("[%d/%d] %s: already complete\n", r->step, r->n_steps, what);
        r->step_s += logged_seconds(log);
        return 0;
    }
    char el[32];
    fmt_duration(el, sizeof el, cli_now() - r->t0);
    printf("[%d/%d %s] %s\n", r->step, r->n_steps, el, what);
    fflush(stdout);
    FILE *lf = fopen(log, "w");
    if (!lf) return cli_error(cmd, "cannot write log %s: %s", log, strerror(errno));
    fprintf(lf, "$ %s\n", line);
    fflush(lf);
    int fd[2];
    if (pipe(fd) != 0) {
        fclose(lf);
        return cli_error(cmd, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        fclose(lf);
        return cli_error(cmd, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        dup2(fd[1], STDERR_FILENO);
        close(fd[0]);
        close(fd[1]);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "cannot run lext: %s\n", strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    close(fd[1]);
    FILE *in = fdopen(fd[0], "r");
    if (!in) close(fd[0]);
    char buf[4096];
    double t = cli_now();
    while (in && fgets(buf, sizeof buf, in)) {
        fputs(buf, lf);
        fflush(lf);
        if (r->tty) {
            buf[strcspn(buf, "\r\n")] = '\0';
            fmt_duration(el, sizeof el, cli_now() - t);
            printf("\r\033[K    %s  %.100s", el, buf);
            fflush(stdout);
        }
    }
    if (in) fclose(in);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    child_pid = 0;
    fclose(lf);
    if (r->tty) printf("\r\033[K");
    fmt_duration(el, sizeof el, cli_now() - t);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("    failed after %s; its output is in %s\n", el, log);
        return 1;
    }
    const double took = cli_now() - t;
    r->step_s += took;
    if ((lf = fopen(log, "a"))) { /* for the report of a later run that skips this step */
        fprintf(lf, "# seconds %.1f\n", took);
        fclose(lf);
    }
    printf("    done in %s\n", el);
    fflush(stdout);
    return interrupted ? 1 : 0;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int mkdir_p(const char *path) {
    char tmp[2048];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *c = tmp + 1; *c; c++)
        if (*c == '/') {
            *c = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *c = '/';
        }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static cJSON *read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n > 0 ? malloc((size_t)n + 1) : NULL;
    size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    buf[got] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

/* An eval report from an earlier run counts only when it has exactly the planned lengths. */
static bool eval_matches(const char *json, const plan *p) {
    cJSON *j = read_json(json);
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(j, "lengths");
    bool ok = cJSON_IsArray(ls) && (size_t)cJSON_GetArraySize(ls) == p->n_lengths;
    for (size_t i = 0; ok && i < p->n_lengths; i++) {
        const cJSON *l = cJSON_GetArrayItem(ls, (int)i);
        ok = cJSON_IsNumber(l) && l->valuedouble == (double)p->lengths[i];
    }
    /* intervals need the per-document sums (reports of older lext lack them) */
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "cells"), 0);
    ok = ok && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(c0, "doc_loss"));
    cJSON_Delete(j);
    return ok;
}

/* A report from an earlier run counts only when it parses (a write cut short by a full disk
 * or a kill leaves a file that does not). */
static bool json_ok(const char *path) {
    cJSON *j = read_json(path);
    cJSON_Delete(j);
    return j != NULL;
}

/* What a rerun does with a scheme's checkpoint from an earlier run. */
typedef enum { MODEL_TRAIN, MODEL_RESUME, MODEL_DONE } model_state;

/* DONE when the checkpoint has the planned model and exactly the planned steps; RESUME when
 * it has the planned model and fewer steps; TRAIN (from scratch) when it is missing,
 * unreadable, holds another model (the plan changed) or more steps than planned. */
/* Absolute positions are added to token embeddings scaled by sqrt(dim) (embed_scale), as in
 * Vaswani et al. and fairseq's transformer_lm: unscaled, the N(0, 0.02) embeddings are
 * swamped by the unit-size sinusoids and the baseline learns little. */
static bool embed_scaled(const char *scheme) {
    return strcmp(scheme, "sinusoidal") == 0 || strcmp(scheme, "learned") == 0;
}

static model_state model_state_of(const char *path, const plan *p, const char *scheme) {
    lext_config c;
    bool has = false;
    int64_t step = 0;
    if (lext_checkpoint_read_config(path, &c, &has, &step) != LEXT_OK || !has) return MODEL_TRAIN;
    const bool same = strcmp(lext_pos_name(c.pos), scheme) == 0 && c.n_layer == p->layers &&
                      c.n_head == p->heads && c.d_model == p->dim &&
                      c.d_ff == (p->ffn ? p->ffn : 4 * p->dim) && c.train_len == p->train_len &&
                      c.embed_scale == embed_scaled(scheme);
    if (!same || step > p->steps) return MODEL_TRAIN;
    return step == p->steps ? MODEL_DONE : MODEL_RESUME;
}

/* ---- results ------------------------------------------------------------------------------ */

/* perplexity of (length, mode) in an eval report, NAN when absent */
static double ppl_of(const cJSON *rep, int64_t L, const char *mode) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(rep, "cells")) {
        const cJSON *l = cJSON_GetObjectItem(c, "length"), *m = cJSON_GetObjectItem(c, "mode"),
                    *p = cJSON_GetObjectItem(c, "ppl");
        if (cJSON_IsNumber(l) && (int64_t)l->valuedouble == L && cJSON_IsString(m) &&
            strcmp(m->valuestring, mode) == 0)
            return cJSON_IsNumber(p) ? p->valuedouble : NAN;
    }
    return NAN;
}

static double num_of(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* prec decimals; prec < 0: -prec significant digits (resolution figures can be tiny) */
static void fmt_num(char *b, size_t n, double v, int prec) {
    if (!isfinite(v)) snprintf(b, n, "n/a");
    else if (prec < 0) snprintf(b, n, "%.*g", -prec, v);
    else if (v >= 1e5) snprintf(b, n, "%.3g", v);
    else snprintf(b, n, "%.*f", prec, v);
}

/* ---- intervals: paired bootstrap over the test documents (lext_bootstrap_*) ------------- */

#define BOOT_RESAMPLES 2000

/* The per-document sums of cell (L, mode) of an eval report; false when absent. */
typedef struct {
    double *loss, *tok;
    size_t n;
} cell_docs;

static void cell_docs_free(cell_docs *c) {
    free(c->loss);
    free(c->tok);
    *c = (cell_docs){0};
}

static bool cell_docs_of(const cJSON *rep, int64_t L, const char *mode, cell_docs *out) {
    *out = (cell_docs){0};
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(rep, "cells")) {
        const cJSON *l = cJSON_GetObjectItem(c, "length"), *m = cJSON_GetObjectItem(c, "mode");
        if (!cJSON_IsNumber(l) || (int64_t)l->valuedouble != L || !cJSON_IsString(m) ||
            strcmp(m->valuestring, mode) != 0)
            continue;
        const cJSON *dl = cJSON_GetObjectItem(c, "doc_loss"), *dt = cJSON_GetObjectItem(c, "doc_tokens");
        int n = cJSON_GetArraySize(dl);
        if (!cJSON_IsArray(dl) || !cJSON_IsArray(dt) || n < 1 || cJSON_GetArraySize(dt) != n) return false;
        out->loss = malloc((size_t)n * sizeof(double));
        out->tok = malloc((size_t)n * sizeof(double));
        if (!out->loss || !out->tok) {
            cell_docs_free(out);
            return false;
        }
        out->n = (size_t)n;
        for (int i = 0; i < n; i++) {
            const cJSON *a = cJSON_GetArrayItem(dl, i), *b = cJSON_GetArrayItem(dt, i);
            out->loss[i] = cJSON_IsNumber(a) ? a->valuedouble : NAN;
            out->tok[i] = cJSON_IsNumber(b) ? b->valuedouble : NAN;
        }
        return true;
    }
    return false;
}

static const lext_interval NO_INTERVAL = {NAN, NAN, NAN};

/* 95% interval of a cell's perplexity; NaNs when it cannot be computed */
static lext_interval ppl_iv(const cJSON *rep, int64_t L, const char *mode) {
    cell_docs c;
    lext_interval iv = NO_INTERVAL;
    if (!rep || !cell_docs_of(rep, L, mode, &c)) return iv;
    lext_doc_losses a = {c.loss, c.tok, 1, c.n};
    if (lext_bootstrap_ppl(&a, BOOT_RESAMPLES, LEXT_BOOTSTRAP_SEED, &iv)) iv = NO_INTERVAL;
    cell_docs_free(&c);
    return iv;
}

/* Paired 95% interval of ppl(a cell) / ppl(b cell) on the same test documents */
static lext_interval ratio_iv(const cJSON *ra, int64_t La, const char *ma, const cJSON *rb,
                              int64_t Lb, const char *mb) {
    cell_docs a, b;
    lext_interval iv = NO_INTERVAL;
    if (!ra || !rb || !cell_docs_of(ra, La, ma, &a)) return iv;
    if (cell_docs_of(rb, Lb, mb, &b)) {
        lext_doc_losses da = {a.loss, a.tok, 1, a.n}, db = {b.loss, b.tok, 1, b.n};
        if (lext_bootstrap_ratio(&da, &db, BOOT_RESAMPLES, LEXT_BOOTSTRAP_SEED, &iv)) iv = NO_INTERVAL;
        cell_docs_free(&b);
    }
    cell_docs_free(&a);
    return iv;
}

/* "7.71 [7.52, 7.90]" */
static void fmt_iv(char *b, size_t n, const lext_interval *iv, int prec) {
    char e[32], lo[32], hi[32];
    fmt_num(e, sizeof e, iv->est, prec);
    if (!isfinite(iv->lo)) {
        snprintf(b, n, "%s", e);
        return;
    }
    fmt_num(lo, sizeof lo, iv->lo, prec);
    fmt_num(hi, sizeof hi, iv->hi, prec);
    snprintf(b, n, "%s [%s, %s]", e, lo, hi);
}

/* Writes the same table to stdout and to the report. */
typedef struct {
    FILE *md;
} out2;

static void both(out2 *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void both(out2 *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (o->md) {
        va_start(ap, fmt);
        vfprintf(o->md, fmt, ap);
        va_end(ap);
    }
}

static const char *paper_name(const char *scheme) {
    if (strcmp(scheme, "sinusoidal") == 0) return "sinusoidal (Absolute)";
    if (strcmp(scheme, "none") == 0) return "none (NoPE, control)";
    if (strcmp(scheme, "alibi") == 0) return "alibi";
    if (strcmp(scheme, "rope") == 0) return "rope";
    if (strcmp(scheme, "xpos") == 0) return "xpos";
    return scheme;
}

typedef struct {
    cJSON *eval[MAX_SCHEMES];
    cJSON *res[MAX_SCHEMES][4][2]; /* scheme, resolution length, causal/bca */
} results;

static void table_ppl(out2 *o, const plan *p, const results *r) {
    both(o, "\n### Perplexity by evaluation length (as the paper's Table 2)\n\n");
    both(o, "Test split, byte-level perplexity [95%% interval: bootstrap over the test documents, "
            "%d resamples, seed %u]; lengths as multiples of the training length %lld.\n\n",
         BOOT_RESAMPLES, (unsigned)LEXT_BOOTSTRAP_SEED, (long long)p->train_len);
    both(o, "| model |");
    for (size_t li = 0; li < p->n_lengths; li++)
        both(o, " %lld (%gx) |", (long long)p->lengths[li], (double)p->lengths[li] / (double)p->train_len);
    both(o, "\n|---|");
    for (size_t li = 0; li < p->n_lengths; li++) both(o, "---|");
    both(o, "\n");
    for (size_t s = 0; s <= p->n_schemes; s++) {
        /* each scheme with full causal attention, then LeX = xpos + bca last */
        size_t si = s;
        const char *mode = "causal";
        if (s == p->n_schemes) {
            for (si = 0; si < p->n_schemes && strcmp(p->schemes[si], "xpos"); si++) {}
            if (si == p->n_schemes) break;
            mode = "bca";
        }
        both(o, "| %s |", s == p->n_schemes ? "**LeX (xpos + bca)**" : paper_name(p->schemes[si]));
        for (size_t li = 0; li < p->n_lengths; li++) {
            char b[128];
            lext_interval iv = ppl_iv(r->eval[si], p->lengths[li], mode);
            iv.est = r->eval[si] ? ppl_of(r->eval[si], p->lengths[li], mode) : NAN;
            fmt_iv(b, sizeof b, &iv, 2);
            both(o, " %s |", b);
        }
        both(o, "\n");
    }
}

static void table_bca(out2 *o, const plan *p, const results *r) {
    both(o, "\n### Blockwise causal attention ablation (as the paper's Table 5)\n\n");
    both(o, "Perplexity past the training length, each model with full causal attention and with bca "
            "(block = training length).\n\n| model |");
    size_t n = 0;
    for (size_t li = 0; li < p->n_lengths; li++)
        if (p->lengths[li] > p->train_len) both(o, " %lld |", (long long)p->lengths[li]), n++;
    both(o, "\n|---|");
    for (size_t k = 0; k < n; k++) both(o, "---|");
    both(o, "\n");
    for (size_t si = 0; si < p->n_schemes; si++)
        for (int m = 0; m < 2; m++) {
            const char *mode = m ? "bca" : "causal";
            both(o, "| %s%s |", p->schemes[si], m ? " + bca" : "");
            for (size_t li = 0; li < p->n_lengths; li++) {
                if (p->lengths[li] <= p->train_len) continue;
                char b[128];
                lext_interval iv = ppl_iv(r->eval[si], p->lengths[li], mode);
                iv.est = r->eval[si] ? ppl_of(r->eval[si], p->lengths[li], mode) : NAN;
                fmt_iv(b, sizeof b, &iv, 2);
                both(o, " %s |", b);
            }
            both(o, "\n");
        }
}

static void table_res(out2 *o, const plan *p, const results *r) {
    if (p->n_res == 0) return;
    both(o, "\n### Attention resolution (as the paper's Table 3)\n\n");
    both(o, "Mean over layers of R (Eq. 3) on the expected score by distance (Eq. 11), test split. "
            "R < 1 always under Eq. 3, so the paper's 1.08 compares only relatively.\n\n| model |");
    for (size_t k = 0; k < p->n_res; k++) both(o, " R at %lld |", (long long)p->res_lengths[k]);
    for (size_t k = 0; k < p->n_res; k++)
        if (p->res_lengths[k] > p->train_len) both(o, " R at %lld, bca |", (long long)p->res_lengths[k]);
    both(o, "\n|---|");
    for (size_t k = 0; k < p->n_res; k++) both(o, "---|%s", p->res_lengths[k] > p->train_len ? "---|" : "");
    both(o, "\n");
    for (size_t si = 0; si < p->n_schemes; si++) {
        both(o, "| %s |", paper_name(p->schemes[si]));
        char b[32];
        for (size_t k = 0; k < p->n_res; k++) {
            fmt_num(b, sizeof b, r->res[si][k][0] ? num_of(r->res[si][k][0], "mean_R") : NAN, -3);
            both(o, " %s |", b);
        }
        for (size_t k = 0; k < p->n_res; k++)
            if (p->res_lengths[k] > p->train_len) {
                fmt_num(b, sizeof b, r->res[si][k][1] ? num_of(r->res[si][k][1], "mean_R") : NAN, -3);
                both(o, " %s |", b);
            }
        both(o, "\n");
    }
}

static int scheme_index(const plan *p, const char *name) {
    for (size_t i = 0; i < p->n_schemes; i++)
        if (strcmp(p->schemes[i], name) == 0) return (int)i;
    return -1;
}

/* ppl at the largest length / ppl at the training length, for a scheme and mode, with its
 * paired interval (the same test documents at both lengths) */
static lext_interval growth_iv(const plan *p, const results *r, const char *scheme,
                               const char *mode) {
    int si = scheme_index(p, scheme);
    if (si < 0 || !r->eval[si]) return NO_INTERVAL;
    int64_t Lmax = p->lengths[0];
    for (size_t i = 0; i < p->n_lengths; i++) Lmax = p->lengths[i] > Lmax ? p->lengths[i] : Lmax;
    lext_interval iv = ratio_iv(r->eval[si], Lmax, mode, r->eval[si], p->train_len, mode);
    iv.est = ppl_of(r->eval[si], Lmax, mode) / ppl_of(r->eval[si], p->train_len, mode);
    return iv;
}

/* One claim with its verdict on the interval (see lext_judge) and the numbers behind it. */
static void claim(FILE *md, const char *text, double v, lext_verdict verdict, const char *detail) {
    if (!isfinite(v)) {
        fprintf(md, "- %s: **not measured** (the scheme or length was not part of this run).\n", text);
        return;
    }
    fprintf(md, "- %s: **%s** (%s).\n", text, lext_verdict_name(verdict), detail);
}

/* Both sides of a claim on a band: holds inside [lo, hi], fails wholly outside it. */
static lext_verdict judge_band(const lext_interval *iv, double lo, double hi) {
    if (!(iv->lo <= iv->hi)) return LEXT_VERDICT_UNRESOLVED;
    if (iv->lo >= lo && iv->hi <= hi) return LEXT_VERDICT_HOLDS;
    if (iv->hi < lo || iv->lo > hi) return LEXT_VERDICT_FAILS;
    return LEXT_VERDICT_UNRESOLVED;
}

/* All of several verdicts: fails if one fails, holds if all hold, else unresolved. */
static lext_verdict all_of(lext_verdict acc, lext_verdict v) {
    if (acc == LEXT_VERDICT_FAILS || v == LEXT_VERDICT_FAILS) return LEXT_VERDICT_FAILS;
    if (acc == LEXT_VERDICT_UNRESOLVED || v == LEXT_VERDICT_UNRESOLVED) return LEXT_VERDICT_UNRESOLVED;
    return LEXT_VERDICT_HOLDS;
}

static void write_claims(FILE *md, const plan *p, const results *r) {
    int64_t Lmax = p->lengths[0];
    for (size_t i = 0; i < p->n_lengths; i++) Lmax = p->lengths[i] > Lmax ? p->lengths[i] : Lmax;
    double mult = (double)Lmax / (double)p->train_len;
    fprintf(md, "\n## Which of the paper's claims held here\n\n");
    fprintf(md, "Growth = perplexity at %lld (%gx) divided by perplexity at the training length %lld, "
                "with its 95%% interval from a paired bootstrap over the test documents (the same "
                "documents at both lengths; %d resamples, seed %u). A claim **holds** or **fails** "
                "only when its whole interval is on one side of its threshold; otherwise it is **not "
                "resolved at this budget**. Thresholds are stated with each claim; they are ours, not "
                "the paper's.\n\n",
            (long long)Lmax, mult, (long long)p->train_len, BOOT_RESAMPLES,
            (unsigned)LEXT_BOOTSTRAP_SEED);
    fprintf(md, "| model | growth, causal | growth, bca |\n|---|---|---|\n");
    for (size_t si = 0; si < p->n_schemes; si++) {
        char a[128], b[128];
        lext_interval ga = growth_iv(p, r, p->schemes[si], "causal"),
                      gb = growth_iv(p, r, p->schemes[si], "bca");
        fmt_iv(a, sizeof a, &ga, 3);
        fmt_iv(b, sizeof b, &gb, 3);
        fprintf(md, "| %s | %s | %s |\n", p->schemes[si], a, b);
    }
    fprintf(md, "\n");
    /* a model that did not learn says little about extrapolation: say so */
    double best1 = INFINITY;
    for (size_t si = 0; si < p->n_schemes; si++)
        if (r->eval[si]) best1 = fmin(best1, ppl_of(r->eval[si], p->train_len, "causal"));
    for (size_t si = 0; si < p->n_schemes; si++) {
        double v = r->eval[si] ? ppl_of(r->eval[si], p->train_len, "causal") : NAN;
        if (isfinite(v) && v > 2 * best1)
            fprintf(md, "Note: %s reached perplexity %.2f at the training length, more than twice "
                        "the best model's %.2f: it learned little at this budget, so its growth "
                        "numbers say little about extrapolation.\n\n",
                    p->schemes[si], v, best1);
    }
    char d[512];
    lext_interval g;
    /* 1. LeX keeps falling with length past l: each step's paired ratio <= 1.005 */
    int xi = scheme_index(p, "xpos");
    if (xi >= 0 && r->eval[xi]) {
        lext_verdict v = LEXT_VERDICT_HOLDS;
        int64_t prevL = p->train_len;
        double worst_hi = -INFINITY;
        for (size_t i = 0; i < p->n_lengths; i++)
            if (p->lengths[i] > p->train_len) {
                lext_interval st = ratio_iv(r->eval[xi], p->lengths[i], "bca", r->eval[xi], prevL, "bca");
                v = all_of(v, lext_judge(&st, 1.005, false));
                worst_hi = fmax(worst_hi, st.hi);
                prevL = p->lengths[i];
            }
        g = growth_iv(p, r, "xpos", "bca");
        snprintf(d, sizeof d, "growth %.3f [%.3f, %.3f]; holds when every step to a longer length "
                              "has a ratio below 1.005 (largest upper bound %.4f)",
                 g.est, g.lo, g.hi, worst_hi);
        claim(md, "LeX (xpos + bca) perplexity keeps falling (or stays level) as length grows past the training length",
              g.est, v, d);
    } else
        claim(md, "LeX (xpos + bca) perplexity keeps falling", NAN, LEXT_VERDICT_UNRESOLVED, "");
    /* 2. rope and absolute explode without bca */
    g = growth_iv(p, r, "rope", "causal");
    snprintf(d, sizeof d, "growth %.3f [%.3f, %.3f]; holds means growth > 2", g.est, g.lo, g.hi);
    claim(md, "RoPE without bca degrades sharply past the training length", g.est, lext_judge(&g, 2, true), d);
    g = growth_iv(p, r, "sinusoidal", "causal");
    snprintf(d, sizeof d, "growth %.3f [%.3f, %.3f]; holds means growth > 2", g.est, g.lo, g.hi);
    claim(md, "Absolute (sinusoidal) position embeddings without bca degrade sharply", g.est,
          lext_judge(&g, 2, true), d);
    /* 3. xpos without bca degrades less than rope: the two growth intervals (not paired
     * across models: each is a ratio within one model) must not overlap */
    lext_interval gx = growth_iv(p, r, "xpos", "causal"), gr = growth_iv(p, r, "rope", "causal");
    lext_verdict v3 = !(gx.lo <= gx.hi && gr.lo <= gr.hi) ? LEXT_VERDICT_UNRESOLVED
                      : gx.hi < gr.lo                     ? LEXT_VERDICT_HOLDS
                      : gx.lo > gr.hi                     ? LEXT_VERDICT_FAILS
                                                          : LEXT_VERDICT_UNRESOLVED;
    snprintf(d, sizeof d, "xpos growth %.3f [%.3f, %.3f] against rope's %.3f [%.3f, %.3f]; holds when "
                          "the intervals do not overlap and xpos's is lower",
             gx.est, gx.lo, gx.hi, gr.est, gr.lo, gr.hi);
    claim(md, "XPOS without bca degrades less than RoPE", gx.est + gr.est, v3, d);
    /* 4. alibi stays flat */
    g = growth_iv(p, r, "alibi", "causal");
    snprintf(d, sizeof d, "growth %.3f [%.3f, %.3f]; holds means the interval lies within 10%% of 1",
             g.est, g.lo, g.hi);
    claim(md, "ALiBi stays flat without bca", g.est, judge_band(&g, 0.9, 1.1), d);
    /* 5. bca rescues rope */
    g = growth_iv(p, r, "rope", "bca");
    snprintf(d, sizeof d, "growth %.3f [%.3f, %.3f]; holds means growth < 1.1", g.est, g.lo, g.hi);
    claim(md, "bca lets RoPE extrapolate (the paper's Table 5)", g.est, lext_judge(&g, 1.1, false), d);
    /* 6. LeX best at the longest length: the paired ratio LeX / best other < 1 */
    if (xi >= 0 && r->eval[xi]) {
        double lex = ppl_of(r->eval[xi], Lmax, "bca"), best = INFINITY;
        int bs = -1, bm = 0;
        for (size_t si = 0; si < p->n_schemes; si++)
            for (int m = 0; m < 2; m++) {
                if ((int)si == xi && m == 1) continue;
                double v = r->eval[si] ? ppl_of(r->eval[si], Lmax, m ? "bca" : "causal") : NAN;
                if (v < best) best = v, bs = (int)si, bm = m;
            }
        lext_interval q = bs < 0 ? NO_INTERVAL
                                 : ratio_iv(r->eval[xi], Lmax, "bca", r->eval[bs], Lmax,
                                            bm ? "bca" : "causal");
        q.est = lex / best;
        snprintf(d, sizeof d, "LeX %.3f, best other %.3f (%s%s); paired ratio %.4f [%.4f, %.4f], "
                              "holds means below 1",
                 lex, best, bs < 0 ? "" : p->schemes[bs], bm ? " + bca" : "", q.est, q.lo, q.hi);
        claim(md, "LeX has the lowest perplexity at the longest length", lex,
              lext_judge(&q, 1.0, false), d);
    }
    /* 7. resolution: one number per model, no interval over documents yet */
    int ri = scheme_index(p, "rope");
    if (xi >= 0 && ri >= 0 && p->n_res > 0 && r->res[xi][0][0] && r->res[ri][0][0]) {
        double a = num_of(r->res[xi][0][0], "mean_R"), b = num_of(r->res[ri][0][0], "mean_R");
        snprintf(d, sizeof d, "xpos %.3g, rope %.3g at %lld; a point comparison, with no interval "
                              "(the resolution is not computed per document)",
                 a, b, (long long)p->res_lengths[0]);
        fprintf(md, "- XPOS has a higher attention resolution than RoPE (Table 3): **%s, without an "
                    "interval** (%s).\n",
                a > b ? "higher" : "not higher", d);
    }
}

/* Returns 0, or 1 after printing when REPORT.md could not be written whole. */
static int write_report(const plan *p, const results *r, const char *cmds_path, double seconds,
                        double step_seconds, const char *corpus_info) {
    char path[1100];
    snprintf(path, sizeof path, "%s/REPORT.md", p->out);
    FILE *md = fopen(path, "w");
    if (!md) return cli_error(cmd, "cannot write %s: %s", path, strerror(errno));
    fprintf(md, "# lext experiment: length extrapolation at CPU scale\n\n");
    fprintf(md, "This run trains one byte-level model per position scheme with the same budget, data "
                "order and seed, then evaluates each on the test split at 1x to %gx the training "
                "length with full causal attention and with blockwise causal attention (bca), "
                "following the protocol of Sun et al. (2022), \"A Length-Extrapolatable Transformer\".\n\n",
            (double)p->lengths[p->n_lengths - 1] / (double)p->train_len);
    char el[32], st[32];
    fmt_duration(el, sizeof el, seconds);
    fmt_duration(st, sizeof st, step_seconds);
    fprintf(md, "## Setup\n\n");
    fprintf(md, "- corpus: %s\n", corpus_info);
    fprintf(md, "- model: %lld layers, %lld heads, dim %lld, ffn %lld, byte-level (256 tokens), tied embedding; "
                "sinusoidal and learned add their positions to token embeddings scaled by sqrt(dim) "
                "(`--embed-scale`)\n",
            (long long)p->layers, (long long)p->heads, (long long)p->dim,
            (long long)(p->ffn ? p->ffn : 4 * p->dim));
    fprintf(md, "- training: length %lld, batch %lld, %lld steps (budget %gx), %.1f M tokens per model, "
                "AdamW lr %g, warm-up then cosine, seed %lld, the same data order for every scheme\n",
            (long long)p->train_len, (long long)p->batch, (long long)p->steps, p->budget,
            (double)(p->steps * p->batch * p->train_len) / 1e6, p->lr, (long long)p->seed);
    fprintf(md, "- evaluation: the first %lld bytes of every test document that long, split into "
                "segments of each length, each segment from a fresh context\n",
            (long long)p->lengths[p->n_lengths - 1]);
    fprintf(md, "- wall time: %s for all the steps on %ld cores (%s for this invocation, which "
                "skipped the steps already complete)\n",
            st, sysconf(_SC_NPROCESSORS_ONLN), el);
    out2 o = {md};
    printf("\n");
    table_ppl(&o, p, r);
    table_bca(&o, p, r);
    table_res(&o, p, r);
    fprintf(md, "\n## Pictures\n\n![perplexity by length](ppl.svg)\n\n");
    for (size_t si = 0; si < p->n_schemes; si++)
        for (size_t k = 0; k < p->n_res; k++)
            for (int m = 0; m < 2; m++) {
                if (m == 1 && p->res_lengths[k] <= p->train_len) continue;
                fprintf(md, "- [expected score by distance, %s at %lld%s](resolution/%s-%lld%s.svg)\n",
                        p->schemes[si], (long long)p->res_lengths[k], m ? ", bca" : "", p->schemes[si],
                        (long long)p->res_lengths[k], m ? "-bca" : "");
            }
    write_claims(md, p, r);
    fprintf(md, "\n## Exact commands\n\nEach step of this run, in order (`lext` is the binary that ran "
                "them; rerunning `lext experiment` with the same options skips completed steps):\n\n```\n");
    FILE *c = fopen(cmds_path, "r");
    char line[8192];
    while (c && fgets(line, sizeof line, c)) fputs(line, md);
    if (c) fclose(c);
    fprintf(md, "```\n");
    const bool failed = ferror(md) != 0;
    if (fclose(md) != 0 || failed) return cli_error(cmd, "cannot write %s: %s", path, strerror(errno));
    printf("\nreport: %s\n", path);
    return 0;
}

/* ---- the command -------------------------------------------------------------------------- */

/* argv builder: a fixed array of owned strings */
typedef struct {
    char *v[MAX_ARGS + 1];
    int n;
} args;

static void arg(args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(args *a, const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (a->n < MAX_ARGS) a->v[a->n++] = dupstr(buf);
    a->v[a->n] = NULL;
}

static void args_free(args *a) {
    for (int i = 0; i < a->n; i++) free(a->v[i]);
    a->n = 0;
}

static int parse_budget(const char *s, double *out) {
    char err[128];
    if (parse_multiple(s, 0.01, 1000, out, err, sizeof err))
        return cli_error(cmd, "--budget: expects a multiple such as 1x, 4x or 0.5x (%s)", err);
    return 0;
}

int cmd_experiment(int argc, char **argv) {
    plan p;
    plan_default(&p);
    const char *out = NULL, *corpus = NULL, *config = NULL, *budget_s = "1x";
    int64_t threads = 0;
    bool fresh = false;
    cli_opt opts[] = {
        {"--out", OPT_STR, &out, 0, 0, "results directory [results]", 0},
        {"--corpus", OPT_STR, &corpus, 0, 0, "corpus directory, built with lext corpus when missing [corpora/pydoc]", 0},
        {"--budget", OPT_STR, &budget_s, 0, 0, "scale the training steps: 1x (about 15 minutes on 2 cores), 4x, 0.5x [1x]", 0},
        {"--config", OPT_STR, &config, 0, 0, "a JSON file naming other schemes, lengths, model shape, steps, corpus", 0},
        {"--fresh", OPT_FLAG, &fresh, 0, 0, "redo every step, even those already complete", 0},
        {"--threads", OPT_INT, &threads, 1, 4096, "threads [all cores]", 0},
    };
    int rc = cli_parse(cmd, "[options]", argc, argv, opts, sizeof opts / sizeof *opts, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (config && plan_load(&p, config)) return 1;
    if (out) snprintf(p.out, sizeof p.out, "%s", out);
    if (corpus) snprintf(p.corpus, sizeof p.corpus, "%s", corpus);
    if (parse_budget(budget_s, &p.budget)) return 1;
    p.threads = threads;
    p.steps = (int64_t)llround((double)p.steps * p.budget);
    if (p.steps < 1) p.steps = 1;
    for (size_t i = 0; i < p.n_lengths; i++)
        if (p.lengths[i] < 2) return cli_error(cmd, "lengths must be >= 2");
    if (p.train_len % 2) return cli_error(cmd, "train_len must be even (bca's blocks are train_len/2)");
    if (mkdir_p(p.out) != 0) return cli_error(cmd, "cannot create %s: %s", p.out, strerror(errno));
    char dir[1200];
    const char *subdirs[] = {"models", "eval", "resolution", "logs"};
    for (int i = 0; i < 4; i++) {
        snprintf(dir, sizeof dir, "%s/%s", p.out, subdirs[i]);
        if (mkdir_p(dir) != 0) return cli_error(cmd, "cannot create %s: %s", dir, strerror(errno));
    }
    char lengths[256] = "", cmds_path[1200], path[1200], json[1200], log[1200];
    for (size_t i = 0, k = 0; i < p.n_lengths; i++)
        k += (size_t)snprintf(lengths + k, sizeof lengths - k, "%s%lld", i ? "," : "", (long long)p.lengths[i]);
    snprintf(cmds_path, sizeof cmds_path, "%s/commands.txt", p.out);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    runner r = {&p, is_tty(STDOUT_FILENO), 0, 0, cli_now(), 0.0, fopen(cmds_path, "w")};
    char corpus_json[1100];
    snprintf(corpus_json, sizeof corpus_json, "%s/corpus.json", p.corpus);
    bool need_corpus = !exists(corpus_json);
    size_t n_res_runs = 0;
    for (size_t k = 0; k < p.n_res; k++) n_res_runs += p.res_lengths[k] > p.train_len ? 2 : 1;
    r.n_steps = (int)(need_corpus + p.n_schemes * (2 + n_res_runs) + 1);
    printf("lext experiment: %zu schemes, %lld steps each (budget %gx), lengths %s, results in %s\n",
           p.n_schemes, (long long)p.steps, p.budget, lengths, p.out);
    args a = {0};
    rc = 0;
    if (need_corpus) {
        arg(&a, "lext"), arg(&a, "corpus"), arg(&a, "%s", p.corpus_name), arg(&a, "%s", p.corpus);
        snprintf(log, sizeof log, "%s/logs/corpus.log", p.out);
        rc = run_step(&r, "building the corpus", a.v, log, false);
        args_free(&a);
    }
    /* training */
    bool trained[MAX_SCHEMES] = {false}; /* trained (or resumed) by this run */
    for (size_t si = 0; !rc && si < p.n_schemes; si++) {
        const char *s = p.schemes[si];
        snprintf(path, sizeof path, "%s/models/%s.safetensors", p.out, s);
        char what[256];
        snprintf(what, sizeof what, "training %s (%lld steps)", s, (long long)p.steps);
        const model_state ms = fresh ? MODEL_TRAIN : model_state_of(path, &p, s);
        const bool done = ms == MODEL_DONE, resume = ms == MODEL_RESUME;
        trained[si] = !done; /* its evaluations are then redone too */
        arg(&a, "lext"), arg(&a, "train");
        if (resume) {
            /* --steps: the plan's schedule, also when an earlier run planned another */
            arg(&a, "--resume"), arg(&a, "%s", path);
            arg(&a, "--steps"), arg(&a, "%lld", (long long)p.steps);
        } else {
            arg(&a, "--data"), arg(&a, "%s/train", p.corpus);
            arg(&a, "--pos"), arg(&a, "%s", s);
            if (embed_scaled(s)) arg(&a, "--embed-scale");
            arg(&a, "--layers"), arg(&a, "%lld", (long long)p.layers);
            arg(&a, "--heads"), arg(&a, "%lld", (long long)p.heads);
            arg(&a, "--dim"), arg(&a, "%lld", (long long)p.dim);
            if (p.ffn) arg(&a, "--ffn"), arg(&a, "%lld", (long long)p.ffn);
            arg(&a, "--train-len"), arg(&a, "%lld", (long long)p.train_len);
            arg(&a, "--batch"), arg(&a, "%lld", (long long)p.batch);
            arg(&a, "--steps"), arg(&a, "%lld", (long long)p.steps);
            /* the shortest decimal that reads back as the same double: the command is exact */
            char lr[40];
            for (int digits = 6; digits <= 17; digits++) {
                snprintf(lr, sizeof lr, "%.*g", digits, p.lr);
                if (strtod(lr, NULL) == p.lr) break;
            }
            arg(&a, "--lr"), arg(&a, "%s", lr);
            if (p.warmup >= 0) arg(&a, "--warmup"), arg(&a, "%lld", (long long)p.warmup);
            arg(&a, "--seed"), arg(&a, "%lld", (long long)p.seed);
            arg(&a, "--out"), arg(&a, "%s", path);
        }
        arg(&a, "--val"), arg(&a, "%s/valid", p.corpus);
        arg(&a, "--val-batches"), arg(&a, "4");
        arg(&a, "--save-every"), arg(&a, "%lld", (long long)(p.steps / 4 > 0 ? p.steps / 4 : 1));
        arg(&a, "--log-every"), arg(&a, "%lld", (long long)(p.steps / 50 > 0 ? p.steps / 50 : 1));
        if (p.threads) arg(&a, "--threads"), arg(&a, "%lld", (long long)p.threads);
        snprintf(log, sizeof log, "%s/logs/train-%s.log", p.out, s);
        rc = run_step(&r, what, a.v, log, done);
        args_free(&a);
    }
    /* evaluation */
    for (size_t si = 0; !rc && si < p.n_schemes; si++) {
        const char *s = p.schemes[si];
        snprintf(path, sizeof path, "%s/models/%s.safetensors", p.out, s);
        snprintf(json, sizeof json, "%s/eval/%s.json", p.out, s);
        char what[320]; /* room for the whole lengths list (256) */
        snprintf(what, sizeof what, "evaluating %s at %s, causal and bca", s, lengths);
        const bool done = !fresh && !trained[si] && eval_matches(json, &p);
        arg(&a, "lext"), arg(&a, "eval"), arg(&a, "--model"), arg(&a, "%s", path);
        arg(&a, "--data"), arg(&a, "%s/test", p.corpus);
        arg(&a, "--lengths"), arg(&a, "%s", lengths);
        arg(&a, "--attn"), arg(&a, "causal,bca");
        arg(&a, "--json"), arg(&a, "%s", json);
        if (p.threads) arg(&a, "--threads"), arg(&a, "%lld", (long long)p.threads);
        snprintf(log, sizeof log, "%s/logs/eval-%s.log", p.out, s);
        rc = run_step(&r, what, a.v, log, done);
        args_free(&a);
    }
    /* attention resolution */
    for (size_t si = 0; !rc && si < p.n_schemes; si++)
        for (size_t k = 0; !rc && k < p.n_res; k++)
            for (int m = 0; !rc && m < 2; m++) {
                if (m == 1 && p.res_lengths[k] <= p.train_len) continue;
                const char *s = p.schemes[si], *mode = m ? "bca" : "causal";
                const long long L = (long long)p.res_lengths[k];
                snprintf(path, sizeof path, "%s/models/%s.safetensors", p.out, s);
                snprintf(json, sizeof json, "%s/resolution/%s-%lld%s.json", p.out, s, L, m ? "-bca" : "");
                char what[256];
                snprintf(what, sizeof what, "attention resolution of %s at %lld, %s", s, L, mode);
                const bool done = !fresh && !trained[si] && json_ok(json);
                arg(&a, "lext"), arg(&a, "resolution"), arg(&a, "--model"), arg(&a, "%s", path);
                arg(&a, "--data"), arg(&a, "%s/test", p.corpus);
                arg(&a, "--length"), arg(&a, "%lld", L);
                arg(&a, "--attn"), arg(&a, "%s", mode);
                arg(&a, "--json"), arg(&a, "%s", json);
                arg(&a, "--svg"), arg(&a, "%s/resolution/%s-%lld%s.svg", p.out, s, L, m ? "-bca" : "");
                if (p.threads) arg(&a, "--threads"), arg(&a, "%lld", (long long)p.threads);
                snprintf(log, sizeof log, "%s/logs/resolution-%s-%lld%s.log", p.out, s, L, m ? "-bca" : "");
                rc = run_step(&r, what, a.v, log, done);
                args_free(&a);
            }
    /* the picture */
    if (!rc) {
        arg(&a, "lext"), arg(&a, "plot");
        for (size_t si = 0; si < p.n_schemes; si++) arg(&a, "%s/eval/%s.json", p.out, p.schemes[si]);
        arg(&a, "-o"), arg(&a, "%s/ppl.svg", p.out);
        snprintf(log, sizeof log, "%s/logs/plot.log", p.out);
        rc = run_step(&r, "plotting perplexity by length", a.v, log, false);
        args_free(&a);
    }
    if (r.cmds) fclose(r.cmds);
    if (rc) {
        if (interrupted)
            printf("\ninterrupted: finished steps are kept; run the same command again to continue\n");
        return 1;
    }

    /* tables and report from what the steps wrote */
    results res;
    memset(&res, 0, sizeof res);
    for (size_t si = 0; si < p.n_schemes; si++) {
        snprintf(json, sizeof json, "%s/eval/%s.json", p.out, p.schemes[si]);
        res.eval[si] = read_json(json);
        if (!res.eval[si]) rc = cli_error(cmd, "cannot read %s", json);
        for (size_t k = 0; k < p.n_res; k++)
            for (int m = 0; m < 2; m++) {
                if (m == 1 && p.res_lengths[k] <= p.train_len) continue;
                snprintf(json, sizeof json, "%s/resolution/%s-%lld%s.json", p.out, p.schemes[si],
                         (long long)p.res_lengths[k], m ? "-bca" : "");
                res.res[si][k][m] = read_json(json);
            }
    }
    char corpus_info[2048] = "";
    cJSON *cj = read_json(corpus_json);
    if (cj) {
        const cJSON *tr = cJSON_GetObjectItem(cj, "train"), *va = cJSON_GetObjectItem(cj, "valid"),
                    *te = cJSON_GetObjectItem(cj, "test");
        snprintf(corpus_info, sizeof corpus_info, "%s (`%s`), %s %s; %.0f train / %.0f valid / %.0f test documents",
                 cJSON_GetStringValue(cJSON_GetObjectItem(cj, "name")), p.corpus,
                 cJSON_GetStringValue(cJSON_GetObjectItem(cj, "source")),
                 cJSON_GetStringValue(cJSON_GetObjectItem(cj, "version")), num_of(tr, "documents"),
                 num_of(va, "documents"), num_of(te, "documents"));
        cJSON_Delete(cj);
    } else {
        snprintf(corpus_info, sizeof corpus_info, "`%s` (no corpus.json)", p.corpus);
    }
    if (write_report(&p, &res, cmds_path, cli_now() - r.t0, r.step_s, corpus_info) && !rc) rc = 1;
    for (size_t si = 0; si < p.n_schemes; si++) {
        cJSON_Delete(res.eval[si]);
        for (size_t k = 0; k < 4; k++) cJSON_Delete(res.res[si][k][0]), cJSON_Delete(res.res[si][k][1]);
    }
    return rc;
}
