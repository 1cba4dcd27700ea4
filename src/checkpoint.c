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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lext checkpoints are little-endian; this platform is not"
#endif

#define MAX_HEADER ((uint64_t)100 << 20) /* the safetensors reference limit */

/* ---- writing --------------------------------------------------------------------------- */

/* cJSON prints a double with 15 significant digits whenever that reads back within an
 * epsilon of it, which is not exactly: 0.1 + 0.2 would come back as 0.3. Numbers are
 * therefore written as raw text: the shortest of "%.15g", "%.16g", "%.17g" that reads back
 * exactly (17 digits always do), or as integers. */
static cJSON *num_exact(double v) {
    if (!isfinite(v)) return NULL; /* JSON has no NaN or infinity */
    char buf[48], out[48];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break; /* same locale as snprintf: compares like for like */
    }
    size_t k = 0; /* keep digits, signs and exponent; any locale decimal point becomes '.' */
    for (const char *p = buf; *p && k < sizeof out - 1; p++) {
        bool plain = (*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == 'e';
        if (plain) out[k++] = *p;
        else if (k == 0 || out[k - 1] != '.') out[k++] = '.';
    }
    out[k] = '\0';
    return cJSON_CreateRaw(out);
}

static cJSON *int_exact(long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return cJSON_CreateRaw(buf);
}

