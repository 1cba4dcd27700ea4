/*
 * fuzz_args.c - the command line's parsers of numbers, lists and options (cli/args.c,
 * cli/evalopts.c) on arbitrary strings.
 *
 * Input: byte 0 picks the parser, byte 1 a range or a capacity; the rest, split at NUL
 * bytes, gives the strings (for cli_parse: the argument vector, at most 32 words). Every
 * parser must accept exactly what its contract says and report anything else with a
 * message, and every value it accepts must lie in its range:
 *   0 parse_i64       1 parse_f64        2 parse_i64_list   3 parse_word_list
 *   4 parse_multiple (`lext experiment --budget 4x`)
 *   5 cli_parse with `lext train`'s options
 *   6 cli_parse with `lext generate`'s options, then its checks of the sampling and attention
 *     parameters and, when they pass, lext_sample with them
 *   7 cli_masks_parse + cli_masks_build (--attn, --block, --window of eval/resolution)
 * Train and generate run the commands' own option tables and checks (cli/trainopts.c,
 * cli/genopts.c).
 */
#include "args.h"
#include "evalopts.h"
#include "fuzz.h"
#include "lext.h"
#include "genopts.h"
#include "trainopts.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#define MAX_WORDS 32

static const struct {
    int64_t lo, hi;
} i_ranges[] = {{INT64_MIN, INT64_MAX}, {0, 10}, {-5, 5}, {1, 1 << 20}, {1, 1LL << 40}, {0, 0}};
static const struct {
    double lo, hi;
} f_ranges[] = {{-1e300, 1e300}, {0, 1}, {1e-12, 10}, {0.01, 1000}, {1.000001, 1e12}, {0, 0}};

/* err must be a terminated, non-empty message */
static void check_err(const char *err, size_t cap) {
    FUZZ_CHECK(memchr(err, '\0', cap) != NULL);
    FUZZ_CHECK(err[0] != '\0');
}

/* the syntax parse_i64 promises: an optional '-' and decimal digits, nothing else */
static bool plain_integer(const char *s) {
    if (*s == '-') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

static void check_opts(const cli_opt *o, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!o[i].given) continue;
        if (o[i].kind == OPT_INT) {
            int64_t v = *(const int64_t *)o[i].dst;
            FUZZ_CHECK((double)v >= o[i].min && (double)v <= o[i].max);
        } else if (o[i].kind == OPT_NUM) {
            double v = *(const double *)o[i].dst;
            FUZZ_CHECK(isfinite(v) && v >= o[i].min && v <= o[i].max);
        } else if (o[i].kind == OPT_STR) {
            FUZZ_CHECK(*(const char *const *)o[i].dst != NULL);
        }
    }
}

static void fuzz_train(int argc, char **argv) {
    train_args a; /* the command's own table and checks (cli/trainopts.c) */
    train_args_init(&a);
    int rc = cli_parse("train", "", argc, argv, a.opts, a.n_opts, NULL, 0, NULL);
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == 2);
    if (rc != 0) return;
    check_opts(a.opts, a.n_opts);
    lext_train_opts o;
    lext_train_more more;
    if (train_args_apply(&a, false, &o, &more) != 0) return;
    /* what passed must be a run lext_train can start: a valid model unless resuming, an
     * output path, a precision */
    FUZZ_CHECK(o.out != NULL && o.log_every >= 1);
    FUZZ_CHECK(o.precision == LEXT_PRECISION_AUTO || o.precision == LEXT_PRECISION_FP32 ||
               o.precision == LEXT_PRECISION_BF16);
    if (!o.resume) FUZZ_CHECK(o.data != NULL && lext_config_validate(&o.model) == LEXT_OK);
}

static void fuzz_generate(int argc, char **argv) {
    gen_args a; /* the command's own table and model-free checks (cli/genopts.c) */
    gen_args_init(&a);
    int rc = cli_parse("generate", "", argc, argv, a.opts, a.n_opts, NULL, 0, NULL);
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == 2);
    if (rc != 0) return;
    check_opts(a.opts, a.n_opts);
    /* supply the two required options when the input lacks them, so that every input
     * reaches the checks of the sampling and attention options */
    if (!a.model_path) a.model_path = "model.safetensors";
    for (size_t i = 0; i < a.n_opts; i++)
        if (strcmp(a.opts[i].name, "--tokens") == 0 && !a.opts[i].given) a.opts[i].given = true, a.tokens = 1;
    if (gen_args_check(&a) != 0) return;
    /* what passed: the sampler's domain, and sizes the decoder can be built with */
    FUZZ_CHECK(a.temperature >= 0 && a.top_p > 0 && a.top_p <= 1 && a.top_k >= 0);
    FUZZ_CHECK(a.max_context >= 1 && (!a.window_given || a.window >= 1) &&
               (!a.block_given || (a.block >= 2 && a.block % 2 == 0)));
    const double temperature = a.temperature, top_p = a.top_p;
    const int64_t top_k = a.top_k, seed = a.seed;
    float logits[256];
    for (int i = 0; i < 256; i++) /* ties, a clear winner and a long flat tail */
        logits[i] = i < 3 ? 5.0f : i == 7 ? 9.0f : (float)(i % 13) - 40.0f;
    lext_rng rng;
    lext_rng_seed(&rng, (uint64_t)seed);
    for (int k = 0; k < 4; k++) {
        int32_t t = lext_sample(logits, 256, temperature, (int)top_k, top_p, &rng);
        FUZZ_CHECK(t >= 0 && t < 256);
        if (temperature == 0) FUZZ_CHECK(t == 7); /* greedy: the first maximum */
        if (top_k == 1) FUZZ_CHECK(t == 7);
    }
}

