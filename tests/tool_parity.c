/*
 * tool_parity.c - runs lext on a checkpoint and a batch and writes everything the PyTorch
 * parity test (tests/test_parity.py) compares against its independent reference.
 *
 *   tool_parity --ckpt MODEL.safetensors --batch BATCH.bin [options]
 *
 *   --attn causal|bca|window   mask (default causal); --block l and --window W set its size
 *                              (default: the model's train_len, as lext_attn_make)
 *   --logits PATH     logits of the first forward, raw little-endian float32 (B, T, V)
 *   --grads PATH      gradients of the first forward's loss, as a safetensors checkpoint with
 *                     the model's tensor names (the gradients copied into the parameters of
 *                     a second model of the same configuration, saved by lext_checkpoint_save)
 *   --steps N         then N AdamW steps on the same batch: zero_grad, forward, backward,
 *                     lext_optim_step(step); prints each step's loss (before its update)
 *   --lr X --warmup N --total N --min-lr-ratio X --wd X --clip X   optimizer settings
 *                     (defaults: lext_optim_config_default(total), total = N steps)
 *   --out PATH        saves the model after the steps with lext_checkpoint_save
 *   --precision P     fp32 (default) or bf16: the workspace's matrix products
 *   --rope-scaling K  context extension (none, linear, ntk, dynamic-ntk, yarn) with
 *                     --rope-factor S (0: auto), --yarn-beta-fast X, --yarn-beta-slow X and
 *                     --xpos-decay-scaled 0|1 (lext_model_set_rope_scaling)
 *   --sinks K --sink-pos cache|absolute|capped, --se-group G --se-neighbors W, --rerope W
 *                     an attention extension (lext_model_set_attn_ext; inference only)
 *
 * A gradient (--grads) or training (--steps) run uses a training workspace; a logits-only
 * run uses an inference workspace (the path `lext eval` takes).
 *
 * Batch file (little-endian): int32 B, int32 T, then B*T int32 tokens, then B*T int32
 * targets (a target < 0 is ignored by the loss).
 *
 * stdout, one item per line, numbers printed with 9 significant digits (exact for float32):
 *   loss X               mean cross-entropy of the first forward
 *   targets N            targets it counted
 *   step S loss X lr X grad_norm X     (lr with 17 digits; per step: loss before the update, the schedule's lr,
 *                                       the gradient norm before clipping)
 *   final_loss X         loss after the last step
 * Errors print lext_last_error() on stderr and exit 1 (2 for bad usage).
 */
#include "lext.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die_usage(const char *msg) {
    fprintf(stderr, "tool_parity: %s\n", msg);
    exit(2);
}

static void check(lext_status s, const char *what) {
    if (s != LEXT_OK) {
        fprintf(stderr, "tool_parity: %s failed (%s): %s\n", what, lext_status_name(s),
                lext_last_error());
        exit(1);
    }
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "tool_parity: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void read_exact(FILE *f, void *p, size_t n, const char *path) {
    if (fread(p, 1, n, f) != n) {
        fprintf(stderr, "tool_parity: %s is truncated or unreadable\n", path);
        exit(1);
    }
}

static double num_arg(const char *opt, const char *v) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end) {
        fprintf(stderr, "tool_parity: %s needs a number, got '%s'\n", opt, v);
        exit(2);
    }
    return x;
}

