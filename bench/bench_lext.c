/*
 * bench_lext.c - the lext side of the benchmark harness (bench/run.py): times training
 * steps, evaluation passes and token-by-token generation through the public API only
 * (include/lext.h), and prints one JSON object per line on stdout.
 *
 *   bench_lext init     --layers L --dim D --heads H --ffn F --len T --pos xpos|rope|...
 *                       [--seed S] --out MODEL.safetensors
 *       a freshly initialised model (lext_model_init), saved with lext_checkpoint_save so
 *       that the PyTorch side (bench/torch_bench.py) starts from the very same weights
 *   bench_lext train    --model MODEL --batches FILE [--lr X] [--precision fp32|bf16]
 *                       [common options]
 *       one unit = zero_grad, forward with targets, backward, one AdamW step, on the next
 *       batch of FILE (cycling); the schedule is lext's warm-up + cosine with warmup 0,
 *       total_steps = warm-up units + timed units, peak lr X [1e-3]
 *   bench_lext eval     --model MODEL --batches FILE [--attn causal|bca|window]
 *                       [--block l] [--window W] [common options]
 *       one unit = one lext_forward with targets (mean loss) on an inference workspace of
 *       exactly the batch's shape, the first batch of FILE every time
 *   bench_lext generate --model MODEL --prompt FILE --context C [--tokens G] [--window W]
 *                       [common options]
 *       one unit = reset a window-mode decoder (W [train_len] keys), prefill the first C
 *       bytes of FILE in chunks of W, then G [256] greedy tokens one at a time
 *
 *   common: --warmup N [1] untimed units first, --reps N [5] timed units, --threads N [2],
 *           --sync: before each unit wait for a line on stdin (EOF or "quit" ends the run,
 *           however many units that makes), so that bench/run.py can alternate this
 *           process with the PyTorch one.
 *
 * Batch file (little-endian): int32 n_batches, int32 B, int32 W, then n_batches * B * W
 * bytes; a row of W = T + 1 bytes gives inputs row[0..T) and next-byte targets row[1..T].
 *
 * Output, one JSON object per line:
 *   {"event":"ready", ...configuration, "workspace_bytes":...}    after setting up
 *   {"event":"unit","phase":"warmup"|"timed","i":k,"seconds":s,"tokens":n,...}
 *       train/eval: "loss" (mean nats); generate: "prefill_seconds", "prefill_tokens",
 *       "gen_seconds", "gen_tokens"
 *   {"event":"done","maxrss_kb":...,"ru_maxrss_kb":...}    peak resident set: VmHWM (see
 *       vm_hwm_kb below for why not only getrusage)
 * Errors go to stderr with lext_last_error() and exit 1 (2 for bad usage).
 */
#include "lext.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ---- small helpers ------------------------------------------------------------------ */

static void die(const char *fmt, const char *arg) {
    fprintf(stderr, "bench_lext: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

static void check(lext_status s, const char *what) {
    if (s != LEXT_OK) {
        fprintf(stderr, "bench_lext: %s failed (%s): %s\n", what, lext_status_name(s),
                lext_last_error());
        exit(1);
    }
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_lext: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Peak resident set of this process, kB: VmHWM of /proc/self/status, the high-water mark of
 * this program's own address space. getrusage()'s ru_maxrss is also printed, but on Linux it
 * carries over the high-water mark of the address space replaced by execve(): a child that
 * Python starts with vfork reports at least the RSS of the Python parent. */
static long vm_hwm_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    long kb = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

static long ru_maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* kilobytes on Linux */
}

/* ---- options -------------------------------------------------------------------------- */

typedef struct {
    /* init */
    int layers, dim, heads, ffn, len;
    const char *pos, *out;
    long long seed;
    /* runs */
    const char *model, *batches, *prompt, *attn, *precision;
    long long block, window, context, tokens;
    double lr;
    int warmup, reps, threads;
    int sync;
} opts;

static long long int_arg(const char *opt, const char *v) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        fprintf(stderr, "bench_lext: %s needs an integer, got '%s'\n", opt, v);
        exit(2);
    }
    return x;
}

static double num_arg(const char *opt, const char *v) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end) {
        fprintf(stderr, "bench_lext: %s needs a number, got '%s'\n", opt, v);
        exit(2);
    }
    return x;
}

