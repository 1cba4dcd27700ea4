/* trainopts.c - `lext train`'s option table and checks (see trainopts.h). */
#include "trainopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void train_args_init(train_args *a) {
    memset(a, 0, sizeof *a);
    a->pos = "xpos";
    a->out = "model.safetensors";
    a->layers = 4, a->heads = 4, a->dim = 256, a->train_len = 256, a->batch = 16, a->steps = 1000;
    a->warmup = -1, a->val_batches = 8, a->seed = 1;
    a->timeout = 600;
    a->lr = 3e-4, a->min_lr = 0.1, a->wd = 0.01, a->clip = 1.0, a->b1 = 0.9, a->b2 = 0.98,
    a->eps = 1e-6;
    a->gamma = 0.4, a->scale_base = 512, a->rope_base = 10000;
    const cli_opt opts[] = {
        {"--data", OPT_STR, &a->data, 0, 0, "training text: a file, or a directory of documents", 0},
        {"--val", OPT_STR, &a->val, 0, 0, "validation text (file or directory)", 0},
        {"--out", OPT_STR, &a->out, 0, 0, "checkpoint to write [model.safetensors]", 0},
        {"--resume", OPT_STR, &a->resume, 0, 0, "continue a training checkpoint exactly", 0},
        {"--init", OPT_STR, &a->init, 0, 0,
         "start from a checkpoint's weights and architecture, fresh optimizer and schedule", 0},
        {"--task", OPT_STR, &a->task, 0, 0,
         "passkey[:F]: replace a share F of each batch by passkey samples [text only; F 0.5]", 0},
        {"--pos", OPT_STR, &a->pos, 0, 0, "none|sinusoidal|learned|alibi|rope|xpos [xpos]", 0},
        {"--layers", OPT_INT, &a->layers, 1, 1024, "transformer blocks [4]", 0},
        {"--heads", OPT_INT, &a->heads, 1, 1024, "attention heads [4]", 0},
        {"--dim", OPT_INT, &a->dim, 1, 65536, "model width [256]", 0},
        {"--ffn", OPT_INT, &a->ffn, 1, 262144, "MLP width [4 x dim]", 0},
        {"--train-len", OPT_INT, &a->train_len, 2, 1 << 20, "training length in bytes [256]", 0},
        {"--untied", OPT_FLAG, &a->untied, 0, 0, "separate output projection", 0},
        {"--embed-scale", OPT_FLAG, &a->embed_scale, 0, 0,
         "token embeddings times sqrt(dim) before the position add [unscaled]", 0},
        {"--xpos-gamma", OPT_NUM, &a->gamma, 1e-9, 1e9, "XPOS gamma [0.4]", 0},
        {"--xpos-scale-base", OPT_NUM, &a->scale_base, 1e-9, 1e12, "XPOS scale base [512]", 0},
        {"--rope-base", OPT_NUM, &a->rope_base, 1.000001, 1e12, "rotary frequency base [10000]", 0},
        {"--batch", OPT_INT, &a->batch, 1, 1 << 20, "sequences per step [16]", 0},
        {"--steps", OPT_INT, &a->steps, 1, (double)(1LL << 40), "total optimizer steps [1000]", 0},
        {"--lr", OPT_NUM, &a->lr, 1e-12, 10, "peak learning rate [3e-4]", 0},
        {"--warmup", OPT_INT, &a->warmup, 0, (double)(1LL << 40), "warm-up steps [min(100, steps/10)]", 0},
        {"--min-lr-ratio", OPT_NUM, &a->min_lr, 0, 1, "final lr as a fraction of the peak [0.1]", 0},
        {"--weight-decay", OPT_NUM, &a->wd, 0, 10, "AdamW decoupled weight decay [0.01]", 0},
        {"--grad-clip", OPT_NUM, &a->clip, 0, 1e9, "max gradient norm, 0 = off [1.0]", 0},
        {"--beta1", OPT_NUM, &a->b1, 0, 0.999999999, "Adam beta1 [0.9]", 0},
        {"--beta2", OPT_NUM, &a->b2, 0, 0.999999999, "Adam beta2 [0.98]", 0},
        {"--eps", OPT_NUM, &a->eps, 1e-30, 1, "Adam epsilon [1e-6]", 0},
        {"--eval-every", OPT_INT, &a->eval_every, 0, (double)(1LL << 40), "validate every K steps [end only]", 0},
        {"--val-batches", OPT_INT, &a->val_batches, 1, 1 << 20, "validation windows = this x batch [8]", 0},
        {"--save-every", OPT_INT, &a->save_every, 0, (double)(1LL << 40), "checkpoint every K steps [end only]", 0},
        {"--stop-after", OPT_INT, &a->stop_after, 0, (double)(1LL << 40), "stop (and save) after K steps of this run", 0},
        {"--log-every", OPT_INT, &a->log_every, 1, (double)(1LL << 40), "report every K steps [1 on a terminal, else 10]", 0},
        {"--seed", OPT_INT, &a->seed, 0, (double)INT64_MAX, "initialisation and data order [1]", 0},
        {"--precision", OPT_STR, &a->precision, 0, 0,
         "matrix products: fp32, or bf16 (fp32 master weights) [fp32; on resume the checkpoint's]", 0},
        {"--threads", OPT_INT, &a->threads, 1, 4096, "threads [all cores]", 0},
        {"--accum", OPT_INT, &a->accum, 1, 1 << 20,
         "micro-batches per rank per step: batch / (accum x ranks) sequences each [1; on resume the checkpoint's]", 0},
        {"--timeout", OPT_NUM, &a->timeout, 0, 1e9,
         "with mpirun: end the job when a rank waits longer than this many seconds for the others, 0 = never [600]", 0},
    };
    _Static_assert(sizeof opts / sizeof *opts <= TRAIN_MAX_OPTS, "raise TRAIN_MAX_OPTS");
    a->n_opts = sizeof opts / sizeof *opts;
    memcpy(a->opts, opts, sizeof opts);
}