static void fuzz_masks(char **w, size_t nw, uint8_t sel) {
    const char *list = nw > 0 ? w[0] : "";
    const int64_t block = nw > 1 ? strtoll(w[1], NULL, 10) : 0;
    const int64_t window = nw > 2 ? strtoll(w[2], NULL, 10) : 0;
    cli_masks mk;
    if (cli_masks_parse("eval", list, sel & 1, block, sel & 2, window, &mk)) return;
    FUZZ_CHECK(mk.n >= 1 && mk.n <= LEXT_ATTN_COUNT);
    for (size_t i = 0; i < mk.n; i++)
        for (size_t j = 0; j < i; j++) FUZZ_CHECK(mk.mode[i] != mk.mode[j]);
    lext_attn masks[LEXT_ATTN_COUNT];
    const int64_t train_len = 2 + (sel >> 2);
    if (cli_masks_build("eval", &mk, train_len, masks)) return;
    for (size_t i = 0; i < mk.n; i++) {
        FUZZ_CHECK(lext_attn_validate(&masks[i]) == LEXT_OK);
        for (int64_t T = 1; T <= 9; T += 4) /* every query sees itself and nothing later */
            for (int64_t q = 0; q < T; q++) {
                int64_t lo = lext_attn_lo(&masks[i], T, q);
                FUZZ_CHECK(lo >= 0 && lo <= q);
            }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2 || size > 4096) return 0;
    const uint8_t which = data[0] % 8, sel = data[1];
    /* the strings: a NUL-terminated copy, split at NUL bytes */
    char *buf = malloc(size - 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data + 2, size - 2);
    buf[size - 2] = '\0';
    char *w[MAX_WORDS];
    size_t nw = 0;
    for (char *p = buf; nw < MAX_WORDS && p < buf + size - 1; p += strlen(p) + 1) w[nw++] = p;
    const char *s = nw ? w[0] : "";
    char err[96];
    memset(err, 'x', sizeof err);
    switch (which) {
    case 0: {
        const size_t r = sel % (sizeof i_ranges / sizeof *i_ranges);
        int64_t v = 12345;
        if (parse_i64(s, i_ranges[r].lo, i_ranges[r].hi, &v, err, sizeof err) == 0) {
            FUZZ_CHECK(v >= i_ranges[r].lo && v <= i_ranges[r].hi);
            FUZZ_CHECK(plain_integer(s) && strtoll(s, NULL, 10) == v);
        } else {
            check_err(err, sizeof err);
        }
        break;
    }
    case 1:
    case 4: {
        const size_t r = sel % (sizeof f_ranges / sizeof *f_ranges);
        const double lo = f_ranges[r].lo, hi = f_ranges[r].hi;
        double v = 0;
        int bad = which == 1 ? parse_f64(s, lo, hi, &v, err, sizeof err)
                             : parse_multiple(s, lo, hi, &v, err, sizeof err);
        if (!bad) FUZZ_CHECK(isfinite(v) && v >= lo && v <= hi);
        else check_err(err, sizeof err);
        break;
    }
    case 2: {
        const size_t r = sel % (sizeof i_ranges / sizeof *i_ranges), cap = (sel >> 4) % 9;
        int64_t out[8];
        size_t n = 99;
        if (parse_i64_list(s, i_ranges[r].lo, i_ranges[r].hi, out, cap, &n, err, sizeof err) == 0) {
            size_t commas = 0;
            for (const char *p = s; *p; p++) commas += *p == ',';
            FUZZ_CHECK(n >= 1 && n <= cap && n == commas + 1);
            for (size_t i = 0; i < n; i++)
                FUZZ_CHECK(out[i] >= i_ranges[r].lo && out[i] <= i_ranges[r].hi);
        } else {
            check_err(err, sizeof err);
        }
        break;
    }
    case 3: {
        const size_t cap = sel % 9;
        char *copy = strdup(s), *out[8];
        FUZZ_CHECK(copy != NULL);
        size_t n = 99;
        if (parse_word_list(copy, out, cap, &n, err, sizeof err) == 0) {
            FUZZ_CHECK(n >= 1 && n <= cap);
            size_t k = 0; /* the words, joined by commas, give the input back */
            for (size_t i = 0; i < n; i++) {
                size_t l = strlen(out[i]);
                FUZZ_CHECK(l > 0 && !strchr(out[i], ','));
                FUZZ_CHECK(memcmp(s + k, out[i], l) == 0);
                k += l;
                FUZZ_CHECK(s[k] == (i + 1 < n ? ',' : '\0'));
                k++;
            }
        } else {
            check_err(err, sizeof err);
        }
        free(copy);
        break;
    }
    case 5: fuzz_train((int)nw, w); break;
    case 6: fuzz_generate((int)nw, w); break;
    case 7: fuzz_masks(w, nw, sel); break;
    }
    free(buf);
    return 0;
}