static void parse(opts *o, int argc, char **argv) {
    *o = (opts){.layers = 4, .dim = 256, .heads = 4, .ffn = 1024, .len = 256, .pos = "xpos",
                .seed = 1, .attn = "causal", .block = -1, .window = -1, .context = 256,
                .tokens = 256, .lr = 1e-3, .warmup = 1, .reps = 5, .threads = 2};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--sync")) {
            o->sync = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_lext: %s needs a value\n", a);
            exit(2);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--layers")) o->layers = (int)int_arg(a, v);
        else if (!strcmp(a, "--dim")) o->dim = (int)int_arg(a, v);
        else if (!strcmp(a, "--heads")) o->heads = (int)int_arg(a, v);
        else if (!strcmp(a, "--ffn")) o->ffn = (int)int_arg(a, v);
        else if (!strcmp(a, "--len")) o->len = (int)int_arg(a, v);
        else if (!strcmp(a, "--pos")) o->pos = v;
        else if (!strcmp(a, "--seed")) o->seed = int_arg(a, v);
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--batches")) o->batches = v;
        else if (!strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--attn")) o->attn = v;
        else if (!strcmp(a, "--precision")) o->precision = v;
        else if (!strcmp(a, "--block")) o->block = int_arg(a, v);
        else if (!strcmp(a, "--window")) o->window = int_arg(a, v);
        else if (!strcmp(a, "--context")) o->context = int_arg(a, v);
        else if (!strcmp(a, "--tokens")) o->tokens = int_arg(a, v);
        else if (!strcmp(a, "--lr")) o->lr = num_arg(a, v);
        else if (!strcmp(a, "--warmup")) o->warmup = (int)int_arg(a, v);
        else if (!strcmp(a, "--reps")) o->reps = (int)int_arg(a, v);
        else if (!strcmp(a, "--threads")) o->threads = (int)int_arg(a, v);
        else {
            fprintf(stderr, "bench_lext: unknown option %s\n", a);
            exit(2);
        }
    }
    if (o->warmup < 0 || o->reps < 1) {
        fprintf(stderr, "bench_lext: --warmup must be >= 0 and --reps >= 1\n");
        exit(2);
    }
}

/* Whether to run unit k (0-based): without --sync, the first warmup + reps; with --sync,
 * each time the orchestrator sends a line, until EOF or "quit" (it may ask for more units
 * than warmup + reps, to replace ones disturbed by other processes). */
static int next_unit(const opts *o, int k) {
    if (!o->sync) return k < o->warmup + o->reps;
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return 0;
    return strncmp(line, "quit", 4) != 0;
}

static void print_done(void) {
    printf("{\"event\":\"done\",\"impl\":\"lext\",\"maxrss_kb\":%ld,\"ru_maxrss_kb\":%ld}\n",
           vm_hwm_kb(), ru_maxrss_kb());
    fflush(stdout);
}

/* ---- batches -------------------------------------------------------------------------- */

typedef struct {
    int n, B, W;        /* batches, rows, bytes per row (T + 1) */
    int32_t *inputs;    /* (n, B, T) */
    int32_t *targets;   /* (n, B, T) */
} batches;

static void read_batches(const char *path, batches *b) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open the batch file %s", path);
    int32_t hdr[3];
    if (fread(hdr, sizeof(int32_t), 3, f) != 3 || hdr[0] < 1 || hdr[1] < 1 || hdr[2] < 2)
        die("%s: bad header (want int32 n_batches, B, T + 1)", path);
    b->n = hdr[0], b->B = hdr[1], b->W = hdr[2];
    const size_t T = (size_t)b->W - 1, rows = (size_t)b->n * (size_t)b->B;
    uint8_t *raw = xmalloc(rows * (size_t)b->W);
    if (fread(raw, 1, rows * (size_t)b->W, f) != rows * (size_t)b->W) die("%s is truncated", path);
    fclose(f);
    b->inputs = xmalloc(rows * T * sizeof(int32_t));
    b->targets = xmalloc(rows * T * sizeof(int32_t));
    for (size_t r = 0; r < rows; r++)
        for (size_t t = 0; t < T; t++) {
            b->inputs[r * T + t] = raw[r * (size_t)b->W + t];
            b->targets[r * T + t] = raw[r * (size_t)b->W + t + 1];
        }
    free(raw);
}

static void print_config(const char *cmd, const lext_model *m, const opts *o) {
    const lext_config *c = lext_model_config(m);
    printf("{\"event\":\"ready\",\"impl\":\"lext\",\"cmd\":\"%s\",\"n_layer\":%d,\"d_model\":%d,"
           "\"n_head\":%d,\"d_ff\":%d,\"train_len\":%d,\"pos\":\"%s\",\"tied\":%s,"
           "\"n_params\":%zu,\"threads\":%d",
           cmd, c->n_layer, c->d_model, c->n_head, c->d_ff, c->train_len, lext_pos_name(c->pos),
           c->tied ? "true" : "false", lext_model_num_params(m), lext_get_threads());
    (void)o;
}

