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
#include <ctype.h>
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

#define MAX_SEEDS 8
#define MAX_DOMAINS 2
#define MAX_LONG 4
#define MAX_SWEEP 8
/* context extension of the rotary models (--rope-scaling, auto factor): evaluated with
 * causal attention at the table's lengths, evaluation only */
#define N_EXT 8
/* Each method: its id (file names), its eval options (%L: the training length, %H: half of
 * it), the one mask it runs with, and its row label. Self-Extend's G = 32 with W = l/2
 * reaches (l - W) G + W = 16.5 l, past the table's 16x; ReRoPE clips at l/2 as its author
 * does; the sinks keep 4 positions beside a window of l (StreamingLLM's setting). */
typedef struct {
    const char *id, *opt, *val, *mode, *label;
} ext_method;
static const ext_method ext_methods[N_EXT] = {
    {"linear", "--rope-scaling", "linear", "causal", "linear (PI)"},
    {"ntk", "--rope-scaling", "ntk", "causal", "ntk"},
    {"dynamic-ntk", "--rope-scaling", "dynamic-ntk", "causal", "dynamic-ntk"},
    {"yarn", "--rope-scaling", "yarn", "causal", "yarn"},
    {"self-extend", "--self-extend", "32,%H", "causal", "self-extend (G 32, W l/2)"},
    {"rerope", "--rerope", "%H", "causal", "rerope (W l/2)"},
    {"sinks", "--sinks", "4", "window", "sinks 4 + window l"},
    {"lambda", "--lambda", "4,%L", "window", "lambda (4 global + l local)"},
};

/* the method's option value for training length L */
static void ext_value(char *b, size_t n, const ext_method *m, int64_t L) {
    const char *v = m->val, *pct = strchr(v, '%');
    if (!pct) {
        snprintf(b, n, "%s", v);
        return;
    }
    snprintf(b, n, "%.*s%lld", (int)(pct - v), v, (long long)(pct[1] == 'H' ? L / 2 : L));
}

/* A corpus the models train and are tested on. */
typedef struct {
    char dir[1024]; /* a corpus directory (train/ valid/ test/) */
    char name[32];  /* what to build there when missing: pydoc or linux */
} domain;

typedef struct {
    domain dom[MAX_DOMAINS]; /* each trains its own models; with two, the first's models are
                                also tested on the second's test split (cross-domain) */
    size_t n_dom;
    char out[1024];
    const char *schemes[MAX_SCHEMES]; /* lext_pos_name()'s static strings: nothing to free */
    size_t n_schemes;
    int64_t lengths[MAX_LENGTHS];
    size_t n_lengths;
    int64_t long_lengths[MAX_LONG]; /* bca and window only (linear in length), own documents */
    size_t n_long;
    int64_t res_lengths[4]; /* attention resolution at these lengths */
    size_t n_res;
    int64_t train_len, steps, batch, layers, heads, dim, ffn, seed, warmup;
    int64_t seeds;          /* models per scheme: seeds seed, seed+1, ... */
    double lr, budget;
    double sweep[MAX_SWEEP]; /* --lr-sweep: learning rates tried per scheme, lr among them */
    size_t n_sweep;
    double sweep_frac;       /* the sweep's runs train this fraction of steps */
    double lr_of[MAX_SCHEMES]; /* the rate each scheme trains with: lr, or the sweep's choice */
    int64_t threads;
    bool passkey;          /* --passkey: the retrieval section */
    int64_t passkey_steps; /* fine-tuning steps on the task per scheme (scaled by the budget) */
} plan;

static void plan_default(plan *p) {
    memset(p, 0, sizeof *p);
    snprintf(p->dom[0].dir, sizeof p->dom[0].dir, "corpora/pydoc");
    snprintf(p->dom[0].name, sizeof p->dom[0].name, "pydoc");
    p->n_dom = 1;
    snprintf(p->out, sizeof p->out, "results");
    static const char *schemes[] = {"sinusoidal", "alibi", "rope", "xpos", "none"};
    for (size_t i = 0; i < 5; i++) p->schemes[i] = schemes[i];
    p->n_schemes = 5;
    p->train_len = 256;
    for (int i = 0; i < 5; i++) p->lengths[i] = 256 << i; /* 1x .. 16x */
    p->n_lengths = 5;
    /* 64x with bca and window: ~20 s per model on 2 cores (the first 16384 bytes of every test
     * document); 8192 too would add as much again, so it is left to --long */
    p->long_lengths[0] = 16384, p->n_long = 1;
    p->res_lengths[0] = 256, p->res_lengths[1] = 512, p->n_res = 2;
    /* 1x: about 15 minutes on 2 Zen 3 cores: five models of 0.83 M parameters, 300 steps of
     * 16 x 256 bytes (1.2 M tokens) each at ~10,000 tokens/s, then ~35 s of evaluation and
     * resolution per model. The default width 256 would leave time for only ~90 steps. */
    p->steps = 300;
    p->batch = 16;
    p->layers = 4, p->heads = 4, p->dim = 128, p->ffn = 0;
    p->seed = 1;
    p->seeds = 1;
    p->warmup = -1;
    p->lr = 1e-3;
    p->sweep_frac = 0.25;
    p->budget = 1.0;
    /* 800 steps of 16 passkey samples: the copy appears after ~250 (xpos, 4 x 128) */
    p->passkey_steps = 800;
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
                    {"warmup", &p->warmup, 0, 1LL << 40},     {"seeds", &p->seeds, 1, MAX_SEEDS}};
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
            char *dst = k[6] ? p->dom[0].name : p->dom[0].dir;
            size_t cap = k[6] ? sizeof p->dom[0].name : sizeof p->dom[0].dir;
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
        } else if (strcmp(k, "passkey") == 0) {
            if (!cJSON_IsBool(e)) rc = cli_error(cmd, "config %s: 'passkey' must be true or false", path);
            else p->passkey = cJSON_IsTrue(e);
        } else if (strcmp(k, "passkey_steps") == 0) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble != floor(e->valuedouble))
                rc = cli_error(cmd, "config %s: 'passkey_steps' must be a whole number >= 1", path);
            else p->passkey_steps = (int64_t)e->valuedouble;
        } else if (strcmp(k, "sweep_fraction") == 0) {
            if (!cJSON_IsNumber(e) || !(e->valuedouble > 0 && e->valuedouble <= 1))
                rc = cli_error(cmd, "config %s: 'sweep_fraction' must be in (0, 1]", path);
            else p->sweep_frac = e->valuedouble;
        } else if (strcmp(k, "lr_sweep") == 0) {
            int cnt = cJSON_GetArraySize(e);
            if (!cJSON_IsArray(e) || cnt > MAX_SWEEP - 1) {
                rc = cli_error(cmd, "config %s: 'lr_sweep' must be a list of at most %d rates", path, MAX_SWEEP - 1);
                continue;
            }
            p->n_sweep = 0;
            const cJSON *s;
            cJSON_ArrayForEach(s, e) {
                if (!cJSON_IsNumber(s) || !(s->valuedouble > 0) || !isfinite(s->valuedouble)) {
                    rc = cli_error(cmd, "config %s: 'lr_sweep' holds a rate that is not > 0", path);
                    break;
                }
                p->sweep[p->n_sweep++] = s->valuedouble;
            }
        } else if (strcmp(k, "lengths") == 0 || strcmp(k, "resolution_lengths") == 0 ||
                   strcmp(k, "long_lengths") == 0) {
            bool res = k[0] == 'r', lng = k[1] == 'o';
            int64_t *dst = res ? p->res_lengths : lng ? p->long_lengths : p->lengths;
            size_t cap = res ? 4 : lng ? MAX_LONG : MAX_LENGTHS,
                   *count = res ? &p->n_res : lng ? &p->n_long : &p->n_lengths;
            int cnt = cJSON_GetArraySize(e);
            if (!cJSON_IsArray(e) || cnt < (res || lng ? 0 : 1) || (size_t)cnt > cap) {
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

/* The plan's training run of one model: its scheme, rate, seed and steps. */
typedef struct {
    const char *scheme;
    double lr;
    int64_t seed, steps;
} run_spec;

static model_state model_state_of(const char *path, const plan *p, const run_spec *rs) {
    lext_model *m = NULL;
    lext_train_state ts;
    memset(&ts, 0, sizeof ts);
    bool has = false;
    model_state st = MODEL_TRAIN;
    if (lext_checkpoint_load(path, &m, &ts, &has) != LEXT_OK || !has) goto done;
    const lext_config *c = lext_model_config(m);
    /* the rate, seed and batch too: a rerun with another --lr-sweep outcome or --seeds
     * must not take a model trained otherwise for finished */
    const bool same = strcmp(lext_pos_name(c->pos), rs->scheme) == 0 && c->n_layer == p->layers &&
                      c->n_head == p->heads && c->d_model == p->dim &&
                      c->d_ff == (p->ffn ? p->ffn : 4 * p->dim) && c->train_len == p->train_len &&
                      c->embed_scale == embed_scaled(rs->scheme) && ts.optim.lr == rs->lr &&
                      ts.seed == (uint64_t)rs->seed && ts.batch == p->batch;
    if (same && ts.step <= rs->steps) st = ts.step == rs->steps ? MODEL_DONE : MODEL_RESUME;
done:
    lext_train_state_free(&ts);
    lext_model_free(m);
    return st;
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

/* One scheme's models over the seeds, as their reports (eval or resolution JSON, NULL where
 * one could not be read): the unit every table cell and every claim is computed on. */
typedef struct {
    cJSON *const *rep;
    size_t n;
} family;

static family fam_of(const plan *p, cJSON *const *row) { return (family){row, (size_t)p->seeds}; }

static bool fam_ok(family f) {
    for (size_t k = 0; k < f.n; k++)
        if (!f.rep[k]) return false;
    return f.n > 0;
}

/* mean over seeds of the cell's perplexity; NAN when a report or the cell is absent */
static double fam_ppl(family f, int64_t L, const char *mode) {
    if (!fam_ok(f)) return NAN;
    double s = 0;
    for (size_t k = 0; k < f.n; k++) s += ppl_of(f.rep[k], L, mode);
    return s / (double)f.n;
}

/* sample standard deviation over seeds of the cell's perplexity; NAN with one seed */
static double fam_sd(family f, int64_t L, const char *mode) {
    if (f.n < 2 || !fam_ok(f)) return NAN;
    double m = fam_ppl(f, L, mode), ss = 0;
    for (size_t k = 0; k < f.n; k++) ss += (ppl_of(f.rep[k], L, mode) - m) * (ppl_of(f.rep[k], L, mode) - m);
    return sqrt(ss / (double)(f.n - 1));
}

/* The per-document sums of cell (L, mode) of every seed's report: loss (n_seeds, n_docs),
 * tokens (n_docs); false when absent or when the seeds' documents differ. */
typedef struct {
    double *loss, *tok;
    size_t n_seeds, n_docs;
} cell_docs;

static void cell_docs_free(cell_docs *c) {
    free(c->loss);
    free(c->tok);
    *c = (cell_docs){0};
}

static const cJSON *cell_of(const cJSON *rep, int64_t L, const char *mode) {
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(rep, "cells")) {
        const cJSON *l = cJSON_GetObjectItem(c, "length"), *m = cJSON_GetObjectItem(c, "mode");
        if (cJSON_IsNumber(l) && (int64_t)l->valuedouble == L && cJSON_IsString(m) &&
            strcmp(m->valuestring, mode) == 0)
            return c;
    }
    return NULL;
}

static bool cell_docs_of(family f, int64_t L, const char *mode, cell_docs *out) {
    *out = (cell_docs){0};
    if (!fam_ok(f)) return false;
    for (size_t k = 0; k < f.n; k++) {
        const cJSON *c = cell_of(f.rep[k], L, mode);
        const cJSON *dl = cJSON_GetObjectItem(c, "doc_loss"), *dt = cJSON_GetObjectItem(c, "doc_tokens");
        int n = cJSON_GetArraySize(dl);
        if (!cJSON_IsArray(dl) || !cJSON_IsArray(dt) || n < 1 || cJSON_GetArraySize(dt) != n ||
            (k > 0 && (size_t)n != out->n_docs))
            goto fail;
        if (k == 0) {
            out->n_docs = (size_t)n, out->n_seeds = f.n;
            out->loss = malloc(f.n * (size_t)n * sizeof(double));
            out->tok = malloc((size_t)n * sizeof(double));
            if (!out->loss || !out->tok) goto fail;
        }
        for (int i = 0; i < n; i++) {
            const cJSON *a = cJSON_GetArrayItem(dl, i), *b = cJSON_GetArrayItem(dt, i);
            const double tok = cJSON_IsNumber(b) ? b->valuedouble : NAN;
            out->loss[k * (size_t)n + (size_t)i] = cJSON_IsNumber(a) ? a->valuedouble : NAN;
            if (k == 0) out->tok[i] = tok;
            else if (tok != out->tok[i]) goto fail; /* the same documents for every seed */
        }
    }
    return true;
fail:
    cell_docs_free(out);
    return false;
}

static const lext_interval NO_INTERVAL = {NAN, NAN, NAN};

/* 95% interval of a cell's perplexity, combined over seeds; NaNs when it cannot be computed */
static lext_interval ppl_iv(family f, int64_t L, const char *mode) {
    cell_docs c;
    lext_interval iv = NO_INTERVAL;
    if (!cell_docs_of(f, L, mode, &c)) return iv;
    lext_doc_losses a = {c.loss, c.tok, c.n_seeds, c.n_docs};
    if (lext_bootstrap_ppl(&a, BOOT_RESAMPLES, LEXT_BOOTSTRAP_SEED, &iv)) iv = NO_INTERVAL;
    cell_docs_free(&c);
    return iv;
}

/* Paired 95% interval of ppl(a cell) / ppl(b cell) on the same test documents, seeds paired
 * by index (seed seed+k of one scheme with seed seed+k of the other: the same data order) */
static lext_interval ratio_iv(family fa, int64_t La, const char *ma, family fb, int64_t Lb,
                              const char *mb) {
    cell_docs a, b;
    lext_interval iv = NO_INTERVAL;
    if (!cell_docs_of(fa, La, ma, &a)) return iv;
    if (cell_docs_of(fb, Lb, mb, &b)) {
        lext_doc_losses da = {a.loss, a.tok, a.n_seeds, a.n_docs}, db = {b.loss, b.tok, b.n_seeds, b.n_docs};
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

/* A table cell: "7.71 [7.52, 7.90]", with several seeds "7.71 ±0.05 [7.52, 7.90]" (the
 * mean over seeds, their standard deviation, the interval combined over seeds) */
static void fmt_cell(char *b, size_t n, family f, int64_t L, const char *mode) {
    lext_interval iv = ppl_iv(f, L, mode);
    iv.est = fam_ppl(f, L, mode);
    const double sd = fam_sd(f, L, mode);
    if (!isfinite(sd)) {
        fmt_iv(b, n, &iv, 2);
        return;
    }
    char e[32], rest[112];
    fmt_num(e, sizeof e, iv.est, 2);
    lext_interval tail = iv;
    tail.est = sd;
    fmt_iv(rest, sizeof rest, &tail, 2);
    snprintf(b, n, "%s ±%s", e, rest);
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
    cJSON *eval[MAX_DOMAINS][MAX_SCHEMES][MAX_SEEDS]; /* lengths, causal and bca */
    cJSON *lng[MAX_DOMAINS][MAX_SCHEMES][MAX_SEEDS];  /* train_len + long lengths, bca and window */
    cJSON *cross[MAX_SCHEMES][MAX_SEEDS];             /* domain 0's models on domain 1's test */
    cJSON *res[MAX_DOMAINS][MAX_SCHEMES][MAX_SEEDS][4][2]; /* resolution length, causal/bca */
    cJSON *sweep[MAX_SCHEMES][MAX_SWEEP];             /* valid split at train_len, causal */
    cJSON *ext[MAX_DOMAINS][MAX_SCHEMES][N_EXT][MAX_SEEDS]; /* rotary models, each ext_methods */
    cJSON *pk[MAX_SCHEMES][2]; /* passkey of the fine-tuned models: plain masks, yarn (rotary) */
} results;

static bool is_rotary(const char *scheme) {
    return strcmp(scheme, "rope") == 0 || strcmp(scheme, "xpos") == 0;
}

/* "models/xpos", "models/linux-rope-seed2": a model's name, which names its files too. The
 * first seed and a single corpus keep the plain scheme name. */
static void model_id(char *b, size_t n, const plan *p, size_t d, size_t si, int64_t k) {
    char seed[32] = "";
    if (k > 0) snprintf(seed, sizeof seed, "-seed%lld", (long long)(p->seed + k));
    snprintf(b, n, "%s%s%s%s", p->n_dom > 1 ? p->dom[d].name : "", p->n_dom > 1 ? "-" : "",
             p->schemes[si], seed);
}

static void lengths_csv(char *b, size_t n, const int64_t *ls, size_t cnt) {
    size_t k = 0;
    b[0] = '\0';
    for (size_t i = 0; i < cnt && k < n; i++)
        k += (size_t)snprintf(b + k, n - k, "%s%lld", i ? "," : "", (long long)ls[i]);
}

/* The lengths of the long evaluation: the training length (where bca and window equal full
 * attention: the baseline on the same documents), then the long lengths. */
static size_t long_set(const plan *p, int64_t *out) {
    out[0] = p->train_len;
    for (size_t i = 0; i < p->n_long; i++) out[i + 1] = p->long_lengths[i];
    return p->n_long + 1;
}

static const char *dom_suffix(const plan *p, size_t d, char *b, size_t n) {
    if (p->n_dom > 1) snprintf(b, n, ", %s", p->dom[d].name);
    else b[0] = '\0';
    return b;
}

/* How to reproduce any one cell of a table: the exact eval command (the same lengths list,
 * because a cell's documents are the first max(lengths) bytes of each test document). */
static void cell_command(out2 *o, const plan *p, size_t d, const char *test_dir, const int64_t *ls,
                         size_t n, const char *modes) {
    char l[256], id[96];
    lengths_csv(l, sizeof l, ls, n);
    model_id(id, sizeof id, p, d, 0, 0);
    both(o, "\nAny cell: `lext eval --model %s/models/MODEL.safetensors --data %s/test --lengths %s "
            "--attn %s` prints it (MODEL as in `%s`%s; the models' training commands are under "
            "\"Exact commands\").\n",
         p->out, test_dir, l, modes, id,
         p->seeds > 1 ? ", with a `-seedS` suffix for the other seeds; the table's mean is over the seeds" : "");
}

static void table_ppl(out2 *o, const plan *p, const results *r, size_t d) {
    char sfx[64];
    both(o, "\n### Perplexity by evaluation length (as the paper's Table 2)%s\n\n", dom_suffix(p, d, sfx, sizeof sfx));
    both(o, "Test split of %s, byte-level perplexity [95%% interval: bootstrap over the test documents%s, "
            "%d resamples, seed %u]%s; lengths as multiples of the training length %lld.\n\n",
         p->dom[d].name, p->seeds > 1 ? " and the seeds" : "", BOOT_RESAMPLES,
         (unsigned)LEXT_BOOTSTRAP_SEED,
         p->seeds > 1 ? "; mean over the seeds ± their standard deviation" : "", (long long)p->train_len);
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
            char b[160];
            fmt_cell(b, sizeof b, fam_of(p, r->eval[d][si]), p->lengths[li], mode);
            both(o, " %s |", b);
        }
        both(o, "\n");
    }
    cell_command(o, p, d, p->dom[d].dir, p->lengths, p->n_lengths, "causal,bca");
}

static void table_bca(out2 *o, const plan *p, const results *r, size_t d) {
    char sfx[64];
    both(o, "\n### Blockwise causal attention ablation (as the paper's Table 5)%s\n\n", dom_suffix(p, d, sfx, sizeof sfx));
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
                char b[160];
                fmt_cell(b, sizeof b, fam_of(p, r->eval[d][si]), p->lengths[li], mode);
                both(o, " %s |", b);
            }
            both(o, "\n");
        }
    cell_command(o, p, d, p->dom[d].dir, p->lengths, p->n_lengths, "causal,bca");
}

