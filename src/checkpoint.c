/*
 * checkpoint.c - safetensors checkpoints (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes: header length N, little-endian u64][N bytes: JSON header, space padded]
 *   [data: raw little-endian tensors, offsets relative to the start of this section]
 *
 * The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} and
 * holds "__metadata__", a map of strings: "lext" is a JSON string with the model
 * configuration and format version; a training checkpoint adds "lext_train" (step, sampler
 * state, optimizer settings) and the tensors "optimizer.m" and "optimizer.v", each
 * [num_params] in parameter-table order. The JSON is parsed and written with cJSON.
 *
 * Reading trusts nothing: the header length, the JSON, every dtype, shape and offset are
 * checked against the file before a byte of tensor data is used.
 */
#include "internal.h"
#include "model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lext checkpoints are little-endian; this platform is not"
#endif

#define MAX_HEADER ((uint64_t)100 << 20) /* the safetensors reference limit */

/* ---- writing --------------------------------------------------------------------------- */

static cJSON *config_json(const lext_config *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "format_version", LEXT_FORMAT_VERSION);
    cJSON_AddNumberToObject(j, "n_layer", c->n_layer);
    cJSON_AddNumberToObject(j, "n_head", c->n_head);
    cJSON_AddNumberToObject(j, "d_model", c->d_model);
    cJSON_AddNumberToObject(j, "d_ff", c->d_ff);
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "train_len", c->train_len);
    cJSON_AddStringToObject(j, "pos", lext_pos_name(c->pos));
    cJSON_AddNumberToObject(j, "xpos_gamma", c->xpos_gamma);
    cJSON_AddNumberToObject(j, "xpos_scale_base", c->xpos_scale_base);
    cJSON_AddNumberToObject(j, "rope_base", c->rope_base);
    cJSON_AddBoolToObject(j, "tied", c->tied);
    cJSON_AddNumberToObject(j, "norm_eps", c->norm_eps);
    return j;
}

static cJSON *train_json(const lext_train_state *ts) {
    cJSON *j = cJSON_CreateObject();
    char buf[32];
    cJSON_AddNumberToObject(j, "step", (double)ts->step);
    cJSON *rng = cJSON_AddArrayToObject(j, "rng");
    for (int i = 0; i < 4; i++) { /* u64 as hex: JSON numbers are doubles */
        snprintf(buf, sizeof buf, "%016llx", (unsigned long long)ts->rng.s[i]);
        cJSON_AddItemToArray(rng, cJSON_CreateString(buf));
    }
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)ts->seed);
    cJSON_AddStringToObject(j, "seed", buf);
    cJSON_AddNumberToObject(j, "batch", (double)ts->batch);
    cJSON_AddStringToObject(j, "data", ts->data_path);
    const lext_optim_config *o = &ts->optim;
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "min_lr_ratio", o->min_lr_ratio);
    cJSON_AddNumberToObject(j, "warmup", (double)o->warmup);
    cJSON_AddNumberToObject(j, "total_steps", (double)o->total_steps);
    cJSON_AddNumberToObject(j, "beta1", o->beta1);
    cJSON_AddNumberToObject(j, "beta2", o->beta2);
    cJSON_AddNumberToObject(j, "eps", o->eps);
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(j, "grad_clip", o->grad_clip);
    return j;
}

/* Adds a metadata entry whose value is j printed as a string; consumes j. */
static bool add_meta(cJSON *meta, const char *key, cJSON *j) {
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!s) return false;
    bool ok = cJSON_AddStringToObject(meta, key, s) != NULL;
    cJSON_free(s);
    return ok;
}

static bool add_tensor(cJSON *hdr, const char *name, int ndim, const int64_t *shape,
                       uint64_t begin, uint64_t bytes) {
    cJSON *t = cJSON_AddObjectToObject(hdr, name);
    if (!t || !cJSON_AddStringToObject(t, "dtype", "F32")) return false;
    cJSON *sh = cJSON_AddArrayToObject(t, "shape");
    cJSON *off = cJSON_AddArrayToObject(t, "data_offsets");
    if (!sh || !off) return false;
    for (int d = 0; d < ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shape[d]));
    cJSON_AddItemToArray(off, cJSON_CreateNumber((double)begin));
    cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(begin + bytes)));
    return true;
}

