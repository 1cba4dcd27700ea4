/*
 * args.h - strict command-line parsing for every lext command: a table of options per
 * command, values checked against their ranges, one message naming the option, the value
 * and what was expected on any error.
 */
#ifndef LEXT_CLI_ARGS_H
#define LEXT_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- values ---------------------------------------------------------------------------- */

/* Whole string must be a base-10 integer in [min, max]; no spaces, no trailing junk.
 * Returns 0 on success; on failure writes a reason into err (errlen bytes). */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen);
/* Whole string must be a finite number in [min, max]. */
int parse_f64(const char *s, double min, double max, double *out, char *err, size_t errlen);
/* A multiple such as "4x", "0.5x" or "2": a number in [min, max], optionally followed by
 * one 'x' or 'X' (`lext experiment --budget`). */
int parse_multiple(const char *s, double min, double max, double *out, char *err, size_t errlen);
/* Comma-separated integers, each in [min, max], at most cap of them (e.g. "256,512,1024").
 * *n receives the count. Empty items are errors. */
int parse_i64_list(const char *s, int64_t min, int64_t max, int64_t *out, size_t cap, size_t *n,
                   char *err, size_t errlen);
/* Comma-separated words (e.g. "causal,bca"): splits s in place into at most cap items. */
int parse_word_list(char *s, char **out, size_t cap, size_t *n, char *err, size_t errlen);

/* ---- options --------------------------------------------------------------------------- */

typedef enum { OPT_INT, OPT_NUM, OPT_STR, OPT_FLAG } opt_kind;

typedef struct {
    const char *name; /* "--steps" */
    opt_kind kind;
    void *dst;        /* int64_t*, double*, const char**, bool* */
    double min, max;  /* range for OPT_INT / OPT_NUM */
    const char *help; /* one line; the default in brackets */
    bool given;       /* set by the parser */
} cli_opt;

/* Parses argv[0..argc) of command `cmd` ("train") against opts. Non-option words go to
 * positional (at most npos_cap; *npos receives the count; pass NULL to forbid them).
 * --help prints usage and returns 1; errors print one message and return 2; success
 * returns 0. Accepts "--name value" and "--name=value". */
int cli_parse(const char *cmd, const char *usage, int argc, char **argv, cli_opt *opts,
              size_t nopts, char **positional, size_t npos_cap, size_t *npos);
void cli_usage(const char *cmd, const char *usage, const cli_opt *opts, size_t nopts);
/* The entry called name, for checking `given`. */
const cli_opt *cli_find(const cli_opt *opts, size_t nopts, const char *name);

/* "lext <cmd>: <message>" on stderr; returns 1 (the exit status for failures). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports the library's last error for a failed call: "lext <cmd>: <what>: <detail>". */
int cli_lib_error(const char *cmd, const char *what);

/* ---- display --------------------------------------------------------------------------- */

/* h:mm:ss or m:ss */
void fmt_duration(char *buf, size_t n, double seconds);
/* Seconds on a monotonic clock, for timings and progress. */
double cli_now(void);
/* 12,345 */
void fmt_count(char *buf, size_t n, double v);
bool is_tty(int fd);

#endif