/* bca and window far past the training length: both are linear in length. */
static void table_long(out2 *o, const plan *p, const results *r, size_t d) {
    if (p->n_long == 0) return;
    int64_t ls[MAX_LONG + 1];
    const size_t n = long_set(p, ls);
    char sfx[64];
    /* how many documents are that long: few documents, wide intervals (one: none) */
    size_t n_docs = 0;
    for (size_t si = 0; si < p->n_schemes && !n_docs; si++) {
        cell_docs c;
        if (cell_docs_of(fam_of(p, r->lng[d][si]), ls[n - 1], "bca", &c)) {
            n_docs = c.n_docs;
            cell_docs_free(&c);
        }
    }
    both(o, "\n### Longer lengths: bca and window%s\n\n", dom_suffix(p, d, sfx, sizeof sfx));
    both(o, "bca (block = training length) and a sliding window of the training length cost time "
            "linear in length, so they run further. These cells use the first %lld bytes of each of "
            "the %zu test document%s that long (other documents than the tables above, which use the "
            "first %lld); at the training length both masks equal full attention, the baseline on "
            "these documents. Growth: perplexity at %lld over that at %lld, paired interval.\n\n| model |",
         (long long)ls[n - 1], n_docs, n_docs == 1 ? "" : "s", (long long)p->lengths[p->n_lengths - 1], (long long)ls[n - 1],
         (long long)p->train_len);
    for (size_t i = 0; i < n; i++) both(o, " %lld (%gx) |", (long long)ls[i], (double)ls[i] / (double)p->train_len);
    both(o, " growth |\n|---|");
    for (size_t i = 0; i <= n; i++) both(o, "---|");
    both(o, "\n");
    for (size_t si = 0; si < p->n_schemes; si++)
        for (int m = 0; m < 2; m++) {
            const char *mode = m ? "window" : "bca";
            family f = fam_of(p, r->lng[d][si]);
            both(o, "| %s + %s |", p->schemes[si], mode);
            for (size_t i = 0; i < n; i++) {
                char b[160];
                fmt_cell(b, sizeof b, f, ls[i], mode);
                both(o, " %s |", b);
            }
            char b[128];
            lext_interval g = ratio_iv(f, ls[n - 1], mode, f, ls[0], mode);
            g.est = fam_ppl(f, ls[n - 1], mode) / fam_ppl(f, ls[0], mode);
            fmt_iv(b, sizeof b, &g, 3);
            both(o, " %s |\n", b);
        }
    cell_command(o, p, d, p->dom[d].dir, ls, n, "bca,window");
}

/* Context extension: each rotary model under today's inference-time methods (causal) beside
 * itself with bca; the best row at each length past the training length, against the next
 * best on a paired interval. */