static bool given(const train_args *a, const char *name) {
    return cli_find(a->opts, a->n_opts, name)->given;
}

/* A number as the shortest of %.15g, %.16g, %.17g that reads back exactly, so that a
 * message shows 3e-04 as "0.0003" and two different values never print alike. */
static const char *num_str(char *buf, size_t n, double v) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

/* What --resume fixes: the model, the optimizer and the seed come from the checkpoint. An
 * option among those is accepted when its value equals the checkpoint's (the original
 * command with --resume added is a valid resume); a real change is refused, naming the
 * checkpoint's value and the command line's. The checkpoint is read only when one of
 * them was given. Returns 0 or the exit status after the message. */
static int check_resume(const train_args *a) {
    const char *cmd = "train";
    static const char *fixed[] = {"--pos", "--layers", "--heads", "--dim", "--ffn",
                                  "--train-len", "--untied", "--xpos-gamma",
                                  "--xpos-scale-base", "--rope-base", "--lr", "--warmup",
                                  "--min-lr-ratio", "--weight-decay", "--grad-clip",
                                  "--beta1", "--beta2", "--eps", "--seed", "--embed-scale"};
    const size_t n_fixed = sizeof fixed / sizeof *fixed;
    size_t i = 0;
    while (i < n_fixed && !given(a, fixed[i])) i++;
    if (i == n_fixed) return 0;

    lext_model *m = NULL;
    lext_train_state ts = {0};
    bool has_train = false;
    if (lext_checkpoint_load(a->resume, &m, &ts, &has_train))
        return cli_lib_error(cmd, "--resume");
    const lext_config c = *lext_model_config(m);
    lext_model_free(m);
    lext_train_state_free(&ts);
    if (!has_train)
        return cli_error(cmd, "%s holds a model but no training state (optimizer, step); it "
                              "cannot be resumed",
                         a->resume);
    const lext_optim_config *q = &ts.optim;
    /* the checkpoint's value and the command line's, per option: text for --pos and
     * --untied, integers or doubles (compared exactly: checkpoints store them exactly) */
    for (; i < n_fixed; i++) {
        const char *name = fixed[i];
        if (!given(a, name)) continue;
        char was[64], now[64];
        bool same;
        if (!strcmp(name, "--pos")) {
            lext_pos_kind k;
            if (lext_pos_parse(a->pos, &k)) return cli_lib_error(cmd, "--pos");
            same = k == c.pos;
            snprintf(was, sizeof was, "%s", lext_pos_name(c.pos));
            snprintf(now, sizeof now, "%s", a->pos);
        } else if (!strcmp(name, "--untied")) {
            same = !c.tied; /* the flag says untied */
            snprintf(was, sizeof was, "%s", c.tied ? "tied" : "untied");
            snprintf(now, sizeof now, "untied");
        } else if (!strcmp(name, "--embed-scale")) {
            same = c.embed_scale; /* the flag says scaled */
            snprintf(was, sizeof was, "%s", c.embed_scale ? "scaled" : "unscaled");
            snprintf(now, sizeof now, "scaled");
        } else {
            static const char *ints[] = {"--layers", "--heads", "--dim", "--ffn",
                                         "--train-len", "--warmup", "--seed"};
            const int64_t iv[] = {c.n_layer, c.n_head, c.d_model, c.d_ff, c.train_len,
                                  q->warmup, (int64_t)ts.seed};
            const int64_t ia[] = {a->layers, a->heads, a->dim, a->ffn, a->train_len,
                                  a->warmup, a->seed};
            static const char *nums[] = {"--xpos-gamma", "--xpos-scale-base", "--rope-base",
                                         "--lr", "--min-lr-ratio", "--weight-decay",
                                         "--grad-clip", "--beta1", "--beta2", "--eps"};
            const double nv[] = {c.xpos_gamma, c.xpos_scale_base, c.rope_base, q->lr,
                                 q->min_lr_ratio, q->weight_decay, q->grad_clip, q->beta1,
                                 q->beta2, q->eps};
            const double na[] = {a->gamma, a->scale_base, a->rope_base, a->lr, a->min_lr,
                                 a->wd, a->clip, a->b1, a->b2, a->eps};
            size_t j = 0;
            while (j < sizeof ints / sizeof *ints && strcmp(ints[j], name)) j++;
            if (j < sizeof ints / sizeof *ints) {
                same = iv[j] == ia[j];
                snprintf(was, sizeof was, "%lld", (long long)iv[j]);
                snprintf(now, sizeof now, "%lld", (long long)ia[j]);
            } else {
                j = 0; /* every name of `fixed` is in one of the tables */
                while (j + 1 < sizeof nums / sizeof *nums && strcmp(nums[j], name)) j++;
                same = nv[j] == na[j];
                num_str(was, sizeof was, nv[j]);
                num_str(now, sizeof now, na[j]);
            }
        }
        if (!same)
            return cli_error(cmd, "%s cannot change when resuming: %s has %s, the command line "
                                  "asks for %s (the checkpoint fixes the model, the optimizer "
                                  "and the seed; leave %s out or give its value)",
                             name, a->resume, was, now, name);
    }
    return 0;
}

