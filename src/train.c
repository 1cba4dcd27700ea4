/*
 * train.c - the training driver behind `lext train` and `lext experiment`.
 *
 * One step: draw a batch of windows from the sampler, zero the gradients, forward with
 * targets, backward, one AdamW update. Everything that decides the next step (weights,
 * Adam moments, step count, sampler RNG) is in the checkpoint, so a resumed run repeats
 * an uninterrupted one bit for bit (given the same thread count, matrix-product engine and kind of CPU).
 */
#include "gemm.h"
#include "internal.h"
#include "model.h"

#include <math.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/sysinfo.h>
#endif

void lext_set_threads(int n) {
#ifdef _OPENMP
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
#endif
    gemm_set_threads(n > 0 ? n : 1);
}

int lext_get_threads(void) { return lext_num_threads(); }

void lext_train_opts_default(lext_train_opts *o) {
    memset(o, 0, sizeof *o);
    lext_config_default(&o->model);
    lext_optim_config_default(&o->optim, 1000);
    o->out = "model.safetensors";
    o->batch = 16;
    o->steps = 1000;
    o->log_every = 1;
    o->val_batches = 8;
    o->seed = 1;
    o->precision = LEXT_PRECISION_AUTO;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Seeds of the independent random streams, derived from the run's seed. */
#define SEED_DATA 0x64617461ULL /* "data" */
#define SEED_VAL 0x76616c21ULL  /* "val!" */

typedef struct {
    const lext_train_opts *o;
    lext_model *m;
    lext_optim *opt;
    lext_ctx *ctx;
    lext_dataset data, val;
    lext_sampler sampler, val_sampler;
    int32_t *inp, *tgt;         /* (B, T) batch */
    int32_t *val_inp, *val_tgt; /* (n_val, T) fixed validation windows */
    int64_t n_val, B, T, total, start;
    lext_rng rng;
    uint64_t seed;
    lext_precision precision;
    char data_path[4096];
    char machine[512], machine_before[512]; /* lext_system_machine(): now, and the checkpoint's */
    const char *last_saved; /* path of the last checkpoint this run wrote */
    int64_t last_saved_step;
    double t0;
    lext_train_report r;
    const lext_train_more *more;
    double passkey;  /* share of each batch replaced by passkey samples */
    uint8_t *pk_buf; /* (T + 1) one sample */
    /* micro-batches (lext_train_more.accum): n_micro per step, b sequences each, this
     * rank's are r, r + P, ...; n_micro 0: the single-batch path */
    int64_t n_micro, mb;
    int rank, size;
    float *gacc; /* (num_params) the step's gradient sum over micro-batches */
    /* ZeRO-1 with ranks: rank r updates parameters [displs[r], displs[r] + counts[r]),
     * whole chunks c0..c1 of the gradient norm's OPTIM_NORM_CHUNKS; its optimizer holds only
     * that range's moments (rank 0 gathers them all at each checkpoint) */
    size_t *counts, *displs;
    int c0, c1;
    bool zero;
} run;

static void emit(run *x, lext_train_event ev) {
    x->r.event = ev;
    if (x->o->report) x->o->report(&x->r, x->o->user);
}

static lext_status save(run *x, int64_t step) {
    lext_train_state ts = {0};
    ts.step = step;
    ts.rng = x->rng;
    ts.optim = *lext_optim_get_config(x->opt);
    ts.batch = x->B;
    ts.seed = x->seed;
    ts.precision = x->precision;
    snprintf(ts.machine, sizeof ts.machine, "%s", x->machine);
    snprintf(ts.data_path, sizeof ts.data_path, "%s", x->data_path);
    ts.m = lext_optim_m(x->opt);
    ts.v = lext_optim_v(x->opt);
    /* with ranks: rank 0 gathers the moments' shares and writes (the weights are the same
     * everywhere), the others wait for it */
    const lext_comm *cm = x->more->comm;
    if (x->zero) {
        /* the moments are held once across the ranks: rank 0 gathers them for the file into
         * two full-size buffers free at this point, the gradient sum and the gradients (the
         * next step starts both afresh) */
        const size_t lo = x->displs[x->rank], cnt = x->counts[x->rank];
        float *gm = x->gacc, *gv = lext_model_grads(x->m);
        if (x->rank == 0) {
            memcpy(gm + lo, lext_optim_m(x->opt), cnt * sizeof(float));
            memcpy(gv + lo, lext_optim_v(x->opt), cnt * sizeof(float));
        }
        LEXT_TRY(cm->gather_f32(x->rank == 0 ? gm : lext_optim_m(x->opt), x->counts, x->displs, cm->user));
        LEXT_TRY(cm->gather_f32(x->rank == 0 ? gv : lext_optim_v(x->opt), x->counts, x->displs, cm->user));
        ts.m = gm, ts.v = gv;
    }
    lext_status s = x->rank == 0 ? lext_checkpoint_save(x->o->out, x->m, &ts) : LEXT_OK;
    if (cm && cm->size > 1 && cm->barrier) {
        lext_status b = cm->barrier(cm->user);
        if (!s) s = b;
    }
    LEXT_TRY(s);
    x->last_saved = x->o->out;
    x->last_saved_step = step;
    x->r.path = x->o->out;
    emit(x, LEXT_TRAIN_SAVE);
    return LEXT_OK;
}

static lext_status validate(run *x) {
    double sum = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < x->n_val; i += x->mb) { /* as many per forward as the workspace takes */
        int64_t b = x->n_val - i < x->mb ? x->n_val - i : x->mb;
        float loss;
        LEXT_TRY(lext_forward(x->m, x->ctx, x->val_inp + i * x->T, x->val_tgt + i * x->T, b, x->T,
                              NULL, &loss));
        sum += (double)loss * (double)lext_ctx_num_targets(x->ctx);
        count += lext_ctx_num_targets(x->ctx);
    }
    x->r.val_loss = (float)(sum / (double)count);
    x->r.val_tokens = count;
    emit(x, LEXT_TRAIN_VAL);
    return LEXT_OK;
}

