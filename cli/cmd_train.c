/* cmd_train.c - `lext train`: options in, lext_train() does the work, reports out. */
#include "args.h"
#include "commands.h"
#include "lext.h"
#include "parallel.h"
#include "trainopts.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile int stop_requested;
static void on_sigint(int sig) {
    (void)sig;
    if (stop_requested) signal(SIGINT, SIG_DFL); /* a second Ctrl-C kills */
    stop_requested = 1;
}

typedef struct {
    bool tty;
    bool line_open; /* a \r progress line is on screen */
    const char *out; /* the checkpoint path */
    bool quiet;      /* a rank other than 0: rank 0 reports for all */
} display;

static void end_line(display *d) {
    if (d->line_open) fputc('\n', stdout);
    d->line_open = false;
}

static void report(const lext_train_report *r, void *user) {
    display *d = user;
    if (d->quiet) return;
    char el[32], eta[32], tps[32];
    switch (r->event) {
    case LEXT_TRAIN_START: {
        const lext_config *c = r->config;
        char np[32], bytes[32];
        fmt_count(np, sizeof np, (double)r->n_params);
        fmt_count(bytes, sizeof bytes, (double)r->data_bytes);
        printf("model: %s, %d layers, %d heads, dim %d, ffn %d, train length %d, %s, %s parameters\n",
               lext_pos_name(c->pos), c->n_layer, c->n_head, c->d_model, c->d_ff, c->train_len,
               c->tied ? "tied embedding" : "untied head", np);
        printf("data: %zu documents used (%s bytes), %zu skipped as shorter than %d bytes\n",
               r->n_docs, bytes, r->n_skipped, c->train_len + 1);
        if (r->n_val_docs || r->n_val_skipped)
            printf("validation: %zu documents used, %zu skipped\n", r->n_val_docs, r->n_val_skipped);
        if (r->machine_before)
            printf("note: this checkpoint was trained on another machine or engine; the resumed "
                   "steps will not be bit-identical to an uninterrupted run\n  checkpoint: %s\n  "
                   "now:        %s\n",
                   r->machine_before, r->machine_now);
        if (r->n_stale_tmp)
            printf("removed %zu temporary file(s) %s.tmp.PID left by runs killed while saving\n",
                   r->n_stale_tmp, d->out);
        printf("%s at step %lld of %lld, batch %lld x %d tokens, %s, %d threads\n",
               r->resumed ? "resuming" : "training", (long long)r->start_step,
               (long long)r->total_steps, (long long)r->batch, c->train_len,
               r->precision == LEXT_PRECISION_BF16
                   ? "bf16 matrix products (operands rounded to bf16, fp32 accumulation and "
                     "master weights)"
                   : "fp32",
               lext_get_threads());
        break;
    }
    case LEXT_TRAIN_STEP:
        fmt_duration(el, sizeof el, r->elapsed_s);
        fmt_duration(eta, sizeof eta, r->eta_s);
        fmt_count(tps, sizeof tps, r->tokens_per_s);
        if (d->tty) {
            printf("\r\033[Kstep %lld/%lld  loss %.4f  lr %.2e  %s tok/s  %s elapsed  ETA %s",
                   (long long)r->step, (long long)r->total_steps, (double)r->loss, r->lr, tps, el,
                   eta);
            d->line_open = true;
        } else {
            printf("step %lld/%lld loss %.6f lr %.3e grad_norm %.3f tok/s %s elapsed %s eta %s\n",
                   (long long)r->step, (long long)r->total_steps, (double)r->loss, r->lr,
                   (double)r->grad_norm, tps, el, eta);
        }
        break;
    case LEXT_TRAIN_VAL:
        end_line(d);
        printf("step %lld: validation loss %.4f (perplexity %.3f, %.4f bits per byte, %lld tokens)\n",
               (long long)r->step, (double)r->val_loss, exp((double)r->val_loss),
               (double)r->val_loss / log(2.0), (long long)r->val_tokens);
        break;
    case LEXT_TRAIN_SAVE:
        end_line(d);
        printf("step %lld: saved %s\n", (long long)r->step, r->path);
        break;
    case LEXT_TRAIN_STOP:
        end_line(d);
        printf("stopped at step %lld of %lld; resume with: lext train --resume %s\n",
               (long long)r->step, (long long)r->total_steps, r->path);
        break;
    }
    fflush(stdout);
}

int cmd_train(int argc, char **argv) {
    const char *cmd = "train";
    train_args a;
    train_args_init(&a);
    int rc = cli_parse(cmd, "--data PATH [options]", argc, argv, a.opts, a.n_opts, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;
    display d = {is_tty(STDOUT_FILENO), false, NULL, false};
    lext_train_opts o;
    lext_train_more more;
    rc = train_args_apply(&a, d.tty, &o, &more);
    if (rc) return rc;
    d.out = o.out;
    o.stop = &stop_requested;
    o.report = report;
    o.user = &d;
    lext_set_threads((int)a.threads);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* under mpirun: every rank trains, rank 0 reports and writes the checkpoints */
    cli_mpi par;
    if (cli_mpi_start(cmd, &par, a.timeout)) return 1;
    if (par.comm.size > 1) more.comm = &par.comm;
    d.quiet = par.comm.rank != 0;
    if (o.resume && !a.resume && !d.quiet)
        printf("%s holds this very run (same model, optimizer, schedule, seed, batch and data): "
               "continuing it (remove it or change --out to start over)\n",
               o.resume);
    if (par.comm.size > 1 && !d.quiet)
        printf("data-parallel over %d ranks (the exchange sums in rank order; --timeout %g s)\n",
               par.comm.size, a.timeout);
    lext_status s = lext_train_with(&o, &more);
    end_line(&d);
    int status = 0;
    if (s) {
        char what[64];
        snprintf(what, sizeof what, par.comm.size > 1 ? "training failed on rank %d" : "training failed",
                 par.comm.rank);
        status = cli_lib_error(cmd, what);
    }
    if (par.comm.size > 1 && !d.quiet) {
        double es;
        long en;
        size_t ef;
        cli_mpi_exchange_stats(&es, &en, &ef);
        if (en > 0)
            printf("gradient exchange: %.2f ms per step (%ld steps, %zu floats = %.1f MB per rank)\n",
                   1e3 * es / (double)en, en, ef, (double)ef * 4 / 1e6);
    }
    cli_mpi_finish(&par, status);
    return status;
}