static lext_status write_all(FILE *f, const void *p, size_t n, const char *path) {
    if (n && fwrite(p, 1, n, f) != n)
        return lext_fail(LEXT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return LEXT_OK;
}

lext_status lext_checkpoint_save(const char *path, const lext_model *m,
                                 const lext_train_state *ts) {
    /* header */
    cJSON *hdr = cJSON_CreateObject(), *meta = hdr ? cJSON_AddObjectToObject(hdr, "__metadata__") : NULL;
    bool ok = meta && add_meta(meta, "lext", config_json(&m->cfg));
    if (ok && ts) ok = add_meta(meta, "lext_train", train_json(ts));
    uint64_t off = 0;
    for (int i = 0; ok && i < m->n_tensors; i++) {
        const lext_param *p = &m->table[i];
        ok = add_tensor(hdr, p->name, p->ndim, p->shape, off, p->numel * sizeof(float));
        off += p->numel * sizeof(float);
    }
    const int64_t np = (int64_t)m->num_params;
    if (ok && ts) {
        ok = add_tensor(hdr, "optimizer.m", 1, &np, off, (uint64_t)np * sizeof(float)) &&
             add_tensor(hdr, "optimizer.v", 1, &np, off + (uint64_t)np * sizeof(float),
                        (uint64_t)np * sizeof(float));
    }
    char *json = ok ? cJSON_PrintUnformatted(hdr) : NULL;
    cJSON_Delete(hdr);
    if (!json) return lext_fail(LEXT_ERR_NOMEM, "cannot build the checkpoint header");
    size_t jlen = strlen(json), padded = (jlen + 7) & ~(size_t)7; /* 8-byte aligned data */

    /* temporary file beside the target, so that rename() is atomic */
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        cJSON_free(json);
        return lext_fail(LEXT_ERR_IO, "checkpoint path too long: %s", path);
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        lext_status s = lext_fail(LEXT_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        cJSON_free(json);
        return s;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    lext_status s = write_all(f, len8, 8, tmp);
    if (!s) s = write_all(f, json, jlen, tmp);
    for (size_t i = jlen; !s && i < padded; i++) s = write_all(f, " ", 1, tmp);
    cJSON_free(json);
    for (int i = 0; !s && i < m->n_tensors; i++)
        s = write_all(f, m->table[i].data, m->table[i].numel * sizeof(float), tmp);
    if (!s && ts) s = write_all(f, ts->m, m->num_params * sizeof(float), tmp);
    if (!s && ts) s = write_all(f, ts->v, m->num_params * sizeof(float), tmp);
    if (!s && fflush(f) != 0) s = lext_fail(LEXT_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (!s && fsync(fileno(f)) != 0)
        s = lext_fail(LEXT_ERR_IO, "cannot sync %s: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && !s) s = lext_fail(LEXT_ERR_IO, "cannot close %s: %s", tmp, strerror(errno));
    if (!s && rename(tmp, path) != 0)
        s = lext_fail(LEXT_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (s) {
        unlink(tmp); /* the previous checkpoint at path, if any, is untouched */
        return s;
    }
    /* make the rename itself durable */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    else snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return LEXT_OK;
}

/* ---- reading --------------------------------------------------------------------------- */

typedef struct {
    const char *path;
    uint8_t *file;
    size_t size;
    cJSON *hdr;
    const uint8_t *data; /* start of the data section */
    uint64_t data_size;
} st_file;

static void st_close(st_file *f) {
    free(f->file);
    cJSON_Delete(f->hdr);
    *f = (st_file){0};
}

/* A JSON number that is an exact non-negative integer <= 2^53. */
static bool json_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || floor(v) != v) return false;
    *out = (uint64_t)v;
    return true;
}

typedef struct {
    uint64_t begin, end;
    const char *name;
} span;

static int by_begin(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static size_t dtype_size(const char *dt) {
    static const struct {
        const char *name;
        size_t size;
    } sizes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
                 {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4},
                 {"U64", 8}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (strcmp(dt, sizes[i].name) == 0) return sizes[i].size;
    return 0;
}

/* Opens and checks the container: every tensor entry well-formed, in range, and no two
 * overlapping. Tensor contents are checked by their consumers. */
static lext_status st_open(st_file *f, const char *path) {
    *f = (st_file){.path = path};
    FILE *fp = fopen(path, "rb");
    if (!fp) return lext_fail(LEXT_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return lext_fail(LEXT_ERR_IO, "checkpoint %s is not a regular file", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size < 8) {
        fclose(fp);
        return lext_fail(LEXT_ERR_FORMAT, "checkpoint %s is truncated: %zu bytes, not even a header",
                         path, f->size);
    }
    f->file = malloc(f->size);
    if (!f->file) {
        fclose(fp);
        return lext_fail(LEXT_ERR_NOMEM, "cannot allocate %zu bytes to read %s", f->size, path);
    }
    size_t got = fread(f->file, 1, f->size, fp);
    fclose(fp);
    if (got != f->size) {
        st_close(f);
        return lext_fail(LEXT_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    }
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)f->file[i] << (8 * i);
    if (n > f->size - 8) {
        lext_status s = lext_fail(LEXT_ERR_FORMAT,
                                  "checkpoint %s: header length %llu runs past the end of the "
                                  "file (%zu bytes)",
                                  path, (unsigned long long)n, f->size);
        st_close(f);
        return s;
    }
    if (n > MAX_HEADER || n < 2) {
        lext_status s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: implausible header length %llu",
                                  path, (unsigned long long)n);
        st_close(f);
        return s;
    }
    const char *end = NULL;
    f->hdr = cJSON_ParseWithLengthOpts((const char *)f->file + 8, (size_t)n, &end, false);
    if (!f->hdr || !cJSON_IsObject(f->hdr)) {
        size_t at = end ? (size_t)(end - (const char *)f->file - 8) : 0;
        lext_status s = lext_fail(LEXT_ERR_FORMAT,
                                  "checkpoint %s: the header is not a valid JSON object (near "
                                  "byte %zu of %llu)",
                                  path, at, (unsigned long long)n);
        st_close(f);
        return s;
    }
    /* only padding may follow the JSON inside the header */
    for (const char *p = end; p && p < (const char *)f->file + 8 + n; p++)
        if (*p != ' ' && *p != '\0' && *p != '\n' && *p != '\t' && *p != '\r') {
            lext_status s = lext_fail(LEXT_ERR_FORMAT,
                                      "checkpoint %s: unexpected bytes after the header JSON", path);
            st_close(f);
            return s;
        }
    f->data = f->file + 8 + n;
    f->data_size = f->size - 8 - n;

    /* every entry: dtype, shape, offsets in range, size consistent; then no overlaps */
    int count = cJSON_GetArraySize(f->hdr);
    span *spans = calloc((size_t)count + 1, sizeof *spans);
    if (!spans) {
        st_close(f);
        return lext_fail(LEXT_ERR_NOMEM, "cannot check %s", path);
    }
    int ns = 0;
    lext_status s = LEXT_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, f->hdr) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) {
                s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: __metadata__ is not an object", path);
                break;
            }
            continue;
        }
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        uint64_t b = 0, en = 0, numel = 1;
        if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) ||
            cJSON_GetArraySize(of) != 2 || !json_u64(cJSON_GetArrayItem(of, 0), &b) ||
            !json_u64(cJSON_GetArrayItem(of, 1), &en)) {
            s = lext_fail(LEXT_ERR_FORMAT,
                          "checkpoint %s: tensor '%s' lacks a dtype, shape or data_offsets pair",
                          path, e->string);
            break;
        }
        const cJSON *d;
        cJSON_ArrayForEach(d, sh) {
            uint64_t v;
            if (!json_u64(d, &v) || (v && numel > UINT64_MAX / v)) {
                s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: tensor '%s' has an invalid shape",
                              path, e->string);
                break;
            }
            numel *= v;
        }
        if (s) break;
        if (b > en || en > f->data_size) {
            s = lext_fail(LEXT_ERR_FORMAT,
                          "checkpoint %s: tensor '%s' has offsets [%llu, %llu] outside the %llu "
                          "bytes of data (truncated file?)",
                          path, e->string, (unsigned long long)b, (unsigned long long)en,
                          (unsigned long long)f->data_size);
            break;
        }
        size_t es = dtype_size(dt->valuestring);
        if (es && (numel > UINT64_MAX / es || en - b != numel * es)) {
            s = lext_fail(LEXT_ERR_FORMAT,
                          "checkpoint %s: tensor '%s' spans %llu bytes, but its shape and dtype "
                          "need %llu",
                          path, e->string, (unsigned long long)(en - b),
                          (unsigned long long)(numel * es));
            break;
        }
        spans[ns++] = (span){b, en, e->string};
    }
    if (!s) {
        qsort(spans, (size_t)ns, sizeof *spans, by_begin);
        for (int i = 1; i < ns; i++)
            if (spans[i].begin < spans[i - 1].end) {
                s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: tensors '%s' and '%s' overlap", path,
                              spans[i - 1].name, spans[i].name);
                break;
            }
    }
    free(spans);
    if (s) st_close(f);
    return s;
}

