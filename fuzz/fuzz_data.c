/*
 * fuzz_data.c - the document loader, the training-window sampler and the evaluation's
 * document walk, over a directory tree built from the input.
 *
 * Input layout:
 *   byte 0   window: the sampler draws windows of n = 2 + (b & 31) bytes; the evaluation
 *            lengths are L = 2 + (b >> 5) and 2L
 *   byte 1   B = 1 + (b & 7) windows per batch; bit 7: load the first file on its own (a
 *            file path rather than the directory); bit 6: run the evaluation too
 *   then records, as many as fit (at most 64):
 *            [ctl][len][len bytes of content]
 *            ctl bits 0-1: directory depth (0-3), each level named by bits 6-7 ("d0".."d2",
 *            or ".h", a hidden directory whose whole subtree is skipped); bit 2: hidden
 *            file name; bit 3: a dangling symbolic link instead of a file (not a document);
 *            bit 4: a link to the previous file (a document with its content); bit 5: an
 *            empty directory besides.
 * The harness knows which documents the loader must find, with which names and bytes, and
 * checks them all; then that every sampled window lies inside one document and that the
 * evaluation's counts follow the protocol.
 */
#include "fuzz.h"
#include "lext.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RECORDS 64

typedef struct {
    char name[64]; /* relative path */
    const uint8_t *bytes;
    size_t len;
} expected_doc;

static char root[256];

/* rm -r of everything under path (not path itself); links are removed, not followed */
static void clear_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char sub[512];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
            clear_dir(sub);
            rmdir(sub);
        } else {
            unlink(sub);
        }
    }
    closedir(d);
}

static void clear_root(void) { clear_dir(root); }

static void remove_root(void) { /* at exit; a crash leaves the directory (in /dev/shm) */
    clear_dir(root);
    rmdir(root);
}

static void make_root(void) {
    if (root[0]) return;
    const char *bases[] = {"/dev/shm", getenv("TMPDIR"), "/tmp"}; /* tmpfs first: faster */
    for (size_t i = 0; i < 3 && !root[0]; i++) {
        if (!bases[i]) continue;
        snprintf(root, sizeof root, "%s/lext-fuzz-data-XXXXXX", bases[i]);
        if (!mkdtemp(root)) root[0] = '\0';
    }
    FUZZ_CHECK(root[0] != '\0');
    atexit(remove_root);
}

static void write_file(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fwrite(p, 1, n, f) == n);
    FUZZ_CHECK(fclose(f) == 0);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const expected_doc *)a)->name, ((const expected_doc *)b)->name);
}

/* whether w[0..n) occurs inside one document */
static bool inside_a_document(const lext_dataset *d, const int32_t *w, size_t n) {
    for (size_t i = 0; i < d->n_docs; i++)
        for (size_t at = 0; at + n <= d->docs[i].len; at++) {
            size_t k = 0;
            while (k < n && d->docs[i].bytes[at + k] == w[k]) k++;
            if (k == n) return true;
        }
    return false;
}

static lext_model *eval_model(void) {
    static lext_model *m;
    if (!m) { /* once per process: the smallest model of every kernel evaluation uses */
        lext_config c;
        lext_config_default(&c);
        c.n_layer = 1, c.n_head = 1, c.d_model = 4, c.d_ff = 4, c.train_len = 8;
        FUZZ_CHECK(lext_model_create(&c, &m) == LEXT_OK);
        lext_model_init(m, 1);
    }
    return m;
}

static void check_eval(const lext_dataset *d, int64_t L) {
    const int64_t lengths[2] = {L, 2 * L}, N = 2 * L;
    lext_attn modes[3] = {lext_attn_make(LEXT_ATTN_CAUSAL, 8), lext_attn_make(LEXT_ATTN_BCA, 4),
                          lext_attn_make(LEXT_ATTN_WINDOW, 3)};
    lext_eval_cell cells[6];
    lext_eval_summary sum;
    memset(&sum, 0, sizeof sum);
    lext_status s =
        lext_evaluate(eval_model(), d, lengths, 2, modes, 3, 64, cells, &sum, NULL, NULL);
    size_t used = 0;
    for (size_t i = 0; i < d->n_docs; i++) used += d->docs[i].len >= (size_t)N;
    FUZZ_CHECK(sum.docs_used == used && sum.docs_used + sum.docs_skipped == d->n_docs);
    if (used == 0) {
        FUZZ_CHECK(s == LEXT_ERR_DATA);
        return;
    }
    FUZZ_CHECK(s == LEXT_OK);
    for (int li = 0; li < 2; li++)
        for (int k = 0; k < 3; k++) {
            const lext_eval_cell *c = &cells[li * 3 + k];
            const int64_t per_doc = N / lengths[li];
            FUZZ_CHECK(c->docs == (int64_t)used && c->segments == (int64_t)used * per_doc);
            FUZZ_CHECK(c->tokens == c->segments * (lengths[li] - 1));
        }
}

