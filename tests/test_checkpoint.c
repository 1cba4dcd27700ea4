/*
 * test_checkpoint.c - the safetensors checkpoint reader and writer.
 *
 *   - round trips: every position scheme, tied and untied, config field by field and every
 *     tensor bit for bit; the file layout (8 + header + data, header a multiple of 8);
 *   - training state: every field of lext_train_state bit for bit, has_train, read_config;
 *   - atomic writes: failures (no directory, parent a file, temporary name too long or taken,
 *     rename onto a directory, a write failing half way) leave the previous checkpoint
 *     byte-identical and no "<path>.tmp.<pid>" behind;
 *   - bad files, crafted one defect at a time from a good checkpoint: each must fail with
 *     the right status and a message naming the problem, and leave the caller's train state
 *     alone;
 *   - robustness: a few thousand random mutations of a small checkpoint (LEXT_FUZZ_ITERS
 *     overrides the count, e.g. for valgrind; LEXT_FUZZ_SEED picks another sequence);
 *   - unknown extra tensors are ignored.
 *
 * Files live in a fresh directory under $TMPDIR (or /tmp), removed at exit.
 */
#define _GNU_SOURCE 1
#include "harness.h"
#include "model.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files ------------------------------------------------------------------------------ */

static char g_dir[512];

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(p);
}
static void rm_dir(void) {
    if (g_dir[0]) nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A file name inside the test directory (a few rotating static buffers). */
static const char *tpath(const char *name) {
    static char bufs[8][1024];
    static int k;
    if (!g_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_dir, sizeof g_dir, "%s/lext_ckpt_XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(g_dir)) {
            fprintf(stderr, "cannot create a test directory: %s\n", strerror(errno));
            exit(2);
        }
        atexit(rm_dir);
    }
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", g_dir, name);
    return b;
}

static uint8_t *read_bytes(const char *path, size_t *n) {
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) *n = (size_t)sz;
    return b;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

static uint64_t get_u64le(const uint8_t *b) {
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)b[i] << (8 * i);
    return n;
}
static void put_u64le(uint8_t *b, uint64_t n) {
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(n >> (8 * i));
}

/* Writes [u64 len][json padded with spaces to a multiple of 8][data]. */
static void write_st(const char *path, const char *json, const void *data, size_t ndata) {
    size_t j = strlen(json), padded = (j + 7) & ~(size_t)7;
    uint8_t *b = malloc(8 + padded + ndata + 1);
    put_u64le(b, padded);
    memcpy(b + 8, json, j);
    memset(b + 8 + j, ' ', padded - j);
    if (ndata) memcpy(b + 8 + padded, data, ndata);
    write_bytes(path, b, 8 + padded + ndata);
    free(b);
}

static bool same_file(const char *a, const uint8_t *bytes, size_t n) {
    size_t m;
    uint8_t *b = read_bytes(a, &m);
    bool same = b && m == n && memcmp(b, bytes, n) == 0;
    free(b);
    return same;
}