/* The tensor `name` as float32 with exactly the given shape; NULL plus an error if not. */
static const float *st_tensor(const st_file *f, const char *name, int ndim, const int64_t *shape,
                              lext_status *s) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(f->hdr, name);
    if (!e) {
        *s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: tensor '%s' is missing", f->path, name);
        return NULL;
    }
    const char *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype")->valuestring;
    if (strcmp(dt, "F32") != 0) {
        *s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: tensor '%s' has dtype %s; lext reads F32",
                       f->path, name, dt);
        return NULL;
    }
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    bool same = cJSON_GetArraySize(sh) == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = (double)shape[d] == cJSON_GetArrayItem(sh, d)->valuedouble;
    if (!same) {
        char want[64], got[64] = "";
        if (ndim == 1) snprintf(want, sizeof want, "[%lld]", (long long)shape[0]);
        else snprintf(want, sizeof want, "[%lld, %lld]", (long long)shape[0], (long long)shape[1]);
        char *g = got;
        const cJSON *d;
        cJSON_ArrayForEach(d, sh) {
            g += snprintf(g, (size_t)(got + sizeof got - g), "%s%.0f", g == got ? "[" : ", ",
                          d->valuedouble);
            if (g >= got + sizeof got - 8) break;
        }
        snprintf(g, (size_t)(got + sizeof got - g), "]");
        *s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: tensor '%s' has shape %s, expected %s",
                       f->path, name, got, want);
        return NULL;
    }
    uint64_t b = 0;
    json_u64(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), 0), &b);
    return (const float *)(f->data + b); /* memcpy'd out by callers: no alignment assumed */
}

