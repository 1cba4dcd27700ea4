/*
 * harness.h - a plain test harness: TEST() registers a function, CHECK() records a failure
 * with its location and message without stopping the test, and main() runs every test (or
 * those whose names contain argv[1]) and ends with "<binary>: N passed, M failed",
 * exiting non-zero if anything failed. tests/run.sh adds these lines up.
 */
#ifndef LEXT_HARNESS_H
#define LEXT_HARNESS_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
static struct {
    const char *name;
    test_fn fn;
} h_tests[256];
static int h_ntests, h_failed_checks;

#define TEST(test_)                                                                        \
    static void test_(void);                                                               \
    __attribute__((constructor)) static void h_reg_##test_(void) {                         \
        h_tests[h_ntests].name = #test_;                                                   \
        h_tests[h_ntests++].fn = test_;                                                    \
    }                                                                                      \
    static void test_(void)

__attribute__((format(printf, 4, 5))) static int h_check(int ok, const char *file, int line,
                                                         const char *fmt, ...) {
    if (!ok) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "  FAIL %s:%d: ", file, line);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        h_failed_checks++;
    }
    return ok;
}

/* CHECK(cond, "printf-style message", ...) */
#define CHECK(cond, ...) h_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
/* a <= tol, printing both */
#define CHECK_LE(a, tol, what)                                                             \
    CHECK((a) <= (tol), "%s: %.3g exceeds %.3g", what, (double)(a), (double)(tol))

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    int passed = 0, failed = 0;
    for (int i = 0; i < h_ntests; i++) {
        if (filter && !strstr(h_tests[i].name, filter)) continue;
        int before = h_failed_checks;
        h_tests[i].fn();
        int ok = h_failed_checks == before;
        printf("%s %s\n", ok ? "ok  " : "FAIL", h_tests[i].name);
        fflush(stdout);
        ok ? passed++ : failed++;
    }
    printf("%s: %d passed, %d failed\n", prog, passed, failed);
    return failed ? 1 : 0;
}

/* ---- shared helpers ------------------------------------------------------------------------ */

static unsigned long long h_seed = 88172645463325252ULL;
__attribute__((unused)) static double h_rand(void) { /* uniform in [-1, 1), xorshift64 */
    h_seed ^= h_seed << 13;
    h_seed ^= h_seed >> 7;
    h_seed ^= h_seed << 17;
    return (double)(h_seed >> 11) * 0x1.0p-52 - 1.0;
}
__attribute__((unused)) static void h_fill(float *x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * h_rand());
}
/* max |a - b| / max |b| over n values (b the reference); 0 when both are all zero */
__attribute__((unused)) static double h_rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        num = d > num ? d : num;
        den = fabs((double)b[i]) > den ? fabs((double)b[i]) : den;
    }
    return den > 0 ? num / den : num;
}

#endif