/* ---- subcommands ---------------------------------------------------------------------- */

static int cmd_init(const opts *o) {
    if (!o->out) die("%s", "init needs --out PATH");
    lext_config c;
    lext_config_default(&c);
    c.n_layer = o->layers, c.d_model = o->dim, c.n_head = o->heads, c.d_ff = o->ffn;
    c.train_len = o->len;
    check(lext_pos_parse(o->pos, &c.pos), "--pos");
    lext_model *m = NULL;
    check(lext_model_create(&c, &m), "lext_model_create");
    lext_model_init(m, (uint64_t)o->seed);
    check(lext_checkpoint_save(o->out, m, NULL), "lext_checkpoint_save");
    printf("{\"event\":\"init\",\"path\":\"%s\",\"n_params\":%zu}\n", o->out,
           lext_model_num_params(m));
    lext_model_free(m);
    return 0;
}

static lext_model *load_model(const opts *o) {
    if (!o->model) die("%s", "needs --model PATH (make one with bench_lext init)");
    lext_model *m = NULL;
    check(lext_checkpoint_load(o->model, &m, NULL, NULL), "lext_checkpoint_load");
    return m;
}

static int cmd_train(const opts *o) {
    if (!o->batches) die("%s", "train needs --batches FILE");
    lext_model *m = load_model(o);
    batches b;
    read_batches(o->batches, &b);
    const int64_t B = b.B, T = b.W - 1;
    lext_ctx *ctx = NULL;
    check(lext_ctx_create(m, B, T, true, &ctx), "lext_ctx_create");
    lext_precision prec = LEXT_PRECISION_FP32;
    if (o->precision) check(lext_precision_parse(o->precision, &prec), "--precision");
    check(lext_ctx_set_precision(ctx, prec), "lext_ctx_set_precision");
    lext_optim_config oc;
    lext_optim_config_default(&oc, o->warmup + o->reps);
    oc.lr = o->lr;
    oc.warmup = 0;
    lext_optim *opt = NULL;
    check(lext_optim_create(m, &oc, &opt), "lext_optim_create");
    print_config("train", m, o);
    printf(",\"batch\":%lld,\"len\":%lld,\"lr\":%g,\"precision\":\"%s\",\"workspace_bytes\":%zu}\n",
           (long long)B, (long long)T, o->lr, lext_precision_name(prec), lext_ctx_bytes(ctx));
    fflush(stdout);

    for (int k = 0; next_unit(o, k); k++) {
        const size_t off = (size_t)(k % b.n) * (size_t)(B * T);
        float loss = 0, gnorm = 0;
        double t0 = now_s();
        lext_model_zero_grad(m);
        check(lext_forward(m, ctx, b.inputs + off, b.targets + off, B, T, NULL, &loss),
              "lext_forward");
        check(lext_backward(m, ctx), "lext_backward");
        check(lext_optim_step(opt, m, k, &gnorm), "lext_optim_step");
        double dt = now_s() - t0;
        printf("{\"event\":\"unit\",\"phase\":\"%s\",\"i\":%d,\"seconds\":%.6f,\"tokens\":%lld,"
               "\"loss\":%.7g,\"grad_norm\":%.7g,\"lr\":%.9g}\n",
               k < o->warmup ? "warmup" : "timed", k, dt, (long long)(B * T), (double)loss,
               (double)gnorm, lext_optim_lr(&oc, k));
        fflush(stdout);
    }
    print_done();
    lext_optim_free(opt);
    lext_ctx_free(ctx);
    lext_model_free(m);
    return 0;
}