static void table_ext(out2 *o, const plan *p, const results *r, size_t d) {
    size_t rot[MAX_SCHEMES], nr = 0;
    for (size_t si = 0; si < p->n_schemes; si++)
        if (is_rotary(p->schemes[si])) rot[nr++] = si;
    if (!nr) return;
    char sfx[64];
    both(o, "\n### Context extension: rotary models under today's methods%s\n\n", dom_suffix(p, d, sfx, sizeof sfx));
    both(o, "The same rope and xpos models, unchanged, under each inference-time context extension: "
            "the rope scalings with full causal attention (`--rope-scaling`, factor auto = length / "
            "training length l; dynamic-ntk grows its factor with the position from 1), Self-Extend "
            "and ReRoPE with causal attention, attention sinks and LM-Infinite's Lambda with a window "
            "of l, beside the model alone (causal) and with bca. Perplexity on the test split as "
            "above.\n\n| model | method |");
    for (size_t li = 0; li < p->n_lengths; li++)
        both(o, " %lld (%gx) |", (long long)p->lengths[li], (double)p->lengths[li] / (double)p->train_len);
    both(o, "\n|---|---|");
    for (size_t li = 0; li < p->n_lengths; li++) both(o, "---|");
    both(o, "\n");
    /* rows: none, each method, bca; family and mode of row k of rotary scheme i */
    enum { ROWS = N_EXT + 2 };
    family fam[MAX_SCHEMES][ROWS];
    const char *mode[ROWS];
    for (size_t i = 0; i < nr; i++)
        for (int k = 0; k < ROWS; k++) {
            fam[i][k] = k == 0 || k == ROWS - 1 ? fam_of(p, r->eval[d][rot[i]]) : fam_of(p, r->ext[d][rot[i]][k - 1]);
            mode[k] = k == ROWS - 1 ? "bca" : k == 0 ? "causal" : ext_methods[k - 1].mode;
        }
    for (size_t i = 0; i < nr; i++)
        for (int k = 0; k < ROWS; k++) {
            both(o, "| %s | %s |", p->schemes[rot[i]], k == 0 ? "none" : k == ROWS - 1 ? "bca" : ext_methods[k - 1].label);
            for (size_t li = 0; li < p->n_lengths; li++) {
                char b[160];
                fmt_cell(b, sizeof b, fam[i][k], p->lengths[li], mode[k]);
                both(o, " %s |", b);
            }
            both(o, "\n");
        }
    both(o, "\nBest at each length (lowest mean perplexity), against the next best: paired ratio of "
            "their perplexities on the same documents%s.\n\n",
         p->seeds > 1 ? " and seeds" : "");
    for (size_t li = 0; li < p->n_lengths; li++) {
        const int64_t L = p->lengths[li];
        if (L <= p->train_len) continue;
        double best = INFINITY, next = INFINITY;
        size_t bi = 0, ni = 0;
        int bk = -1, nk = -1;
        for (size_t i = 0; i < nr; i++)
            for (int k = 0; k < ROWS; k++) {
                const double v = fam_ppl(fam[i][k], L, mode[k]);
                if (!isfinite(v)) continue;
                if (v < best) next = best, ni = bi, nk = bk, best = v, bi = i, bk = k;
                else if (v < next) next = v, ni = i, nk = k;
            }
        if (bk < 0) continue;
        char b1[96], b2[96], iv[128] = "";
        snprintf(b1, sizeof b1, "%s + %s", p->schemes[rot[bi]], bk == 0 ? "none" : bk == ROWS - 1 ? "bca" : ext_methods[bk - 1].id);
        if (nk < 0) {
            both(o, "- %lld: %s (%.3f)\n", (long long)L, b1, best);
            continue;
        }
        snprintf(b2, sizeof b2, "%s + %s", p->schemes[rot[ni]], nk == 0 ? "none" : nk == ROWS - 1 ? "bca" : ext_methods[nk - 1].id);
        lext_interval q = ratio_iv(fam[bi][bk], L, mode[bk], fam[ni][nk], L, mode[nk]);
        q.est = best / next;
        fmt_iv(iv, sizeof iv, &q, 4);
        both(o, "- %lld (%gx): **%s** %.3f, then %s %.3f; ratio %s%s\n", (long long)L,
             (double)L / (double)p->train_len, b1, best, b2, next, iv,
             isfinite(q.hi) && q.hi < 1 ? "" : " (within noise: not resolved at this budget)");
    }
    char l[256], id[96];
    lengths_csv(l, sizeof l, p->lengths, p->n_lengths);
    model_id(id, sizeof id, p, d, rot[0], 0);
    both(o, "\nAny cell: `lext eval --model %s/models/MODEL.safetensors --data %s/test --lengths %s "
            "--attn MODE OPTION` (MODEL as in `%s`; none and bca are the tables above), with:\n\n",
         p->out, p->dom[d].dir, l, id);
    for (int k = 0; k < N_EXT; k++) {
        char v[64];
        ext_value(v, sizeof v, &ext_methods[k], p->train_len);
        both(o, "- %s: `--attn %s %s %s`\n", ext_methods[k].label, ext_methods[k].mode, ext_methods[k].opt, v);
    }
}

/* A passkey report's accuracy for (mode, context L) over its depths: exact match (or, with
 * digits, the share of digits right); NAN when absent. */
static double pk_acc(const cJSON *rep, const char *mode, int64_t L, bool digits) {
    double num = 0, den = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(rep, "cells")) {
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "mode"));
        if (!m || strcmp(m, mode) || num_of(c, "length") != (double)L) continue;
        const double t = num_of(c, "trials");
        num += digits ? num_of(c, "digit_accuracy") * t : num_of(c, "exact");
        den += t;
    }
    return den > 0 ? num / den : NAN;
}

/* Retrieval: the models fine-tuned on passkey samples, by length and mask, and what the
 * perplexity table and this one say together, a sentence per scheme. */
static void table_passkey(out2 *o, const plan *p, const results *r) {
    both(o, "\n### Retrieval: passkey by length\n\n");
    if (!p->passkey) {
        both(o, "Left out of this run. `lext experiment --passkey` (or `\"passkey\": true` in the "
                "config) fine-tunes each model on passkey retrieval (%lld steps at this budget) and "
                "tests it by length and depth with every mask: about 2.5 minutes per scheme on 2 "
                "cores.\n",
             (long long)p->passkey_steps);
        return;
    }
    const int64_t Lmax = p->lengths[p->n_lengths - 1];
    char span[64]; /* the table's lengths as multiples of the training length */
    snprintf(span, sizeof span, "%gx to %gx", (double)p->lengths[0] / (double)p->train_len,
             (double)Lmax / (double)p->train_len);
    both(o, "Each model of the tables above (%s, seed %lld), fine-tuned for %lld steps on passkey "
            "samples of the training length (`lext train --init MODEL --task passkey:1`: only the "
            "answer scored), then tested with contexts of %s the training length: the reference's prompt "
            "(epfml/landmark-attention), keys at depths 0, 25, 50, 75 and 100%% of the filler, 10 "
            "prompts each, the same prompts for every model and mask. Cells: greedy exact match, %% "
            "of the 50 prompts at that length [%% of digits right, teacher-forced; chance 10%%]. At "
            "the training length the template leaves 4 bytes of filler, so training shows the key "
            "only about 100 bytes before the question.\n\n| model | mask |",
         p->dom[0].name, (long long)p->seed, (long long)p->passkey_steps, span);
    for (size_t li = 0; li < p->n_lengths; li++)
        both(o, " %lld (%gx) |", (long long)p->lengths[li], (double)p->lengths[li] / (double)p->train_len);
    both(o, "\n|---|---|");
    for (size_t li = 0; li < p->n_lengths; li++) both(o, "---|");
    both(o, "\n");
    static const char *const masks[] = {"causal", "bca", "window"};
    for (size_t si = 0; si < p->n_schemes; si++)
        for (int k = 0; k < 4; k++) {
            const cJSON *rep = r->pk[si][k == 3];
            if (!rep || (k == 3 && !is_rotary(p->schemes[si]))) continue;
            const char *mode = k == 3 ? "causal" : masks[k];
            both(o, "| %s | %s |", p->schemes[si], k == 3 ? "causal + yarn" : mode);
            for (size_t li = 0; li < p->n_lengths; li++)
                both(o, " %.0f [%.0f] |", 100 * pk_acc(rep, mode, p->lengths[li], false),
                     100 * pk_acc(rep, mode, p->lengths[li], true));
            both(o, "\n");
        }
    both(o, "\nHeatmaps (length x depth, per mask):");
    for (size_t si = 0; si < p->n_schemes; si++) {
        if (!r->pk[si][0]) continue;
        char id[96];
        model_id(id, sizeof id, p, 0, si, 0);
        both(o, " [%s](%s-passkey.svg)", p->schemes[si], id);
        if (r->pk[si][1]) both(o, " [%s + yarn](%s-passkey-yarn.svg)", p->schemes[si], id);
    }
    both(o, "\n\nPerplexity and retrieval together:\n\n");
    for (size_t si = 0; si < p->n_schemes; si++) {
        const cJSON *rep = r->pk[si][0];
        if (!rep) continue;
        family f = fam_of(p, r->eval[0][si]);
        const double gc = fam_ppl(f, Lmax, "causal") / fam_ppl(f, p->train_len, "causal");
        const double gb = fam_ppl(f, Lmax, "bca") / fam_ppl(f, p->train_len, "bca");
        const double a1 = pk_acc(rep, "causal", p->train_len, false), ac = pk_acc(rep, "causal", Lmax, false);
        const double ab = pk_acc(rep, "bca", Lmax, false), aw = pk_acc(rep, "window", Lmax, false);
        /* depth 100: the key just before the question, inside every mask's reach */
        double near = 0, nt = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(rep, "cells")) {
            const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "mode"));
            if (m && !strcmp(m, "bca") && num_of(c, "length") == (double)Lmax && num_of(c, "depth") == 100)
                near += num_of(c, "exact"), nt += num_of(c, "trials");
        }
        both(o, "- **%s**: perplexity at %gx is %.2fx its 1x value with causal attention and %.2fx "
                "with bca; passkey exact match %.0f%% at 1x, %.0f%% at %gx with causal attention, "
                "%.0f%% with bca and %.0f%% with the window (bca with the key at depth 100, next to "
                "the question: %.0f%%). %s\n",
             p->schemes[si], (double)Lmax / (double)p->train_len, gc, gb, 100 * a1, 100 * ac,
             (double)Lmax / (double)p->train_len, 100 * ab, 100 * aw, nt > 0 ? 100 * near / nt : NAN,
             gb < 1.05 && ab < 0.5 * a1
                 ? "Level perplexity with bca here does not mean the long context is used: the key is "
                   "out of reach past the block."
                 : ac >= 0.5 * a1 && a1 > 0
                 ? "Retrieval holds past the training length with full attention."
                 : "Retrieval does not survive past the training length.");
    }
}

/* Domain 0's models on domain 1's test split, beside domain 1's own models. */
static void table_cross(out2 *o, const plan *p, const results *r) {
    if (p->n_dom < 2) return;
    both(o, "\n### Cross-domain: trained on %s, tested on %s\n\n", p->dom[0].name, p->dom[1].name);
    both(o, "Perplexity on %s's test split of the models trained on %s, with causal and bca "
            "attention; growth (perplexity at %lld over that at the training length, paired "
            "interval) beside that of the models trained on %s itself. Extrapolation can depend on "
            "the domain: a scheme whose growth changes between the two columns does.\n\n",
         p->dom[1].name, p->dom[0].name, (long long)p->lengths[p->n_lengths - 1], p->dom[1].name);
    both(o, "| model |");
    for (size_t li = 0; li < p->n_lengths; li++) both(o, " %lld |", (long long)p->lengths[li]);
    both(o, " growth | growth, in-domain |\n|---|");
    for (size_t li = 0; li <= p->n_lengths + 1; li++) both(o, "---|");
    both(o, "\n");
    const int64_t Lmax = p->lengths[p->n_lengths - 1];
    for (size_t si = 0; si < p->n_schemes; si++)
        for (int m = 0; m < 2; m++) {
            const char *mode = m ? "bca" : "causal";
            family f = fam_of(p, r->cross[si]), own = fam_of(p, r->eval[1][si]);
            both(o, "| %s%s |", p->schemes[si], m ? " + bca" : "");
            char b[160];
            for (size_t li = 0; li < p->n_lengths; li++) {
                fmt_cell(b, sizeof b, f, p->lengths[li], mode);
                both(o, " %s |", b);
            }
            lext_interval g = ratio_iv(f, Lmax, mode, f, p->train_len, mode);
            g.est = fam_ppl(f, Lmax, mode) / fam_ppl(f, p->train_len, mode);
            fmt_iv(b, sizeof b, &g, 3);
            both(o, " %s |", b);
            g = ratio_iv(own, Lmax, mode, own, p->train_len, mode);
            g.est = fam_ppl(own, Lmax, mode) / fam_ppl(own, p->train_len, mode);
            fmt_iv(b, sizeof b, &g, 3);
            both(o, " %s |\n", b);
        }
    cell_command(o, p, 0, p->dom[1].dir, p->lengths, p->n_lengths, "causal,bca");
}