/* Number of entries of the test directory whose name contains ".tmp.". */
static int count_tmp_files(void) {
    tpath("x"); /* make sure the directory exists */
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

/* ---- models ----------------------------------------------------------------------------- */

static lext_config small_config(lext_pos_kind pos, bool tied) {
    lext_config c;
    lext_config_default(&c);
    c.n_layer = 2;
    c.n_head = 2;
    c.d_model = 8;
    c.d_ff = 20;
    c.vocab_size = 24;
    c.train_len = 6;
    c.pos = pos;
    c.tied = tied;
    /* doubles whose shortest "%.15g" form does not read back exactly */
    c.xpos_gamma = 0.1 + 0.2;
    c.xpos_scale_base = 512.0 * (1.0 + 2.220446049250313e-16);
    c.rope_base = 10000.0 * (1.0 + 4 * 2.220446049250313e-16);
    c.norm_eps = 3e-5 * (1.0 + 2.220446049250313e-16);
    return c;
}

static lext_model *make_model(const lext_config *c, uint64_t seed) {
    lext_model *m = NULL;
    if (!CHECK(lext_model_create(c, &m) == LEXT_OK, "create: %s", lext_last_error())) exit(2);
    lext_model_init(m, seed);
    /* biases and norm weights are constant after init: make every value distinct */
    float *p = lext_model_params(m);
    for (size_t i = 0; i < lext_model_num_params(m); i++) p[i] += (float)(1e-3 * h_rand());
    return m;
}

static bool same_bits(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

static void check_same_config(const lext_config *a, const lext_config *b, const char *what) {
    CHECK(a->n_layer == b->n_layer, "%s: n_layer %d vs %d", what, a->n_layer, b->n_layer);
    CHECK(a->n_head == b->n_head, "%s: n_head %d vs %d", what, a->n_head, b->n_head);
    CHECK(a->d_model == b->d_model, "%s: d_model %d vs %d", what, a->d_model, b->d_model);
    CHECK(a->d_ff == b->d_ff, "%s: d_ff %d vs %d", what, a->d_ff, b->d_ff);
    CHECK(a->vocab_size == b->vocab_size, "%s: vocab_size", what);
    CHECK(a->train_len == b->train_len, "%s: train_len", what);
    CHECK(a->pos == b->pos, "%s: pos %d vs %d", what, (int)a->pos, (int)b->pos);
    CHECK(a->tied == b->tied, "%s: tied", what);
    CHECK(a->embed_scale == b->embed_scale, "%s: embed_scale %d vs %d", what, a->embed_scale,
          b->embed_scale);
    CHECK(same_bits(&a->xpos_gamma, &b->xpos_gamma, sizeof(double)), "%s: xpos_gamma %.17g vs %.17g",
          what, a->xpos_gamma, b->xpos_gamma);
    CHECK(same_bits(&a->xpos_scale_base, &b->xpos_scale_base, sizeof(double)),
          "%s: xpos_scale_base %.17g vs %.17g", what, a->xpos_scale_base, b->xpos_scale_base);
    CHECK(same_bits(&a->rope_base, &b->rope_base, sizeof(double)), "%s: rope_base %.17g vs %.17g",
          what, a->rope_base, b->rope_base);
    CHECK(same_bits(&a->norm_eps, &b->norm_eps, sizeof(double)), "%s: norm_eps %.17g vs %.17g",
          what, a->norm_eps, b->norm_eps);
}

static void check_same_tensors(const lext_model *a, const lext_model *b, const char *what) {
    if (!CHECK(lext_model_num_tensors(a) == lext_model_num_tensors(b), "%s: %d vs %d tensors",
               what, lext_model_num_tensors(a), lext_model_num_tensors(b)))
        return;
    CHECK(lext_model_num_params(a) == lext_model_num_params(b), "%s: num_params", what);
    for (int i = 0; i < lext_model_num_tensors(a); i++) {
        const lext_param *p = lext_model_tensor(a, i), *q = lext_model_tensor(b, i);
        CHECK(strcmp(p->name, q->name) == 0 && p->ndim == q->ndim && p->shape[0] == q->shape[0] &&
                  p->shape[1] == q->shape[1] && p->numel == q->numel,
              "%s: tensor %d differs in name or shape (%s vs %s)", what, i, p->name, q->name);
        CHECK(p->numel == q->numel && same_bits(p->data, q->data, p->numel * sizeof(float)),
              "%s: tensor %s differs in its values", what, p->name);
    }
}

static void fill_train_state(lext_train_state *ts, const lext_model *m) {
    memset(ts, 0, sizeof *ts);
    ts->step = 123456789;
    ts->rng.s[0] = 0xfedcba9876543210ULL;
    ts->rng.s[1] = 0x0000000000000001ULL;
    ts->rng.s[2] = 0xffffffffffffffffULL;
    ts->rng.s[3] = 0x8000000000000000ULL;
    lext_optim_config_default(&ts->optim, 1000);
    ts->optim.lr = 3e-4 * (1.0 + 2.220446049250313e-16);
    ts->optim.min_lr_ratio = 0.1 + 0.2;
    ts->optim.warmup = 77;
    ts->optim.total_steps = ((int64_t)1 << 40) + 3;
    ts->optim.beta1 = 0.9 * (1.0 + 2.220446049250313e-16);
    ts->optim.beta2 = 0.98 * (1.0 - 2.220446049250313e-16);
    ts->optim.eps = 1e-6 * (1.0 + 2.220446049250313e-16);
    ts->optim.weight_decay = 0.01 * (1.0 + 2 * 2.220446049250313e-16);
    ts->optim.grad_clip = 1.0 + 2.220446049250313e-16;
    ts->batch = 17;
    ts->seed = 0xdeadbeefcafef00dULL;
    ts->precision = LEXT_PRECISION_BF16;
    snprintf(ts->data_path, sizeof ts->data_path, "/data/dir with spaces/\xc3\xbc\"quoted\"\\back\ttab");
    size_t np = lext_model_num_params(m);
    ts->m = malloc(np * sizeof(float));
    ts->v = malloc(np * sizeof(float));
    for (size_t i = 0; i < np; i++) {
        ts->m[i] = (float)(i + 1) * -0.001f + (float)h_rand() * 1e-7f;
        ts->v[i] = (float)(i + 1) * 1e-9f;
    }
    ts->m[0] = -0.0f;        /* signed zero */
    ts->v[np - 1] = 1e-42f;  /* subnormal */
}

static void free_filled(lext_train_state *ts) {
    free(ts->m);
    free(ts->v);
    ts->m = ts->v = NULL;
}

/* ---- 1. round trips --------------------------------------------------------------------- */

TEST(roundtrip_every_scheme_tied_and_untied) {
    for (int pos = 0; pos < LEXT_POS_COUNT; pos++)
        for (int tied = 0; tied <= 1; tied++) {
            char what[64];
            snprintf(what, sizeof what, "%s %s", lext_pos_name((lext_pos_kind)pos),
                     tied ? "tied" : "untied");
            lext_config c = small_config((lext_pos_kind)pos, tied);
            lext_model *m = make_model(&c, 7 + (uint64_t)pos);
            const char *path = tpath("rt.safetensors");
            if (!CHECK(lext_checkpoint_save(path, m, NULL) == LEXT_OK, "%s: save: %s", what,
                       lext_last_error())) {
                lext_model_free(m);
                continue;
            }
            lext_model *r = NULL;
            bool has = true;
            lext_status s = lext_checkpoint_load(path, &r, NULL, &has);
            if (CHECK(s == LEXT_OK && r, "%s: load: %s", what, lext_last_error())) {
                check_same_config(lext_model_config(r), &c, what);
                check_same_tensors(r, m, what);
                CHECK(!has, "%s: a model-only checkpoint reports training state", what);
                CHECK((lext_model_find_tensor(r, "lm_head.weight") != NULL) == !tied,
                      "%s: lm_head.weight presence", what);
                CHECK((lext_model_find_tensor(r, "pos_embed.weight") != NULL) ==
                          (pos == LEXT_POS_LEARNED),
                      "%s: pos_embed.weight presence", what);
            }
            /* layout: 8 + N + data, N a multiple of 8, header padded with spaces */
            size_t n;
            uint8_t *b = read_bytes(path, &n);
            if (CHECK(b && n >= 8, "%s: cannot read back", what)) {
                uint64_t N = get_u64le(b);
                CHECK(N % 8 == 0, "%s: header length %llu is not a multiple of 8", what,
                      (unsigned long long)N);
                CHECK(n == 8 + N + lext_model_num_params(m) * sizeof(float),
                      "%s: file size %zu != 8 + %llu + %zu", what, n, (unsigned long long)N,
                      lext_model_num_params(m) * sizeof(float));
                cJSON *h = N <= n - 8 ? cJSON_ParseWithLength((const char *)b + 8, (size_t)N) : NULL;
                CHECK(cJSON_IsObject(h), "%s: header is not a JSON object", what);
                /* every tensor present, F32, offsets consecutive in table order */
                uint64_t off = 0;
                for (int i = 0; h && i < lext_model_num_tensors(m); i++) {
                    const lext_param *p = lext_model_tensor(m, i);
                    cJSON *e = cJSON_GetObjectItemCaseSensitive(h, p->name);
                    cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
                    cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
                    CHECK(cJSON_IsString(dt) && strcmp(dt->valuestring, "F32") == 0,
                          "%s: %s dtype", what, p->name);
                    CHECK(cJSON_GetArraySize(of) == 2 &&
                              cJSON_GetArrayItem(of, 0)->valuedouble == (double)off &&
                              cJSON_GetArrayItem(of, 1)->valuedouble ==
                                  (double)(off + p->numel * 4),
                          "%s: %s offsets", what, p->name);
                    off += p->numel * 4;
                }
                CHECK(h && cJSON_GetArraySize(h) == lext_model_num_tensors(m) + 1,
                      "%s: header has %d entries, expected %d tensors + __metadata__", what,
                      cJSON_GetArraySize(h), lext_model_num_tensors(m));
                cJSON_Delete(h);
            }
            free(b);
            /* read_config agrees */
            lext_config rc;
            int64_t step = -1;
            has = true;
            CHECK(lext_checkpoint_read_config(path, &rc, &has, &step) == LEXT_OK,
                  "%s: read_config: %s", what, lext_last_error());
            check_same_config(&rc, &c, what);
            CHECK(!has && step == 0, "%s: read_config has_train %d step %lld", what, has,
                  (long long)step);
            lext_model_free(r);
            lext_model_free(m);
        }
    CHECK(count_tmp_files() == 0, "temporary files left behind");
}

TEST(roundtrip_relative_path_and_overwrite) {
    char cwd[4096];
    if (!CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd")) return;
    tpath("x");
    if (!CHECK(chdir(g_dir) == 0, "chdir")) return;
    lext_config c = small_config(LEXT_POS_ROPE, true);
    lext_model *a = make_model(&c, 1), *b = make_model(&c, 2), *r = NULL;
    CHECK(lext_checkpoint_save("rel.safetensors", a, NULL) == LEXT_OK, "save: %s", lext_last_error());
    CHECK(lext_checkpoint_save("rel.safetensors", b, NULL) == LEXT_OK, "overwrite: %s",
          lext_last_error());
    if (CHECK(lext_checkpoint_load("rel.safetensors", &r, NULL, NULL) == LEXT_OK, "load: %s",
              lext_last_error()))
        check_same_tensors(r, b, "overwritten checkpoint");
    lext_model_free(r);
    lext_model_free(a);
    lext_model_free(b);
    unlink("rel.safetensors");
    CHECK(chdir(cwd) == 0, "chdir back");
    CHECK(count_tmp_files() == 0, "temporary files left behind");
}

/* ---- 2. training state ------------------------------------------------------------------ */

TEST(train_state_roundtrip) {
    lext_config c = small_config(LEXT_POS_XPOS, false);
    lext_model *m = make_model(&c, 3);
    lext_train_state ts;
    fill_train_state(&ts, m);
    const char *path = tpath("train.safetensors");
    if (!CHECK(lext_checkpoint_save(path, m, &ts) == LEXT_OK, "save: %s", lext_last_error())) {
        free_filled(&ts);
        lext_model_free(m);
        return;
    }
    size_t np = lext_model_num_params(m), n;
    uint8_t *b = read_bytes(path, &n);
    if (CHECK(b && n >= 8, "read back")) {
        uint64_t N = get_u64le(b);
        CHECK(N % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)N);
        CHECK(n == 8 + N + 3 * np * sizeof(float), "file size %zu != 8 + %llu + 3 * %zu * 4", n,
              (unsigned long long)N, np);
    }
    free(b);

    lext_train_state got;
    memset(&got, 0, sizeof got);
    lext_model *r = NULL;
    bool has = false;
    lext_status s = lext_checkpoint_load(path, &r, &got, &has);
    if (CHECK(s == LEXT_OK && r, "load: %s", lext_last_error())) {
        CHECK(has, "has_train is false");
        check_same_config(lext_model_config(r), &c, "train checkpoint");
        check_same_tensors(r, m, "train checkpoint");
        CHECK(got.step == ts.step, "step %lld vs %lld", (long long)got.step, (long long)ts.step);
        for (int i = 0; i < 4; i++)
            CHECK(got.rng.s[i] == ts.rng.s[i], "rng.s[%d] %016llx vs %016llx", i,
                  (unsigned long long)got.rng.s[i], (unsigned long long)ts.rng.s[i]);
        CHECK(got.batch == ts.batch, "batch");
        CHECK(got.seed == ts.seed, "seed %016llx", (unsigned long long)got.seed);
        CHECK(strcmp(got.data_path, ts.data_path) == 0, "data path '%s'", got.data_path);
        CHECK(got.precision == LEXT_PRECISION_BF16, "precision %s",
              lext_precision_name(got.precision));
        /* a precision a loader would refuse is refused on saving, the file left alone */
        lext_train_state odd = ts;
        odd.precision = LEXT_PRECISION_AUTO;
        CHECK(lext_checkpoint_save(path, m, &odd) == LEXT_ERR_ARG &&
                  strstr(lext_last_error(), "precision") != NULL,
              "saving precision AUTO: %s", lext_last_error());
        lext_model *again = NULL;
        CHECK(lext_checkpoint_load(path, &again, NULL, NULL) == LEXT_OK, "the file after a refused save");
        lext_model_free(again);
        const lext_optim_config *o = &got.optim, *e = &ts.optim;
#define SAME_D(f) CHECK(same_bits(&o->f, &e->f, sizeof(double)), "optim." #f " %.17g vs %.17g", o->f, e->f)
        SAME_D(lr);
        SAME_D(min_lr_ratio);
        SAME_D(beta1);
        SAME_D(beta2);
        SAME_D(eps);
        SAME_D(weight_decay);
        SAME_D(grad_clip);
#undef SAME_D
        CHECK(o->warmup == e->warmup, "warmup");
        CHECK(o->total_steps == e->total_steps, "total_steps %lld", (long long)o->total_steps);
        CHECK(got.m && got.v, "moments not allocated");
        if (got.m && got.v) {
            CHECK(same_bits(got.m, ts.m, np * sizeof(float)), "Adam m differs");
            CHECK(same_bits(got.v, ts.v, np * sizeof(float)), "Adam v differs");
        }
        lext_train_state_free(&got);
        CHECK(!got.m && !got.v, "lext_train_state_free leaves pointers");
    }
    lext_model_free(r);

    /* read_config */
    lext_config rc;
    int64_t step = 0;
    has = false;
    CHECK(lext_checkpoint_read_config(path, &rc, &has, &step) == LEXT_OK, "read_config: %s",
          lext_last_error());
    check_same_config(&rc, &c, "read_config");
    CHECK(has && step == ts.step, "read_config: has_train %d, step %lld", has, (long long)step);
    CHECK(lext_checkpoint_read_config(path, &rc, NULL, NULL) == LEXT_OK, "read_config, NULLs");

    /* a training checkpoint still loads as a plain model */
    r = NULL;
    CHECK(lext_checkpoint_load(path, &r, NULL, NULL) == LEXT_OK, "load without ts: %s",
          lext_last_error());
    if (r) check_same_tensors(r, m, "train checkpoint without ts");
    lext_model_free(r);

    /* a model-only checkpoint: has_train false, ts untouched */
    const char *plain = tpath("plain.safetensors");
    CHECK(lext_checkpoint_save(plain, m, NULL) == LEXT_OK, "save plain: %s", lext_last_error());
    lext_train_state keep = ts;
    has = true;
    r = NULL;
    CHECK(lext_checkpoint_load(plain, &r, &ts, &has) == LEXT_OK, "load plain: %s",
          lext_last_error());
    CHECK(!has, "a model-only checkpoint reports has_train");
    CHECK(memcmp(&keep, &ts, sizeof ts) == 0, "a model-only load changed the train state");
    lext_model_free(r);
    has = true;
    step = 5;
    CHECK(lext_checkpoint_read_config(plain, &rc, &has, &step) == LEXT_OK && !has && step == 0,
          "read_config of a model-only checkpoint: has %d step %lld", has, (long long)step);

    free_filled(&ts);
    lext_model_free(m);
    unlink(path);
    unlink(plain);
}

TEST(train_state_nonfinite_optim_is_refused_or_exact) {
    /* A non-finite optimizer setting cannot be stored in JSON: saving must either refuse it
     * or, if it writes a file, that file must load back. It must never write a checkpoint
     * that later fails to load. */
    lext_config c = small_config(LEXT_POS_NONE, true);
    lext_model *m = make_model(&c, 4);
    lext_train_state ts;
    fill_train_state(&ts, m);
    ts.optim.grad_clip = INFINITY;
    const char *path = tpath("inf.safetensors");
    lext_status s = lext_checkpoint_save(path, m, &ts);
    if (s == LEXT_OK) {
        lext_model *r = NULL;
        lext_train_state got = {0};
        CHECK(lext_checkpoint_load(path, &r, &got, NULL) == LEXT_OK,
              "saved a checkpoint that does not load: %s", lext_last_error());
        lext_model_free(r);
        lext_train_state_free(&got);
    } else {
        CHECK(lext_last_error()[0] != '\0', "refused without a message");
        CHECK(access(path, F_OK) != 0, "a refused save left a file");
    }
    CHECK(count_tmp_files() == 0, "temporary files left behind");
    free_filled(&ts);
    lext_model_free(m);
    unlink(path);
}

/* ---- 3. atomic writes ------------------------------------------------------------------- */

/* Writes a good checkpoint at path from model a and returns its bytes. */
static uint8_t *good_at(const char *path, const lext_model *a, size_t *n) {
    CHECK(lext_checkpoint_save(path, a, NULL) == LEXT_OK, "save %s: %s", path, lext_last_error());
    return read_bytes(path, n);
}

TEST(atomic_missing_directory_and_file_parent) {
    lext_config c = small_config(LEXT_POS_ALIBI, true);
    lext_model *a = make_model(&c, 5);
    char p[1200];
    snprintf(p, sizeof p, "%s", tpath("no_such_dir/ck.safetensors"));
    lext_status s = lext_checkpoint_save(p, a, NULL);
    CHECK(s == LEXT_ERR_IO, "save into a missing directory: status %d", (int)s);
    CHECK(strstr(lext_last_error(), "no_such_dir") != NULL, "message does not name the path: %s",
          lext_last_error());
    CHECK(access(tpath("no_such_dir"), F_OK) != 0, "the missing directory was created");

    /* parent is a regular file */
    const char *file = tpath("afile");
    write_bytes(file, "x", 1);
    snprintf(p, sizeof p, "%s/ck.safetensors", file);
    s = lext_checkpoint_save(p, a, NULL);
    CHECK(s == LEXT_ERR_IO, "save under a regular file: status %d", (int)s);
    CHECK(lext_last_error()[0], "no message");
    CHECK(same_file(file, (const uint8_t *)"x", 1), "the parent file changed");
    unlink(file);

    /* a path longer than PATH_MAX */
    size_t L = PATH_MAX + 100;
    char *longp = malloc(L + 1);
    memset(longp, 'a', L);
    longp[0] = '/';
    longp[L] = '\0';
    s = lext_checkpoint_save(longp, a, NULL);
    CHECK(s == LEXT_ERR_IO, "save to an over-long path: status %d", (int)s);
    free(longp);

    /* a good checkpoint elsewhere is untouched by all that */
    CHECK(count_tmp_files() == 0, "temporary files left behind");
    lext_model_free(a);
}

TEST(atomic_tmp_cannot_be_created) {
    lext_config c = small_config(LEXT_POS_SINUSOIDAL, false);
    lext_model *a = make_model(&c, 6), *b = make_model(&c, 8);
    /* a 250-byte name fits NAME_MAX (255); "<name>.tmp.<pid>" does not */
    char name[251];
    memset(name, 'k', 250);
    name[250] = '\0';
    char path[1200];
    snprintf(path, sizeof path, "%s", tpath(name));
    size_t n;
    /* the library cannot write there itself (that is the point): save, then rename */
    const char *shortp = tpath("short.safetensors");
    uint8_t *before = good_at(shortp, a, &n);
    CHECK(rename(shortp, path) == 0, "rename to the long name: %s", strerror(errno));
    if (CHECK(before != NULL, "cannot write the initial checkpoint (%s)", lext_last_error())) {
        lext_status s = lext_checkpoint_save(path, b, NULL);
        CHECK(s == LEXT_ERR_IO, "tmp name too long: status %d (%s)", (int)s, lext_last_error());
        CHECK(strstr(lext_last_error(), ".tmp.") != NULL, "message does not name the tmp file: %s",
              lext_last_error());
        CHECK(same_file(path, before, n), "the previous checkpoint changed");
        lext_model *r = NULL;
        CHECK(lext_checkpoint_load(path, &r, NULL, NULL) == LEXT_OK, "previous no longer loads");
        if (r) check_same_tensors(r, a, "previous checkpoint");
        lext_model_free(r);
    }
    free(before);
    unlink(path);

    /* the temporary name is taken by a directory */
    snprintf(path, sizeof path, "%s", tpath("taken.safetensors"));
    before = good_at(path, a, &n);
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(mkdir(tmp, 0755) == 0, "mkdir %s", tmp);
    lext_status s = lext_checkpoint_save(path, b, NULL);
    CHECK(s == LEXT_ERR_IO, "tmp name is a directory: status %d", (int)s);
    CHECK(same_file(path, before, n), "the previous checkpoint changed");
    struct stat st;
    CHECK(stat(tmp, &st) == 0 && S_ISDIR(st.st_mode), "the blocking directory was removed");
    rmdir(tmp);
    free(before);
    unlink(path);

    CHECK(count_tmp_files() == 0, "temporary files left behind");
    lext_model_free(a);
    lext_model_free(b);
}

TEST(atomic_rename_onto_directory_fails_cleanly) {
    lext_config c = small_config(LEXT_POS_NONE, true);
    lext_model *a = make_model(&c, 9);
    const char *d = tpath("iam_a_dir");
    CHECK(mkdir(d, 0755) == 0, "mkdir");
    char inner[1200];
    snprintf(inner, sizeof inner, "%s/keep", d);
    write_bytes(inner, "keep", 4);
    lext_status s = lext_checkpoint_save(d, a, NULL);
    CHECK(s == LEXT_ERR_IO, "save onto a non-empty directory: status %d", (int)s);
    CHECK(strstr(lext_last_error(), "rename") != NULL, "message: %s", lext_last_error());
    CHECK(same_file(inner, (const uint8_t *)"keep", 4), "the directory's content changed");
    CHECK(count_tmp_files() == 0, "temporary file left behind after a failed rename");
    unlink(inner);
    rmdir(d);
    lext_model_free(a);
}

TEST(atomic_write_failure_half_way) {
    lext_config c = small_config(LEXT_POS_LEARNED, false);
    lext_model *a = make_model(&c, 10), *b = make_model(&c, 11);
    const char *path = tpath("fsize.safetensors");
    size_t n;
    uint8_t *before = good_at(path, a, &n);
    struct rlimit old;
    if (!CHECK(before && getrlimit(RLIMIT_FSIZE, &old) == 0, "setup")) {
        free(before);
        lext_model_free(a);
        lext_model_free(b);
        return;
    }
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {(rlim_t)(n / 2), old.rlim_max};
    if (CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit: %s", strerror(errno))) {
        lext_status s = lext_checkpoint_save(path, b, NULL);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(s == LEXT_ERR_IO, "a failing write: status %d", (int)s);
        CHECK(strstr(lext_last_error(), ".tmp.") != NULL, "message: %s", lext_last_error());
        CHECK(same_file(path, before, n), "the previous checkpoint changed");
        CHECK(count_tmp_files() == 0, "temporary file left behind after a failed write");
    }
    signal(SIGXFSZ, prev);
    free(before);
    unlink(path);
    lext_model_free(a);
    lext_model_free(b);
}

/* ---- 4. bad files ----------------------------------------------------------------------- */

enum {
    RC_TOO = 1,    /* lext_checkpoint_read_config must fail the same way */
    TRAIN_ONLY = 2 /* only a load with a train state sees the defect */
};

static float g_sentinel_m[4], g_sentinel_v[4];

/* One load with a train state, one without, and read_config where it applies: each fails
 * with `want` and a message containing `sub`, returns no model, and leaves ts alone. */
static void expect_fail_at(const char *file, int line, const char *path, lext_status want,
                           const char *sub, int flags) {
    lext_train_state ts;
    memset(&ts, 0xA5, sizeof ts);
    ts.m = g_sentinel_m;
    ts.v = g_sentinel_v;
    lext_train_state keep = ts;
    lext_model *m = (lext_model *)&keep; /* must be overwritten with NULL */
    bool has = true;
    lext_status s = lext_checkpoint_load(path, &m, &ts, &has);
    h_check(s == want, file, line, "load: status %d (%s), expected %d; message: %s", (int)s,
            lext_status_name(s), (int)want, lext_last_error());
    h_check(strstr(lext_last_error(), sub) != NULL, file, line,
            "load: message '%s' lacks '%s'", lext_last_error(), sub);
    h_check(m == NULL, file, line, "load: a failed load returned a model");
    h_check(!has, file, line, "load: a failed load reports has_train");
    h_check(memcmp(&ts, &keep, sizeof ts) == 0, file, line,
            "load: a failed load changed (or freed) the caller's train state");
    if (s == LEXT_OK) lext_model_free(m);
    if (s == LEXT_OK && has && ts.m != g_sentinel_m) lext_train_state_free(&ts);

    if (!(flags & TRAIN_ONLY)) {
        m = NULL;
        s = lext_checkpoint_load(path, &m, NULL, NULL);
        h_check(s == want, file, line, "load without ts: status %d, expected %d (%s)", (int)s,
                (int)want, lext_last_error());
        h_check(strstr(lext_last_error(), sub) != NULL, file, line,
                "load without ts: message '%s' lacks '%s'", lext_last_error(), sub);
        if (s == LEXT_OK) lext_model_free(m);
    }
    if (flags & RC_TOO) {
        lext_config c;
        s = lext_checkpoint_read_config(path, &c, NULL, NULL);
        h_check(s == want, file, line, "read_config: status %d, expected %d (%s)", (int)s,
                (int)want, lext_last_error());
        h_check(strstr(lext_last_error(), sub) != NULL, file, line,
                "read_config: message '%s' lacks '%s'", lext_last_error(), sub);
    }
}
#define EXPECT_FAIL(path, want, sub, flags) expect_fail_at(__FILE__, __LINE__, path, want, sub, flags)

static void expect_ok_at(const char *file, int line, const char *path) {
    lext_model *m = NULL;
    lext_train_state ts = {0};
    bool has = false;
    lext_status s = lext_checkpoint_load(path, &m, &ts, &has);
    h_check(s == LEXT_OK, file, line, "load should succeed: %s", lext_last_error());
    lext_model_free(m);
    if (has) lext_train_state_free(&ts);
}
#define EXPECT_OK(path) expect_ok_at(__FILE__, __LINE__, path)

/* The fixture: a small untied XPOS model with training state. */
static lext_model *g_base;
static const char *base_path(void) {
    static char p[1100];
    if (!g_base) {
        lext_config c = small_config(LEXT_POS_XPOS, false);
        g_base = make_model(&c, 42);
        lext_train_state ts;
        fill_train_state(&ts, g_base);
        snprintf(p, sizeof p, "%s", tpath("base.safetensors"));
        if (lext_checkpoint_save(p, g_base, &ts) != LEXT_OK) {
            fprintf(stderr, "cannot write the fixture: %s\n", lext_last_error());
            exit(2);
        }
        free_filled(&ts);
    }
    return p;
}
__attribute__((destructor)) static void free_base(void) { lext_model_free(g_base); }

/* An editable copy of the fixture: header tree, the two metadata entries parsed, data. */
typedef struct {
    cJSON *hdr, *cfg, *train;
    uint8_t *data;
    size_t ndata;
} ck_edit;

static cJSON *meta_of(cJSON *hdr) { return cJSON_GetObjectItemCaseSensitive(hdr, "__metadata__"); }

static ck_edit edit_begin(void) {
    ck_edit e = {0};
    size_t n;
    uint8_t *b = read_bytes(base_path(), &n);
    uint64_t N = get_u64le(b);
    e.hdr = cJSON_ParseWithLength((const char *)b + 8, (size_t)N);
    e.ndata = n - 8 - (size_t)N;
    e.data = malloc(e.ndata + 64);
    memcpy(e.data, b + 8 + N, e.ndata);
    free(b);
    cJSON *meta = meta_of(e.hdr);
    e.cfg = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(meta, "lext")->valuestring);
    e.train = cJSON_Parse(cJSON_GetObjectItemCaseSensitive(meta, "lext_train")->valuestring);
    if (!e.hdr || !e.cfg || !e.train) {
        fprintf(stderr, "cannot parse the fixture\n");
        exit(2);
    }
    return e;
}

static void set_meta_json(cJSON *hdr, const char *key, cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    cJSON *meta = meta_of(hdr);
    if (cJSON_GetObjectItemCaseSensitive(meta, key))
        cJSON_ReplaceItemInObjectCaseSensitive(meta, key, cJSON_CreateString(s));
    else
        cJSON_AddStringToObject(meta, key, s);
    free(s);
}

/* Writes the edited checkpoint (cfg / train written back unless NULL) and frees it. */
static const char *edit_end(ck_edit *e, const char *name) {
    if (e->cfg) set_meta_json(e->hdr, "lext", e->cfg);
    if (e->train) set_meta_json(e->hdr, "lext_train", e->train);
    char *json = cJSON_PrintUnformatted(e->hdr);
    const char *path = tpath(name);
    write_st(path, json, e->data, e->ndata);
    free(json);
    cJSON_Delete(e->hdr);
    cJSON_Delete(e->cfg);
    cJSON_Delete(e->train);
    free(e->data);
    *e = (ck_edit){0};
    return path;
}

static cJSON *tensor_of(ck_edit *e, const char *name) {
    return cJSON_GetObjectItemCaseSensitive(e->hdr, name);
}
static void set_item(cJSON *obj, const char *key, cJSON *v) {
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v);
    else cJSON_AddItemToObject(obj, key, v);
}
static void set_offsets(ck_edit *e, const char *name, double b, double en) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(b));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(en));
    set_item(tensor_of(e, name), "data_offsets", a);
}
static void offsets_of(ck_edit *e, const char *name, uint64_t *b, uint64_t *en) {
    cJSON *of = cJSON_GetObjectItemCaseSensitive(tensor_of(e, name), "data_offsets");
    *b = (uint64_t)cJSON_GetArrayItem(of, 0)->valuedouble;
    *en = (uint64_t)cJSON_GetArrayItem(of, 1)->valuedouble;
}