static lext_status numeric_failure(run *x, int64_t step, const char *what) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lext_last_error());
    if (x->last_saved)
        return lext_fail(LEXT_ERR_NUMERIC,
                         "%s at step %lld: training stopped without saving; %s (step %lld) is "
                         "the last good checkpoint",
                         what, (long long)step + 1, x->last_saved, (long long)x->last_saved_step);
    return lext_fail(LEXT_ERR_NUMERIC,
                     "%s at step %lld: training stopped without saving (%s); this run had not "
                     "written a checkpoint yet, so any earlier file at %s is untouched",
                     what, (long long)step + 1, msg, x->o->out);
}

#ifdef __linux__
/* A cgroup limit file: a number of bytes, or "max" (no limit: false). */
static bool read_limit(const char *path, double *out) {
    char buf[64];
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    char *end;
    double v = ok ? strtod(buf, &end) : 0;
    if (!ok || end == buf || (*end != '\n' && *end != '\0') || !(v >= 0)) return false;
    *out = v;
    return true;
}
#endif

/* Bytes of memory and swap this process can have: RAM plus swap, or less under a cgroup
 * (container) limit; 0 when unknown. */
static double memory_available(void) {
    double total = 0;
#ifdef __linux__
    struct sysinfo si;
    double host_swap = 0, mem, swap;
    if (sysinfo(&si) == 0) {
        total = ((double)si.totalram + (double)si.totalswap) * si.mem_unit;
        host_swap = (double)si.totalswap * si.mem_unit;
    }
    if (read_limit("/sys/fs/cgroup/memory.max", &mem)) {
        /* the group's swap: its own limit, or the machine's ("max", or not accounted) */
        if (!read_limit("/sys/fs/cgroup/memory.swap.max", &swap) || swap > host_swap)
            swap = host_swap;
        if (total <= 0 || mem + swap < total) total = mem + swap;
    }
#endif
    return total;
}

/* Every large buffer of the run is allocated before this is called, and lext_alloc maps
 * them without touching them, so this is the moment to compare their sum with the
 * machine: past it, the run could only be killed part-way (the kernel overcommits, so each
 * allocation can succeed on its own). A configuration too large for the machine fails here,
 * naming the size, before a weight is drawn or a byte of data is read. */