int parse_task(const char *cmd, const char *s, double *passkey) {
    if (strcmp(s, "passkey") == 0) {
        *passkey = 0.5;
        return 0;
    }
    char err[128];
    if (strncmp(s, "passkey:", 8) == 0 && !parse_f64(s + 8, 0, 1, passkey, err, sizeof err) &&
        *passkey > 0)
        return 0;
    return cli_error(cmd, "--task: expected passkey or passkey:F with F in (0, 1] (the share of "
                          "each batch made of passkey samples), got '%s'",
                     s);
}

/* Whether out already holds a training checkpoint of exactly this fresh run (the same
 * architecture, optimizer, schedule, seed, batch and data): then rerunning the command
 * continues it, as after a crash or a killed job. */
static bool same_run_at(const char *out, const lext_train_opts *o) {
    if (access(out, F_OK) != 0) return false;
    lext_model *m = NULL;
    lext_train_state ts = {0};
    bool has = false;
    if (lext_checkpoint_load(out, &m, &ts, &has)) return false;
    const lext_config *c = lext_model_config(m), *w = &o->model;
    const lext_optim_config *q = &ts.optim, *p = &o->optim;
    const bool same = has && c->n_layer == w->n_layer && c->n_head == w->n_head &&
                      c->d_model == w->d_model && c->d_ff == w->d_ff && c->vocab_size == w->vocab_size &&
                      c->train_len == w->train_len && c->pos == w->pos && c->tied == w->tied &&
                      c->embed_scale == w->embed_scale && c->xpos_gamma == w->xpos_gamma &&
                      c->xpos_scale_base == w->xpos_scale_base && c->rope_base == w->rope_base &&
                      c->norm_eps == w->norm_eps && q->lr == p->lr && q->min_lr_ratio == p->min_lr_ratio &&
                      q->warmup == p->warmup && q->total_steps == p->total_steps &&
                      q->beta1 == p->beta1 && q->beta2 == p->beta2 && q->eps == p->eps &&
                      q->weight_decay == p->weight_decay && q->grad_clip == p->grad_clip &&
                      ts.seed == o->seed && ts.batch == o->batch && o->data &&
                      strcmp(ts.data_path, o->data) == 0 && ts.step <= q->total_steps;
    lext_model_free(m);
    lext_train_state_free(&ts);
    return same;
}

