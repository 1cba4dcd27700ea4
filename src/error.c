/* error.c - status names and the per-thread detailed error message. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
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

lext_status lext_alloc(void **out, size_t bytes, const char *what) {
    *out = NULL;
    if (bytes == 0) bytes = 64;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) /* overflow */
        return lext_fail(LEXT_ERR_NOMEM, "cannot allocate %zu bytes for %s", bytes, what);
    void *p = aligned_alloc(64, rounded);
    if (!p)
        return lext_fail(LEXT_ERR_NOMEM, "cannot allocate %.1f MiB for %s",
                         (double)bytes / (1024.0 * 1024.0), what);
    memset(p, 0, rounded);
    *out = p;
    return LEXT_OK;
}

void lext_free(void *p) { free(p); }