static lext_status check_memory(run *x) {
    const double params = (double)lext_model_num_params(x->m) * sizeof(float) * 4;
    const double acts = (double)lext_ctx_bytes(x->ctx) +
                        (double)((x->B + x->n_val) * x->T) * sizeof(int32_t) * 2;
    const double need = params + acts, have = memory_available();
    if (have <= 0 || need <= have) return LEXT_OK;
    char n[32], p[32], a[32], h[32];
    lext_fmt_bytes(n, sizeof n, need);
    lext_fmt_bytes(p, sizeof p, params);
    lext_fmt_bytes(a, sizeof a, acts);
    lext_fmt_bytes(h, sizeof h, have);
    return lext_fail(LEXT_ERR_NOMEM,
                     "training needs %s (%.0f bytes: %s of weights, gradients and Adam moments, "
                     "%s of activations and batches for %lld x %lld tokens), more than the %s "
                     "of memory and swap this machine has; use a smaller model or batch",
                     n, need, p, a, (long long)x->B, (long long)x->T, h);
}

static lext_status setup(run *x) {
    const lext_train_opts *o = x->o;
    lext_train_state ts = {0};
    bool has_train = false;
    if (o->resume) {
        LEXT_TRY(lext_checkpoint_load(o->resume, &x->m, &ts, &has_train));
        if (!has_train)
            return lext_fail(LEXT_ERR_ARG,
                             "%s holds a model but no training state (optimizer, step); it "
                             "cannot be resumed",
                             o->resume);
        x->r.resumed = true;
    } else if (x->more->init) { /* its weights and architecture; the rest starts afresh */
        LEXT_TRY(lext_checkpoint_load(x->more->init, &x->m, NULL, NULL));
    } else {
        LEXT_TRY(lext_model_create(&o->model, &x->m));
    }
    /* the passkey share: as given, else the resumed checkpoint's (a fresh run: none) */
    x->passkey = x->more->passkey >= 0 ? x->more->passkey : has_train ? x->m->train_passkey : 0.0;
    if (!(x->passkey >= 0 && x->passkey <= 1))
        return lext_fail(LEXT_ERR_CONFIG, "the passkey share of a batch must be in 0..1, got %g",
                         x->passkey);
    x->m->train_passkey = x->passkey; /* saved with the training state */
    /* micro-batches: accum x ranks, or on resume the checkpoint's count */
    const lext_comm *cm = x->more->comm;
    x->rank = cm ? cm->rank : 0;
    x->size = cm ? cm->size : 1;
    if (x->size < 1 || x->rank < 0 || x->rank >= x->size)
        return lext_fail(LEXT_ERR_ARG, "rank %d of %d ranks", x->rank, x->size);
    if (x->more->accum < 0) return lext_fail(LEXT_ERR_CONFIG, "accum must be >= 1");
    if (x->more->accum > 0)
        x->n_micro = x->more->accum * x->size;
    else if (has_train && x->m->train_micro > 0)
        x->n_micro = x->m->train_micro;
    else
        x->n_micro = x->size > 1 ? x->size : 0;
    if (x->n_micro % x->size != 0)
        return lext_fail(LEXT_ERR_CONFIG,
                         "the checkpoint cuts each step into %lld micro-batches, which %d ranks "
                         "cannot share evenly; give --accum",
                         (long long)x->n_micro, x->size);
    x->m->train_micro = x->n_micro;
    if (x->passkey > 0 &&
        lext_model_config(x->m)->train_len - LEXT_PASSKEY_DIGITS < lext_passkey_min_length())
        return lext_fail(LEXT_ERR_CONFIG,
                         "passkey samples of the training length need a training length of at "
                         "least %lld bytes (the template and the answer), not %d",
                         (long long)(lext_passkey_min_length() + LEXT_PASSKEY_DIGITS),
                         lext_model_config(x->m)->train_len);
    const lext_config *c = lext_model_config(x->m);
    lext_system_machine(x->machine, sizeof x->machine);
    x->T = c->train_len;
    x->B = o->batch > 0 ? o->batch : has_train ? ts.batch : 16;
    x->seed = has_train ? ts.seed : o->seed;
    x->precision = o->precision != LEXT_PRECISION_AUTO ? o->precision
                   : has_train                         ? ts.precision
                                                       : LEXT_PRECISION_FP32;
    const char *dpath = o->data ? o->data : has_train ? ts.data_path : NULL;
    snprintf(x->data_path, sizeof x->data_path, "%s", dpath ? dpath : "");
    lext_optim_config oc = has_train ? ts.optim : o->optim;
    if (!has_train) oc.total_steps = o->steps;
    else if (o->steps > 0) oc.total_steps = o->steps;
    x->total = oc.total_steps;
    x->start = has_train ? ts.step : 0;
    lext_status s = LEXT_OK;
    if (!dpath || !*dpath) s = lext_fail(LEXT_ERR_DATA, "no training data given");
    if (!s && x->B < 1) s = lext_fail(LEXT_ERR_CONFIG, "batch must be >= 1");
    if (!s && x->n_micro && (x->B % x->n_micro != 0))
        s = lext_fail(LEXT_ERR_CONFIG,
                      "a batch of %lld sequences cannot be cut into %lld equal micro-batches "
                      "(accum x ranks)",
                      (long long)x->B, (long long)x->n_micro);
    x->mb = x->n_micro ? x->B / x->n_micro : x->B; /* sequences per forward */
    if (!s && x->start > x->total)
        s = lext_fail(LEXT_ERR_CONFIG,
                      "the checkpoint is at step %lld, past the requested %lld steps",
                      (long long)x->start, (long long)x->total);
    /* all the memory first (see check_memory), then the work */
    x->zero = cm && cm->size > 1;
    if (!s && x->zero && x->size > OPTIM_NORM_CHUNKS)
        s = lext_fail(LEXT_ERR_CONFIG, "at most %d ranks (each owns whole chunks of the gradient norm)",
                      (int)OPTIM_NORM_CHUNKS);
    if (!s && x->zero) {
        s = lext_alloc((void **)&x->counts, 2 * (size_t)x->size * sizeof(size_t), "parameter shares");
        const size_t np = lext_model_num_params(x->m);
        for (int r = 0; !s && r < x->size; r++) {
            const size_t ch0 = (size_t)(OPTIM_NORM_CHUNKS * r / x->size), ch1 = (size_t)(OPTIM_NORM_CHUNKS * (r + 1) / x->size);
            x->displs = x->counts + x->size;
            x->displs[r] = np * ch0 / OPTIM_NORM_CHUNKS; /* optim_norm_parts' chunk bounds */
            x->counts[r] = np * ch1 / OPTIM_NORM_CHUNKS - x->displs[r];
            if (r == x->rank) x->c0 = (int)ch0, x->c1 = (int)ch1;
        }
    }
    if (!s)
        s = x->zero ? optim_create_n(x->m, &oc, x->counts[x->rank], &x->opt)
                    : lext_optim_create(x->m, &oc, &x->opt);
    if (!s && o->val) {
        /* a fixed set of windows, drawn once, so every validation scores the same bytes */
        x->n_val = (o->val_batches > 0 ? o->val_batches : 8) * x->B;
        s = lext_alloc((void **)&x->val_inp, (size_t)(x->n_val * x->T) * sizeof(int32_t),
                       "validation windows");
        if (!s)
            s = lext_alloc((void **)&x->val_tgt, (size_t)(x->n_val * x->T) * sizeof(int32_t),
                           "validation windows");
    }
    if (!s) s = lext_alloc((void **)&x->pk_buf, (size_t)x->T + 1, "passkey sample");
    if (!s && x->n_micro)
        s = lext_alloc((void **)&x->gacc, lext_model_num_params(x->m) * sizeof(float), "gradient sum");
    if (!s) s = lext_alloc((void **)&x->inp, (size_t)(x->B * x->T) * sizeof(int32_t), "batch");
    if (!s) s = lext_alloc((void **)&x->tgt, (size_t)(x->B * x->T) * sizeof(int32_t), "batch");
    if (!s) s = lext_ctx_create(x->m, x->mb, x->T, true, &x->ctx);
    if (!s) s = lext_ctx_set_precision(x->ctx, x->precision);
    if (!s) s = check_memory(x);
    if (!s && has_train) {
        /* every rank reads the whole checkpoint; a rank other than 0 keeps its share */
        const size_t lo = x->zero ? x->displs[x->rank] : 0;
        const size_t cnt = x->zero ? x->counts[x->rank] : lext_model_num_params(x->m);
        memcpy(lext_optim_m(x->opt), ts.m + lo, cnt * sizeof(float));
        memcpy(lext_optim_v(x->opt), ts.v + lo, cnt * sizeof(float));
        x->rng = ts.rng;
        /* the same steps give the same bits only with the same kernels (and thread count);
         * an older checkpoint names no machine: nothing to compare */
        snprintf(x->machine_before, sizeof x->machine_before, "%s", ts.machine);
    } else if (!s) {
        if (!x->more->init) lext_model_init(x->m, o->seed);
        lext_rng_seed(&x->rng, x->seed ^ SEED_DATA);
    }
    lext_train_state_free(&ts);
    if (s) return s;

    LEXT_TRY(lext_dataset_load(dpath, &x->data));
    LEXT_TRY(lext_sampler_init(&x->sampler, &x->data, (size_t)x->T + 1));
    if (o->val) {
        LEXT_TRY(lext_dataset_load(o->val, &x->val));
        LEXT_TRY(lext_sampler_init(&x->val_sampler, &x->val, (size_t)x->T + 1));
        lext_rng vr;
        lext_rng_seed(&vr, x->seed ^ SEED_VAL);
        lext_sampler_batch(&x->val_sampler, &vr, x->n_val, x->val_inp, x->val_tgt);
    }
    /* temporary files of runs killed while saving (SIGKILL, power loss): see checkpoint.c */
    x->r.n_stale_tmp = checkpoint_remove_stale(o->out);

    x->r.config = c;
    x->r.n_params = lext_model_num_params(x->m);
    x->r.n_docs = x->sampler.n_usable;
    x->r.n_skipped = x->sampler.n_skipped;
    x->r.n_val_docs = o->val ? x->val_sampler.n_usable : 0;
    x->r.n_val_skipped = o->val ? x->val_sampler.n_skipped : 0;
    x->r.data_bytes = x->data.total_bytes;
    x->r.batch = x->B;
    x->r.precision = x->precision;
    if (x->machine_before[0] && strcmp(x->machine_before, x->machine) != 0) {
        x->r.machine_before = x->machine_before;
        x->r.machine_now = x->machine;
    }
    x->r.total_steps = x->total;
    x->r.start_step = x->start;
    x->r.step = x->start;
    return LEXT_OK;
}

