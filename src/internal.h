/*
 * internal.h - helpers shared by the library's modules: error reporting, checked
 * allocation, the programmer-error assertion, OpenMP guards. Not part of the public API.
 */
#ifndef LEXT_INTERNAL_H
#define LEXT_INTERNAL_H

#include "lext.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Records a detailed message for lext_last_error() and returns s, so that a failure
 * reads `return lext_fail(LEXT_ERR_DATA, "no document in %s", path);`. */
lext_status lext_fail(lext_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation that reports the size asked for on failure; memory is zeroed and 64-byte
 * aligned (for AVX-512 loads). Release with lext_free (never free: see error.c). */
lext_status lext_alloc(void **out, size_t bytes, const char *what);
void lext_free(void *p);
/* "12.3 GiB" (binary units; "512 bytes" below 1 KiB), for messages. */
void lext_fmt_bytes(char *buf, size_t n, double bytes);

/* Removes the temporary files "<path>.tmp.<pid>" that lext_checkpoint_save leaves beside
 * path when its process dies mid-write (SIGKILL, a crash), for pids that no longer run.
 * Returns how many it removed. */
size_t checkpoint_remove_stale(const char *path);

/* Programmer errors (broken internal invariants), never bad input: print and abort. */
#define LEXT_ASSERT(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "lext: internal error at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Propagates a failing status. */
#define LEXT_TRY(expr)                                                                     \
    do {                                                                                   \
        lext_status lext_try_s_ = (expr);                                                  \
        if (lext_try_s_ != LEXT_OK) return lext_try_s_;                                    \
    } while (0)

static inline int lext_num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static inline int lext_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Inside a parallel region: this thread's share [*lo, *hi) of n columns. Reductions over
 * rows (weight gradients, scatter-adds) split their output columns this way, so each
 * thread owns its outputs and adds rows in one order whatever the thread count. */
static inline void lext_thread_cols(int64_t n, int64_t *lo, int64_t *hi) {
    int nt = 1, t = 0;
#ifdef _OPENMP
    nt = omp_get_num_threads();
    t = omp_get_thread_num();
#endif
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

#endif