/* mean over seeds of a resolution report's mean_R; NAN when one is missing */
static double res_mean(const plan *p, const results *r, size_t d, size_t si, size_t k, int m) {
    double s = 0;
    for (int64_t q = 0; q < p->seeds; q++) {
        if (!r->res[d][si][q][k][m]) return NAN;
        s += num_of(r->res[d][si][q][k][m], "mean_R");
    }
    return s / (double)p->seeds;
}

static void table_res(out2 *o, const plan *p, const results *r, size_t d) {
    if (p->n_res == 0) return;
    char sfx[64];
    both(o, "\n### Attention resolution (as the paper's Table 3)%s\n\n", dom_suffix(p, d, sfx, sizeof sfx));
    both(o, "Mean over layers of R (Eq. 3) on the expected score by distance (Eq. 11), test split%s. "
            "R < 1 always under Eq. 3, so the paper's 1.08 compares only relatively.\n\n| model |",
         p->seeds > 1 ? ", mean over the seeds" : "");
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
            fmt_num(b, sizeof b, res_mean(p, r, d, si, k, 0), -3);
            both(o, " %s |", b);
        }
        for (size_t k = 0; k < p->n_res; k++)
            if (p->res_lengths[k] > p->train_len) {
                fmt_num(b, sizeof b, res_mean(p, r, d, si, k, 1), -3);
                both(o, " %s |", b);
            }
        both(o, "\n");
    }
    char id[96];
    model_id(id, sizeof id, p, d, 0, 0);
    both(o, "\nAny cell: `lext resolution --model %s/models/MODEL.safetensors --data %s/test --length L "
            "--attn causal|bca` prints it (MODEL as in `%s`).\n",
         p->out, p->dom[d].dir, id);
}

static int scheme_index(const plan *p, const char *name) {
    for (size_t i = 0; i < p->n_schemes; i++)
        if (strcmp(p->schemes[i], name) == 0) return (int)i;
    return -1;
}

/* ---- the learning-rate sweep ---------------------------------------------------------- */

static int64_t sweep_steps(const plan *p) {
    const int64_t s = (int64_t)llround((double)p->steps * p->sweep_frac);
    return s < 1 ? 1 : s;
}

/* the shortest decimal that reads back as the same double: commands and names are exact */
static void fmt_exact(char *b, size_t n, double v) {
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(b, n, "%.*g", digits, v);
        if (strtod(b, NULL) == v) break;
    }
}

static double sweep_ppl(const results *r, const plan *p, size_t si, size_t k) {
    return r->sweep[si][k] ? ppl_of(r->sweep[si][k], p->train_len, "causal") : NAN;
}

/* index of the best rate of scheme si by validation perplexity, or -1 */
static int sweep_best(const results *r, const plan *p, size_t si) {
    int best = -1;
    for (size_t k = 0; k < p->n_sweep; k++) {
        const double v = sweep_ppl(r, p, si, k);
        if (isfinite(v) && (best < 0 || v < sweep_ppl(r, p, si, (size_t)best))) best = (int)k;
    }
    return best;
}

static int sweep_shared(const plan *p) {
    for (size_t k = 0; k < p->n_sweep; k++)
        if (p->sweep[k] == p->lr) return (int)k;
    return -1;
}

/* ppl(shared rate) / ppl(best rate) of scheme si on the validation documents, paired */
static lext_interval sweep_gap(const results *r, const plan *p, size_t si) {
    const int b = sweep_best(r, p, si), s = sweep_shared(p);
    if (b < 0 || s < 0) return NO_INTERVAL;
    family fs = {&r->sweep[si][s], 1}, fb = {&r->sweep[si][b], 1};
    lext_interval iv = ratio_iv(fs, p->train_len, "causal", fb, p->train_len, "causal");
    iv.est = sweep_ppl(r, p, si, (size_t)s) / sweep_ppl(r, p, si, (size_t)b);
    return iv;
}

/* Decides each scheme's rate from the sweep: the shared lr for every scheme when, for every
 * scheme, it is within noise of that scheme's best (the paired interval of their ratio
 * reaches 1); otherwise each scheme's best. Returns true when the shared rate stays. */
static bool sweep_decide(plan *p, const results *r) {
    bool shared = true;
    for (size_t si = 0; si < p->n_schemes; si++) {
        const lext_interval g = sweep_gap(r, p, si);
        shared &= isfinite(g.lo) && g.lo <= 1.0;
    }
    for (size_t si = 0; si < p->n_schemes; si++) {
        const int b = sweep_best(r, p, si);
        p->lr_of[si] = shared || b < 0 ? p->lr : p->sweep[b];
    }
    return shared;
}

static void table_sweep(out2 *o, const plan *p, const results *r, bool shared) {
    if (p->n_sweep == 0) return;
    both(o, "\n### Learning-rate sweep\n\n");
    both(o, "Each scheme trained for %lld steps (%g of the budget's %lld, its own warm-up and cosine) "
            "at each rate, seed %lld, on %s; validation perplexity at the training length [95%% "
            "interval over the validation documents]. The last column is the shared rate %g "
            "against the scheme's best, paired on the same documents: within noise when its "
            "interval reaches 1.\n\n| model |",
         (long long)sweep_steps(p), p->sweep_frac, (long long)p->steps, (long long)p->seed,
         p->dom[0].name, p->lr);
    for (size_t k = 0; k < p->n_sweep; k++) both(o, " lr %g |", p->sweep[k]);
    both(o, " shared / best |\n|---|");
    for (size_t k = 0; k <= p->n_sweep; k++) both(o, "---|");
    both(o, "\n");
    for (size_t si = 0; si < p->n_schemes; si++) {
        const int best = sweep_best(r, p, si);
        both(o, "| %s |", p->schemes[si]);
        char b[160];
        for (size_t k = 0; k < p->n_sweep; k++) {
            family f = {&r->sweep[si][k], 1};
            fmt_cell(b, sizeof b, f, p->train_len, "causal");
            both(o, (int)k == best ? " **%s** |" : " %s |", b);
        }
        lext_interval g = sweep_gap(r, p, si);
        fmt_iv(b, sizeof b, &g, 3);
        both(o, " %s |\n", b);
    }
    both(o, "\n%s\n", shared ? "The shared rate is within noise of every scheme's best, so every model trains with it."
                             : "The shared rate is not within noise of some scheme's best, so every scheme trains "
                               "with its own best rate (in bold).");
}

/* Paired 95% interval of growth(fa) / growth(fb), growth = ppl at Lhi over ppl at Llo in
 * mode: all four cells resampled with one draw of documents and seeds */
static lext_interval growth_ratio_iv(family fa, family fb, int64_t Lhi, int64_t Llo, const char *mode) {
    cell_docs c[4];
    const family fam[4] = {fa, fa, fb, fb};
    const int64_t L[4] = {Lhi, Llo, Lhi, Llo};
    lext_interval iv = NO_INTERVAL;
    size_t got = 0;
    while (got < 4 && cell_docs_of(fam[got], L[got], mode, &c[got])) got++;
    if (got == 4) {
        lext_doc_losses d[4];
        for (int k = 0; k < 4; k++) d[k] = (lext_doc_losses){c[k].loss, c[k].tok, c[k].n_seeds, c[k].n_docs};
        if (lext_bootstrap_ratio_of_ratios(&d[0], &d[1], &d[2], &d[3], BOOT_RESAMPLES,
                                           LEXT_BOOTSTRAP_SEED, &iv))
            iv = NO_INTERVAL;
    }
    for (size_t k = 0; k < got; k++) cell_docs_free(&c[k]);
    return iv;
}

/* ---- claims ------------------------------------------------------------------------------ */

/* ppl at the largest length / ppl at the training length, for a scheme and mode, with its
 * paired interval (the same test documents at both lengths) */