/* Replaces the first round(passkey B) sequences (at least one) of the batch with passkey
 * samples of the training length: a prompt of T - 5 bytes, then " " + the key, so the
 * window's T + 1 bytes end on the answer's last digit. Only the answer is scored: the
 * template is memorised within a few dozen steps and the key's first occurrence is random,
 * so scoring every byte leaves the copy ~4% of the loss, and the copy appeared ~3x later
 * (measured: ~700 steps against ~250, xpos 4x128). Drawn from the run's data generator, so
 * a resumed run draws the same samples. */
static lext_status mix_passkey(run *x, lext_rng *rng, int64_t B) {
    if (!(x->passkey > 0)) return LEXT_OK;
    int64_t nk = llround(x->passkey * (double)B);
    nk = nk < 1 ? 1 : nk > B ? B : nk;
    for (int64_t r = 0; r < nk; r++) {
        lext_passkey_spec sp;
        lext_passkey_spec_default(&sp);
        sp.length = x->T - LEXT_PASSKEY_DIGITS;
        sp.seed = lext_rng_u64(rng);
        sp.depth = 100.0 * lext_rng_uniform(rng);
        char key[LEXT_PASSKEY_DIGITS + 1];
        LEXT_TRY(lext_passkey_make(&sp, x->pk_buf, key));
        x->pk_buf[sp.length] = ' ';
        memcpy(x->pk_buf + sp.length + 1, key, LEXT_PASSKEY_DIGITS);
        /* only the answer (" " + key: the last 6 targets) is scored: see above */
        for (int64_t t = 0; t < x->T; t++) {
            x->inp[r * x->T + t] = x->pk_buf[t];
            x->tgt[r * x->T + t] = t >= x->T - 1 - LEXT_PASSKEY_DIGITS ? x->pk_buf[t + 1] : -1;
        }
    }
    return LEXT_OK;
}