/* metadata entry `key` parsed as JSON (NULL if absent); errors if present but malformed */
static cJSON *st_meta(const st_file *f, const char *key, lext_status *s) {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f->hdr, "__metadata__");
    const cJSON *v = meta ? cJSON_GetObjectItemCaseSensitive(meta, key) : NULL;
    if (!v) return NULL;
    cJSON *j = cJSON_IsString(v) ? cJSON_Parse(v->valuestring) : NULL;
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        *s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: metadata '%s' is not a JSON object string",
                       f->path, key);
    }
    return j;
}

static bool get_num(const cJSON *j, const char *k, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    if (!cJSON_IsNumber(v)) return false;
    *out = v->valuedouble;
    return true;
}

static bool get_int(const cJSON *j, const char *k, int *out) {
    double v;
    if (!get_num(j, k, &v) || floor(v) != v || v < INT_MIN || v > INT_MAX) return false;
    *out = (int)v;
    return true;
}

static bool get_i64(const cJSON *j, const char *k, int64_t *out) {
    double v;
    if (!get_num(j, k, &v) || floor(v) != v || fabs(v) > 9007199254740992.0) return false;
    *out = (int64_t)v;
    return true;
}

static bool get_hex(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsString(v)) return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v->valuestring, &end, 16);
    if (errno || end == v->valuestring || *end) return false;
    *out = x;
    return true;
}