static lext_interval growth_iv(const plan *p, const results *r, size_t d, const char *scheme,
                               const char *mode) {
    int si = scheme_index(p, scheme);
    if (si < 0) return NO_INTERVAL;
    family f = fam_of(p, r->eval[d][si]);
    if (!fam_ok(f)) return NO_INTERVAL;
    int64_t Lmax = p->lengths[0];
    for (size_t i = 0; i < p->n_lengths; i++) Lmax = p->lengths[i] > Lmax ? p->lengths[i] : Lmax;
    lext_interval iv = ratio_iv(f, Lmax, mode, f, p->train_len, mode);
    iv.est = fam_ppl(f, Lmax, mode) / fam_ppl(f, p->train_len, mode);
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

static void write_claims(FILE *md, const plan *p, const results *r, size_t d) {
    int64_t Lmax = p->lengths[0];
    for (size_t i = 0; i < p->n_lengths; i++) Lmax = p->lengths[i] > Lmax ? p->lengths[i] : Lmax;
    double mult = (double)Lmax / (double)p->train_len;
    if (p->n_dom > 1) fprintf(md, "### %s\n\n", p->dom[d].name);
    fprintf(md, "Growth = perplexity at %lld (%gx) divided by perplexity at the training length %lld, "
                "with its 95%% interval from a paired bootstrap over the test documents (the same "
                "documents at both lengths%s; %d resamples, seed %u). A claim **holds** or **fails** "
                "only when its whole interval is on one side of its threshold; otherwise it is **not "
                "resolved at this budget**. Thresholds are stated with each claim; they are ours, not "
                "the paper's.\n\n",
            (long long)Lmax, mult, (long long)p->train_len,
            p->seeds > 1 ? "; seeds resampled too, so the seed-to-seed spread widens it" : "",
            BOOT_RESAMPLES, (unsigned)LEXT_BOOTSTRAP_SEED);
    fprintf(md, "| model | growth, causal | growth, bca |\n|---|---|---|\n");
    for (size_t si = 0; si < p->n_schemes; si++) {
        char a[128], b[128];
        lext_interval ga = growth_iv(p, r, d, p->schemes[si], "causal"),
                      gb = growth_iv(p, r, d, p->schemes[si], "bca");
        fmt_iv(a, sizeof a, &ga, 3);
        fmt_iv(b, sizeof b, &gb, 3);
        fprintf(md, "| %s | %s | %s |\n", p->schemes[si], a, b);
    }
    fprintf(md, "\n");
    /* a model that did not learn says little about extrapolation: say so */
    double best1 = INFINITY;
    for (size_t si = 0; si < p->n_schemes; si++)
        best1 = fmin(best1, fam_ppl(fam_of(p, r->eval[d][si]), p->train_len, "causal"));
    for (size_t si = 0; si < p->n_schemes; si++) {
        double v = fam_ppl(fam_of(p, r->eval[d][si]), p->train_len, "causal");
        if (isfinite(v) && v > 2 * best1)
            fprintf(md, "Note: %s reached perplexity %.2f at the training length, more than twice "
                        "the best model's %.2f: it learned little at this budget, so its growth "
                        "numbers say little about extrapolation.\n\n",
                    p->schemes[si], v, best1);
    }
    char d_[512];
    lext_interval g;
    /* 1. LeX keeps falling with length past l: each step's paired ratio <= 1.005 */
    int xi = scheme_index(p, "xpos");
    family fx = xi >= 0 ? fam_of(p, r->eval[d][xi]) : (family){NULL, 0};
    if (xi >= 0 && fam_ok(fx)) {
        lext_verdict v = LEXT_VERDICT_HOLDS;
        int64_t prevL = p->train_len;
        double worst_hi = -INFINITY;
        for (size_t i = 0; i < p->n_lengths; i++)
            if (p->lengths[i] > p->train_len) {
                lext_interval st = ratio_iv(fx, p->lengths[i], "bca", fx, prevL, "bca");
                v = all_of(v, lext_judge(&st, 1.005, false));
                worst_hi = fmax(worst_hi, st.hi);
                prevL = p->lengths[i];
            }
        g = growth_iv(p, r, d, "xpos", "bca");
        snprintf(d_, sizeof d_, "growth %.3f [%.3f, %.3f]; holds when every step to a longer length "
                                "has a ratio below 1.005 (largest upper bound %.4f)",
                 g.est, g.lo, g.hi, worst_hi);
        claim(md, "LeX (xpos + bca) perplexity keeps falling (or stays level) as length grows past the training length",
              g.est, v, d_);
    } else
        claim(md, "LeX (xpos + bca) perplexity keeps falling", NAN, LEXT_VERDICT_UNRESOLVED, "");
    /* 2. rope and absolute explode without bca */
    g = growth_iv(p, r, d, "rope", "causal");
    snprintf(d_, sizeof d_, "growth %.3f [%.3f, %.3f]; holds means growth > 2", g.est, g.lo, g.hi);
    claim(md, "RoPE without bca degrades sharply past the training length", g.est, lext_judge(&g, 2, true), d_);
    g = growth_iv(p, r, d, "sinusoidal", "causal");
    snprintf(d_, sizeof d_, "growth %.3f [%.3f, %.3f]; holds means growth > 2", g.est, g.lo, g.hi);
    claim(md, "Absolute (sinusoidal) position embeddings without bca degrade sharply", g.est,
          lext_judge(&g, 2, true), d_);
    /* 3. xpos without bca degrades less than rope: the paired ratio of their growths < 1
     * (the same documents and seeds in all four cells, so what is hard for both cancels) */
    lext_interval gx = growth_iv(p, r, d, "xpos", "causal"), gr = growth_iv(p, r, d, "rope", "causal");
    lext_interval gq = NO_INTERVAL;
    {
        int si_x = scheme_index(p, "xpos"), si_r = scheme_index(p, "rope");
        if (si_x >= 0 && si_r >= 0)
            gq = growth_ratio_iv(fam_of(p, r->eval[d][si_x]), fam_of(p, r->eval[d][si_r]), Lmax,
                                 p->train_len, "causal");
        gq.est = gx.est / gr.est;
    }
    snprintf(d_, sizeof d_, "xpos growth %.3f [%.3f, %.3f], rope's %.3f [%.3f, %.3f]; paired ratio of "
                            "the growths %.3f [%.3f, %.3f], holds means below 1",
             gx.est, gx.lo, gx.hi, gr.est, gr.lo, gr.hi, gq.est, gq.lo, gq.hi);
    claim(md, "XPOS without bca degrades less than RoPE", gq.est, lext_judge(&gq, 1.0, false), d_);
    /* 4. alibi stays flat */
    g = growth_iv(p, r, d, "alibi", "causal");
    snprintf(d_, sizeof d_, "growth %.3f [%.3f, %.3f]; holds means the interval lies within 10%% of 1",
             g.est, g.lo, g.hi);
    claim(md, "ALiBi stays flat without bca", g.est, judge_band(&g, 0.9, 1.1), d_);
    /* 5. bca rescues rope */
    g = growth_iv(p, r, d, "rope", "bca");
    snprintf(d_, sizeof d_, "growth %.3f [%.3f, %.3f]; holds means growth < 1.1", g.est, g.lo, g.hi);
    claim(md, "bca lets RoPE extrapolate (the paper's Table 5)", g.est, lext_judge(&g, 1.1, false), d_);
    /* 6. LeX best at the longest length: the paired ratio LeX / best other < 1 */
    if (xi >= 0 && fam_ok(fx)) {
        double lex = fam_ppl(fx, Lmax, "bca"), best = INFINITY;
        int bs = -1, bm = 0;
        for (size_t si = 0; si < p->n_schemes; si++)
            for (int m = 0; m < 2; m++) {
                if ((int)si == xi && m == 1) continue;
                double v = fam_ppl(fam_of(p, r->eval[d][si]), Lmax, m ? "bca" : "causal");
                if (v < best) best = v, bs = (int)si, bm = m;
            }
        lext_interval q = bs < 0 ? NO_INTERVAL
                                 : ratio_iv(fx, Lmax, "bca", fam_of(p, r->eval[d][bs]), Lmax,
                                            bm ? "bca" : "causal");
        q.est = lex / best;
        snprintf(d_, sizeof d_, "LeX %.3f, best other %.3f (%s%s); paired ratio %.4f [%.4f, %.4f], "
                                "holds means below 1",
                 lex, best, bs < 0 ? "" : p->schemes[bs], bm ? " + bca" : "", q.est, q.lo, q.hi);
        claim(md, "LeX has the lowest perplexity at the longest length", lex,
              lext_judge(&q, 1.0, false), d_);
    }
    /* 7. resolution: one number per model; across seeds, a sign test */
    int ri = scheme_index(p, "rope");
    if (xi >= 0 && ri >= 0 && p->n_res > 0) {
        int higher = 0, n = 0;
        for (int64_t q = 0; q < p->seeds; q++)
            if (r->res[d][xi][q][0][0] && r->res[d][ri][q][0][0]) {
                n++;
                higher += num_of(r->res[d][xi][q][0][0], "mean_R") > num_of(r->res[d][ri][q][0][0], "mean_R");
            }
        if (n > 0) {
            const double a = res_mean(p, r, d, (size_t)xi, 0, 0), b = res_mean(p, r, d, (size_t)ri, 0, 0);
            /* one-sided sign test over seeds: all n seeds agree by chance with p = 2^-n */
            const bool decisive = n >= 5;
            const char *v = !decisive ? (a > b ? "higher, without an interval" : "not higher, without an interval")
                            : higher == n ? "holds"
                            : higher == 0 ? "fails"
                                          : "not resolved at this budget";
            snprintf(d_, sizeof d_, "xpos %.3g, rope %.3g at %lld%s; xpos higher in %d of %d seeds; %s",
                     a, b, (long long)p->res_lengths[0], n > 1 ? " (means over seeds)" : "", higher, n,
                     decisive ? "a sign test over the seeds: holds when every seed agrees (one-sided p = 2^-n < 0.05)"
                              : "a point comparison: the resolution is not computed per document, and a "
                                "sign test over seeds needs at least 5 (--seeds 5)");
            fprintf(md, "- XPOS has a higher attention resolution than RoPE (Table 3): **%s** (%s).\n", v, d_);
        }
    }
    fprintf(md, "\n");
}

/* Returns 0, or 1 after printing when REPORT.md could not be written whole. */
static int write_report(const plan *p, const results *r, bool shared_lr, const char *cmds_path,
                        double seconds, double step_seconds, char corpus_info[][2048]) {
    char path[1100];
    snprintf(path, sizeof path, "%s/REPORT.md", p->out);
    FILE *md = fopen(path, "w");
    if (!md) return cli_error(cmd, "cannot write %s: %s", path, strerror(errno));
    fprintf(md, "# lext experiment: length extrapolation at CPU scale\n\n");
    fprintf(md, "This run trains %s per position scheme with the same budget and data order, then "
                "evaluates each on the test split at 1x to %gx the training length with full causal "
                "attention and with blockwise causal attention (bca), following the protocol of Sun "
                "et al. (2022), \"A Length-Extrapolatable Transformer\".\n\n",
            p->seeds > 1 ? "several byte-level models (one per seed)" : "one byte-level model",
            (double)p->lengths[p->n_lengths - 1] / (double)p->train_len);
    char el[32], st[32];
    fmt_duration(el, sizeof el, seconds);
    fmt_duration(st, sizeof st, step_seconds);
    fprintf(md, "## Setup\n\n");
    for (size_t d = 0; d < p->n_dom; d++) fprintf(md, "- corpus: %s\n", corpus_info[d]);
    fprintf(md, "- model: %lld layers, %lld heads, dim %lld, ffn %lld, byte-level (256 tokens), tied embedding; "
                "sinusoidal and learned add their positions to token embeddings scaled by sqrt(dim) "
                "(`--embed-scale`)\n",
            (long long)p->layers, (long long)p->heads, (long long)p->dim,
            (long long)(p->ffn ? p->ffn : 4 * p->dim));
    char lr[160];
    if (p->n_sweep && !shared_lr) snprintf(lr, sizeof lr, "lr per scheme from the sweep below");
    else snprintf(lr, sizeof lr, "lr %g%s", p->lr, p->n_sweep ? " (the sweep below found it within noise of each scheme's best)" : "");
    fprintf(md, "- training: length %lld, batch %lld, %lld steps (budget %gx), %.1f M tokens per model, "
                "AdamW %s, warm-up then cosine, ",
            (long long)p->train_len, (long long)p->batch, (long long)p->steps, p->budget,
            (double)(p->steps * p->batch * p->train_len) / 1e6, lr);
    if (p->seeds > 1)
        fprintf(md, "%lld seeds (%lld to %lld: each its own initialisation and data order, the same "
                    "for every scheme)\n",
                (long long)p->seeds, (long long)p->seed, (long long)(p->seed + p->seeds - 1));
    else fprintf(md, "seed %lld, the same data order for every scheme\n", (long long)p->seed);
    fprintf(md, "- evaluation: the first %lld bytes of every test document that long, split into "
                "segments of each length, each segment from a fresh context\n",
            (long long)p->lengths[p->n_lengths - 1]);
    fprintf(md, "- wall time: %s for all the steps on %ld cores (%s for this invocation, which "
                "skipped the steps already complete)\n",
            st, sysconf(_SC_NPROCESSORS_ONLN), el);
    out2 o = {md};
    printf("\n");
    table_sweep(&o, p, r, shared_lr);
    for (size_t d = 0; d < p->n_dom; d++) {
        table_ppl(&o, p, r, d);
        table_bca(&o, p, r, d);
        table_long(&o, p, r, d);
        table_ext(&o, p, r, d);
        table_res(&o, p, r, d);
    }
    table_passkey(&o, p, r);
    table_cross(&o, p, r);
    fprintf(md, "\n## Pictures\n\n");
    for (size_t d = 0; d < p->n_dom; d++)
        fprintf(md, "![perplexity by length%s%s](%s%sppl.svg)\n\n", p->n_dom > 1 ? ", " : "",
                p->n_dom > 1 ? p->dom[d].name : "",
                p->n_dom > 1 ? p->dom[d].name : "", p->n_dom > 1 ? "-" : "");
    for (size_t d = 0; d < p->n_dom; d++)
        for (size_t si = 0; si < p->n_schemes; si++)
            for (size_t k = 0; k < p->n_res; k++)
                for (int m = 0; m < 2; m++) {
                    if (m == 1 && p->res_lengths[k] <= p->train_len) continue;
                    char id[96];
                    model_id(id, sizeof id, p, d, si, 0);
                    fprintf(md, "- [expected score by distance, %s at %lld%s](resolution/%s-%lld%s.svg)\n",
                            id, (long long)p->res_lengths[k], m ? ", bca" : "", id,
                            (long long)p->res_lengths[k], m ? "-bca" : "");
                }
    fprintf(md, "\n## Which of the paper's claims held here\n\n");
    for (size_t d = 0; d < p->n_dom; d++) write_claims(md, p, r, d);
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

/* --corpus: a name (pydoc, linux: corpora/NAME, built when missing), both (the two), a
 * corpus directory, or two of these separated by a comma ("corpora/pydoc,my/corpus"): with
 * two, each trains its models and the first's are also tested on the second's test split.
 * A directory in a pair must hold a corpus already; its base name names it (in model ids
 * and tables), so the two names must differ. */
static int parse_corpus(plan *p, const char *s) {
    static const char *names[] = {"pydoc", "linux"};
    if (!*s) return cli_error(cmd, "--corpus: expects pydoc, linux, both or a corpus directory");
    char buf[2 * sizeof p->dom[0].dir], *w[MAX_DOMAINS + 1];
    if (strcmp(s, "both") == 0) s = "pydoc,linux";
    if (strlen(s) >= sizeof buf) return cli_error(cmd, "--corpus: the path is too long");
    snprintf(buf, sizeof buf, "%s", s);
    size_t n = 0;
    for (char *t = buf, *c; n <= MAX_DOMAINS; t = c + 1) {
        w[n++] = t;
        if (!(c = strchr(t, ','))) break;
        *c = 0;
    }
    if (n > MAX_DOMAINS) return cli_error(cmd, "--corpus: at most %d corpora, separated by a comma", MAX_DOMAINS);
    p->n_dom = n;
    for (size_t i = 0; i < n; i++) {
        domain *d = &p->dom[i];
        if (!*w[i]) return cli_error(cmd, "--corpus: an empty corpus name in '%s'", s);
        bool named = false;
        for (int k = 0; k < 2; k++)
            if (strcmp(w[i], names[k]) == 0) {
                snprintf(d->dir, sizeof d->dir, "corpora/%s", names[k]);
                snprintf(d->name, sizeof d->name, "%s", names[k]);
                named = true;
            }
        if (named) continue;
        if (strlen(w[i]) >= sizeof d->dir) return cli_error(cmd, "--corpus: the path is too long");
        snprintf(d->dir, sizeof d->dir, "%s", w[i]);
        if (n == 1) continue; /* one directory: built as corpus_name (pydoc) when missing */
        char cj[sizeof d->dir + 16];
        snprintf(cj, sizeof cj, "%s/corpus.json", d->dir);
        if (!exists(cj))
            return cli_error(cmd, "--corpus: %s holds no corpus (no corpus.json); make one with "
                                  "`lext corpus pydoc|linux DIR` or `lext corpus --from SRC DIR`", d->dir);
        size_t e = strlen(d->dir);
        while (e > 1 && d->dir[e - 1] == '/') e--;
        size_t b = e;
        while (b > 0 && d->dir[b - 1] != '/') b--;
        if (e - b == 0 || e - b >= sizeof d->name)
            return cli_error(cmd, "--corpus: %s needs a base name of 1 to %zu characters", d->dir,
                             sizeof d->name - 1);
        for (size_t k = b; k < e; k++) {
            const char c = d->dir[k];
            d->name[k - b] = (isalnum((unsigned char)c) || c == '.' || c == '_') ? c : '_';
        }
        d->name[e - b] = 0;
    }
    if (n == 2 && strcmp(p->dom[0].name, p->dom[1].name) == 0)
        return cli_error(cmd, "--corpus: both corpora are named '%s'; give two different ones", p->dom[0].name);
    return 0;
}

/* --lr-sweep 5e-4,1e-3,2e-3: the rates, the shared lr added when missing */
static int parse_sweep(plan *p, const char *s) {
    char buf[512], *w[MAX_SWEEP], err[128];
    size_t n = 0;
    if (strlen(s) >= sizeof buf) return cli_error(cmd, "--lr-sweep: the list is too long");
    snprintf(buf, sizeof buf, "%s", s);
    if (parse_word_list(buf, w, MAX_SWEEP - 1, &n, err, sizeof err) || n == 0)
        return cli_error(cmd, "--lr-sweep: expects learning rates separated by commas, e.g. "
                              "5e-4,1e-3,2e-3 (at most %d)", MAX_SWEEP - 1);
    p->n_sweep = 0;
    for (size_t i = 0; i < n; i++) {
        double v;
        if (parse_f64(w[i], 1e-8, 10, &v, err, sizeof err))
            return cli_error(cmd, "--lr-sweep: '%s' is not a learning rate in [1e-8, 10] (%s)", w[i], err);
        for (size_t k = 0; k < p->n_sweep; k++)
            if (p->sweep[k] == v) return cli_error(cmd, "--lr-sweep: %s is given twice", w[i]);
        p->sweep[p->n_sweep++] = v;
    }
    return 0;
}

/* An eval report from an earlier run counts only when it has exactly the planned lengths. */
static bool eval_has(const char *json, const int64_t *lengths, size_t n) {
    cJSON *j = read_json(json);
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(j, "lengths");
    bool ok = cJSON_IsArray(ls) && (size_t)cJSON_GetArraySize(ls) == n;
    for (size_t i = 0; ok && i < n; i++) {
        const cJSON *l = cJSON_GetArrayItem(ls, (int)i);
        ok = cJSON_IsNumber(l) && l->valuedouble == (double)lengths[i];
    }
    /* intervals need the per-document sums (reports of older lext lack them) */
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "cells"), 0);
    ok = ok && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(c0, "doc_loss"));
    cJSON_Delete(j);
    return ok;
}