/* The windows of step t: drawn from (seed, t) alone, so that they depend neither on the
 * number of ranks nor on where the run was resumed; micro-batch i is rows [i b, (i+1) b). */
static void step_rng(lext_rng *r, uint64_t seed, int64_t step) {
    lext_rng_seed(r, seed ^ SEED_DATA ^ ((uint64_t)(step + 1) * 0x9e3779b97f4a7c15ULL));
}

/* One optimizer step's gradient over micro-batches (see lext_train_more.accum): this
 * rank's micro-batches in order, raw sums, then the fixed-order sum over ranks, then one
 * scale by the global target count. *loss: the step's mean loss over every rank; *stop:
 * whether any rank was asked to stop. */
static lext_status micro_step(run *x, int64_t step, float *loss, bool *stop) {
    double acc[3] = {0, 0, *stop ? 1.0 : 0.0}; /* loss sum, targets, stop votes */
    const size_t np = lext_model_num_params(x->m);
    float *g = lext_model_grads(x->m);
    /* each micro-batch's gradient from zero, then added to the sum in order: a backward
     * accumulating into the last one's would round in another order */
    lext_rng r;
    step_rng(&r, x->seed, step);
    lext_sampler_batch(&x->sampler, &r, x->B, x->inp, x->tgt); /* the whole step's batch */
    LEXT_TRY(mix_passkey(x, &r, x->B));
    for (int64_t i = x->rank; i < x->n_micro; i += x->size) {
        lext_model_zero_grad(x->m);
        float l = 0;
        const int64_t off = i * x->mb * x->T;
        LEXT_TRY(lext_forward(x->m, x->ctx, x->inp + off, x->tgt + off, x->mb, x->T, NULL, &l));
        acc[0] += ctx_loss_sum(x->ctx);
        acc[1] += (double)lext_ctx_num_targets(x->ctx);
        LEXT_TRY(backward_scaled(x->m, x->ctx, 1.0f)); /* the gradient of the raw sum */
        if (i == x->rank) memcpy(x->gacc, g, np * sizeof(float));
        else
            for (size_t k = 0; k < np; k++) x->gacc[k] += g[k];
    }
    const lext_comm *cm = x->more->comm;
    size_t lo = 0, hi = np;
    if (x->zero) {
        LEXT_TRY(cm->sum_f64(acc, 3, cm->user));
        LEXT_TRY(cm->reduce_scatter_f32(x->gacc, x->counts, x->displs, cm->user));
        lo = x->displs[x->rank], hi = lo + x->counts[x->rank]; /* the summed share */
    }
    if (!(acc[1] > 0)) return lext_fail(LEXT_ERR_DATA, "step %lld scored no target", (long long)step + 1);
    const float inv = (float)(1.0 / acc[1]);
    for (size_t k = lo; k < hi; k++) g[k] = x->gacc[k] * inv;
    *loss = (float)(acc[0] / acc[1]);
    *stop = acc[2] > 0;
    if (!isfinite(*loss)) return lext_fail(LEXT_ERR_NUMERIC, "the loss is not finite (%g)", (double)*loss);
    return LEXT_OK;
}