/* Adds item under key; false (item released) on failure or when item is NULL. */
static bool add_item(cJSON *obj, const char *key, cJSON *item) {
    if (!item) return false;
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

/* Appends item to arr; false (item released) on failure or when item is NULL. */
static bool push_item(cJSON *arr, cJSON *item) {
    if (!item) return false;
    if (!cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static cJSON *config_json(const lext_config *c) {
    cJSON *j = cJSON_CreateObject();
    bool ok = j && add_item(j, "format_version", int_exact(LEXT_FORMAT_VERSION)) &&
              add_item(j, "n_layer", int_exact(c->n_layer)) &&
              add_item(j, "n_head", int_exact(c->n_head)) &&
              add_item(j, "d_model", int_exact(c->d_model)) &&
              add_item(j, "d_ff", int_exact(c->d_ff)) &&
              add_item(j, "vocab_size", int_exact(c->vocab_size)) &&
              add_item(j, "train_len", int_exact(c->train_len)) &&
              add_item(j, "pos", cJSON_CreateString(lext_pos_name(c->pos))) &&
              add_item(j, "xpos_gamma", num_exact(c->xpos_gamma)) &&
              add_item(j, "xpos_scale_base", num_exact(c->xpos_scale_base)) &&
              add_item(j, "rope_base", num_exact(c->rope_base)) &&
              add_item(j, "tied", cJSON_CreateBool(c->tied)) &&
              add_item(j, "embed_scale", cJSON_CreateBool(c->embed_scale)) &&
              add_item(j, "norm_eps", num_exact(c->norm_eps));
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static cJSON *train_json(const lext_train_state *ts, const lext_model *m) {
    cJSON *j = cJSON_CreateObject();
    char buf[32];
    bool ok = j && add_item(j, "step", int_exact(ts->step));
    /* the training data's passkey share (absent: none, as in older checkpoints) */
    if (ok && m->train_passkey > 0) ok = add_item(j, "task_passkey", num_exact(m->train_passkey));
    if (ok && m->train_micro > 0) ok = add_item(j, "micro_batches", int_exact(m->train_micro));
    cJSON *rng = ok ? cJSON_AddArrayToObject(j, "rng") : NULL;
    ok = rng != NULL;
    for (int i = 0; ok && i < 4; i++) { /* u64 as hex: JSON numbers are doubles */
        snprintf(buf, sizeof buf, "%016llx", (unsigned long long)ts->rng.s[i]);
        ok = push_item(rng, cJSON_CreateString(buf));
    }
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)ts->seed);
    const lext_optim_config *o = &ts->optim;
    ok = ok && add_item(j, "seed", cJSON_CreateString(buf)) &&
         add_item(j, "batch", int_exact(ts->batch)) &&
         add_item(j, "data", cJSON_CreateString(ts->data_path)) &&
         add_item(j, "precision", cJSON_CreateString(lext_precision_name(ts->precision))) &&
         add_item(j, "machine", cJSON_CreateString(ts->machine)) &&
         add_item(j, "lr", num_exact(o->lr)) &&
         add_item(j, "min_lr_ratio", num_exact(o->min_lr_ratio)) &&
         add_item(j, "warmup", int_exact(o->warmup)) &&
         add_item(j, "total_steps", int_exact(o->total_steps)) &&
         add_item(j, "beta1", num_exact(o->beta1)) && add_item(j, "beta2", num_exact(o->beta2)) &&
         add_item(j, "eps", num_exact(o->eps)) &&
         add_item(j, "weight_decay", num_exact(o->weight_decay)) &&
         add_item(j, "grad_clip", num_exact(o->grad_clip));
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
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
    for (int d = 0; d < ndim; d++)
        if (!push_item(sh, int_exact((long long)shape[d]))) return false;
    return push_item(off, int_exact((long long)begin)) &&
           push_item(off, int_exact((long long)(begin + bytes)));
}

static lext_status write_all(FILE *f, const void *p, size_t n, const char *path) {
    if (n && fwrite(p, 1, n, f) != n)
        return lext_fail(LEXT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return LEXT_OK;
}

lext_status lext_checkpoint_save(const char *path, const lext_model *m,
                                 const lext_train_state *ts) {
    if (ts) { /* JSON cannot hold NaN or infinity: refuse rather than write an unloadable file */
        const lext_optim_config *o = &ts->optim;
        const double v[] = {o->lr,  o->min_lr_ratio, o->beta1,    o->beta2,
                            o->eps, o->weight_decay, o->grad_clip};
        for (size_t i = 0; i < sizeof v / sizeof *v; i++)
            if (!isfinite(v[i]))
                return lext_fail(LEXT_ERR_ARG,
                                 "cannot save %s: an optimizer setting is not finite (%g)", path,
                                 v[i]);
        if (ts->precision != LEXT_PRECISION_FP32 && ts->precision != LEXT_PRECISION_BF16)
            return lext_fail(LEXT_ERR_ARG, "cannot save %s: the training precision is not fp32 or "
                                           "bf16", path);
    }
    /* header */
    cJSON *hdr = cJSON_CreateObject(), *meta = hdr ? cJSON_AddObjectToObject(hdr, "__metadata__") : NULL;
    bool ok = meta && add_meta(meta, "lext", config_json(&m->cfg));
    if (ok && ts) ok = add_meta(meta, "lext_train", train_json(ts, m));
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

/* A process killed between creating its temporary file and the rename (SIGKILL, OOM
 * killer, power loss) leaves "<path>.tmp.<pid>" behind: never mistaken for a checkpoint
 * (path itself is intact), but clutter that grows with every such kill. A file is removed
 * only when its name is exactly that with digits after ".tmp.", it is a regular file, and
 * no process of that pid exists (kill(pid, 0) fails with ESRCH): a live writer, this
 * process, or a pid that cannot be checked (EPERM: it exists) keep theirs. A recycled pid
 * keeps the file too, to be removed by a later call. */
size_t checkpoint_remove_stale(const char *path) {
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) return 0;
    char *slash = strrchr(dir, '/');
    const char *base = slash ? path + (slash - dir) + 1 : path;
    if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
    else snprintf(dir, sizeof dir, ".");
    const size_t blen = strlen(base);
    if (blen == 0) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0) continue;
        const char *digits = name + blen + 5;
        size_t nd = strspn(digits, "0123456789");
        if (nd == 0 || nd > 9 || digits[nd] != '\0') continue; /* pids are < 2^22 on Linux */
        long pid = strtol(digits, NULL, 10);
        if (pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char full[PATH_MAX];
        if (snprintf(full, sizeof full, "%s/%s", dir, name) >= (int)sizeof full) continue;
        struct stat st;
        if (lstat(full, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (unlink(full) == 0) removed++;
    }
    closedir(d);
    return removed;
}

/* ---- reading --------------------------------------------------------------------------- */

typedef struct {
    const char *path;    /* or the name given for a checkpoint in memory */
    const uint8_t *file; /* the whole file */
    uint8_t *owned;      /* == file when read here (freed by st_close); NULL in memory */
    size_t size;
    cJSON *hdr;
    const uint8_t *data; /* start of the data section */
    uint64_t data_size;
} st_file;

static void st_close(st_file *f) {
    free(f->owned);
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

/* by begin, then end: an empty tensor [b, b] sorts before one starting at b, so it is not
 * taken for an overlap (qsort's order among equal begins is unspecified) */
static int by_begin(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
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

static lext_status st_parse(st_file *f);

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
    f->file = f->owned = malloc(f->size);
    if (!f->owned) {
        fclose(fp);
        return lext_fail(LEXT_ERR_NOMEM, "cannot allocate %zu bytes to read %s", f->size, path);
    }
    size_t got = fread(f->owned, 1, f->size, fp);
    fclose(fp);
    if (got != f->size) {
        st_close(f);
        return lext_fail(LEXT_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    }
    return st_parse(f);
}

/* The same over a checkpoint already in memory, which st_close leaves alone. */
static lext_status st_open_memory(st_file *f, const void *buf, size_t size, const char *name) {
    *f = (st_file){.path = name ? name : "(memory)", .file = buf, .size = size};
    if (!buf && size) return lext_fail(LEXT_ERR_ARG, "checkpoint %s: no buffer", f->path);
    if (f->size < 8)
        return lext_fail(LEXT_ERR_FORMAT, "checkpoint %s is truncated: %zu bytes, not even a header",
                         f->path, f->size);
    return st_parse(f);
}

/* The checks of st_open on f->file (f->size >= 8 bytes); closes f on failure. */
static lext_status st_parse(st_file *f) {
    const char *path = f->path;
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

/* The bytes of tensor `name`, float32 with exactly the given shape; NULL plus an error if
 * not. Not a float pointer: a file need not align its tensors (safetensors does not
 * require it), and a misaligned float pointer is undefined even unread. */
static const void *st_tensor(const st_file *f, const char *name, int ndim, const int64_t *shape,
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
        char want[64], got[64], item[32];
        if (ndim == 1) snprintf(want, sizeof want, "[%lld]", (long long)shape[0]);
        else snprintf(want, sizeof want, "[%lld, %lld]", (long long)shape[0], (long long)shape[1]);
        size_t k = 0; /* "[d0, d1, ...]", elided with "..." when it does not fit */
        const cJSON *d;
        cJSON_ArrayForEach(d, sh) {
            int w = snprintf(item, sizeof item, "%s%.0f", k == 0 ? "[" : ", ", d->valuedouble);
            if (w < 0 || k + (size_t)w > sizeof got - 7) { /* room for ", ...]" and NUL */
                memcpy(got + k, k == 0 ? "[..." : ", ...", k == 0 ? 4 : 5);
                k += k == 0 ? 4 : 5;
                break;
            }
            memcpy(got + k, item, (size_t)w);
            k += (size_t)w;
        }
        if (k == 0) got[k++] = '[';
        got[k++] = ']';
        got[k] = '\0';
        *s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: tensor '%s' has shape %s, expected %s",
                       f->path, name, got, want);
        return NULL;
    }
    uint64_t b = 0;
    json_u64(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), 0), &b);
    return f->data + b; /* memcpy'd out by callers */
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

/* 1 to 16 hex digits, nothing else (strtoull alone would take "-1", " 1", "0x1"). */
static bool get_hex(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsString(v)) return false;
    const char *str = v->valuestring;
    size_t n = strspn(str, "0123456789abcdefABCDEF");
    if (n == 0 || n > 16 || str[n] != '\0') return false;
    *out = (uint64_t)strtoull(str, NULL, 16);
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
    /* absent (every version-1 file) means unscaled */
    const cJSON *escale = cJSON_GetObjectItemCaseSensitive(j, "embed_scale");
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
    else if (escale && !cJSON_IsBool(escale)) missing = "embed_scale";
    else if (!get_num(j, "norm_eps", &c->norm_eps)) missing = "norm_eps";
    if (missing) s = lext_fail(LEXT_ERR_FORMAT,
                               "checkpoint %s: metadata 'lext' lacks a valid '%s'", f->path, missing);
    if (!s && (version < 1 || version > LEXT_FORMAT_VERSION))
        s = lext_fail(LEXT_ERR_FORMAT,
                      "checkpoint %s has format_version %d; this lext reads versions 1 to %d",
                      f->path, version, LEXT_FORMAT_VERSION);
    if (!s) {
        c->tied = cJSON_IsTrue(tied);
        c->embed_scale = escale && cJSON_IsTrue(escale);
        s = lext_pos_parse(pos->valuestring, &c->pos);
        if (!s) s = lext_config_validate(c);
        if (s) { /* copied first: lext_fail must not format its own buffer into itself */
            char why[512];
            snprintf(why, sizeof why, "%s", lext_last_error());
            s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: %s", f->path, why);
        }
    }
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
    /* "precision" came with bf16 training; a checkpoint without it trained in fp32 */
    const cJSON *prec = cJSON_GetObjectItemCaseSensitive(j, "precision");
    ts->precision = LEXT_PRECISION_FP32;
    if (ok && prec)
        ok = cJSON_IsString(prec) &&
             lext_precision_parse(prec->valuestring, &ts->precision) == LEXT_OK;
    /* "machine" came with the oneDNN engine; older checkpoints leave it empty */
    const cJSON *mach = cJSON_GetObjectItemCaseSensitive(j, "machine");
    ts->machine[0] = '\0';
    if (ok && mach) {
        ok = cJSON_IsString(mach);
        if (ok) snprintf(ts->machine, sizeof ts->machine, "%s", mach->valuestring);
    }
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

/* lext_train's "task_passkey" (a share in 0..1; absent: 0) and "micro_batches" (>= 1;
 * absent: 0, one batch per step) */
static lext_status parse_task(const st_file *f, double *passkey, int64_t *micro) {
    lext_status s = LEXT_OK;
    cJSON *j = st_meta(f, "lext_train", &s);
    if (s || !j) return s;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "task_passkey");
    const cJSON *mb = cJSON_GetObjectItemCaseSensitive(j, "micro_batches");
    bool ok = !t || (cJSON_IsNumber(t) && t->valuedouble > 0 && t->valuedouble <= 1);
    *passkey = t && ok ? t->valuedouble : 0.0;
    *micro = 0;
    bool okm = !mb || (get_i64(j, "micro_batches", micro) && *micro >= 1);
    cJSON_Delete(j);
    if (!ok)
        return lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: 'task_passkey' must be a share in (0, 1]",
                         f->path);
    if (!okm)
        return lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: 'micro_batches' must be an integer >= 1",
                         f->path);
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

/* Every tensor lies inside the data section and no two overlap, so a configuration whose
 * weight matrices alone need more bytes than the section holds cannot be satisfied. Checked
 * before the model is allocated: a small file must not make the reader allocate (and zero)
 * gigabytes. A lower bound only (biases and norms left out); validated sizes keep it far
 * from overflowing. */
static lext_status check_fits(const st_file *f, const lext_config *c) {
    const uint64_t L = (uint64_t)c->n_layer, D = (uint64_t)c->d_model, F = (uint64_t)c->d_ff,
                   V = (uint64_t)c->vocab_size, T = (uint64_t)c->train_len;
    uint64_t floats = V * D + L * (4 * D * D + 2 * D * F);
    if (!c->tied) floats += V * D;
    if (c->pos == LEXT_POS_LEARNED) floats += T * D;
    if (floats > f->data_size / sizeof(float))
        return lext_fail(LEXT_ERR_FORMAT,
                         "checkpoint %s: its configuration needs at least %llu bytes of tensor "
                         "data, but the file holds %llu (truncated file?)",
                         f->path, (unsigned long long)(floats * sizeof(float)),
                         (unsigned long long)f->data_size);
    return LEXT_OK;
}

/* The model (and training state) of an opened container f; closes f. */
static lext_status load(st_file *f, lext_model **out, lext_train_state *ts, bool *has_train) {
    const char *path = f->path;
    lext_config c;
    lext_model *m = NULL;
    lext_status s = parse_config(f, &c);
    if (!s) s = check_fits(f, &c);
    if (!s) s = lext_model_create(&c, &m);
    for (int i = 0; !s && i < m->n_tensors; i++) {
        lext_param *p = &m->table[i];
        const void *src = st_tensor(f, p->name, p->ndim, p->shape, &s);
        if (src) memcpy(p->data, src, p->numel * sizeof(float));
    }
    for (int i = 0; !s && i < m->n_tensors; i++) /* weights must be finite */
        for (size_t k = 0; k < m->table[i].numel; k++)
            if (!isfinite(m->table[i].data[k])) {
                s = lext_fail(LEXT_ERR_FORMAT, "checkpoint %s: tensor '%s' holds a non-finite value",
                              path, m->table[i].name);
                break;
            }
    /* the training state goes to a local copy; *ts is written only on success, so that a
     * failure neither changes nor frees what the caller passed in */
    bool has = false;
    lext_train_state tmp = {0};
    double tmp_passkey = 0.0;
    int64_t tmp_micro = 0;
    if (!s && ts) {
        s = parse_train(f, &tmp, &has);
        if (!s && has) s = parse_task(f, &tmp_passkey, &tmp_micro);
        if (!s && has) {
            const int64_t np = (int64_t)m->num_params;
            const void *mm = st_tensor(f, "optimizer.m", 1, &np, &s);
            const void *vv = mm ? st_tensor(f, "optimizer.v", 1, &np, &s) : NULL;
            if (vv) s = lext_alloc((void **)&tmp.m, m->num_params * sizeof(float), "Adam moments");
            if (vv && !s)
                s = lext_alloc((void **)&tmp.v, m->num_params * sizeof(float), "Adam moments");
            if (vv && !s) {
                memcpy(tmp.m, mm, m->num_params * sizeof(float));
                memcpy(tmp.v, vv, m->num_params * sizeof(float));
                /* moments that Adam could not have produced would poison every later step */
                for (size_t k = 0; !s && k < m->num_params; k++)
                    if (!isfinite(tmp.m[k]) || !isfinite(tmp.v[k]) || tmp.v[k] < 0.0f)
                        s = lext_fail(LEXT_ERR_FORMAT,
                                      "checkpoint %s: optimizer state entry %zu is invalid (m %g, "
                                      "v %g: moments must be finite and v >= 0)",
                                      f->path, k, (double)tmp.m[k], (double)tmp.v[k]);
            }
        }
    }
    st_close(f);
    if (s) {
        lext_model_free(m);
        lext_train_state_free(&tmp);
        return s;
    }
    if (has) *ts = tmp;
    if (has_train) *has_train = has;
    m->train_passkey = has ? tmp_passkey : 0.0;
    m->train_micro = has ? tmp_micro : 0;
    *out = m;
    return LEXT_OK;
}

lext_status lext_checkpoint_load(const char *path, lext_model **out, lext_train_state *ts,
                                 bool *has_train) {
    *out = NULL;
    if (has_train) *has_train = false;
    st_file f;
    LEXT_TRY(st_open(&f, path));
    return load(&f, out, ts, has_train);
}

lext_status lext_checkpoint_load_memory(const void *buf, size_t size, const char *name,
                                        lext_model **out, lext_train_state *ts, bool *has_train) {
    *out = NULL;
    if (has_train) *has_train = false;
    st_file f;
    LEXT_TRY(st_open_memory(&f, buf, size, name));
    return load(&f, out, ts, has_train);
}

void lext_train_state_free(lext_train_state *ts) {
    lext_free(ts->m);
    lext_free(ts->v);
    ts->m = ts->v = NULL;
}