/* mkdir -p of root/rel */
static void make_dirs(const char *rel) {
    char path[512];
    size_t n = (size_t)snprintf(path, sizeof path, "%s/%s", root, rel);
    FUZZ_CHECK(n < sizeof path);
    for (size_t i = strlen(root) + 1; i <= n; i++)
        if (path[i] == '/' || path[i] == '\0') {
            char c = path[i];
            path[i] = '\0';
            FUZZ_CHECK(mkdir(path, 0700) == 0 || errno == EEXIST);
            path[i] = c;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    make_root();
    clear_root();
    const size_t window = 2 + (data[0] & 31);
    const int64_t L = 2 + (data[0] >> 5), B = 1 + (data[1] & 7);
    const bool single = data[1] & 0x80, eval = data[1] & 0x40;

    /* build the tree, noting every document the loader must find */
    expected_doc want[MAX_RECORDS], first = {"", NULL, 0};
    size_t n_want = 0;
    char first_path[512] = "", prev_path[512] = "";
    const uint8_t *prev_bytes = NULL;
    size_t prev_len = 0, at = 2;
    for (int r = 0; r < MAX_RECORDS && at + 2 <= size; r++) {
        const uint8_t ctl = data[at], len = data[at + 1];
        at += 2;
        size_t n = len <= size - at ? len : size - at;
        const uint8_t *content = data + at;
        at += n;
        const int depth = ctl & 3, dsel = ctl >> 6;
        const bool hidden_dir = depth > 0 && dsel == 3;
        char rel[32] = "", relname[64], path[512];
        for (int k = 0; k < depth; k++) { /* "d1/d1", or ".h/.h" */
            size_t l = strlen(rel);
            if (hidden_dir) snprintf(rel + l, sizeof rel - l, "%s.h", k ? "/" : "");
            else snprintf(rel + l, sizeof rel - l, "%sd%d", k ? "/" : "", dsel);
        }
        if (depth) make_dirs(rel);
        if (ctl & 0x20) { /* an empty directory: no document */
            snprintf(relname, sizeof relname, "%s%se%02d", rel, depth ? "/" : "", r);
            make_dirs(relname);
        }
        snprintf(relname, sizeof relname, "%s%s%sf%02d", rel, depth ? "/" : "",
                 (ctl & 4) ? "." : "", r);
        snprintf(path, sizeof path, "%s/%s", root, relname);
        const bool visible = !(ctl & 4) && !hidden_dir;
        if (ctl & 8) { /* a dangling link: not a document */
            FUZZ_CHECK(symlink("/nonexistent/lext-fuzz", path) == 0);
            continue;
        }
        if ((ctl & 0x10) && prev_path[0]) { /* a link to the previous file: read as a copy */
            FUZZ_CHECK(symlink(prev_path, path) == 0);
            content = prev_bytes, n = prev_len;
        } else {
            write_file(path, content, n);
            snprintf(prev_path, sizeof prev_path, "%s", path);
            prev_bytes = content, prev_len = n;
            if (!first_path[0]) { /* loaded alone it is a document even when hidden */
                snprintf(first_path, sizeof first_path, "%s", path);
                first = (expected_doc){"", content, n};
                snprintf(first.name, sizeof first.name, "%s", strrchr(path, '/') + 1);
            }
        }
        if (visible) {
            want[n_want] = (expected_doc){"", content, n};
            snprintf(want[n_want].name, sizeof want[n_want].name, "%s", relname);
            n_want++;
        }
    }

    /* load and compare */
    lext_dataset d;
    const expected_doc *exp = single ? &first : want;
    const size_t n_exp = single ? 1 : n_want;
    if (single && !first_path[0]) return 0;
    lext_status s = lext_dataset_load(single ? first_path : root, &d);
    size_t nonempty = 0;
    for (size_t i = 0; i < n_exp; i++) nonempty += exp[i].len > 0;
    if (nonempty == 0) {
        FUZZ_CHECK(s == LEXT_ERR_DATA); /* no non-empty document */
        FUZZ_CHECK(d.docs == NULL && d.n_docs == 0);
        return 0;
    }
    FUZZ_CHECK(s == LEXT_OK);
    expected_doc sorted[MAX_RECORDS];
    memcpy(sorted, exp, n_exp * sizeof *exp);
    qsort(sorted, n_exp, sizeof *sorted, by_name);
    FUZZ_CHECK(d.n_docs == n_exp);
    size_t total = 0;
    for (size_t i = 0; i < n_exp; i++) {
        FUZZ_CHECK(strcmp(d.docs[i].name, sorted[i].name) == 0);
        FUZZ_CHECK(d.docs[i].len == sorted[i].len);
        FUZZ_CHECK(sorted[i].len == 0 ||
                   memcmp(d.docs[i].bytes, sorted[i].bytes, sorted[i].len) == 0);
        total += sorted[i].len;
    }
    FUZZ_CHECK(d.total_bytes == total);

    /* windows: as many as the documents offer, each inside one of them */
    lext_sampler sp;
    s = lext_sampler_init(&sp, &d, window);
    uint64_t windows = 0;
    size_t usable = 0;
    for (size_t i = 0; i < d.n_docs; i++)
        if (d.docs[i].len >= window) windows += d.docs[i].len - window + 1, usable++;
    if (windows == 0) {
        FUZZ_CHECK(s == LEXT_ERR_DATA);
    } else {
        FUZZ_CHECK(s == LEXT_OK);
        FUZZ_CHECK(sp.n_windows == windows && sp.n_usable == usable &&
                   sp.n_usable + sp.n_skipped == d.n_docs);
        const int64_t T = (int64_t)window - 1;
        int32_t inp[8 * 32], tgt[8 * 32], w[33];
        lext_rng rng;
        lext_rng_seed(&rng, data[0] * 256u + data[1]);
        lext_sampler_batch(&sp, &rng, B, inp, tgt);
        for (int64_t b = 0; b < B; b++) {
            for (int64_t t = 0; t < T; t++) {
                w[t] = inp[b * T + t];
                if (t + 1 < T) FUZZ_CHECK(tgt[b * T + t] == inp[b * T + t + 1]);
            }
            w[T] = tgt[b * T + T - 1];
            FUZZ_CHECK(inside_a_document(&d, w, window));
        }
        lext_sampler_free(&sp);
    }
    if (eval) check_eval(&d, L);
    lext_dataset_free(&d);
    return 0;
}
