/*
 * cmd_corpus.c - `lext corpus NAME DIR`: a corpus of real text as a directory of documents
 * with train/valid/test splits and manifests, built from a Debian package.
 *
 *   pydoc  the reStructuredText sources of the Python documentation (python3.11-doc),
 *          usr/share/doc/python3.11/html/_sources/ ** / *.rst.txt, id = path below
 *          _sources/ without ".txt" (c-api/arg.rst)
 *   linux  C sources of the kernel (linux-source-6.1, usr/src/linux-source-6.1.tar.xz):
 *          *.c and *.h under kernel/ mm/ lib/ block/ ipc/ io_uring/ init/, without
 *          lib/fonts/, *selftest.c, lib/crc32test.c and lib/crypto/des.c (tables of hex)
 *   --from PATH  any directory of the user's own files, id = path below PATH
 *
 * Rules for all: keep documents of at least --min-bytes [16384]; split by the first 8 hex
 * digits of sha256(id) read as an integer, mod 100: below 80 train, 80-89 valid, 90-99
 * test; manifests train.tsv, valid.tsv, test.tsv (id, bytes, sha256 of the content,
 * sorted by id) and corpus.json (source, package version, counts). Same input, same
 * output, byte for byte. When the package is not installed it is fetched with
 * `apt-get download` and unpacked with `dpkg-deb -x` into a temporary directory: no root
 * needed.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "args.h"
#include "commands.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *cmd = "corpus";

/* ---- small utilities ------------------------------------------------------------------- */

static void sha256_hex(const void *data, size_t n, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Runs argv in cwd (NULL: here), stdout into out (may be NULL), stderr passed through
 * unless quiet. Returns the exit status, or -1 if it could not run. */
static int run_cmd(char *const argv[], const char *cwd, char *out, size_t outlen, bool quiet) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (cwd && chdir(cwd) != 0) _exit(127);
        dup2(fd[1], STDOUT_FILENO);
        if (quiet) dup2(fd[1], STDERR_FILENO); /* read and dropped with stdout */
        close(fd[0]);
        close(fd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t got = 0;
    char buf[4096];
    ssize_t r;
    while ((r = read(fd[0], buf, sizeof buf)) > 0) {
        if (out && got + 1 < outlen) {
            size_t k = (size_t)r < outlen - 1 - got ? (size_t)r : outlen - 1 - got;
            memcpy(out + got, buf, k);
            got += k;
        }
    }
    close(fd[0]);
    if (out) {
        out[got] = '\0';
        while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == ' ')) out[--got] = '\0';
    }
    int st;
    if (waitpid(pid, &st, 0) < 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(char *const argv[], const char *cwd, char *out, size_t outlen) {
    return run_cmd(argv, cwd, out, outlen, false);
}

static int mkdirs(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}
static int rm_rf(const char *path) { return nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS); }

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

/* ---- documents ------------------------------------------------------------------------- */

typedef struct {
    char *id;   /* path inside the source tree, no version number */
    char *path; /* where to read it */
    size_t bytes;
} doc;

typedef struct {
    doc *d;
    size_t n, cap;
} doc_list;

typedef enum { SRC_PYDOC, SRC_LINUX, SRC_DIR } source_kind;

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

/* Whether the file at relative path rel belongs to the corpus; writes its id. */
static bool select_doc(source_kind k, const char *rel, char *id, size_t idlen) {
    switch (k) {
    case SRC_PYDOC:
        if (!ends_with(rel, ".rst.txt")) return false;
        snprintf(id, idlen, "%.*s", (int)(strlen(rel) - 4), rel);
        return true;
    case SRC_LINUX: {
        static const char *dirs[] = {"kernel/", "mm/", "lib/", "block/", "ipc/", "io_uring/", "init/"};
        bool in = false;
        for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
            in |= strncmp(rel, dirs[i], strlen(dirs[i])) == 0;
        if (!in || !(ends_with(rel, ".c") || ends_with(rel, ".h"))) return false;
        if (strncmp(rel, "lib/fonts/", 10) == 0 || ends_with(rel, "selftest.c") ||
            strcmp(rel, "lib/crc32test.c") == 0 || strcmp(rel, "lib/crypto/des.c") == 0)
            return false;
        snprintf(id, idlen, "%s", rel);
        return true;
    }
    case SRC_DIR: snprintf(id, idlen, "%s", rel); return true;
    }
    return false;
}