TEST(fixture_loads) {
    EXPECT_OK(base_path());
    ck_edit e = edit_begin(); /* the edit machinery itself round trips */
    EXPECT_OK(edit_end(&e, "identity.safetensors"));
}

TEST(bad_container) {
    const char *p = tpath("bad.safetensors");
    size_t n;
    uint8_t *good = read_bytes(base_path(), &n);
    uint64_t N = get_u64le(good);
    uint8_t *b = malloc(n);

    write_bytes(p, "", 0);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "truncated", RC_TOO);
    write_bytes(p, good, 5);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "truncated", RC_TOO);
    write_bytes(p, good, 8);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "runs past the end", RC_TOO);
    /* truncated in the header */
    write_bytes(p, good, 8 + N / 2);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "runs past the end", RC_TOO);
    write_bytes(p, good, 8 + N);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "outside", RC_TOO);
    /* truncated in the data section: at the end, in the middle */
    write_bytes(p, good, n - 4);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "truncated file", RC_TOO);
    write_bytes(p, good, 8 + N + (n - 8 - N) / 3);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "truncated file", RC_TOO);
    /* header length values */
    static const uint64_t lens[] = {(uint64_t)1 << 63, UINT64_MAX, (uint64_t)1 << 32, 0};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        memcpy(b, good, n);
        put_u64le(b, lens[i] ? lens[i] : n - 8 + 1);
        write_bytes(p, b, n);
        EXPECT_FAIL(p, LEXT_ERR_FORMAT, "runs past the end", RC_TOO);
    }
    memcpy(b, good, n);
    put_u64le(b, 0);
    write_bytes(p, b, n);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "implausible header length", RC_TOO);
    put_u64le(b, 1);
    write_bytes(p, b, n);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "implausible header length", RC_TOO);
    /* header length cutting the JSON short, or running into the data */
    put_u64le(b, N - 9);
    write_bytes(p, b, n);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "not a valid JSON object", RC_TOO);
    put_u64le(b, N + 8);
    write_bytes(p, b, n);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "unexpected bytes after the header", RC_TOO);
    /* missing file, directory */
    EXPECT_FAIL(tpath("does_not_exist"), LEXT_ERR_IO, "does_not_exist", RC_TOO);
    tpath("x");
    EXPECT_FAIL(g_dir, LEXT_ERR_IO, "not a regular file", RC_TOO);
    free(b);
    free(good);
}