/* The optimizer step of a rank's share (ZeRO-1): the norm from every rank's chunk sums
 * (each chunk summed by its one owner, zeros elsewhere: adding them is exact), AdamW on the
 * share with its moments, then every share to every rank. The same arithmetic as
 * lext_optim_step on one process, element for element. */
static lext_status zero_step(run *x, int64_t step, float *gnorm) {
    const lext_comm *cm = x->more->comm;
    double part[OPTIM_NORM_CHUNKS] = {0};
    optim_norm_parts(x->m, x->c0, x->c1, part);
    LEXT_TRY(cm->sum_f64(part, OPTIM_NORM_CHUNKS, cm->user));
    float clip = 1.0f;
    const lext_optim_config *c = lext_optim_get_config(x->opt);
    LEXT_TRY(optim_clip_of(c, part, step, &clip, gnorm));
    const size_t lo = x->displs[x->rank], hi = lo + x->counts[x->rank];
    optim_update_range(c, x->m, step, clip, lext_optim_m(x->opt), lext_optim_v(x->opt), lo, hi);
    return cm->allgather_f32(lext_model_params(x->m), x->counts, x->displs, cm->user);
}

static lext_status loop(run *x) {
    const lext_train_opts *o = x->o;
    const int64_t log_every = o->log_every > 0 ? o->log_every : 1;
    bool validated_last = false;
    x->t0 = now_s();
    for (int64_t step = x->start; step < x->total; step++) {
        float loss = 0, gnorm = 0;
        /* with ranks, a stop request travels in the step's exchange, so that every rank stops
         * after the same step; alone, it is read after the step's report, as always */
        const bool multi = x->more->comm && x->more->comm->size > 1;
        bool asked = multi && o->stop && *o->stop;
        lext_status s;
        if (x->n_micro) {
            s = micro_step(x, step, &loss, &asked);
        } else {
            lext_sampler_batch(&x->sampler, &x->rng, x->B, x->inp, x->tgt);
            LEXT_TRY(mix_passkey(x, &x->rng, x->B));
            lext_model_zero_grad(x->m);
            s = lext_forward(x->m, x->ctx, x->inp, x->tgt, x->B, x->T, NULL, &loss);
            if (!s) s = lext_backward(x->m, x->ctx);
        }
        if (s == LEXT_ERR_NUMERIC) return numeric_failure(x, step, "the loss became non-finite");
        if (s) return s;
        s = x->zero ? zero_step(x, step, &gnorm) : lext_optim_step(x->opt, x->m, step, &gnorm);
        if (s == LEXT_ERR_NUMERIC) return numeric_failure(x, step, "the gradient became non-finite");
        if (s) return s;

        const int64_t done = step + 1, ran = done - x->start;
        const double el = now_s() - x->t0;
        x->r.step = done;
        x->r.loss = loss;
        x->r.grad_norm = gnorm;
        x->r.lr = lext_optim_lr(lext_optim_get_config(x->opt), step);
        x->r.elapsed_s = el;
        x->r.tokens_per_s = el > 0 ? (double)(ran * x->B * x->T) / el : 0;
        x->r.eta_s = el / (double)ran * (double)(x->total - done);
        if (done % log_every == 0 || done == x->total) emit(x, LEXT_TRAIN_STEP);
        validated_last = false;
        if (o->val && o->eval_every > 0 && done % o->eval_every == 0) {
            LEXT_TRY(validate(x));
            validated_last = true;
        }
        bool stop = (multi ? asked : o->stop && *o->stop) || (o->stop_after > 0 && ran >= o->stop_after);
        if (stop && done < x->total) {
            LEXT_TRY(save(x, done));
            emit(x, LEXT_TRAIN_STOP);
            return LEXT_OK;
        }
        if (o->save_every > 0 && done % o->save_every == 0 && done < x->total)
            LEXT_TRY(save(x, done));
    }
    if (o->val && !validated_last) LEXT_TRY(validate(x));
    return save(x, x->total);
}