static int walk(doc_list *l, source_kind k, const char *root, const char *rel, size_t min_bytes,
                size_t *small) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return cli_error(cmd, "cannot read directory %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[4096], full[8192], id[4096];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (lstat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) rc = walk(l, k, root, sub, min_bytes, small);
        else if (S_ISREG(st.st_mode) && select_doc(k, sub, id, sizeof id)) {
            if ((size_t)st.st_size < min_bytes) {
                (*small)++;
                continue;
            }
            if (l->n == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 256;
                doc *nd = realloc(l->d, l->cap * sizeof *nd);
                if (!nd) return cli_error(cmd, "out of memory");
                l->d = nd;
            }
            l->d[l->n++] = (doc){strdup(id), strdup(full), (size_t)st.st_size};
        }
    }
    closedir(d);
    return rc;
}

static int by_id(const void *a, const void *b) {
    return strcmp(((const doc *)a)->id, ((const doc *)b)->id);
}

/* 0 train, 1 valid, 2 test: the first 8 hex digits of sha256(id) as an integer, mod 100 */
static int split_of(const char *id) {
    char hex[65];
    sha256_hex(id, strlen(id), hex);
    char first[9];
    memcpy(first, hex, 8);
    first[8] = '\0';
    unsigned long v = strtoul(first, NULL, 16) % 100;
    return v < 80 ? 0 : v < 90 ? 1 : 2;
}

/* ---- fetching the package ---------------------------------------------------------------- */

/* Finds the package's files: "/" when installed, else downloads and unpacks it into
 * tmpdir/root. Fills version. */
static int locate_package(const char *pkg, const char *tmpdir, char *root, size_t rootlen,
                          char *version, size_t vlen) {
    char status[512] = "";
    char *q[] = {"dpkg-query", "-W", "-f=${Status}|${Version}", (char *)pkg, NULL};
    if (run_cmd(q, NULL, status, sizeof status, true) == 0 &&
        strncmp(status, "install ok installed|", 21) == 0) {
        snprintf(version, vlen, "%s", status + 21);
        snprintf(root, rootlen, "/");
        printf("using the installed package %s %s\n", pkg, version);
        return 0;
    }
    printf("fetching %s with apt-get download (not installed) ...\n", pkg);
    fflush(stdout);
    /* as root, apt would hand the download to its sandbox user, which cannot write our
     * private temporary directory: keep it as root (a warning otherwise) */
    char *dl[] = {"apt-get", "download", "-q", (char *)pkg, NULL, NULL, NULL};
    if (geteuid() == 0) dl[4] = "-o", dl[5] = "APT::Sandbox::User=root";
    if (run(dl, tmpdir, NULL, 0) != 0)
        return cli_error(cmd,
                         "apt-get download %s failed: install it (apt-get install %s) or check "
                         "that apt can reach a Debian mirror",
                         pkg, pkg);
    DIR *d = opendir(tmpdir);
    char deb[4096] = "";
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (ends_with(e->d_name, ".deb")) snprintf(deb, sizeof deb, "%s/%s", tmpdir, e->d_name);
    if (d) closedir(d);
    if (!*deb) return cli_error(cmd, "apt-get download %s produced no .deb file", pkg);
    snprintf(root, rootlen, "%s/root", tmpdir);
    char *x[] = {"dpkg-deb", "-x", deb, root, NULL};
    if (run(x, NULL, NULL, 0) != 0) return cli_error(cmd, "dpkg-deb -x %s failed", deb);
    char *f[] = {"dpkg-deb", "-f", deb, "Version", NULL};
    if (run(f, NULL, version, vlen) != 0 || !*version)
        return cli_error(cmd, "cannot read the version of %s", deb);
    printf("unpacked %s %s\n", pkg, version);
    return 0;
}

/* ---- the command --------------------------------------------------------------------------- */