/* `lext train` of one model, fresh or resumed (the shared part of the sweep and the runs) */
static void train_args(args *a, const plan *p, const domain *d, const run_spec *rs,
                       const char *path, bool resume) {
    arg(a, "lext"), arg(a, "train");
    if (resume) {
        /* --steps: the plan's schedule, also when an earlier run planned another */
        arg(a, "--resume"), arg(a, "%s", path);
        arg(a, "--steps"), arg(a, "%lld", (long long)rs->steps);
    } else {
        arg(a, "--data"), arg(a, "%s/train", d->dir);
        arg(a, "--pos"), arg(a, "%s", rs->scheme);
        if (embed_scaled(rs->scheme)) arg(a, "--embed-scale");
        arg(a, "--layers"), arg(a, "%lld", (long long)p->layers);
        arg(a, "--heads"), arg(a, "%lld", (long long)p->heads);
        arg(a, "--dim"), arg(a, "%lld", (long long)p->dim);
        if (p->ffn) arg(a, "--ffn"), arg(a, "%lld", (long long)p->ffn);
        arg(a, "--train-len"), arg(a, "%lld", (long long)p->train_len);
        arg(a, "--batch"), arg(a, "%lld", (long long)p->batch);
        arg(a, "--steps"), arg(a, "%lld", (long long)rs->steps);
        char lr[40];
        fmt_exact(lr, sizeof lr, rs->lr);
        arg(a, "--lr"), arg(a, "%s", lr);
        if (p->warmup >= 0) arg(a, "--warmup"), arg(a, "%lld", (long long)p->warmup);
        arg(a, "--seed"), arg(a, "%lld", (long long)rs->seed);
        arg(a, "--out"), arg(a, "%s", path);
    }
    arg(a, "--val"), arg(a, "%s/valid", d->dir);
    arg(a, "--val-batches"), arg(a, "4");
    arg(a, "--save-every"), arg(a, "%lld", (long long)(rs->steps / 4 > 0 ? rs->steps / 4 : 1));
    arg(a, "--log-every"), arg(a, "%lld", (long long)(rs->steps / 50 > 0 ? rs->steps / 50 : 1));
    if (p->threads) arg(a, "--threads"), arg(a, "%lld", (long long)p->threads);
}

/* `lext eval` of one model on a test (or validation) directory; modes NULL: no --attn */
static void eval_args(args *a, const plan *p, const char *model, const char *data,
                      const int64_t *lengths, size_t n, const char *modes, const char *json) {
    char l[256];
    lengths_csv(l, sizeof l, lengths, n);
    arg(a, "lext"), arg(a, "eval"), arg(a, "--model"), arg(a, "%s", model);
    arg(a, "--data"), arg(a, "%s", data);
    arg(a, "--lengths"), arg(a, "%s", l);
    if (modes) arg(a, "--attn"), arg(a, "%s", modes);
    arg(a, "--json"), arg(a, "%s", json);
    if (p->threads) arg(a, "--threads"), arg(a, "%lld", (long long)p->threads);
}

/* One model of the plan: trained in this run (so its evaluations are redone too). */
typedef bool trained_set[MAX_DOMAINS][MAX_SCHEMES][MAX_SEEDS];

