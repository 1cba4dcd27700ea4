/*
 * fuzz.h - what the fuzz harnesses share (fuzz/README.md).
 *
 * Each harness fuzz/fuzz_<target>.c defines LLVMFuzzerTestOneInput() and builds two ways
 * from the same source:
 *   - as a libFuzzer target (clang -fsanitize=fuzzer,address,undefined; `make fuzz`);
 *   - with -DLEXT_FUZZ_REPLAY, as a plain program whose main() below feeds it every file
 *     named on the command line (directories: every file under them, in name order). This
 *     is how tests/test_fuzz_regressions.sh replays fuzz/regressions/ and the corpora in
 *     the normal build (and, under `make asan`, in the sanitized one).
 * A harness checks what must hold with FUZZ_CHECK, which aborts: a crash to libFuzzer, a
 * failure (exit >= 128) to the replayer's caller.
 */
#ifndef LEXT_FUZZ_H
#define LEXT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#ifdef LEXT_FUZZ_REPLAY
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

static int replay_by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds path to the harness (a file) or everything under it (a directory); returns the
 * number of inputs run, or -1 if something could not be read. */
static long replay_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: cannot stat %s\n", path);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return -1;
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue; /* ".", "..", README-like dotfiles */
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                char **nn = realloc(names, cap * sizeof *nn);
                if (!nn) abort();
                names = nn;
            }
            size_t len = strlen(path) + strlen(e->d_name) + 2;
            names[n] = malloc(len);
            if (!names[n]) abort();
            snprintf(names[n++], len, "%s/%s", path, e->d_name);
        }
        closedir(d);
        if (n > 1) qsort(names, n, sizeof *names, replay_by_name);
        long total = 0;
        for (size_t i = 0; i < n; i++) {
            long k = total >= 0 ? replay_path(names[i]) : 0;
            total = k < 0 ? -1 : total + k;
            free(names[i]);
        }
        free(names);
        return total;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) abort();
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    /* an exact-size copy, as libFuzzer passes: a read past the end is then a heap overflow
     * that ASan reports, not a read of the spare capacity */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) abort();
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 1;
}

int main(int argc, char **argv) {
    long total = 0;
    for (int i = 1; i < argc; i++) {
        long k = replay_path(argv[i]);
        if (k < 0) return 2;
        total += k;
    }
    printf("replayed %ld input(s)\n", total);
    return 0;
}
#endif

#endif