static lext_status parse_config(const st_file *f, lext_config *c) {
    lext_status s = LEXT_OK;
    cJSON *j = st_meta(f, "lext", &s);
    if (s) return s;
    if (!j)
        return lext_fail(LEXT_ERR_FORMAT,
                         "checkpoint %s has no 'lext' metadata entry: it was not written for lext "
                         "(see the README's checkpoint format)",
                         f->path);
    int version = 0;
    const cJSON *pos = cJSON_GetObjectItemCaseSensitive(j, "pos");
    const cJSON *tied = cJSON_GetObjectItemCaseSensitive(j, "tied");
    lext_config_default(c);
    const char *missing = NULL;
    if (!get_int(j, "format_version", &version)) missing = "format_version";
    else if (!get_int(j, "n_layer", &c->n_layer)) missing = "n_layer";
    else if (!get_int(j, "n_head", &c->n_head)) missing = "n_head";
    else if (!get_int(j, "d_model", &c->d_model)) missing = "d_model";
    else if (!get_int(j, "d_ff", &c->d_ff)) missing = "d_ff";
    else if (!get_int(j, "vocab_size", &c->vocab_size)) missing = "vocab_size";
    else if (!get_int(j, "train_len", &c->train_len)) missing = "train_len";
    else if (!cJSON_IsString(pos)) missing = "pos";
    else if (!get_num(j, "xpos_gamma", &c->xpos_gamma)) missing = "xpos_gamma";
    else if (!get_num(j, "xpos_scale_base", &c->xpos_scale_base)) missing = "xpos_scale_base";
    else if (!get_num(j, "rope_base", &c->rope_base)) missing = "rope_base";
    else if (!cJSON_IsBool(tied)) missing = "tied";
    else if (!get_num(j, "norm_eps", &c->norm_eps)) missing = "norm_eps";
    if (missing) s = lext_fail(LEXT_ERR_FORMAT,
                               "checkpoint %s: metadata 'lext' lacks a valid '%s'", f->path, missing);
    if (!s && (version < 1 || version > LEXT_FORMAT_VERSION))
        s = lext_fail(LEXT_ERR_FORMAT,
                      "checkpoint %s has format_version %d; this lext reads versions 1 to %d",
                      f->path, version, LEXT_FORMAT_VERSION);
    if (!s) {
        c->tied = cJSON_IsTrue(tied);
        s = lext_pos_parse(pos->valuestring, &c->pos);
        if (s) s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: %s", f->path, lext_last_error());
    }
    if (!s && lext_config_validate(c) != LEXT_OK)
        s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: %s", f->path, lext_last_error());
    cJSON_Delete(j);
    return s;
}