int cmd_experiment(int argc, char **argv) {
    plan p;
    plan_default(&p);
    const char *out = NULL, *corpus = NULL, *config = NULL, *budget_s = "1x", *sweep_s = NULL,
               *long_s = NULL;
    int64_t threads = 0, seeds = 0;
    double sweep_frac = 0;
    bool fresh = false, passkey = false;
    cli_opt opts[] = {
        {"--out", OPT_STR, &out, 0, 0, "results directory [results]", 0},
        {"--corpus", OPT_STR, &corpus, 0, 0, "pydoc, linux, both (= pydoc,linux), a corpus directory, or two of these as A,B: each trains its models, A's are also tested on B; corpora/NAME is built when missing [pydoc]", 0},
        {"--budget", OPT_STR, &budget_s, 0, 0, "scale the training steps: 1x (about 15 minutes on 2 cores), 4x, 0.5x [1x]", 0},
        {"--seeds", OPT_INT, &seeds, 1, MAX_SEEDS, "models per scheme, each its own initialisation and data order; intervals combine them [1]", 0},
        {"--lr-sweep", OPT_STR, &sweep_s, 0, 0, "learning rates to try per scheme on the validation split first, e.g. 5e-4,1e-3,2e-3 (the shared rate is added)", 0},
        {"--sweep-fraction", OPT_NUM, &sweep_frac, 0.001, 1, "the sweep's runs train this fraction of the steps [0.25]", 0},
        {"--long", OPT_STR, &long_s, 0, 0, "lengths for bca and window only, past the table's [16384]; none: skip", 0},
        {"--config", OPT_STR, &config, 0, 0, "a JSON file naming other schemes, lengths, model shape, steps, corpus", 0},
        {"--fresh", OPT_FLAG, &fresh, 0, 0, "redo every step, even those already complete", 0},
        {"--passkey", OPT_FLAG, &passkey, 0, 0, "also fine-tune each model on passkey retrieval and test it by length and depth (about 2.5 minutes per scheme on 2 cores)", 0},
        {"--threads", OPT_INT, &threads, 1, 4096, "threads [all cores]", 0},
    };
    int rc = cli_parse(cmd, "[options]", argc, argv, opts, sizeof opts / sizeof *opts, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    if (config && plan_load(&p, config)) return 1;
    if (out) snprintf(p.out, sizeof p.out, "%s", out);
    if (corpus && parse_corpus(&p, corpus)) return 1;
    if (parse_budget(budget_s, &p.budget)) return 1;
    if (seeds) p.seeds = seeds;
    if (sweep_s && parse_sweep(&p, sweep_s)) return 1;
    if (sweep_frac != 0) {
        if (!(sweep_frac > 0 && sweep_frac <= 1)) return cli_error(cmd, "--sweep-fraction must be in (0, 1]");
        if (!sweep_s && p.n_sweep == 0) return cli_error(cmd, "--sweep-fraction applies to --lr-sweep only: add it");
        p.sweep_frac = sweep_frac;
    }
    if (long_s) {
        char err[128];
        if (strcmp(long_s, "none") == 0) p.n_long = 0;
        else if (parse_i64_list(long_s, 2, 1 << 24, p.long_lengths, MAX_LONG, &p.n_long, err, sizeof err))
            return cli_error(cmd, "--long: expects lengths separated by commas, e.g. 8192,16384, at most %d, or none (%s)",
                             MAX_LONG, err);
    }
    p.threads = threads;
    p.steps = (int64_t)llround((double)p.steps * p.budget);
    if (p.steps < 1) p.steps = 1;
    if (passkey) p.passkey = true;
    p.passkey_steps = (int64_t)llround((double)p.passkey_steps * p.budget);
    if (p.passkey_steps < 1) p.passkey_steps = 1;
    if (p.passkey && p.train_len - LEXT_PASSKEY_DIGITS < lext_passkey_min_length())
        return cli_error(cmd, "--passkey needs a training length of at least %lld (the passkey "
                              "template and its answer), not %lld",
                         (long long)(lext_passkey_min_length() + LEXT_PASSKEY_DIGITS), (long long)p.train_len);
    for (size_t i = 0; i < p.n_lengths; i++)
        if (p.lengths[i] < 2) return cli_error(cmd, "lengths must be >= 2");
    for (size_t i = 0; i < p.n_long; i++)
        if (p.long_lengths[i] <= p.train_len)
            return cli_error(cmd, "long lengths must exceed the training length %lld (%lld does not)",
                             (long long)p.train_len, (long long)p.long_lengths[i]);
    if (p.train_len % 2) return cli_error(cmd, "train_len must be even (bca's blocks are train_len/2)");
    if (p.n_sweep && sweep_shared(&p) < 0) {
        if (p.n_sweep == MAX_SWEEP) return cli_error(cmd, "--lr-sweep: too many rates with the shared one");
        p.sweep[p.n_sweep++] = p.lr; /* the shared rate is always one of those compared */
    }
    for (size_t si = 0; si < p.n_schemes; si++) p.lr_of[si] = p.lr;
    if (mkdir_p(p.out) != 0) return cli_error(cmd, "cannot create %s: %s", p.out, strerror(errno));
    char dir[1200];
    const char *subdirs[] = {"models", "eval", "resolution", "logs", "models/sweep", "eval/sweep"};
    for (int i = 0; i < (p.n_sweep ? 6 : 4); i++) {
        snprintf(dir, sizeof dir, "%s/%s", p.out, subdirs[i]);
        if (mkdir_p(dir) != 0) return cli_error(cmd, "cannot create %s: %s", dir, strerror(errno));
    }
    char lengths[256], cmds_path[1200], path[1200], json[1200], log[1200], id[96];
    lengths_csv(lengths, sizeof lengths, p.lengths, p.n_lengths);
    int64_t long_ls[MAX_LONG + 1];
    const size_t n_long_ls = long_set(&p, long_ls);
    snprintf(cmds_path, sizeof cmds_path, "%s/commands.txt", p.out);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    runner r = {&p, is_tty(STDOUT_FILENO), 0, 0, cli_now(), 0.0, fopen(cmds_path, "w")};
    char corpus_json[MAX_DOMAINS][1100];
    bool need_corpus[MAX_DOMAINS] = {false, false};
    size_t n_corpora = 0;
    for (size_t d = 0; d < p.n_dom; d++) {
        snprintf(corpus_json[d], sizeof corpus_json[d], "%s/corpus.json", p.dom[d].dir);
        need_corpus[d] = !exists(corpus_json[d]);
        n_corpora += need_corpus[d];
    }
    size_t n_res_runs = 0;
    for (size_t k = 0; k < p.n_res; k++) n_res_runs += p.res_lengths[k] > p.train_len ? 2 : 1;
    const size_t models = p.n_dom * p.n_schemes * (size_t)p.seeds;
    size_t n_rot = 0;
    for (size_t si = 0; si < p.n_schemes; si++) n_rot += is_rotary(p.schemes[si]);
    r.n_steps = (int)(n_corpora + 2 * p.n_schemes * p.n_sweep +
                      models * (2 + (p.n_long ? 1 : 0) + n_res_runs) +
                      p.n_dom * n_rot * (size_t)p.seeds * N_EXT +
                      (p.passkey ? 2 * p.n_schemes + n_rot : 0) +
                      (p.n_dom > 1 ? p.n_schemes * (size_t)p.seeds : 0) + p.n_dom);
    printf("lext experiment: %zu schemes x %lld seed%s%s%s, %lld steps each (budget %gx), lengths %s, "
           "results in %s\n",
           p.n_schemes, (long long)p.seeds, p.seeds > 1 ? "s" : "", p.n_dom > 1 ? " x 2 corpora" : "",
           p.n_sweep ? " after a learning-rate sweep" : "", (long long)p.steps, p.budget, lengths, p.out);
    args a = {0};
    rc = 0;
    for (size_t d = 0; !rc && d < p.n_dom; d++) {
        if (!need_corpus[d]) continue;
        arg(&a, "lext"), arg(&a, "corpus"), arg(&a, "%s", p.dom[d].name), arg(&a, "%s", p.dom[d].dir);
        snprintf(log, sizeof log, "%s/logs/corpus-%s.log", p.out, p.dom[d].name);
        char what[128];
        snprintf(what, sizeof what, "building the %s corpus", p.dom[d].name);
        rc = run_step(&r, what, a.v, log, false);
        args_free(&a);
    }
    results *res = calloc(1, sizeof *res);
    if (!res) return cli_error(cmd, "out of memory");
    /* the learning-rate sweep: short runs on the first corpus, scored on its validation split */
    bool shared_lr = true;
    for (size_t si = 0; !rc && si < p.n_schemes; si++)
        for (size_t k = 0; !rc && k < p.n_sweep; k++) {
            char lr[40], what[256];
            fmt_exact(lr, sizeof lr, p.sweep[k]);
            const run_spec rs = {p.schemes[si], p.sweep[k], p.seed, sweep_steps(&p)};
            snprintf(path, sizeof path, "%s/models/sweep/%s-lr%s.safetensors", p.out, p.schemes[si], lr);
            snprintf(json, sizeof json, "%s/eval/sweep/%s-lr%s.json", p.out, p.schemes[si], lr);
            const model_state ms = fresh ? MODEL_TRAIN : model_state_of(path, &p, &rs);
            if (ms == MODEL_TRAIN) remove(path); /* else lext train would continue the run there */
            train_args(&a, &p, &p.dom[0], &rs, path, ms == MODEL_RESUME);
            snprintf(log, sizeof log, "%s/logs/sweep-train-%s-lr%s.log", p.out, p.schemes[si], lr);
            snprintf(what, sizeof what, "sweep: training %s at lr %s (%lld steps)", p.schemes[si], lr,
                     (long long)rs.steps);
            rc = run_step(&r, what, a.v, log, ms == MODEL_DONE);
            args_free(&a);
            if (rc) break;
            char valid[1100];
            snprintf(valid, sizeof valid, "%s/valid", p.dom[0].dir);
            eval_args(&a, &p, path, valid, &p.train_len, 1, "causal", json);
            snprintf(log, sizeof log, "%s/logs/sweep-eval-%s-lr%s.log", p.out, p.schemes[si], lr);
            snprintf(what, sizeof what, "sweep: validating %s at lr %s", p.schemes[si], lr);
            rc = run_step(&r, what, a.v, log, ms == MODEL_DONE && eval_has(json, &p.train_len, 1));
            args_free(&a);
            if (!rc && !(res->sweep[si][k] = read_json(json))) rc = cli_error(cmd, "cannot read %s", json);
        }
    if (!rc && p.n_sweep) {
        shared_lr = sweep_decide(&p, res);
        printf("learning-rate sweep: %s\n", shared_lr ? "the shared rate is within noise of every scheme's best"
                                                      : "each scheme trains with its best rate");
    }
    /* training */
    static trained_set trained; /* trained (or resumed) by this run: its evaluations are redone */
    memset(trained, 0, sizeof trained);
    for (size_t d = 0; !rc && d < p.n_dom; d++)
        for (size_t si = 0; !rc && si < p.n_schemes; si++)
            for (int64_t k = 0; !rc && k < p.seeds; k++) {
                model_id(id, sizeof id, &p, d, si, k);
                snprintf(path, sizeof path, "%s/models/%s.safetensors", p.out, id);
                const run_spec rs = {p.schemes[si], p.lr_of[si], p.seed + k, p.steps};
                char what[256];
                snprintf(what, sizeof what, "training %s (%lld steps)", id, (long long)p.steps);
                const model_state ms = fresh ? MODEL_TRAIN : model_state_of(path, &p, &rs);
                /* a fresh run: the old file goes first, else lext train would continue the
                 * run it holds (the same command continues, by design) */
                if (ms == MODEL_TRAIN) remove(path);
                trained[d][si][k] = ms != MODEL_DONE;
                train_args(&a, &p, &p.dom[d], &rs, path, ms == MODEL_RESUME);
                snprintf(log, sizeof log, "%s/logs/train-%s.log", p.out, id);
                rc = run_step(&r, what, a.v, log, ms == MODEL_DONE);
                args_free(&a);
            }
    /* evaluation: the table's lengths with causal and bca; the long lengths with bca and
     * window; with two corpora, the first's models on the second's test split */
    for (size_t d = 0; !rc && d < p.n_dom; d++)
        for (size_t si = 0; !rc && si < p.n_schemes; si++)
            for (int64_t k = 0; !rc && k < p.seeds; k++)
                for (int part = 0; !rc && part < 3; part++) {
                    if ((part == 1 && p.n_long == 0) || (part == 2 && (p.n_dom < 2 || d != 0))) continue;
                    model_id(id, sizeof id, &p, d, si, k);
                    snprintf(path, sizeof path, "%s/models/%s.safetensors", p.out, id);
                    const int64_t *ls = part == 1 ? long_ls : p.lengths;
                    const size_t nl = part == 1 ? n_long_ls : p.n_lengths;
                    const char *modes = part == 1 ? "bca,window" : "causal,bca";
                    const domain *td = part == 2 ? &p.dom[1] : &p.dom[d];
                    char test[1100], what[512], l[256];
                    snprintf(test, sizeof test, "%s/test", td->dir);
                    snprintf(json, sizeof json, "%s/eval/%s%s%s.json", p.out, id,
                             part == 1 ? "-long" : part == 2 ? "-on-" : "", part == 2 ? td->name : "");
                    lengths_csv(l, sizeof l, ls, nl);
                    snprintf(what, sizeof what, "evaluating %s%s%s at %s, %s", id, part == 2 ? " on " : "",
                             part == 2 ? td->name : "", l, modes);
                    const bool done = !fresh && !trained[d][si][k] && eval_has(json, ls, nl);
                    eval_args(&a, &p, path, test, ls, nl, modes, json);
                    snprintf(log, sizeof log, "%s/logs/eval-%s%s%s.log", p.out, id,
                             part == 1 ? "-long" : part == 2 ? "-on-" : "", part == 2 ? td->name : "");
                    rc = run_step(&r, what, a.v, log, done);
                    args_free(&a);
                }
    /* context extension: the rotary models under each method, causal, the table's lengths */
    for (size_t d = 0; !rc && d < p.n_dom; d++)
        for (size_t si = 0; !rc && si < p.n_schemes; si++)
            for (int64_t k = 0; !rc && is_rotary(p.schemes[si]) && k < p.seeds; k++)
                for (int m = 0; !rc && m < N_EXT; m++) {
                    model_id(id, sizeof id, &p, d, si, k);
                    snprintf(path, sizeof path, "%s/models/%s.safetensors", p.out, id);
                    char test[1100], what[512];
                    snprintf(test, sizeof test, "%s/test", p.dom[d].dir);
                    const ext_method *em = &ext_methods[m];
                    char val[64];
                    ext_value(val, sizeof val, em, p.train_len);
                    snprintf(json, sizeof json, "%s/eval/%s-ext-%s.json", p.out, id, em->id);
                    snprintf(what, sizeof what, "evaluating %s under %s %s at %s, %s", id, em->opt,
                             val, lengths, em->mode);
                    const bool done = !fresh && !trained[d][si][k] && eval_has(json, p.lengths, p.n_lengths);
                    /* --lambda sets its own window mode */
                    eval_args(&a, &p, path, test, p.lengths, p.n_lengths,
                              strcmp(em->opt, "--lambda") ? em->mode : NULL, json);
                    arg(&a, "%s", em->opt), arg(&a, "%s", val);
                    snprintf(log, sizeof log, "%s/logs/eval-%s-ext-%s.log", p.out, id, em->id);
                    rc = run_step(&r, what, a.v, log, done);
                    args_free(&a);
                }
    /* retrieval (--passkey): each model of the first corpus and seed fine-tuned on passkey
     * samples of the training length, then tested by length and depth with every mask, and
     * with yarn for rope and xpos. Learned positions cannot reach past the training length. */
    for (size_t si = 0; !rc && p.passkey && si < p.n_schemes; si++) {
        if (strcmp(p.schemes[si], "learned") == 0) continue;
        model_id(id, sizeof id, &p, 0, si, 0);
        char base[1200], pk[1200], what[512];
        snprintf(base, sizeof base, "%s/models/%s.safetensors", p.out, id);
        snprintf(pk, sizeof pk, "%s/models/%s-passkey.safetensors", p.out, id);
        lext_config pc;
        bool has_tr = false;
        int64_t pk_step = -1;
        const bool pk_done = !fresh && !trained[0][si][0] &&
                             lext_checkpoint_read_config(pk, &pc, &has_tr, &pk_step) == LEXT_OK &&
                             has_tr && pk_step == p.passkey_steps;
        arg(&a, "lext"), arg(&a, "train"), arg(&a, "--init"), arg(&a, "%s", base);
        arg(&a, "--data"), arg(&a, "%s/train", p.dom[0].dir);
        arg(&a, "--task"), arg(&a, "passkey:1");
        arg(&a, "--steps"), arg(&a, "%lld", (long long)p.passkey_steps);
        arg(&a, "--batch"), arg(&a, "%lld", (long long)p.batch);
        arg(&a, "--lr"), arg(&a, "3e-3"), arg(&a, "--warmup"), arg(&a, "50");
        arg(&a, "--seed"), arg(&a, "%lld", (long long)p.seed);
        arg(&a, "--log-every"), arg(&a, "%lld", (long long)(p.passkey_steps / 20 > 0 ? p.passkey_steps / 20 : 1));
        arg(&a, "--out"), arg(&a, "%s", pk);
        if (p.threads) arg(&a, "--threads"), arg(&a, "%lld", (long long)p.threads);
        snprintf(what, sizeof what, "fine-tuning %s on passkey retrieval (%lld steps)", id, (long long)p.passkey_steps);
        snprintf(log, sizeof log, "%s/logs/train-%s-passkey.log", p.out, id);
        rc = run_step(&r, what, a.v, log, pk_done);
        args_free(&a);
        for (int v = 0; !rc && v < (is_rotary(p.schemes[si]) ? 2 : 1); v++) {
            snprintf(json, sizeof json, "%s/eval/%s-passkey%s.json", p.out, id, v ? "-yarn" : "");
            arg(&a, "lext"), arg(&a, "passkey"), arg(&a, "--model"), arg(&a, "%s", pk);
            arg(&a, "--lengths"), arg(&a, "%s", lengths);
            arg(&a, "--depths"), arg(&a, "0,25,50,75,100"), arg(&a, "--trials"), arg(&a, "10");
            arg(&a, "--attn"), arg(&a, "%s", v ? "causal" : "causal,bca,window");
            if (v) arg(&a, "--rope-scaling"), arg(&a, "yarn");
            arg(&a, "--json"), arg(&a, "%s", json);
            arg(&a, "--svg"), arg(&a, "%s/%s-passkey%s.svg", p.out, id, v ? "-yarn" : "");
            if (p.threads) arg(&a, "--threads"), arg(&a, "%lld", (long long)p.threads);
            snprintf(what, sizeof what, "passkey retrieval of %s%s at %s", id, v ? " under yarn" : "", lengths);
            snprintf(log, sizeof log, "%s/logs/passkey-%s%s.log", p.out, id, v ? "-yarn" : "");
            rc = run_step(&r, what, a.v, log, pk_done && json_ok(json));
            args_free(&a);
        }
    }
    /* attention resolution */
    for (size_t d = 0; !rc && d < p.n_dom; d++)
        for (size_t si = 0; !rc && si < p.n_schemes; si++)
            for (int64_t q = 0; !rc && q < p.seeds; q++)
                for (size_t k = 0; !rc && k < p.n_res; k++)
                    for (int m = 0; !rc && m < 2; m++) {
                        if (m == 1 && p.res_lengths[k] <= p.train_len) continue;
                        const char *mode = m ? "bca" : "causal";
                        const long long L = (long long)p.res_lengths[k];
                        model_id(id, sizeof id, &p, d, si, q);
                        snprintf(path, sizeof path, "%s/models/%s.safetensors", p.out, id);
                        snprintf(json, sizeof json, "%s/resolution/%s-%lld%s.json", p.out, id, L, m ? "-bca" : "");
                        char what[256];
                        snprintf(what, sizeof what, "attention resolution of %s at %lld, %s", id, L, mode);
                        const bool done = !fresh && !trained[d][si][q] && json_ok(json);
                        arg(&a, "lext"), arg(&a, "resolution"), arg(&a, "--model"), arg(&a, "%s", path);
                        arg(&a, "--data"), arg(&a, "%s/test", p.dom[d].dir);
                        arg(&a, "--length"), arg(&a, "%lld", L);
                        arg(&a, "--attn"), arg(&a, "%s", mode);
                        arg(&a, "--json"), arg(&a, "%s", json);
                        arg(&a, "--svg"), arg(&a, "%s/resolution/%s-%lld%s.svg", p.out, id, L, m ? "-bca" : "");
                        if (p.threads) arg(&a, "--threads"), arg(&a, "%lld", (long long)p.threads);
                        snprintf(log, sizeof log, "%s/logs/resolution-%s-%lld%s.log", p.out, id, L, m ? "-bca" : "");
                        rc = run_step(&r, what, a.v, log, done);
                        args_free(&a);
                    }
    /* the pictures: one per corpus; plot draws the seeds of a scheme as their mean with
     * its interval band */
    for (size_t d = 0; !rc && d < p.n_dom; d++) {
        arg(&a, "lext"), arg(&a, "plot");
        for (size_t si = 0; si < p.n_schemes; si++)
            for (int64_t q = 0; q < p.seeds; q++) {
                model_id(id, sizeof id, &p, d, si, q);
                arg(&a, "%s/eval/%s.json", p.out, id);
            }
        arg(&a, "-o"), arg(&a, "%s/%s%sppl.svg", p.out, p.n_dom > 1 ? p.dom[d].name : "", p.n_dom > 1 ? "-" : "");
        snprintf(log, sizeof log, "%s/logs/plot%s%s.log", p.out, p.n_dom > 1 ? "-" : "", p.n_dom > 1 ? p.dom[d].name : "");
        rc = run_step(&r, "plotting perplexity by length", a.v, log, false);
        args_free(&a);
    }
    if (r.cmds) fclose(r.cmds);
    if (rc) {
        if (interrupted)
            printf("\ninterrupted: finished steps are kept; run the same command again to continue\n");
        for (size_t si = 0; si < p.n_schemes; si++)
            for (size_t k = 0; k < p.n_sweep; k++) cJSON_Delete(res->sweep[si][k]);
        free(res);
        return 1;
    }

    /* tables and report from what the steps wrote */
    for (size_t d = 0; d < p.n_dom; d++)
        for (size_t si = 0; si < p.n_schemes; si++)
            for (int64_t q = 0; q < p.seeds; q++) {
                model_id(id, sizeof id, &p, d, si, q);
                snprintf(json, sizeof json, "%s/eval/%s.json", p.out, id);
                if (!(res->eval[d][si][q] = read_json(json))) rc = cli_error(cmd, "cannot read %s", json);
                if (p.n_long) {
                    snprintf(json, sizeof json, "%s/eval/%s-long.json", p.out, id);
                    if (!(res->lng[d][si][q] = read_json(json))) rc = cli_error(cmd, "cannot read %s", json);
                }
                if (p.n_dom > 1 && d == 0) {
                    snprintf(json, sizeof json, "%s/eval/%s-on-%s.json", p.out, id, p.dom[1].name);
                    if (!(res->cross[si][q] = read_json(json))) rc = cli_error(cmd, "cannot read %s", json);
                }
                for (int m = 0; is_rotary(p.schemes[si]) && m < N_EXT; m++) {
                    snprintf(json, sizeof json, "%s/eval/%s-ext-%s.json", p.out, id, ext_methods[m].id);
                    if (!(res->ext[d][si][m][q] = read_json(json))) rc = cli_error(cmd, "cannot read %s", json);
                }
                for (size_t k = 0; k < p.n_res; k++)
                    for (int m = 0; m < 2; m++) {
                        if (m == 1 && p.res_lengths[k] <= p.train_len) continue;
                        snprintf(json, sizeof json, "%s/resolution/%s-%lld%s.json", p.out, id,
                                 (long long)p.res_lengths[k], m ? "-bca" : "");
                        res->res[d][si][q][k][m] = read_json(json);
                    }
            }
    for (size_t si = 0; p.passkey && si < p.n_schemes; si++) {
        if (strcmp(p.schemes[si], "learned") == 0) continue;
        model_id(id, sizeof id, &p, 0, si, 0);
        for (int v = 0; v < (is_rotary(p.schemes[si]) ? 2 : 1); v++) {
            snprintf(json, sizeof json, "%s/eval/%s-passkey%s.json", p.out, id, v ? "-yarn" : "");
            if (!(res->pk[si][v] = read_json(json))) rc = cli_error(cmd, "cannot read %s", json);
        }
    }
    static char corpus_info[MAX_DOMAINS][2048];
    for (size_t d = 0; d < p.n_dom; d++) {
        cJSON *cj = read_json(corpus_json[d]);
        if (cj) {
            const char *ver = cJSON_GetStringValue(cJSON_GetObjectItem(cj, "version"));
            if (!ver) ver = "";
            const cJSON *tr = cJSON_GetObjectItem(cj, "train"), *va = cJSON_GetObjectItem(cj, "valid"),
                        *te = cJSON_GetObjectItem(cj, "test");
            snprintf(corpus_info[d], sizeof corpus_info[d],
                     "%s (`%s`), %s%s%s; %.0f train / %.0f valid / %.0f test documents",
                     cJSON_GetStringValue(cJSON_GetObjectItem(cj, "name")), p.dom[d].dir,
                     cJSON_GetStringValue(cJSON_GetObjectItem(cj, "source")), *ver ? " " : "", ver,
                     num_of(tr, "documents"),
                     num_of(va, "documents"), num_of(te, "documents"));
            /* a corpus directory of its own: the tables name it as its corpus.json does
             * (with two corpora the names are pydoc and linux, part of the model ids) */
            const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(cj, "name"));
            if (p.n_dom == 1 && nm && *nm && strlen(nm) < sizeof p.dom[d].name)
                snprintf(p.dom[d].name, sizeof p.dom[d].name, "%s", nm);
            cJSON_Delete(cj);
        } else {
            snprintf(corpus_info[d], sizeof corpus_info[d], "`%s` (no corpus.json)", p.dom[d].dir);
        }
    }
    if (write_report(&p, res, shared_lr, cmds_path, cli_now() - r.t0, r.step_s, corpus_info) && !rc) rc = 1;
    for (size_t d = 0; d < MAX_DOMAINS; d++)
        for (size_t si = 0; si < MAX_SCHEMES; si++)
            for (size_t q = 0; q < MAX_SEEDS; q++) {
                cJSON_Delete(res->eval[d][si][q]);
                cJSON_Delete(res->lng[d][si][q]);
                if (d == 0) cJSON_Delete(res->cross[si][q]);
                for (int m = 0; m < N_EXT; m++) cJSON_Delete(res->ext[d][si][m][q]);
                for (size_t k = 0; k < 4; k++) cJSON_Delete(res->res[d][si][q][k][0]), cJSON_Delete(res->res[d][si][q][k][1]);
            }
    for (size_t si = 0; si < MAX_SCHEMES; si++) {
        for (size_t k = 0; k < MAX_SWEEP; k++) cJSON_Delete(res->sweep[si][k]);
        cJSON_Delete(res->pk[si][0]), cJSON_Delete(res->pk[si][1]);
    }
    free(res);
    return rc;
}