int train_args_apply(const train_args *a, bool tty, lext_train_opts *o, lext_train_more *more) {
    const char *cmd = "train";
    lext_train_opts_default(o);
    lext_train_more_default(more);
    if (a->task && parse_task(cmd, a->task, &more->passkey)) return 1;
    more->accum = given(a, "--accum") ? a->accum : 0;
    if (a->init && a->resume)
        return cli_error(cmd, "--init starts a new run from a checkpoint's weights and --resume "
                              "continues one: give one of them");
    if (a->init) {
        /* the architecture is the checkpoint's: a model option would be silently ignored */
        const char *arch[] = {"--pos", "--layers", "--heads", "--dim", "--ffn", "--train-len",
                              "--untied", "--embed-scale", "--xpos-gamma", "--xpos-scale-base",
                              "--rope-base"};
        for (size_t i = 0; i < sizeof arch / sizeof *arch; i++)
            if (given(a, arch[i]))
                return cli_error(cmd, "%s: --init takes the architecture from %s", arch[i], a->init);
        lext_config c;
        bool has_train = false;
        int64_t step = 0;
        if (lext_checkpoint_read_config(a->init, &c, &has_train, &step))
            return cli_lib_error(cmd, "--init");
        if (!a->data)
            return cli_error(cmd, "--data PATH is required (a text file or a directory of documents)");
        more->init = a->init;
        o->model = c;
    }
    if (a->resume) {
        int rc = check_resume(a);
        if (rc) return rc;
    } else {
        if (!a->data)
            return cli_error(cmd, "--data PATH is required (a text file or a directory of documents)");
        if (!a->init) {
        if (lext_pos_parse(a->pos, &o->model.pos)) return cli_lib_error(cmd, "--pos");
        o->model.n_layer = (int)a->layers;
        o->model.n_head = (int)a->heads;
        o->model.d_model = (int)a->dim;
        o->model.d_ff = (int)(a->ffn ? a->ffn : 4 * a->dim);
        o->model.train_len = (int)a->train_len;
        o->model.tied = !a->untied;
        o->model.embed_scale = a->embed_scale;
        o->model.xpos_gamma = a->gamma;
        o->model.xpos_scale_base = a->scale_base;
        o->model.rope_base = a->rope_base;
        if (lext_config_validate(&o->model)) return cli_lib_error(cmd, "model");
        }
        lext_optim_config_default(&o->optim, a->steps);
        o->optim.lr = a->lr;
        if (a->warmup >= 0) o->optim.warmup = a->warmup;
        o->optim.min_lr_ratio = a->min_lr;
        o->optim.weight_decay = a->wd;
        o->optim.grad_clip = a->clip;
        o->optim.beta1 = a->b1;
        o->optim.beta2 = a->b2;
        o->optim.eps = a->eps;
    }
    if (a->precision && lext_precision_parse(a->precision, &o->precision))
        return cli_lib_error(cmd, "--precision");
    o->data = a->data;
    o->val = a->val;
    o->resume = a->resume;
    /* resuming writes back to the checkpoint it came from unless --out says otherwise */
    o->out = given(a, "--out") || !a->resume ? a->out : a->resume;
    o->batch = a->resume && !given(a, "--batch") ? 0 : a->batch;
    o->steps = a->resume && !given(a, "--steps") ? 0 : a->steps;
    o->eval_every = a->eval_every;
    o->save_every = a->save_every;
    o->stop_after = a->stop_after;
    o->log_every = a->log_every ? a->log_every : tty ? 1 : 10;
    o->val_batches = a->val_batches;
    o->seed = (uint64_t)a->seed;
    /* the same command again after a crash or a killed job continues where it stopped */
    if (!a->resume && !a->init && same_run_at(o->out, o)) { /* cmd_train says so */
        o->resume = o->out;
        o->batch = 0, o->steps = 0;
    }
    return 0;
}
