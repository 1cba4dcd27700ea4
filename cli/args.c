/* args.c - strict parsing of numbers, lists and options (see args.h). */
#include "args.h"
#include "lext.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen) {
    if (!s || !*s) {
        snprintf(err, errlen, "an empty value is not an integer");
        return -1;
    }
    /* strtoll skips any leading white space (\v, \f and \r too) and takes a '+' */
    if (isspace((unsigned char)s[0]) || s[0] == '+') {
        snprintf(err, errlen, "'%s' is not an integer", s);
        return -1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end) {
        snprintf(err, errlen, "'%s' is not an integer", s);
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        snprintf(err, errlen, "%s is out of range [%lld, %lld]", s, (long long)min, (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int parse_f64(const char *s, double min, double max, double *out, char *err, size_t errlen) {
    if (!s || !*s) {
        snprintf(err, errlen, "an empty value is not a number");
        return -1;
    }
    if (isspace((unsigned char)s[0])) { /* as strtod would skip it */
        snprintf(err, errlen, "'%s' is not a number", s);
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end) {
        snprintf(err, errlen, "'%s' is not a number", s);
        return -1;
    }
    if (!isfinite(v) || errno == ERANGE || v < min || v > max) {
        snprintf(err, errlen, "%s is out of range [%g, %g]", s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int parse_multiple(const char *s, double min, double max, double *out, char *err, size_t errlen) {
    char buf[64];
    size_t n = s ? strlen(s) : 0;
    if (n >= sizeof buf) { /* copied whole or not at all: a cut could drop trailing junk */
        snprintf(err, errlen, "'%.20s...' is too long", s);
        return -1;
    }
    memcpy(buf, s ? s : "", n + 1);
    if (n > 0 && (buf[n - 1] == 'x' || buf[n - 1] == 'X')) buf[n - 1] = '\0';
    return parse_f64(buf, min, max, out, err, errlen);
}

int parse_i64_list(const char *s, int64_t min, int64_t max, int64_t *out, size_t cap, size_t *n,
                   char *err, size_t errlen) {
    *n = 0;
    if (!s || !*s) {
        snprintf(err, errlen, "an empty list");
        return -1;
    }
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[64];
        if (len == 0 || len >= sizeof item) {
            snprintf(err, errlen, len ? "item '%.20s...' is too long" : "an empty item in '%s'",
                     len ? p : s);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (*n == cap) {
            snprintf(err, errlen, "more than %zu items", cap);
            return -1;
        }
        if (parse_i64(item, min, max, &out[*n], err, errlen)) return -1;
        (*n)++;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

int parse_word_list(char *s, char **out, size_t cap, size_t *n, char *err, size_t errlen) {
    *n = 0;
    if (!s || !*s) {
        snprintf(err, errlen, "an empty list");
        return -1;
    }
    char *p = s;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = '\0';
        if (!*p) {
            snprintf(err, errlen, "an empty item");
            return -1;
        }
        if (*n == cap) {
            snprintf(err, errlen, "more than %zu items", cap);
            return -1;
        }
        out[(*n)++] = p;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lext %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

int cli_lib_error(const char *cmd, const char *what) {
    return cli_error(cmd, "%s: %s", what, lext_last_error());
}

void cli_usage(const char *cmd, const char *usage, const cli_opt *opts, size_t nopts) {
    printf("usage: lext %s %s\n\noptions:\n", cmd, usage);
    for (size_t i = 0; i < nopts; i++) {
        const char *arg = opts[i].kind == OPT_INT   ? " N"
                          : opts[i].kind == OPT_NUM ? " X"
                          : opts[i].kind == OPT_STR ? " S"
                                                    : "";
        char left[64];
        snprintf(left, sizeof left, "%s%s", opts[i].name, arg);
        printf("  %-24s %s\n", left, opts[i].help);
    }
}

const cli_opt *cli_find(const cli_opt *opts, size_t nopts, const char *name) {
    for (size_t i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0) return &opts[i];
    return NULL;
}

int cli_parse(const char *cmd, const char *usage, int argc, char **argv, cli_opt *opts,
              size_t nopts, char **positional, size_t npos_cap, size_t *npos) {
    if (npos) *npos = 0;
    bool only_positional = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (!only_positional && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            cli_usage(cmd, usage, opts, nopts);
            return 1;
        }
        if (!only_positional && strcmp(a, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            if (!positional || !npos || *npos >= npos_cap) {
                cli_error(cmd, "unexpected argument '%s' (see lext %s --help)", a, cmd);
                return 2;
            }
            positional[(*npos)++] = a;
            continue;
        }
        /* --name or --name=value */
        char name[64];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name) nl = sizeof name - 1;
        memcpy(name, a, nl);
        name[nl] = '\0';
        cli_opt *o = NULL;
        for (size_t k = 0; k < nopts; k++)
            if (strcmp(opts[k].name, name) == 0) o = &opts[k];
        if (!o) {
            cli_error(cmd, "unknown option %s (see lext %s --help)", name, cmd);
            return 2;
        }
        if (o->given) {
            cli_error(cmd, "option %s given twice", name);
            return 2;
        }
        o->given = true;
        if (o->kind == OPT_FLAG) {
            if (eq) {
                cli_error(cmd, "option %s takes no value", name);
                return 2;
            }
            *(bool *)o->dst = true;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            cli_error(cmd, "option %s needs a value", name);
            return 2;
        }
        char err[256];
        int bad = 0;
        if (o->kind == OPT_INT) {
            /* doubles at the int64 edge do not convert back: clamp explicitly */
            int64_t lo = o->min <= -9.2e18 ? INT64_MIN : (int64_t)o->min;
            int64_t hi = o->max >= 9.2e18 ? INT64_MAX : (int64_t)o->max;
            bad = parse_i64(val, lo, hi, (int64_t *)o->dst, err, sizeof err);
        }
        else if (o->kind == OPT_NUM)
            bad = parse_f64(val, o->min, o->max, (double *)o->dst, err, sizeof err);
        else if (!*val) {
            snprintf(err, sizeof err, "an empty value");
            bad = 1;
        } else
            *(const char **)o->dst = val;
        if (bad) {
            cli_error(cmd, "%s: %s", name, err);
            return 2;
        }
    }
    return 0;
}

void fmt_duration(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void fmt_count(char *buf, size_t n, double v) {
    char raw[32];
    snprintf(raw, sizeof raw, "%.0f", v);
    size_t len = strlen(raw), o = 0;
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i > 0 && raw[0] != '-' && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
}

bool is_tty(int fd) { return isatty(fd) == 1; }

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