static lext_status parse_train(const st_file *f, lext_train_state *ts, bool *has) {
    lext_status s = LEXT_OK;
    *has = false;
    cJSON *j = st_meta(f, "lext_train", &s);
    if (s || !j) return s;
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(j, "rng");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    bool ok = get_i64(j, "step", &ts->step) && get_i64(j, "batch", &ts->batch) &&
              get_hex(cJSON_GetObjectItemCaseSensitive(j, "seed"), &ts->seed) &&
              cJSON_IsArray(rng) && cJSON_GetArraySize(rng) == 4 && cJSON_IsString(data) &&
              get_num(j, "lr", &ts->optim.lr) && get_num(j, "min_lr_ratio", &ts->optim.min_lr_ratio) &&
              get_i64(j, "warmup", &ts->optim.warmup) &&
              get_i64(j, "total_steps", &ts->optim.total_steps) &&
              get_num(j, "beta1", &ts->optim.beta1) && get_num(j, "beta2", &ts->optim.beta2) &&
              get_num(j, "eps", &ts->optim.eps) &&
              get_num(j, "weight_decay", &ts->optim.weight_decay) &&
              get_num(j, "grad_clip", &ts->optim.grad_clip);
    for (int i = 0; ok && i < 4; i++) ok = get_hex(cJSON_GetArrayItem(rng, i), &ts->rng.s[i]);
    if (ok) snprintf(ts->data_path, sizeof ts->data_path, "%s", data->valuestring);
    if (ok && (ts->rng.s[0] | ts->rng.s[1] | ts->rng.s[2] | ts->rng.s[3]) == 0) ok = false;
    if (ok && (ts->step < 0 || ts->batch < 1)) ok = false;
    cJSON_Delete(j);
    if (!ok)
        return lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: metadata 'lext_train' is incomplete",
                         f->path);
    *has = true;
    return LEXT_OK;
}

lext_status lext_checkpoint_read_config(const char *path, lext_config *c, bool *has_train,
                                        int64_t *step) {
    st_file f;
    LEXT_TRY(st_open(&f, path));
    lext_status s = parse_config(&f, c);
    lext_train_state ts = {0};
    bool has = false;
    if (!s) s = parse_train(&f, &ts, &has);
    if (has_train) *has_train = has;
    if (step) *step = has ? ts.step : 0;
    st_close(&f);
    return s;
}

lext_status lext_checkpoint_load(const char *path, lext_model **out, lext_train_state *ts,
                                 bool *has_train) {
    *out = NULL;
    if (has_train) *has_train = false;
    st_file f;
    LEXT_TRY(st_open(&f, path));
    lext_config c;
    lext_model *m = NULL;
    lext_status s = parse_config(&f, &c);
    if (!s) s = lext_model_create(&c, &m);
    for (int i = 0; !s && i < m->n_tensors; i++) {
        lext_param *p = &m->table[i];
        const float *src = st_tensor(&f, p->name, p->ndim, p->shape, &s);
        if (src) memcpy(p->data, src, p->numel * sizeof(float));
    }
    bool has = false;
    if (!s && ts) {
        lext_train_state tmp = {0};
        s = parse_train(&f, &tmp, &has);
        if (!s && has) {
            const int64_t np = (int64_t)m->num_params;
            const float *mm = st_tensor(&f, "optimizer.m", 1, &np, &s);
            const float *vv = mm ? st_tensor(&f, "optimizer.v", 1, &np, &s) : NULL;
            if (vv) {
                s = lext_alloc((void **)&tmp.m, m->num_params * sizeof(float), "Adam moments");
                if (!s) s = lext_alloc((void **)&tmp.v, m->num_params * sizeof(float), "Adam moments");
                if (!s) {
                    memcpy(tmp.m, mm, m->num_params * sizeof(float));
                    memcpy(tmp.v, vv, m->num_params * sizeof(float));
                }
            }
            if (s) lext_train_state_free(&tmp);
            else *ts = tmp;
        }
    }
    for (int i = 0; !s && i < m->n_tensors; i++) /* weights must be finite */
        for (size_t k = 0; k < m->table[i].numel; k++)
            if (!isfinite(m->table[i].data[k])) {
                s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: tensor '%s' holds a non-finite value",
                              path, m->table[i].name);
                break;
            }
    st_close(&f);
    if (s) {
        lext_model_free(m);
        if (ts && has) lext_train_state_free(ts);
        return s;
    }
    if (has_train) *has_train = has;
    *out = m;
    return LEXT_OK;
}

void lext_train_state_free(lext_train_state *ts) {
    lext_free(ts->m);
    lext_free(ts->v);
    ts->m = ts->v = NULL;
}