TEST(bad_json) {
    const char *p = tpath("badjson.safetensors");
    static const struct {
        const char *json, *sub;
    } cases[] = {
        {"{\"a\": }", "not a valid JSON object"},
        {"{\"__metadata__\": {\"lext\": \"{}\"", "not a valid JSON object"},
        {"[1, 2, 3]", "not a valid JSON object"},
        {"\"a string\"", "not a valid JSON object"},
        {"42", "not a valid JSON object"},
        {"null", "not a valid JSON object"},
        {"{} trailing", "unexpected bytes after the header"},
        {"{}{}", "unexpected bytes after the header"},
        {"{\"__metadata__\": 3}", "__metadata__ is not an object"},
        {"{\"__metadata__\": [\"lext\"]}", "__metadata__ is not an object"},
        {"{}", "'lext' metadata"},
        {"{\"__metadata__\": {}}", "'lext' metadata"},
        {"{\"__metadata__\": {\"other\": \"x\"}}", "'lext' metadata"},
        {"{\"__metadata__\": {\"lext\": \"{not json\"}}", "'lext' is not a JSON object string"},
        {"{\"__metadata__\": {\"lext\": \"[1, 2]\"}}", "'lext' is not a JSON object string"},
        {"{\"__metadata__\": {\"lext\": \"\"}}", "'lext' is not a JSON object string"},
        {"{\"__metadata__\": {\"lext\": 7}}", "'lext' is not a JSON object string"},
        {"{\"__metadata__\": {\"lext\": {\"n_layer\": 1}}}", "'lext' is not a JSON object string"},
        {"{\"__metadata__\": {\"lext\": \"{}\"}}", "lacks a valid 'format_version'"},
        {"{\"x\": 1, \"__metadata__\": {}}", "'x' lacks a dtype"},
        {"{\"x\": {\"dtype\": 3, \"shape\": [], \"data_offsets\": [0, 0]}}", "'x' lacks a dtype"},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", "'x' lacks a dtype"},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [1]}}", "'x' lacks a dtype"},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}}",
         "invalid shape"},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", "invalid shape"},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", "invalid shape"},
        {"{\"x\": {\"dtype\": \"U8\", \"shape\": [4294967296, 4294967296, 4294967296], "
         "\"data_offsets\": [0, 0]}}",
         "invalid shape"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
         "not a valid JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_st(p, cases[i].json, "", 0);
        EXPECT_FAIL(p, LEXT_ERR_FORMAT, cases[i].sub, RC_TOO);
    }
    /* deep nesting must not overflow the stack */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    strcpy(deep, "{\"a\":");
    size_t k = strlen(deep);
    for (size_t i = 0; i < depth; i++) deep[k++] = '[';
    for (size_t i = 0; i < depth; i++) deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = '\0';
    write_st(p, deep, "", 0);
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "not a valid JSON object", RC_TOO);
    free(deep);
}

static const char *const cfg_fields[] = {
    "format_version", "n_layer",   "n_head",          "d_model",   "d_ff",     "vocab_size",
    "train_len",      "pos",       "xpos_gamma",      "xpos_scale_base", "rope_base", "tied",
    "norm_eps"};