int main(int argc, char **argv) {
    const char *ckpt = NULL, *batch = NULL, *logits_path = NULL, *grads_path = NULL,
               *out_path = NULL, *attn_name = "causal", *precision = "fp32";
    long long block = -1, window = -1, steps = 0, warmup = -1, total = -1;
    double lr = -1, min_lr_ratio = -1, wd = -1, clip = -1;
    const char *scaling_name = "none", *sink_pos = "cache";
    lext_rope_scaling rs;
    lext_rope_scaling_default(&rs);
    lext_attn_ext ext;
    lext_attn_ext_default(&ext);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) die_usage("every option takes a value");
        const char *v = argv[++i];
        if (!strcmp(a, "--ckpt")) ckpt = v;
        else if (!strcmp(a, "--batch")) batch = v;
        else if (!strcmp(a, "--logits")) logits_path = v;
        else if (!strcmp(a, "--grads")) grads_path = v;
        else if (!strcmp(a, "--out")) out_path = v;
        else if (!strcmp(a, "--attn")) attn_name = v;
        else if (!strcmp(a, "--precision")) precision = v;
        else if (!strcmp(a, "--rope-scaling")) scaling_name = v;
        else if (!strcmp(a, "--rope-factor")) rs.factor = num_arg(a, v);
        else if (!strcmp(a, "--yarn-beta-fast")) rs.beta_fast = num_arg(a, v);
        else if (!strcmp(a, "--yarn-beta-slow")) rs.beta_slow = num_arg(a, v);
        else if (!strcmp(a, "--xpos-decay-scaled")) rs.xpos_decay_scaled = num_arg(a, v) != 0;
        else if (!strcmp(a, "--sinks")) ext.kind = LEXT_EXT_SINKS, ext.sinks = (int64_t)num_arg(a, v);
        else if (!strcmp(a, "--sink-pos")) sink_pos = v;
        else if (!strcmp(a, "--se-group")) ext.kind = LEXT_EXT_SELF_EXTEND, ext.group = (int64_t)num_arg(a, v);
        else if (!strcmp(a, "--se-neighbors")) ext.neighbors = (int64_t)num_arg(a, v);
        else if (!strcmp(a, "--rerope")) ext.kind = LEXT_EXT_REROPE, ext.clip = (int64_t)num_arg(a, v);
        else if (!strcmp(a, "--block")) block = (long long)num_arg(a, v);
        else if (!strcmp(a, "--window")) window = (long long)num_arg(a, v);
        else if (!strcmp(a, "--steps")) steps = (long long)num_arg(a, v);
        else if (!strcmp(a, "--warmup")) warmup = (long long)num_arg(a, v);
        else if (!strcmp(a, "--total")) total = (long long)num_arg(a, v);
        else if (!strcmp(a, "--lr")) lr = num_arg(a, v);
        else if (!strcmp(a, "--min-lr-ratio")) min_lr_ratio = num_arg(a, v);
        else if (!strcmp(a, "--wd")) wd = num_arg(a, v);
        else if (!strcmp(a, "--clip")) clip = num_arg(a, v);
        else {
            fprintf(stderr, "tool_parity: unknown option %s\n", a);
            return 2;
        }
    }
    if (!ckpt || !batch) die_usage("usage: tool_parity --ckpt MODEL --batch BATCH [options]");
    if (steps < 0) die_usage("--steps must be >= 0");

    lext_model *m = NULL;
    check(lext_checkpoint_load(ckpt, &m, NULL, NULL), "lext_checkpoint_load");
    const lext_config *c = lext_model_config(m);
    check(lext_rope_scaling_parse(scaling_name, &rs.kind), "lext_rope_scaling_parse");
    check(lext_model_set_rope_scaling(m, &rs), "lext_model_set_rope_scaling");
    check(lext_sink_pos_parse(sink_pos, &ext.sink_pos), "lext_sink_pos_parse");
    check(lext_model_set_attn_ext(m, &ext), "lext_model_set_attn_ext");

    /* batch */
    FILE *f = fopen(batch, "rb");
    if (!f) {
        fprintf(stderr, "tool_parity: cannot open %s: %s\n", batch, strerror(errno));
        return 1;
    }
    int32_t dims[2];
    read_exact(f, dims, sizeof dims, batch);
    if (dims[0] < 1 || dims[1] < 1 || dims[0] > (1 << 16) || dims[1] > (1 << 20)) {
        fprintf(stderr, "tool_parity: %s: implausible batch %d x %d\n", batch, dims[0], dims[1]);
        return 1;
    }
    const int64_t B = dims[0], T = dims[1], N = B * T;
    int32_t *tokens = xmalloc((size_t)N * sizeof *tokens), *targets = xmalloc((size_t)N * sizeof *targets);
    read_exact(f, tokens, (size_t)N * sizeof *tokens, batch);
    read_exact(f, targets, (size_t)N * sizeof *targets, batch);
    fclose(f);

    /* mask */
    lext_attn_mode mode;
    check(lext_attn_parse(attn_name, &mode), "lext_attn_parse");
    lext_attn attn = lext_attn_make(mode, c->train_len);
    if (block > 0) attn.block = block;
    if (window > 0) attn.window = window;
    check(lext_attn_validate(&attn), "lext_attn_validate");

    const bool training = grads_path != NULL || steps > 0;
    lext_ctx *ctx = NULL;
    check(lext_ctx_create(m, B, T, training, &ctx), "lext_ctx_create");
    lext_precision prec;
    check(lext_precision_parse(precision, &prec), "lext_precision_parse");
    check(lext_ctx_set_precision(ctx, prec), "lext_ctx_set_precision");

    float loss = 0;
    lext_model_zero_grad(m);
    check(lext_forward(m, ctx, tokens, targets, B, T, &attn, &loss), "lext_forward");
    printf("loss %.9g\ntargets %lld\n", (double)loss, (long long)lext_ctx_num_targets(ctx));
    if (logits_path) {
        FILE *lf = fopen(logits_path, "wb");
        size_t n = (size_t)N * (size_t)c->vocab_size;
        if (!lf || fwrite(lext_ctx_logits(ctx), sizeof(float), n, lf) != n || fclose(lf) != 0) {
            fprintf(stderr, "tool_parity: cannot write %s: %s\n", logits_path, strerror(errno));
            return 1;
        }
    }
    if (training) check(lext_backward(m, ctx), "lext_backward");
    if (grads_path) {
        lext_model *gm = NULL;
        check(lext_model_create(c, &gm), "lext_model_create (gradient holder)");
        memcpy(lext_model_params(gm), lext_model_grads(m), lext_model_num_params(m) * sizeof(float));
        check(lext_checkpoint_save(grads_path, gm, NULL), "lext_checkpoint_save (gradients)");
        lext_model_free(gm);
    }

    if (steps > 0) {
        lext_optim_config oc;
        lext_optim_config_default(&oc, total > 0 ? total : steps);
        if (warmup >= 0) oc.warmup = warmup;
        if (lr > 0) oc.lr = lr;
        if (min_lr_ratio >= 0) oc.min_lr_ratio = min_lr_ratio;
        if (wd >= 0) oc.weight_decay = wd;
        if (clip >= 0) oc.grad_clip = clip;
        lext_optim *o = NULL;
        check(lext_optim_create(m, &oc, &o), "lext_optim_create");
        for (int64_t s = 0; s < steps; s++) {
            if (s > 0) { /* step 0 reuses the forward/backward above */
                lext_model_zero_grad(m);
                check(lext_forward(m, ctx, tokens, targets, B, T, &attn, &loss), "lext_forward");
                check(lext_backward(m, ctx), "lext_backward");
            }
            float gn = 0;
            check(lext_optim_step(o, m, s, &gn), "lext_optim_step");
            printf("step %lld loss %.9g lr %.17g grad_norm %.9g\n", (long long)s, (double)loss,
                   lext_optim_lr(&oc, s), (double)gn);
        }
        check(lext_forward(m, ctx, tokens, targets, B, T, &attn, &loss), "lext_forward");
        printf("final_loss %.9g\n", (double)loss);
        lext_optim_free(o);
    }
    if (out_path) check(lext_checkpoint_save(out_path, m, NULL), "lext_checkpoint_save");

    lext_ctx_free(ctx);
    lext_model_free(m);
    free(tokens);
    free(targets);
    return 0;
}