void lext_train_more_default(lext_train_more *x) { *x = (lext_train_more){NULL, -1.0, 0, NULL}; }

lext_status lext_train(const lext_train_opts *o) { return lext_train_with(o, NULL); }

lext_status lext_train_with(const lext_train_opts *o, const lext_train_more *more) {
    lext_train_more none;
    lext_train_more_default(&none);
    if (!more) more = &none;
    if (more->init && o->resume)
        return lext_fail(LEXT_ERR_ARG, "--init starts a new run from a checkpoint's weights; "
                                       "--resume continues one: give one of them");
    run x = {.o = o, .more = more};
    lext_status s = setup(&x);
    if (!s) {
        emit(&x, LEXT_TRAIN_START);
        s = loop(&x);
    }
    lext_ctx_free(x.ctx);
    lext_optim_free(x.opt);
    lext_model_free(x.m);
    lext_sampler_free(&x.sampler);
    lext_sampler_free(&x.val_sampler);
    lext_dataset_free(&x.data);
    lext_dataset_free(&x.val);
    lext_free(x.inp);
    lext_free(x.tgt);
    lext_free(x.val_inp);
    lext_free(x.val_tgt);
    lext_free(x.pk_buf);
    lext_free(x.gacc);
    lext_free(x.counts);
    return s;
}
