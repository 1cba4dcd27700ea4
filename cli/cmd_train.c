/* cmd_train.c - `lext train`: options in, lext_train() does the work, reports out. */
#include "args.h"
#include "commands.h"
#include "lext.h"

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
} display;

static void end_line(display *d) {
    if (d->line_open) fputc('\n', stdout);
    d->line_open = false;
}

static void report(const lext_train_report *r, void *user) {
    display *d = user;
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
    lext_train_opts o;
    lext_train_opts_default(&o);
    const char *pos = "xpos", *precision = NULL, *data = NULL, *val = NULL, *out = "model.safetensors", *resume = NULL;
    int64_t layers = 4, heads = 4, dim = 256, ffn = 0, train_len = 256, batch = 16, steps = 1000;
    int64_t warmup = -1, eval_every = 0, save_every = 0, stop_after = 0, log_every = 0;
    int64_t val_batches = 8, seed = 1, threads = 0;
    double lr = 3e-4, min_lr = 0.1, wd = 0.01, clip = 1.0, b1 = 0.9, b2 = 0.98, eps = 1e-6;
    double gamma = 0.4, scale_base = 512, rope_base = 10000;
    bool untied = false;
    cli_opt opts[] = {
        {"--data", OPT_STR, &data, 0, 0, "training text: a file, or a directory of documents", 0},
        {"--val", OPT_STR, &val, 0, 0, "validation text (file or directory)", 0},
        {"--out", OPT_STR, &out, 0, 0, "checkpoint to write [model.safetensors]", 0},
        {"--resume", OPT_STR, &resume, 0, 0, "continue a training checkpoint exactly", 0},
        {"--pos", OPT_STR, &pos, 0, 0, "none|sinusoidal|learned|alibi|rope|xpos [xpos]", 0},
        {"--layers", OPT_INT, &layers, 1, 1024, "transformer blocks [4]", 0},
        {"--heads", OPT_INT, &heads, 1, 1024, "attention heads [4]", 0},
        {"--dim", OPT_INT, &dim, 1, 65536, "model width [256]", 0},
        {"--ffn", OPT_INT, &ffn, 1, 262144, "MLP width [4 x dim]", 0},
        {"--train-len", OPT_INT, &train_len, 2, 1 << 20, "training length in bytes [256]", 0},
        {"--untied", OPT_FLAG, &untied, 0, 0, "separate output projection", 0},
        {"--xpos-gamma", OPT_NUM, &gamma, 1e-9, 1e9, "XPOS gamma [0.4]", 0},
        {"--xpos-scale-base", OPT_NUM, &scale_base, 1e-9, 1e12, "XPOS scale base [512]", 0},
        {"--rope-base", OPT_NUM, &rope_base, 1.000001, 1e12, "rotary frequency base [10000]", 0},
        {"--batch", OPT_INT, &batch, 1, 1 << 20, "sequences per step [16]", 0},
        {"--steps", OPT_INT, &steps, 1, (double)(1LL << 40), "total optimizer steps [1000]", 0},
        {"--lr", OPT_NUM, &lr, 1e-12, 10, "peak learning rate [3e-4]", 0},
        {"--warmup", OPT_INT, &warmup, 0, (double)(1LL << 40), "warm-up steps [min(100, steps/10)]", 0},
        {"--min-lr-ratio", OPT_NUM, &min_lr, 0, 1, "final lr as a fraction of the peak [0.1]", 0},
        {"--weight-decay", OPT_NUM, &wd, 0, 10, "AdamW decoupled weight decay [0.01]", 0},
        {"--grad-clip", OPT_NUM, &clip, 0, 1e9, "max gradient norm, 0 = off [1.0]", 0},
        {"--beta1", OPT_NUM, &b1, 0, 0.999999999, "Adam beta1 [0.9]", 0},
        {"--beta2", OPT_NUM, &b2, 0, 0.999999999, "Adam beta2 [0.98]", 0},
        {"--eps", OPT_NUM, &eps, 1e-30, 1, "Adam epsilon [1e-6]", 0},
        {"--eval-every", OPT_INT, &eval_every, 0, (double)(1LL << 40), "validate every K steps [end only]", 0},
        {"--val-batches", OPT_INT, &val_batches, 1, 1 << 20, "validation windows = this x batch [8]", 0},
        {"--save-every", OPT_INT, &save_every, 0, (double)(1LL << 40), "checkpoint every K steps [end only]", 0},
        {"--stop-after", OPT_INT, &stop_after, 0, (double)(1LL << 40), "stop (and save) after K steps of this run", 0},
        {"--log-every", OPT_INT, &log_every, 1, (double)(1LL << 40), "report every K steps [1 on a terminal, else 10]", 0},
        {"--seed", OPT_INT, &seed, 0, (double)INT64_MAX, "initialisation and data order [1]", 0},
        {"--precision", OPT_STR, &precision, 0, 0,
         "matrix products: fp32, or bf16 (fp32 master weights) [fp32; on resume the checkpoint's]", 0},
        {"--threads", OPT_INT, &threads, 1, 4096, "threads [all cores]", 0},
    };
    const size_t n = sizeof opts / sizeof *opts;
    int rc = cli_parse(cmd, "--data PATH [options]", argc, argv, opts, n, NULL, 0, NULL);
    if (rc) return rc == 1 ? 0 : rc;

    if (resume) {
        static const char *fixed[] = {"--pos", "--layers", "--heads", "--dim", "--ffn",
                                      "--train-len", "--untied", "--xpos-gamma",
                                      "--xpos-scale-base", "--rope-base", "--lr", "--warmup",
                                      "--min-lr-ratio", "--weight-decay", "--grad-clip",
                                      "--beta1", "--beta2", "--eps", "--seed"};
        for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
            if (cli_find(opts, n, fixed[i])->given)
                return cli_error(cmd, "%s cannot change when resuming: the checkpoint fixes the "
                                      "model, the optimizer and the seed",
                                 fixed[i]);
    } else if (!data) {
        return cli_error(cmd, "--data PATH is required (a text file or a directory of documents)");
    }
    if (!resume) {
        if (lext_pos_parse(pos, &o.model.pos)) return cli_lib_error(cmd, "--pos");
        o.model.n_layer = (int)layers;
        o.model.n_head = (int)heads;
        o.model.d_model = (int)dim;
        o.model.d_ff = (int)(ffn ? ffn : 4 * dim);
        o.model.train_len = (int)train_len;
        o.model.tied = !untied;
        o.model.xpos_gamma = gamma;
        o.model.xpos_scale_base = scale_base;
        o.model.rope_base = rope_base;
        if (lext_config_validate(&o.model)) return cli_lib_error(cmd, "model");
        lext_optim_config_default(&o.optim, steps);
        o.optim.lr = lr;
        if (warmup >= 0) o.optim.warmup = warmup;
        o.optim.min_lr_ratio = min_lr;
        o.optim.weight_decay = wd;
        o.optim.grad_clip = clip;
        o.optim.beta1 = b1;
        o.optim.beta2 = b2;
        o.optim.eps = eps;
    }
    if (precision && lext_precision_parse(precision, &o.precision))
        return cli_lib_error(cmd, "--precision");
    display d = {is_tty(STDOUT_FILENO), false, NULL};
    o.data = data;
    o.val = val;
    o.resume = resume;
    o.out = cli_find(opts, n, "--out")->given || !resume ? out : resume;
    d.out = o.out;
    o.batch = resume && !cli_find(opts, n, "--batch")->given ? 0 : batch;
    o.steps = resume && !cli_find(opts, n, "--steps")->given ? 0 : steps;
    o.eval_every = eval_every;
    o.save_every = save_every;
    o.stop_after = stop_after;
    o.log_every = log_every ? log_every : d.tty ? 1 : 10;
    o.val_batches = val_batches;
    o.seed = (uint64_t)seed;
    o.stop = &stop_requested;
    o.report = report;
    o.user = &d;
    lext_set_threads((int)threads);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    lext_status s = lext_train(&o);
    end_line(&d);
    if (s) return cli_lib_error(cmd, "training failed");
    return 0;
}
