/* error.c - status names, the per-thread detailed error message, checked allocation. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

static _Thread_local char last_error[1024];

const char *lext_status_name(lext_status s) {
    switch (s) {
    case LEXT_OK: return "ok";
    case LEXT_ERR_NOMEM: return "out of memory";
    case LEXT_ERR_IO: return "i/o error";
    case LEXT_ERR_FORMAT: return "malformed file";
    case LEXT_ERR_CONFIG: return "invalid configuration";
    case LEXT_ERR_ARG: return "invalid argument";
    case LEXT_ERR_DATA: return "unusable data";
    case LEXT_ERR_NUMERIC: return "numerical failure";
    case LEXT_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *lext_last_error(void) { return last_error; }

lext_status lext_fail(lext_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

void lext_fmt_bytes(char *buf, size_t n, double bytes) {
    static const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 6) bytes /= 1024.0, u++;
    if (u == 0) snprintf(buf, n, "%.0f bytes", bytes);
    else snprintf(buf, n, "%.1f %s", bytes, units[u]);
}

/* The block comes from calloc rather than aligned_alloc + memset: for a large block calloc
 * maps fresh pages that are zero already, so asking for many GiB costs nothing until the
 * memory is used, and a run that cannot have all it needs fails at once instead of after
 * writing zeros over part of it. calloc aligns to 16 only, so the block is over-allocated
 * by 64 bytes and the distance from calloc's pointer to the aligned one (1 to 64) is kept
 * in the byte just below the aligned one, for lext_free. The size is rounded up to 64 bytes
 * as before (whole vectors at the end). */
lext_status lext_alloc(void **out, size_t bytes, const char *what) {
    *out = NULL;
    if (bytes == 0) bytes = 64;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    unsigned char *base = rounded < bytes || rounded > SIZE_MAX - 64 /* overflow */
                              ? NULL
                              : calloc(1, rounded + 64);
    if (!base) {
        char size[32];
        lext_fmt_bytes(size, sizeof size, (double)bytes);
        return lext_fail(LEXT_ERR_NOMEM, "cannot allocate %zu bytes (%s) for %s", bytes, size,
                         what);
    }
    const size_t shift = 64 - (size_t)((uintptr_t)base % 64); /* in [1, 64] */
    base[shift - 1] = (unsigned char)shift;
    *out = base + shift;
    return LEXT_OK;
}

void lext_free(void *p) {
    if (!p) return;
    unsigned char *q = p;
    free(q - q[-1]);
}