int cmd_corpus(int argc, char **argv) {
    const char *from = NULL;
    int64_t min_bytes = 16384;
    cli_opt opts[] = {
        {"--from", OPT_STR, &from, 0, 0, "build from a directory of your own files instead", 0},
        {"--min-bytes", OPT_INT, &min_bytes, 1, (double)(1LL << 40), "keep documents of at least this size [16384]", 0},
    };
    char *pos[2];
    size_t npos = 0;
    const char *usage = "NAME DIR   (NAME: pydoc | linux; or --from PATH DIR)";
    int rc = cli_parse(cmd, usage, argc, argv, opts, 2, pos, 2, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    const char *name, *out;
    source_kind kind;
    if (from) {
        if (npos != 1) return cli_error(cmd, "with --from, give only the output directory");
        name = "custom", out = pos[0], kind = SRC_DIR;
    } else {
        if (npos != 2) return cli_error(cmd, "expects NAME DIR, e.g. lext corpus pydoc corpora/pydoc");
        name = pos[0], out = pos[1];
        if (strcmp(name, "pydoc") == 0) kind = SRC_PYDOC;
        else if (strcmp(name, "linux") == 0) kind = SRC_LINUX;
        else return cli_error(cmd, "unknown corpus '%s' (expected pydoc or linux, or --from PATH)", name);
    }
    /* never clobber a directory that is not a corpus */
    struct stat st;
    char marker[4096];
    snprintf(marker, sizeof marker, "%s/corpus.json", out);
    if (stat(out, &st) == 0) {
        DIR *d = opendir(out);
        int entries = 0;
        struct dirent *e;
        while (d && (e = readdir(d))) entries += e->d_name[0] != '.';
        if (d) closedir(d);
        if (entries > 0 && stat(marker, &st) != 0)
            return cli_error(cmd, "%s exists and is not a lext corpus (no corpus.json): refusing to replace it", out);
    }

    char tmpdir[] = "/tmp/lext-corpus-XXXXXX";
    if (!mkdtemp(tmpdir)) return cli_error(cmd, "cannot create a temporary directory: %s", strerror(errno));
    char root[2048], version[600] = "", src[4096];
    const char *pkg = kind == SRC_PYDOC ? "python3.11-doc" : kind == SRC_LINUX ? "linux-source-6.1" : NULL;
    rc = 0;
    if (kind == SRC_DIR) {
        snprintf(src, sizeof src, "%s", from);
        if (stat(src, &st) != 0 || !S_ISDIR(st.st_mode)) rc = cli_error(cmd, "--from %s is not a directory", from);
    } else {
        rc = locate_package(pkg, tmpdir, root, sizeof root, version, sizeof version);
    }
    if (!rc && kind == SRC_PYDOC) {
        snprintf(src, sizeof src, "%s/usr/share/doc/python3.11/html/_sources", strcmp(root, "/") ? root : "");
        if (stat(src, &st) != 0) rc = cli_error(cmd, "%s not found in the package", src);
    }
    if (!rc && kind == SRC_LINUX) {
        char tarball[4096];
        snprintf(tarball, sizeof tarball, "%s/usr/src/linux-source-6.1.tar.xz", strcmp(root, "/") ? root : "");
        snprintf(src, sizeof src, "%s/src", tmpdir);
        mkdirs(src);
        printf("extracting kernel sources ...\n");
        fflush(stdout);
        char *t[] = {"tar", "-xJf", tarball, "-C", src, "linux-source-6.1/kernel", "linux-source-6.1/mm",
                     "linux-source-6.1/lib", "linux-source-6.1/block", "linux-source-6.1/ipc",
                     "linux-source-6.1/io_uring", "linux-source-6.1/init", NULL};
        if (run(t, NULL, NULL, 0) != 0) rc = cli_error(cmd, "cannot extract %s", tarball);
        strncat(src, "/linux-source-6.1", sizeof src - strlen(src) - 1);
    }
    doc_list l = {0};
    size_t small = 0;
    if (!rc) rc = walk(&l, kind, src, "", (size_t)min_bytes, &small);
    if (!rc && l.n == 0) rc = cli_error(cmd, "no document of at least %lld bytes in %s", (long long)min_bytes, src);

    /* write into a fresh directory beside out, then swap it in */
    char staging[4096];
    snprintf(staging, sizeof staging, "%s.tmp-%ld", out, (long)getpid());
    static const char *split_names[3] = {"train", "valid", "test"};
    size_t count[3] = {0}, bytes[3] = {0};
    FILE *man[3] = {0};
    if (!rc) {
        qsort(l.d, l.n, sizeof *l.d, by_id);
        if (mkdirs(staging) != 0) rc = cli_error(cmd, "cannot create %s: %s", staging, strerror(errno));
        for (int s = 0; !rc && s < 3; s++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/%s.tsv", staging, split_names[s]);
            if (!(man[s] = fopen(p, "w"))) rc = cli_error(cmd, "cannot write %s", p);
        }
    }
    for (size_t i = 0; !rc && i < l.n; i++) {
        size_t len;
        unsigned char *data = read_file(l.d[i].path, &len);
        if (!data) {
            rc = cli_error(cmd, "cannot read %s", l.d[i].path);
            break;
        }
        char hex[65], dst[8400];
        sha256_hex(data, len, hex);
        int s = split_of(l.d[i].id);
        snprintf(dst, sizeof dst, "%s/%s/%s", staging, split_names[s], l.d[i].id);
        char *slash = strrchr(dst, '/');
        *slash = '\0';
        if (mkdirs(dst) != 0) rc = cli_error(cmd, "cannot create %s", dst);
        *slash = '/';
        FILE *f = rc ? NULL : fopen(dst, "wb");
        if (!rc && (!f || fwrite(data, 1, len, f) != len)) rc = cli_error(cmd, "cannot write %s", dst);
        if (f && fclose(f) != 0 && !rc) rc = cli_error(cmd, "cannot write %s", dst);
        free(data);
        if (!rc) {
            fprintf(man[s], "%s\t%zu\t%s\n", l.d[i].id, len, hex);
            count[s]++;
            bytes[s] += len;
        }
    }
    for (int s = 0; s < 3; s++)
        if (man[s] && fclose(man[s]) != 0 && !rc) rc = cli_error(cmd, "cannot write a manifest");
    if (!rc) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", name);
        cJSON_AddStringToObject(j, "package", pkg ? pkg : "");
        cJSON_AddStringToObject(j, "version", version);
        cJSON_AddStringToObject(j, "source", kind == SRC_DIR ? from : pkg);
        cJSON_AddNumberToObject(j, "min_bytes", (double)min_bytes);
        cJSON_AddStringToObject(j, "split_rule", "sha256(id)[:8] as integer mod 100: <80 train, 80-89 valid, 90-99 test");
        for (int s = 0; s < 3; s++) {
            cJSON *o = cJSON_AddObjectToObject(j, split_names[s]);
            cJSON_AddNumberToObject(o, "documents", (double)count[s]);
            cJSON_AddNumberToObject(o, "bytes", (double)bytes[s]);
        }
        char *txt = cJSON_Print(j);
        cJSON_Delete(j);
        char p[4200];
        snprintf(p, sizeof p, "%s/corpus.json", staging);
        FILE *f = fopen(p, "w");
        if (!f || !txt || fprintf(f, "%s\n", txt) < 0) rc = cli_error(cmd, "cannot write %s", p);
        if (f && fclose(f) != 0 && !rc) rc = cli_error(cmd, "cannot write %s", p);
        free(txt);
    }
    if (!rc) {
        if (stat(out, &st) == 0 && rm_rf(out) != 0) rc = cli_error(cmd, "cannot replace %s", out);
        else if (rename(staging, out) != 0) rc = cli_error(cmd, "cannot move %s to %s: %s", staging, out, strerror(errno));
    }
    if (rc) rm_rf(staging);
    rm_rf(tmpdir);
    if (!rc) {
        size_t total = count[0] + count[1] + count[2], tb = bytes[0] + bytes[1] + bytes[2];
        printf("%s: %zu documents (%zu train / %zu valid / %zu test), %.2f MB, %zu files under %lld bytes left out",
               name, total, count[0], count[1], count[2], (double)tb / 1e6, small, (long long)min_bytes);
        if (pkg) printf(", from %s %s", pkg, version);
        printf(" -> %s\n", out);
    }
    for (size_t i = 0; i < l.n; i++) free(l.d[i].id), free(l.d[i].path);
    free(l.d);
    return rc;
}
