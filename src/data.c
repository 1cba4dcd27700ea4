/*
 * data.c - documents and the training-window sampler.
 *
 * A dataset is a text file (one document) or a directory tree of documents, sorted by
 * relative path so that the same tree gives the same order on every machine. Windows of
 * n = train_len + 1 bytes are drawn uniformly over all positions where one fits inside a
 * document, never across a boundary.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    lext_doc *docs;
    size_t n, cap;
} doc_list;

static lext_status push_doc(doc_list *l, const char *rel, const char *full) {
    FILE *f = fopen(full, "rb");
    if (!f) return lext_fail(LEXT_ERR_IO, "cannot open %s: %s", full, strerror(errno));
    lext_status s = LEXT_OK;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) { /* read to the end: sizes from stat can lie (pipes, /proc) */
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                s = lext_fail(LEXT_ERR_NOMEM, "cannot allocate %zu bytes for %s", ncap, full);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) s = lext_fail(LEXT_ERR_IO, "cannot read %s: %s", full, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (!s && l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        lext_doc *nd = realloc(l->docs, ncap * sizeof *nd);
        if (!nd) s = lext_fail(LEXT_ERR_NOMEM, "cannot allocate the document list");
        else {
            l->docs = nd;
            l->cap = ncap;
        }
    }
    char *name = s ? NULL : strdup(rel);
    if (!s && !name) s = lext_fail(LEXT_ERR_NOMEM, "cannot allocate a document name");
    if (s) {
        free(buf);
        return s;
    }
    l->docs[l->n++] = (lext_doc){name, buf, len};
    return LEXT_OK;
}

static lext_status walk(doc_list *l, const char *root, const char *rel, int depth) {
    if (depth > 64) return lext_fail(LEXT_ERR_DATA, "directories nested too deep under %s", root);
    char dirpath[8192];
    snprintf(dirpath, sizeof dirpath, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dirpath);
    if (!d) return lext_fail(LEXT_ERR_IO, "cannot open directory %s: %s", dirpath, strerror(errno));
    lext_status s = LEXT_OK;
    struct dirent *e;
    while (!s && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* ".", "..", hidden files */
        char sub[8192], full[8192];
        int n1 = snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        int n2 = snprintf(full, sizeof full, "%s/%s", root, sub);
        if (n1 >= (int)sizeof sub || n2 >= (int)sizeof full) {
            s = lext_fail(LEXT_ERR_DATA, "path too long under %s", root);
            break;
        }
        struct stat st;
        if (stat(full, &st) != 0) continue; /* dangling link: not a document */
        if (S_ISDIR(st.st_mode)) s = walk(l, root, sub, depth + 1);
        else if (S_ISREG(st.st_mode)) s = push_doc(l, sub, full);
    }
    closedir(d);
    return s;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const lext_doc *)a)->name, ((const lext_doc *)b)->name);
}

lext_status lext_dataset_load(const char *path, lext_dataset *out) {
    *out = (lext_dataset){0};
    struct stat st;
    if (!path || !*path) return lext_fail(LEXT_ERR_DATA, "no data path given");
    if (stat(path, &st) != 0)
        return lext_fail(LEXT_ERR_DATA, "data path %s: %s", path, strerror(errno));
    doc_list l = {0};
    lext_status s;
    if (S_ISDIR(st.st_mode)) {
        s = walk(&l, path, "", 0);
    } else {
        const char *base = strrchr(path, '/');
        s = push_doc(&l, base ? base + 1 : path, path);
    }
    if (!s) {
        if (l.n > 1) qsort(l.docs, l.n, sizeof *l.docs, by_name); /* no docs: NULL, not for qsort */
        size_t total = 0, nonempty = 0;
        for (size_t i = 0; i < l.n; i++) {
            total += l.docs[i].len;
            nonempty += l.docs[i].len > 0;
        }
        if (nonempty == 0)
            s = lext_fail(LEXT_ERR_DATA, "data path %s holds no non-empty document (%zu files)",
                          path, l.n);
        out->total_bytes = total;
    }
    out->docs = l.docs;
    out->n_docs = l.n;
    if (s) lext_dataset_free(out);
    return s;
}

void lext_dataset_free(lext_dataset *d) {
    for (size_t i = 0; i < d->n_docs; i++) {
        free(d->docs[i].name);
        free(d->docs[i].bytes);
    }
    free(d->docs);
    *d = (lext_dataset){0};
}

lext_status lext_sampler_init(lext_sampler *s, const lext_dataset *d, size_t window) {
    *s = (lext_sampler){0};
    s->data = d;
    s->window = window;
    s->cum = calloc(d->n_docs + 1, sizeof(uint64_t));
    if (!s->cum) return lext_fail(LEXT_ERR_NOMEM, "cannot allocate the sampler");
    size_t longest = 0;
    for (size_t i = 0; i < d->n_docs; i++) {
        size_t len = d->docs[i].len;
        longest = len > longest ? len : longest;
        uint64_t w = len >= window ? (uint64_t)(len - window + 1) : 0;
        if (w) s->n_usable++;
        else s->n_skipped++;
        s->cum[i + 1] = s->cum[i] + w;
    }
    s->n_windows = s->cum[d->n_docs];
    if (s->n_windows == 0) {
        lext_sampler_free(s);
        return lext_fail(LEXT_ERR_DATA,
                         "no document is long enough: windows need %zu bytes, but the %zu "
                         "document(s) are at most %zu bytes long",
                         window, d->n_docs, longest);
    }
    return LEXT_OK;
}

void lext_sampler_free(lext_sampler *s) {
    free(s->cum);
    s->cum = NULL;
}

void lext_sampler_batch(const lext_sampler *s, lext_rng *rng, int64_t B, int32_t *inputs,
                        int32_t *targets) {
    const size_t T = s->window - 1;
    for (int64_t b = 0; b < B; b++) {
        uint64_t r = lext_rng_below(rng, s->n_windows);
        /* the document whose window range [cum[i], cum[i+1]) holds r */
        size_t lo = 0, hi = s->data->n_docs;
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (s->cum[mid] <= r) lo = mid;
            else hi = mid;
        }
        const uint8_t *src = s->data->docs[lo].bytes + (r - s->cum[lo]);
        for (size_t t = 0; t < T; t++) {
            inputs[(size_t)b * T + t] = src[t];
            targets[(size_t)b * T + t] = src[t + 1];
        }
    }
}