TEST(bad_config_fields) {
    char sub[96];
    for (size_t i = 0; i < sizeof cfg_fields / sizeof *cfg_fields; i++) {
        const char *f = cfg_fields[i];
        snprintf(sub, sizeof sub, "lacks a valid '%s'", f);
        /* missing */
        ck_edit e = edit_begin();
        cJSON_DeleteItemFromObjectCaseSensitive(e.cfg, f);
        EXPECT_FAIL(edit_end(&e, "cfg.safetensors"), LEXT_ERR_FORMAT, sub, RC_TOO);
        /* wrong type: strings for numbers, numbers for strings and booleans */
        bool is_str = strcmp(f, "pos") == 0, is_bool = strcmp(f, "tied") == 0;
        e = edit_begin();
        set_item(e.cfg, f, is_str || is_bool ? cJSON_CreateNumber(1) : cJSON_CreateString("4"));
        EXPECT_FAIL(edit_end(&e, "cfg.safetensors"), LEXT_ERR_FORMAT, sub, RC_TOO);
        e = edit_begin();
        set_item(e.cfg, f, cJSON_CreateNull());
        EXPECT_FAIL(edit_end(&e, "cfg.safetensors"), LEXT_ERR_FORMAT, sub, RC_TOO);
        if (!is_str && !is_bool) {
            e = edit_begin();
            set_item(e.cfg, f, cJSON_CreateTrue());
            EXPECT_FAIL(edit_end(&e, "cfg.safetensors"), LEXT_ERR_FORMAT, sub, RC_TOO);
        }
    }
    /* integers must be integers in range */
    static const char *const ints[] = {"format_version", "n_layer", "n_head", "d_model",
                                       "d_ff",           "vocab_size", "train_len"};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        snprintf(sub, sizeof sub, "lacks a valid '%s'", ints[i]);
        ck_edit e = edit_begin();
        set_item(e.cfg, ints[i], cJSON_CreateNumber(2.5));
        EXPECT_FAIL(edit_end(&e, "cfg.safetensors"), LEXT_ERR_FORMAT, sub, RC_TOO);
        e = edit_begin();
        set_item(e.cfg, ints[i], cJSON_CreateNumber(1e12));
        EXPECT_FAIL(edit_end(&e, "cfg.safetensors"), LEXT_ERR_FORMAT, sub, RC_TOO);
    }
}

/* embed_scale: written as a boolean, read back; absent (a version-1 file) is unscaled; any
 * other type is refused by name. */
static bool load_cfg(const char *path, lext_config *out) {
    lext_model *m = NULL;
    lext_status s = lext_checkpoint_load(path, &m, NULL, NULL);
    if (!CHECK(s == LEXT_OK && m, "load %s: %s", path, lext_last_error())) return false;
    *out = *lext_model_config(m);
    lext_model_free(m);
    return true;
}

TEST(embed_scale_metadata) {
    static const lext_pos_kind kinds[] = {LEXT_POS_SINUSOIDAL, LEXT_POS_LEARNED, LEXT_POS_NONE};
    for (int i = 0; i < 3; i++)
        for (int scaled = 0; scaled <= 1; scaled++) {
            char what[64];
            snprintf(what, sizeof what, "%s embed_scale=%d", lext_pos_name(kinds[i]), scaled);
            lext_config c = small_config(kinds[i], true);
            c.embed_scale = scaled;
            lext_model *m = make_model(&c, 11);
            const char *path = tpath("es.safetensors");
            lext_config r;
            if (CHECK(lext_checkpoint_save(path, m, NULL) == LEXT_OK, "%s: save: %s", what,
                      lext_last_error()) &&
                load_cfg(path, &r))
                check_same_config(&r, &c, what);
            lext_model_free(m);
        }
    /* the fixture is unscaled; the key set to true is read as true */
    lext_config r;
    ck_edit e = edit_begin();
    set_item(e.cfg, "embed_scale", cJSON_CreateTrue());
    if (load_cfg(edit_end(&e, "es1.safetensors"), &r)) CHECK(r.embed_scale, "embed_scale true read");
    /* a version-1 checkpoint has no such key: it loads, unscaled */
    e = edit_begin();
    cJSON_DeleteItemFromObjectCaseSensitive(e.cfg, "embed_scale");
    set_item(e.cfg, "format_version", cJSON_CreateNumber(1));
    if (load_cfg(edit_end(&e, "es2.safetensors"), &r))
        CHECK(!r.embed_scale, "a version-1 file without embed_scale must load unscaled");
    /* not a boolean */
    const char *sub = "lacks a valid 'embed_scale'";
    e = edit_begin();
    set_item(e.cfg, "embed_scale", cJSON_CreateNumber(1));
    EXPECT_FAIL(edit_end(&e, "es3.safetensors"), LEXT_ERR_FORMAT, sub, RC_TOO);
    e = edit_begin();
    set_item(e.cfg, "embed_scale", cJSON_CreateString("true"));
    EXPECT_FAIL(edit_end(&e, "es3.safetensors"), LEXT_ERR_FORMAT, sub, RC_TOO);
    e = edit_begin();
    set_item(e.cfg, "embed_scale", cJSON_CreateNull());
    EXPECT_FAIL(edit_end(&e, "es3.safetensors"), LEXT_ERR_FORMAT, sub, RC_TOO);
}

TEST(bad_config_values) {
    static const struct {
        const char *field;
        double v;
        const char *sub;
    } cases[] = {
        {"format_version", 0, "format_version 0"},
        {"format_version", 999, "format_version 999"},
        {"format_version", -1, "format_version -1"},
        {"n_layer", 0, "layers must be"},
        {"n_head", 3, "not divisible by heads"},  /* 8 % 3 */
        {"d_model", 10, "not divisible by heads"}, /* 10 % 2 == 0 but see below */
        {"d_ff", 0, "ffn must be"},
        {"vocab_size", -5, "vocab_size must be"},
        {"train_len", 1, "train_len must be"},
        {"xpos_gamma", 0, "xpos_gamma"},
        {"rope_base", 1, "rope_base"},
        {"norm_eps", -1e-5, "norm_eps"},
        {"xpos_scale_base", -1, "xpos_scale_base must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_edit e = edit_begin();
        set_item(e.cfg, cases[i].field, cJSON_CreateNumber(cases[i].v));
        if (strcmp(cases[i].field, "d_model") == 0) /* 10 / 4 heads */
            set_item(e.cfg, "n_head", cJSON_CreateNumber(4));
        EXPECT_FAIL(edit_end(&e, "val.safetensors"), LEXT_ERR_FORMAT, cases[i].sub, RC_TOO);
    }
    /* odd head dimension with rope and xpos: 6 / 2 heads = 3 */
    static const char *const rot[] = {"rope", "xpos"};
    for (int i = 0; i < 2; i++) {
        ck_edit e = edit_begin();
        set_item(e.cfg, "pos", cJSON_CreateString(rot[i]));
        set_item(e.cfg, "d_model", cJSON_CreateNumber(6));
        EXPECT_FAIL(edit_end(&e, "val.safetensors"), LEXT_ERR_FORMAT, "even head dimension", RC_TOO);
    }
    /* unknown position names */
    static const char *const names[] = {"bogus", "", "XPOS", "rope "};
    for (int i = 0; i < 4; i++) {
        ck_edit e = edit_begin();
        set_item(e.cfg, "pos", cJSON_CreateString(names[i]));
        EXPECT_FAIL(edit_end(&e, "val.safetensors"), LEXT_ERR_FORMAT, "unknown position scheme",
                    RC_TOO);
    }
    /* a config that is valid but disagrees with the tensors */
    ck_edit e = edit_begin();
    set_item(e.cfg, "tied", cJSON_CreateTrue()); /* lm_head.weight becomes an extra tensor */
    const char *p = edit_end(&e, "val.safetensors");
    lext_model *m = NULL;
    CHECK(lext_checkpoint_load(p, &m, NULL, NULL) == LEXT_OK, "tied over untied tensors: %s",
          lext_last_error());
    lext_model_free(m);
    /* ... but then the moments no longer have num_params entries */
    EXPECT_FAIL(p, LEXT_ERR_FORMAT, "'optimizer.m' has shape", TRAIN_ONLY);
    e = edit_begin();
    set_item(e.cfg, "n_layer", cJSON_CreateNumber(3));
    EXPECT_FAIL(edit_end(&e, "val.safetensors"), LEXT_ERR_FORMAT, "'layers.2.attn_norm.weight' is missing", 0);
    e = edit_begin();
    set_item(e.cfg, "pos", cJSON_CreateString("learned"));
    EXPECT_FAIL(edit_end(&e, "val.safetensors"), LEXT_ERR_FORMAT, "'pos_embed.weight' is missing", 0);
}

TEST(bad_config_huge_model_in_a_tiny_file) {
    /* A valid but enormous configuration in a small file must be refused from the file's
     * size, before the model's memory is allocated. */
    ck_edit e = edit_begin();
    set_item(e.cfg, "n_layer", cJSON_CreateNumber(1024));
    set_item(e.cfg, "n_head", cJSON_CreateNumber(1));
    set_item(e.cfg, "d_model", cJSON_CreateNumber(65536));
    set_item(e.cfg, "d_ff", cJSON_CreateNumber(262144));
    set_item(e.cfg, "vocab_size", cJSON_CreateNumber(65536));
    EXPECT_FAIL(edit_end(&e, "huge.safetensors"), LEXT_ERR_FORMAT, "bytes of tensor data", 0);
    /* a moderately large one (would be ~100 MB of parameters and gradients) */
    e = edit_begin();
    set_item(e.cfg, "n_layer", cJSON_CreateNumber(4));
    set_item(e.cfg, "d_model", cJSON_CreateNumber(1024));
    set_item(e.cfg, "d_ff", cJSON_CreateNumber(2048));
    EXPECT_FAIL(edit_end(&e, "huge.safetensors"), LEXT_ERR_FORMAT, "bytes of tensor data", 0);
}

TEST(bad_tensor_dtype) {
    static const char *const dts[] = {"F16", "BF16", "F64", "I32", "U8", "F8_E4M3", "f32", ""};
    for (size_t i = 0; i < sizeof dts / sizeof *dts; i++) {
        /* consistent size for the dtype (so the container is valid): the dtype is named */
        ck_edit e = edit_begin();
        cJSON *t = tensor_of(&e, "embed.weight");
        set_item(t, "dtype", cJSON_CreateString(dts[i]));
        uint64_t b, en;
        offsets_of(&e, "embed.weight", &b, &en);
        static const struct {
            const char *n;
            int sz;
        } sizes[] = {{"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I32", 4}, {"U8", 1}};
        int sz = 0;
        for (int k = 0; k < 5; k++)
            if (strcmp(sizes[k].n, dts[i]) == 0) sz = sizes[k].sz;
        uint64_t numel = (en - b) / 4;
        if (sz && sz < 4) set_offsets(&e, "embed.weight", (double)b, (double)(b + numel * (uint64_t)sz));
        if (sz == 8) { /* move it to the end of the data section */
            set_offsets(&e, "embed.weight", (double)e.ndata, (double)(e.ndata + numel * 8));
            e.data = realloc(e.data, e.ndata + numel * 8);
            memset(e.data + e.ndata, 0, numel * 8);
            e.ndata += numel * 8;
        }
        char sub[64];
        snprintf(sub, sizeof sub, "has dtype %s", dts[i]);
        EXPECT_FAIL(edit_end(&e, "dtype.safetensors"), LEXT_ERR_FORMAT, sub, 0);
    }
    /* inconsistent size for the dtype: F16 over F32-sized offsets */
    ck_edit e = edit_begin();
    set_item(tensor_of(&e, "embed.weight"), "dtype", cJSON_CreateString("F16"));
    EXPECT_FAIL(edit_end(&e, "dtype.safetensors"), LEXT_ERR_FORMAT, "but its shape and dtype need",
                RC_TOO);
    /* the optimizer moments are checked too */
    e = edit_begin();
    uint64_t b, en;
    offsets_of(&e, "optimizer.v", &b, &en);
    set_item(tensor_of(&e, "optimizer.v"), "dtype", cJSON_CreateString("BF16"));
    set_offsets(&e, "optimizer.v", (double)b, (double)(b + (en - b) / 2));
    EXPECT_FAIL(edit_end(&e, "dtype.safetensors"), LEXT_ERR_FORMAT, "has dtype BF16", TRAIN_ONLY);
}

static cJSON *shape_of(const int64_t *d, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)d[i]));
    return a;
}