static int cmd_eval(const opts *o) {
    if (!o->batches) die("%s", "eval needs --batches FILE");
    lext_model *m = load_model(o);
    const lext_config *c = lext_model_config(m);
    batches b;
    read_batches(o->batches, &b);
    const int64_t B = b.B, T = b.W - 1;
    lext_attn_mode mode;
    check(lext_attn_parse(o->attn, &mode), "--attn");
    lext_attn attn = lext_attn_make(mode, c->train_len);
    if (o->block > 0) attn.block = o->block;
    if (o->window > 0) attn.window = o->window;
    check(lext_attn_validate(&attn), "attention mask");
    lext_ctx *ctx = NULL;
    check(lext_ctx_create(m, B, T, false, &ctx), "lext_ctx_create");
    print_config("eval", m, o);
    printf(",\"batch\":%lld,\"len\":%lld,\"attn\":\"%s\",\"block\":%lld,\"window\":%lld,"
           "\"workspace_bytes\":%zu}\n",
           (long long)B, (long long)T, lext_attn_name(attn.mode), (long long)attn.block,
           (long long)attn.window, lext_ctx_bytes(ctx));
    fflush(stdout);

    for (int k = 0; next_unit(o, k); k++) {
        float loss = 0;
        double t0 = now_s();
        check(lext_forward(m, ctx, b.inputs, b.targets, B, T, &attn, &loss), "lext_forward");
        double dt = now_s() - t0;
        printf("{\"event\":\"unit\",\"phase\":\"%s\",\"i\":%d,\"seconds\":%.6f,\"tokens\":%lld,"
               "\"loss\":%.7g}\n",
               k < o->warmup ? "warmup" : "timed", k, dt, (long long)(B * T), (double)loss);
        fflush(stdout);
    }
    print_done();
    lext_ctx_free(ctx);
    lext_model_free(m);
    return 0;
}

static int cmd_generate(const opts *o) {
    if (!o->prompt) die("%s", "generate needs --prompt FILE");
    if (o->context < 1 || o->tokens < 1) die("%s", "--context and --tokens must be >= 1");
    lext_model *m = load_model(o);
    const lext_config *c = lext_model_config(m);
    FILE *f = fopen(o->prompt, "rb");
    if (!f) die("cannot open %s", o->prompt);
    uint8_t *raw = xmalloc((size_t)o->context);
    if (fread(raw, 1, (size_t)o->context, f) != (size_t)o->context)
        die("%s is shorter than --context", o->prompt);
    fclose(f);
    int32_t *prompt = xmalloc((size_t)o->context * sizeof(int32_t));
    for (long long i = 0; i < o->context; i++) prompt[i] = raw[i];
    free(raw);

    lext_attn attn = lext_attn_make(LEXT_ATTN_WINDOW, c->train_len);
    if (o->window > 0) attn.window = o->window;
    check(lext_attn_validate(&attn), "attention window");
    const int64_t chunk = o->context < attn.window ? o->context : attn.window;
    lext_decoder *dec = NULL;
    check(lext_decoder_create(m, &attn, o->context + o->tokens, chunk, &dec),
          "lext_decoder_create");
    float *logits = xmalloc((size_t)c->vocab_size * sizeof(float));
    print_config("generate", m, o);
    printf(",\"context\":%lld,\"gen_tokens\":%lld,\"attn\":\"window\",\"window\":%lld,"
           "\"chunk\":%lld,\"decoder_bytes\":%zu}\n",
           o->context, o->tokens, (long long)attn.window, (long long)chunk,
           lext_decoder_bytes(dec));
    fflush(stdout);

    for (int k = 0; next_unit(o, k); k++) {
        lext_decoder_reset(dec);
        double t0 = now_s();
        check(lext_decoder_feed(m, dec, prompt, o->context, logits), "prefill");
        double t1 = now_s();
        unsigned checksum = 0;
        for (long long g = 0; g < o->tokens; g++) {
            int32_t tok = lext_sample(logits, c->vocab_size, 0.0, 0, 1.0, NULL); /* greedy */
            checksum = checksum * 31u + (unsigned)tok;
            check(lext_decoder_feed(m, dec, &tok, 1, logits), "decode");
        }
        double t2 = now_s();
        printf("{\"event\":\"unit\",\"phase\":\"%s\",\"i\":%d,\"seconds\":%.6f,"
               "\"prefill_seconds\":%.6f,\"prefill_tokens\":%lld,\"gen_seconds\":%.6f,"
               "\"gen_tokens\":%lld,\"final_pos\":%lld,\"checksum\":%u}\n",
               k < o->warmup ? "warmup" : "timed", k, t2 - t0, t1 - t0, o->context, t2 - t1,
               o->tokens, (long long)lext_decoder_pos(dec), checksum);
        fflush(stdout);
    }
    print_done();
    free(logits);
    free(prompt);
    lext_decoder_free(dec);
    lext_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_lext init|train|eval|generate [options] (see the file's "
                        "header comment)\n");
        return 2;
    }
    opts o;
    parse(&o, argc, argv);
    lext_set_threads(o.threads);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "init")) return cmd_init(&o);
    if (!strcmp(cmd, "train")) return cmd_train(&o);
    if (!strcmp(cmd, "eval")) return cmd_eval(&o);
    if (!strcmp(cmd, "generate")) return cmd_generate(&o);
    fprintf(stderr, "bench_lext: unknown command '%s' (init, train, eval, generate)\n", cmd);
    return 2;
}