TEST(bad_tensor_shape) {
    const lext_param *p = lext_model_find_tensor((base_path(), g_base), "embed.weight");
    int64_t V = p->shape[0], D = p->shape[1];
    /* same number of elements, other shapes: transposed, flat, 3-D, scalar-padded */
    int64_t tr[2] = {D, V}, flat[1] = {V * D}, three[3] = {V, D, 1}, two[2] = {V * D, 1};
    const struct {
        const int64_t *d;
        int n;
        const char *sub;
    } cases[] = {
        {tr, 2, "has shape [8, 24], expected [24, 8]"},
        {flat, 1, "has shape [192], expected [24, 8]"},
        {three, 3, "has shape [24, 8, 1]"},
        {two, 2, "has shape [192, 1]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_edit e = edit_begin();
        set_item(tensor_of(&e, "embed.weight"), "shape", shape_of(cases[i].d, cases[i].n));
        EXPECT_FAIL(edit_end(&e, "shape.safetensors"), LEXT_ERR_FORMAT, cases[i].sub, 0);
    }
    /* a shape whose size disagrees with the offsets */
    int64_t big[2] = {V, D + 1};
    ck_edit e = edit_begin();
    set_item(tensor_of(&e, "embed.weight"), "shape", shape_of(big, 2));
    EXPECT_FAIL(edit_end(&e, "shape.safetensors"), LEXT_ERR_FORMAT, "but its shape and dtype need",
                RC_TOO);
    /* a 1-D tensor given as 2-D, and the optimizer moments with a wrong length */
    int64_t nb[2] = {1, 8};
    e = edit_begin();
    set_item(tensor_of(&e, "norm.bias"), "shape", shape_of(nb, 2));
    EXPECT_FAIL(edit_end(&e, "shape.safetensors"), LEXT_ERR_FORMAT, "'norm.bias' has shape [1, 8]", 0);
    e = edit_begin();
    uint64_t b, en;
    offsets_of(&e, "optimizer.m", &b, &en);
    int64_t om[1] = {(int64_t)((en - b) / 4) - 1};
    set_item(tensor_of(&e, "optimizer.m"), "shape", shape_of(om, 1));
    set_offsets(&e, "optimizer.m", (double)b, (double)(en - 4));
    EXPECT_FAIL(edit_end(&e, "shape.safetensors"), LEXT_ERR_FORMAT, "'optimizer.m' has shape",
                TRAIN_ONLY);
    /* many dimensions and huge values (numel 0, so the offsets are consistent): the error
     * message must stay inside its buffer */
    for (int zeros = 1; zeros <= 8; zeros++)
        for (int digits = 1; digits <= 16; digits++) { /* items of every printed width */
            int64_t d[48], item = 1;
            for (int k = 1; k < digits; k++) item *= 10;
            int n = 0;
            for (int k = 0; k < zeros; k++) d[n++] = 0;
            for (int k = 0; k < 24; k++) d[n++] = item + k % 2;
            e = edit_begin();
            set_item(tensor_of(&e, "norm.bias"), "shape", shape_of(d, n));
            set_offsets(&e, "norm.bias", (double)e.ndata, (double)e.ndata);
            EXPECT_FAIL(edit_end(&e, "shape.safetensors"), LEXT_ERR_FORMAT,
                        "'norm.bias' has shape [0, ", 0);
        }
}

TEST(bad_tensor_missing) {
    const char *names[] = {"embed.weight", "layers.1.mlp.down.bias", "norm.bias", "lm_head.weight"};
    char sub[96];
    for (int i = 0; i < 4; i++) {
        ck_edit e = edit_begin();
        cJSON_DeleteItemFromObjectCaseSensitive(e.hdr, names[i]);
        snprintf(sub, sizeof sub, "tensor '%s' is missing", names[i]);
        EXPECT_FAIL(edit_end(&e, "missing.safetensors"), LEXT_ERR_FORMAT, sub, 0);
    }
    const char *opt[] = {"optimizer.m", "optimizer.v"};
    for (int i = 0; i < 2; i++) {
        ck_edit e = edit_begin();
        cJSON_DeleteItemFromObjectCaseSensitive(e.hdr, opt[i]);
        snprintf(sub, sizeof sub, "tensor '%s' is missing", opt[i]);
        EXPECT_FAIL(edit_end(&e, "missing.safetensors"), LEXT_ERR_FORMAT, sub, TRAIN_ONLY);
    }
}

TEST(bad_tensor_offsets) {
    ck_edit e;
    uint64_t b, en, b2, en2;
    /* out of range */
    e = edit_begin();
    set_offsets(&e, "optimizer.v", 0, 0); /* keep the sizes simple: drop v's span */
    offsets_of(&e, "norm.bias", &b, &en);
    set_offsets(&e, "norm.bias", (double)(e.ndata - 4), (double)(e.ndata - 4 + (en - b)));
    EXPECT_FAIL(edit_end(&e, "off.safetensors"), LEXT_ERR_FORMAT, "outside the", RC_TOO);
    e = edit_begin();
    set_offsets(&e, "norm.bias", 1e15, 1e15 + 32);
    EXPECT_FAIL(edit_end(&e, "off.safetensors"), LEXT_ERR_FORMAT, "outside the", RC_TOO);
    /* begin > end */
    e = edit_begin();
    offsets_of(&e, "norm.bias", &b, &en);
    set_offsets(&e, "norm.bias", (double)en, (double)b);
    EXPECT_FAIL(edit_end(&e, "off.safetensors"), LEXT_ERR_FORMAT, "offsets", RC_TOO);
    /* two tensors at the same place; one shifted into its neighbour */
    e = edit_begin();
    offsets_of(&e, "norm.weight", &b, &en);
    set_offsets(&e, "norm.bias", (double)b, (double)en);
    EXPECT_FAIL(edit_end(&e, "off.safetensors"), LEXT_ERR_FORMAT, "overlap", RC_TOO);
    e = edit_begin();
    offsets_of(&e, "norm.bias", &b2, &en2);
    set_offsets(&e, "norm.bias", (double)(b2 - 4), (double)(en2 - 4));
    EXPECT_FAIL(edit_end(&e, "off.safetensors"), LEXT_ERR_FORMAT, "overlap", RC_TOO);
    /* a tensor nested inside a large one, not adjacent in sorted order */
    e = edit_begin();
    offsets_of(&e, "layers.0.attn.qkv.bias", &b, &en);
    offsets_of(&e, "embed.weight", &b2, &en2);
    set_offsets(&e, "layers.0.attn.qkv.bias", (double)(b2 + 8), (double)(b2 + 8 + (en - b)));
    EXPECT_FAIL(edit_end(&e, "off.safetensors"), LEXT_ERR_FORMAT, "overlap", RC_TOO);
    /* negative, non-integer, non-number, too large for a double's integers */
    static const char *const bad[] = {"[-4, 28]", "[0.5, 32.5]", "[\"0\", \"32\"]", "[null, 32]",
                                      "[0, 1e300]", "[9007199254740994, 9007199254741026]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        e = edit_begin();
        set_item(tensor_of(&e, "norm.bias"), "data_offsets", cJSON_Parse(bad[i]));
        EXPECT_FAIL(edit_end(&e, "off.safetensors"), LEXT_ERR_FORMAT, "data_offsets pair", RC_TOO);
    }
    /* not a pair */
    static const char *const notpair[] = {"[0]", "[]", "[0, 32, 64]", "{\"a\": 0, \"b\": 32}", "32",
                                          "\"0,32\""};
    for (size_t i = 0; i < sizeof notpair / sizeof *notpair; i++) {
        e = edit_begin();
        set_item(tensor_of(&e, "norm.bias"), "data_offsets", cJSON_Parse(notpair[i]));
        EXPECT_FAIL(edit_end(&e, "off.safetensors"), LEXT_ERR_FORMAT, "data_offsets pair", RC_TOO);
    }
    /* an empty tensor strictly inside another one (a safetensors file indexes every byte once) */
    e = edit_begin();
    offsets_of(&e, "embed.weight", &b, &en);
    cJSON_AddItemToObject(e.hdr, "empty", cJSON_Parse("{\"dtype\": \"F32\", \"shape\": [0], "
                                                       "\"data_offsets\": [8, 8]}"));
    set_offsets(&e, "empty", (double)(b + 8), (double)(b + 8));
    EXPECT_FAIL(edit_end(&e, "off.safetensors"), LEXT_ERR_FORMAT, "overlap", RC_TOO);
    /* ... but one where another begins is no overlap, wherever it is listed */
    for (int at_end = 0; at_end < 2; at_end++) {
        e = edit_begin();
        offsets_of(&e, "norm.bias", &b, &en);
        cJSON *t = cJSON_Parse("{\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 0]}");
        t->string = strdup("empty"); /* released by cJSON_Delete with the default hooks */
        cJSON_InsertItemInArray(e.hdr, at_end ? cJSON_GetArraySize(e.hdr) : 0, t);
        set_offsets(&e, "empty", (double)b, (double)b);
        EXPECT_OK(edit_end(&e, "off.safetensors"));
    }
    /* a tensor entry that is not an object */
    e = edit_begin();
    set_item(e.hdr, "norm.bias", cJSON_CreateString("F32"));
    EXPECT_FAIL(edit_end(&e, "off.safetensors"), LEXT_ERR_FORMAT, "'norm.bias' lacks", RC_TOO);
    /* data offsets need not be aligned: move norm.bias to an odd offset at the end */
    e = edit_begin();
    offsets_of(&e, "norm.bias", &b, &en);
    e.data = realloc(e.data, e.ndata + 1 + (en - b));
    e.data[e.ndata] = 0xEE;
    memcpy(e.data + e.ndata + 1, e.data + b, en - b);
    set_offsets(&e, "norm.bias", (double)(e.ndata + 1), (double)(e.ndata + 1 + (en - b)));
    e.ndata += 1 + (en - b);
    const char *p = edit_end(&e, "off.safetensors");
    lext_model *m = NULL;
    CHECK(lext_checkpoint_load(p, &m, NULL, NULL) == LEXT_OK, "unaligned tensor: %s",
          lext_last_error());
    if (m) check_same_tensors(m, g_base, "unaligned tensor");
    lext_model_free(m);
}

TEST(bad_weight_values) {
    static const uint32_t bits[] = {0x7fc00000u, 0xffc00001u, 0x7f800000u, 0xff800000u};
    static const char *const where[] = {"embed.weight", "layers.1.mlp.up.bias", "lm_head.weight",
                                        "norm.weight"};
    for (int i = 0; i < 4; i++) {
        ck_edit e = edit_begin();
        uint64_t b, en;
        offsets_of(&e, where[i], &b, &en);
        memcpy(e.data + b + ((en - b) / 8) * 4, &bits[i], 4);
        char sub[96];
        snprintf(sub, sizeof sub, "'%s' holds a non-finite value", where[i]);
        EXPECT_FAIL(edit_end(&e, "nan.safetensors"), LEXT_ERR_FORMAT, sub, 0);
    }
}

TEST(bad_train_metadata) {
    static const char *const fields[] = {"step", "rng",  "seed", "batch", "data",         "lr",
                                         "min_lr_ratio", "warmup", "total_steps", "beta1", "beta2",
                                         "eps",  "weight_decay", "grad_clip"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        ck_edit e = edit_begin();
        cJSON_DeleteItemFromObjectCaseSensitive(e.train, fields[i]);
        EXPECT_FAIL(edit_end(&e, "train.safetensors"), LEXT_ERR_FORMAT,
                    "'lext_train' is incomplete", TRAIN_ONLY | RC_TOO);
        e = edit_begin();
        set_item(e.train, fields[i], cJSON_CreateTrue());
        EXPECT_FAIL(edit_end(&e, "train.safetensors"), LEXT_ERR_FORMAT,
                    "'lext_train' is incomplete", TRAIN_ONLY | RC_TOO);
    }
    static const struct {
        const char *field, *json;
    } bad[] = {
        {"rng", "[\"1\", \"2\", \"3\"]"},
        {"rng", "[\"1\", \"2\", \"3\", \"4\", \"5\"]"},
        {"rng", "[\"0\", \"0\", \"0\", \"0\"]"},
        {"rng", "[1, 2, 3, 4]"},
        {"rng", "[\"1\", \"2\", \"3\", \"xyz\"]"},
        {"rng", "[\"1\", \"2\", \"3\", \"10000000000000000\"]"},
        {"rng", "[\"1\", \"2\", \"3\", \"-1\"]"},
        {"rng", "[\"1\", \"2\", \"3\", \" 4\"]"},
        {"rng", "[\"1\", \"2\", \"3\", \"0x4\"]"},
        {"rng", "[\"1\", \"2\", \"3\", \"+4\"]"},
        {"rng", "[\"1\", \"2\", \"3\", \"\"]"},
        {"seed", "\"\""},
        {"seed", "\"-2\""},
        {"seed", "\"12345678901234567\""},
        {"seed", "\"12 \""},
        {"seed", "17"},
        {"step", "-1"},
        {"step", "1.5"},
        {"step", "1e300"},
        {"batch", "0"},
        {"batch", "2.5"},
        {"warmup", "0.5"},
        {"data", "3"},
        {"precision", "\"fp16\""},
        {"precision", "\"BF16\""},
        {"precision", "1"},
        {"precision", "null"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_edit e = edit_begin();
        set_item(e.train, bad[i].field, cJSON_Parse(bad[i].json));
        EXPECT_FAIL(edit_end(&e, "train.safetensors"), LEXT_ERR_FORMAT,
                    "'lext_train' is incomplete", TRAIN_ONLY | RC_TOO);
    }
    /* not a JSON object string */
    static const char *const raw[] = {"{broken", "[]", "\"str\"", ""};
    for (int i = 0; i < 4; i++) {
        ck_edit e = edit_begin();
        cJSON_Delete(e.train);
        e.train = NULL;
        set_item(meta_of(e.hdr), "lext_train", cJSON_CreateString(raw[i]));
        EXPECT_FAIL(edit_end(&e, "train.safetensors"), LEXT_ERR_FORMAT,
                    "'lext_train' is not a JSON object string", TRAIN_ONLY | RC_TOO);
    }
    ck_edit e = edit_begin();
    cJSON_Delete(e.train);
    e.train = NULL;
    set_item(meta_of(e.hdr), "lext_train", cJSON_CreateNumber(1));
    EXPECT_FAIL(edit_end(&e, "train.safetensors"), LEXT_ERR_FORMAT,
                "'lext_train' is not a JSON object string", TRAIN_ONLY | RC_TOO);
    /* a checkpoint from before bf16 training has no "precision": it trained in fp32 */
    {
        ck_edit e0 = edit_begin();
        cJSON_DeleteItemFromObjectCaseSensitive(e0.train, "precision");
        const char *p0 = edit_end(&e0, "train.safetensors");
        lext_model *m0 = NULL;
        lext_train_state ts0 = {0};
        ts0.precision = LEXT_PRECISION_BF16;
        bool has0 = false;
        CHECK(lext_checkpoint_load(p0, &m0, &ts0, &has0) == LEXT_OK && has0 &&
                  ts0.precision == LEXT_PRECISION_FP32,
              "no precision field: %s, precision %s", lext_last_error(),
              lext_precision_name(ts0.precision));
        lext_model_free(m0);
        lext_train_state_free(&ts0);
    }
    /* upper-case hex is accepted */
    e = edit_begin();
    set_item(e.train, "seed", cJSON_CreateString("DEADBEEFCAFEF00D"));
    const char *p = edit_end(&e, "train.safetensors");
    lext_model *m = NULL;
    lext_train_state ts = {0};
    bool has = false;
    CHECK(lext_checkpoint_load(p, &m, &ts, &has) == LEXT_OK && has && ts.seed == 0xdeadbeefcafef00dULL,
          "upper-case hex seed: %s", lext_last_error());
    lext_model_free(m);
    lext_train_state_free(&ts);
}

TEST(bad_moments_nonfinite_weights_after_train_state) {
    /* the train state parses, then a later check fails: nothing may leak or be half-set */
    ck_edit e = edit_begin();
    uint64_t b, en;
    offsets_of(&e, "norm.weight", &b, &en);
    uint32_t nan = 0x7fc00000u;
    memcpy(e.data + b, &nan, 4);
    EXPECT_FAIL(edit_end(&e, "late.safetensors"), LEXT_ERR_FORMAT, "non-finite", 0);
}

/* ---- 5. robustness ---------------------------------------------------------------------- */

static uint64_t fz_state = 0x9E3779B97F4A7C15ULL;
static uint64_t fz_next(void) { /* splitmix64 */
    uint64_t z = (fz_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static size_t fz_below(size_t n) { return n ? (size_t)(fz_next() % n) : 0; }

TEST(fuzz_random_mutations) {
    const char *env = getenv("LEXT_FUZZ_ITERS");
    long iters = env ? atol(env) : 4000;
    const char *seed = getenv("LEXT_FUZZ_SEED"); /* another sequence of mutations */
    if (seed) fz_state ^= strtoull(seed, NULL, 0);
    /* a tiny model, so that every byte of the header matters */
    lext_config c;
    lext_config_default(&c);
    c.n_layer = 1;
    c.n_head = 2;
    c.d_model = 4;
    c.d_ff = 6;
    c.vocab_size = 5;
    c.train_len = 3;
    c.pos = LEXT_POS_LEARNED;
    c.tied = false;
    lext_model *m0 = make_model(&c, 99);
    lext_train_state ts0;
    fill_train_state(&ts0, m0);
    const char *src = tpath("fuzz_src.safetensors"), *p = tpath("fuzz.safetensors");
    CHECK(lext_checkpoint_save(src, m0, &ts0) == LEXT_OK, "save: %s", lext_last_error());
    free_filled(&ts0);
    lext_model_free(m0);
    size_t n0;
    uint8_t *good = read_bytes(src, &n0);
    if (!CHECK(good != NULL, "read")) return;
    const size_t N = (size_t)get_u64le(good);
    uint8_t *b = malloc(n0 + 64);
    static const char interesting[] = "\"{}[],:0123456789-+.eE \\\x00\xff\x80tfnu";
    long n_ok = 0, n_fail = 0, bad_msg = 0, bad_cfg = 0, bad_status = 0;
    for (long it = 0; it < iters; it++) {
        memcpy(b, good, n0);
        size_t n = n0;
        int kind = (int)fz_below(8);
        switch (kind) {
        case 0: /* a few random bytes in the header */
        case 1: {
            int k = 1 + (int)fz_below(4);
            for (int j = 0; j < k; j++) b[8 + fz_below(N)] = (uint8_t)fz_next();
            break;
        }
        case 2: { /* JSON-meaningful bytes in the header */
            int k = 1 + (int)fz_below(3);
            for (int j = 0; j < k; j++)
                b[8 + fz_below(N)] = (uint8_t)interesting[fz_below(sizeof interesting - 1)];
            break;
        }
        case 3: /* a single bit flip anywhere in the header */
            b[8 + fz_below(N)] ^= (uint8_t)(1u << fz_below(8));
            break;
        case 4: /* truncation */
            n = fz_below(n0);
            break;
        case 5: { /* header length: random, near the truth, or anywhere in the file */
            uint64_t v;
            switch (fz_below(4)) {
            case 0: v = fz_next(); break;
            case 1: v = fz_next() >> fz_below(64); break;
            case 2: v = N + fz_below(33) - 16; break;
            default: v = fz_below(n0 + 16); break;
            }
            put_u64le(b, v);
            break;
        }
        case 6: { /* bytes in the data section (may make a weight NaN) */
            int k = 1 + (int)fz_below(4);
            for (int j = 0; j < k; j++) b[8 + N + fz_below(n0 - 8 - N)] = (uint8_t)fz_next();
            break;
        }
        default: { /* a digit replaced by another digit: plausible but different numbers */
            for (int tries = 0; tries < 64; tries++) {
                size_t at = 8 + fz_below(N);
                if (b[at] >= '0' && b[at] <= '9') {
                    b[at] = (uint8_t)('0' + fz_below(10));
                    if (fz_below(2)) break;
                }
            }
            break;
        }
        }
        write_bytes(p, b, n);

        lext_model *m = NULL;
        lext_train_state ts = {0};
        bool has = false;
        lext_status s = lext_checkpoint_load(p, &m, &ts, &has);
        if (s == LEXT_OK) {
            n_ok++;
            if (!m || lext_config_validate(lext_model_config(m)) != LEXT_OK) bad_cfg++;
            else {
                const float *w = lext_model_params(m);
                for (size_t i = 0; i < lext_model_num_params(m); i++)
                    if (!isfinite(w[i])) {
                        bad_cfg++;
                        break;
                    }
            }
            if (has && (!ts.m || !ts.v)) bad_cfg++;
        } else {
            n_fail++;
            if (m) bad_cfg++;
            if (!lext_last_error()[0]) bad_msg++;
            if (s != LEXT_ERR_FORMAT && s != LEXT_ERR_IO) bad_status++;
        }
        lext_model_free(m);
        if (has) lext_train_state_free(&ts);

        m = NULL;
        s = lext_checkpoint_load(p, &m, NULL, NULL);
        if (s == LEXT_OK && (!m || lext_config_validate(lext_model_config(m)) != LEXT_OK)) bad_cfg++;
        if (s != LEXT_OK && !lext_last_error()[0]) bad_msg++;
        if (s != LEXT_OK && s != LEXT_ERR_FORMAT && s != LEXT_ERR_IO) bad_status++;
        lext_model_free(m);

        lext_config rc;
        int64_t step;
        s = lext_checkpoint_read_config(p, &rc, &has, &step);
        if (s == LEXT_OK && lext_config_validate(&rc) != LEXT_OK) bad_cfg++;
        if (s != LEXT_OK && !lext_last_error()[0]) bad_msg++;
        if (s != LEXT_OK && s != LEXT_ERR_FORMAT && s != LEXT_ERR_IO) bad_status++;
    }
    printf("  fuzz: %ld mutations, %ld loaded, %ld refused\n", iters, n_ok, n_fail);
    CHECK(bad_msg == 0, "%ld failures without a message", bad_msg);
    CHECK(bad_cfg == 0, "%ld successes with an invalid model, or failures returning one", bad_cfg);
    CHECK(bad_status == 0, "%ld failures with a status other than format or i/o", bad_status);
    CHECK(n_fail > iters / 2, "suspiciously few mutations refused (%ld)", n_fail);
    free(b);
    free(good);
    unlink(p);
    unlink(src);
}

/* ---- 6. unknown tensors ------------------------------------------------------------------ */

TEST(extra_unknown_tensors_are_ignored) {
    /* a model-only checkpoint with optimizer-looking and foreign tensors added */
    const lext_model *m = (base_path(), g_base);
    const char *plain = tpath("plain_extra_src.safetensors");
    CHECK(lext_checkpoint_save(plain, m, NULL) == LEXT_OK, "save: %s", lext_last_error());
    size_t n;
    uint8_t *f = read_bytes(plain, &n);
    uint64_t N = get_u64le(f);
    cJSON *hdr = cJSON_ParseWithLength((const char *)f + 8, (size_t)N);
    size_t nd = n - 8 - (size_t)N, np = lext_model_num_params(m);
    size_t extra = np * 4 + 3 * 8 + 5 + 4;
    uint8_t *data = malloc(nd + extra);
    memcpy(data, f + 8 + N, nd);
    memset(data + nd, 0x7f, extra); /* NaN-looking bytes: not weights, so not checked */
    char buf[256];
    snprintf(buf, sizeof buf, "{\"dtype\": \"F32\", \"shape\": [%zu], \"data_offsets\": [%zu, %zu]}",
             np, nd, nd + np * 4);
    cJSON_AddItemToObject(hdr, "optimizer.m", cJSON_Parse(buf));
    snprintf(buf, sizeof buf, "{\"dtype\": \"I64\", \"shape\": [3], \"data_offsets\": [%zu, %zu]}",
             nd + np * 4, nd + np * 4 + 24);
    cJSON_AddItemToObject(hdr, "foo.bar", cJSON_Parse(buf));
    snprintf(buf, sizeof buf,
             "{\"dtype\": \"U8\", \"shape\": [5], \"data_offsets\": [%zu, %zu]}",
             nd + np * 4 + 24, nd + np * 4 + 29);
    cJSON_AddItemToObject(hdr, "\xe2\x82\xac.bytes", cJSON_Parse(buf));
    snprintf(buf, sizeof buf,
             "{\"dtype\": \"F8_E4M3\", \"shape\": [2, 2], \"data_offsets\": [%zu, %zu]}",
             nd + np * 4 + 29, nd + np * 4 + 33);
    cJSON_AddItemToObject(hdr, "fp8.unknown_dtype", cJSON_Parse(buf));
    cJSON_AddItemToObject(hdr, "empty", cJSON_Parse("{\"dtype\": \"F32\", \"shape\": [0], "
                                                    "\"data_offsets\": [0, 0]}"));
    cJSON_AddStringToObject(meta_of(hdr), "format", "pt");
    char *json = cJSON_PrintUnformatted(hdr);
    const char *p = tpath("extra.safetensors");
    write_st(p, json, data, nd + extra);
    free(json);
    cJSON_Delete(hdr);
    free(data);
    free(f);

    lext_model *r = NULL;
    CHECK(lext_checkpoint_load(p, &r, NULL, NULL) == LEXT_OK, "load without ts: %s",
          lext_last_error());
    if (r) check_same_tensors(r, m, "with extra tensors");
    lext_model_free(r);
    r = NULL;
    lext_train_state ts = {0};
    bool has = true;
    CHECK(lext_checkpoint_load(p, &r, &ts, &has) == LEXT_OK, "load with ts: %s", lext_last_error());
    CHECK(!has && !ts.m, "optimizer.m without lext_train must not count as training state");
    if (r) check_same_tensors(r, m, "with extra tensors, ts");
    lext_model_free(r);
    lext_config c;
    CHECK(lext_checkpoint_read_config(p, &c, &has, NULL) == LEXT_OK && !has, "read_config: %s",
          lext_last_error());
    unlink(p);
    unlink(plain);
}

TEST(load_memory_equals_load) {
    /* lext_checkpoint_load_memory: the same parser on bytes in memory (used by the fuzz
     * harness), so the same model, state and verdicts as the file */
    lext_config c = small_config(LEXT_POS_ROPE, true);
    lext_model *m = make_model(&c, 11);
    lext_train_state ts;
    fill_train_state(&ts, m);
    const char *path = tpath("memory.safetensors");
    CHECK(lext_checkpoint_save(path, m, &ts) == LEXT_OK, "save: %s", lext_last_error());
    size_t n = 0, np = lext_model_num_params(m);
    uint8_t *b = read_bytes(path, &n);
    /* at an odd address as well: a reader must not assume its tensors are aligned */
    uint8_t *odd = malloc(n + 1);
    if (!CHECK(b && odd, "read back")) goto done;
    memcpy(odd + 1, b, n);
    for (int k = 0; k < 2; k++) {
        const uint8_t *buf = k ? odd + 1 : b;
        lext_model *r = NULL;
        lext_train_state got;
        memset(&got, 0, sizeof got);
        bool has = false;
        lext_status s = lext_checkpoint_load_memory(buf, n, "in memory", &r, &got, &has);
        if (CHECK(s == LEXT_OK && r && has, "load_memory (%s): %s", k ? "odd address" : "aligned",
                  lext_last_error())) {
            check_same_config(lext_model_config(r), &c, "load_memory");
            check_same_tensors(r, m, "load_memory");
            CHECK(got.step == ts.step && same_bits(got.m, ts.m, np * sizeof(float)) &&
                      same_bits(got.v, ts.v, np * sizeof(float)),
                  "load_memory: training state differs");
            lext_train_state_free(&got);
        }
        lext_model_free(r);
    }
    /* the same refusals, named by the name given */
    const size_t cuts[] = {0, 7, 8, 100, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_bytes(path, b, cuts[i]);
        lext_model *r = NULL, *rf = NULL;
        lext_status sm = lext_checkpoint_load_memory(b, cuts[i], "in memory", &r, NULL, NULL);
        CHECK(sm != LEXT_OK && !r && strstr(lext_last_error(), "in memory"),
              "%zu bytes in memory: status %d, '%s'", cuts[i], sm, lext_last_error());
        lext_status sf = lext_checkpoint_load(path, &rf, NULL, NULL);
        CHECK(sf == sm, "%zu bytes: file gives %d, memory %d", cuts[i], sf, sm);
        lext_model_free(r);
        lext_model_free(rf);
    }
done:
    free(b);
    free(odd);
    free_filled(&ts);
    lext_model_free(m);
    unlink(path);
}

/* ---- 7. optimizer moments ---------------------------------------------------------------- */

TEST(invalid_adam_moments_are_refused) {
    lext_config c = small_config(LEXT_POS_XPOS, true);
    lext_model *a = make_model(&c, 5);
    const size_t np = lext_model_num_params(a);
    const struct {
        int which; /* 0: m, 1: v */
        float value;
    } bad[] = {{0, NAN}, {0, INFINITY}, {1, NAN}, {1, -1e-8f}, {1, INFINITY}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lext_train_state ts;
        fill_train_state(&ts, a);
        (bad[i].which ? ts.v : ts.m)[np / 2] = bad[i].value;
        const char *p = tpath("bad-moments.st");
        CHECK(lext_checkpoint_save(p, a, &ts) == LEXT_OK, "save: %s", lext_last_error());
        free_filled(&ts);
        /* a weights-only load never looks at the moments; a training load must refuse them */
        EXPECT_FAIL(p, LEXT_ERR_FORMAT, "optimizer state entry", TRAIN_ONLY);
    }
    lext_model_free(a);
}
