/*
 * fuzz_checkpoint.c - the safetensors checkpoint reader on arbitrary bytes.
 *
 * The input is a whole checkpoint file, read with lext_checkpoint_load_memory (the same
 * parser as lext_checkpoint_load, without the file). Whatever the bytes, the reader must
 * either fail cleanly (no model, the caller's training state untouched, a message) or
 * return a model whose configuration validates; a model it accepts must then run: one
 * forward pass with a loss and a few decoder steps, since a configuration the reader lets
 * through (odd sizes, extreme XPOS or RoPE constants, vocab_size 1) reaches those kernels
 * in `lext eval` and `lext generate`.
 */
#include "fuzz.h"
#include "lext.h"

#include <math.h>
#include <string.h>

static void run_model(lext_model *m) {
    const lext_config *c = lext_model_config(m);
    /* tiny passes only: every size the reader accepts is bounded by the input's length */
    const int64_t T = c->train_len < 6 ? c->train_len : 6;
    int32_t tok[6], tgt[6];
    for (int64_t t = 0; t < T; t++) tok[t] = (int32_t)((t * 7 + 1) % c->vocab_size);
    for (int64_t t = 0; t < T; t++) tgt[t] = t + 1 < T ? tok[t + 1] : -1;
    lext_ctx *ctx = NULL;
    if (lext_ctx_create(m, 1, T, false, &ctx) == LEXT_OK) {
        float loss = 0;
        lext_status s = lext_forward(m, ctx, tok, tgt, 1, T, NULL, &loss);
        /* finite weights can still overflow (3e38 in every embedding): that is a numerical
         * failure reported as such, never a crash */
        FUZZ_CHECK(s == LEXT_OK || s == LEXT_ERR_NUMERIC);
        lext_ctx_free(ctx);
    }
    if (c->pos == LEXT_POS_LEARNED) return; /* the decoder's window would run past train_len */
    lext_attn a = lext_attn_make(LEXT_ATTN_WINDOW, 4);
    lext_decoder *dec = NULL;
    if (lext_decoder_create(m, &a, 16, 2, &dec) == LEXT_OK) {
        float *logits = malloc((size_t)c->vocab_size * sizeof *logits);
        FUZZ_CHECK(logits != NULL);
        FUZZ_CHECK(lext_decoder_feed(m, dec, tok, T, logits) == LEXT_OK);
        FUZZ_CHECK(lext_decoder_pos(dec) == T);
        free(logits);
        lext_decoder_free(dec);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lext_model *m = (lext_model *)&m; /* a non-NULL value the reader must overwrite */
    float sentinel[1];
    lext_train_state ts;
    memset(&ts, 0, sizeof ts);
    ts.m = ts.v = sentinel; /* a failure must leave the caller's state alone */
    bool has = true;
    lext_status s = lext_checkpoint_load_memory(data, size, "fuzz-input", &m, &ts, &has);
    if (s != LEXT_OK) {
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK(!has);
        FUZZ_CHECK(ts.m == sentinel && ts.v == sentinel);
        FUZZ_CHECK(lext_last_error()[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(m != NULL);
    FUZZ_CHECK(lext_config_validate(lext_model_config(m)) == LEXT_OK);
    if (has) {
        FUZZ_CHECK(ts.m != sentinel && ts.v != sentinel && ts.m && ts.v);
        FUZZ_CHECK(ts.step >= 0 && ts.batch >= 1);
        /* the moments are read back bit for bit: touch them all (ASan checks the bounds) */
        size_t np = lext_model_num_params(m);
        volatile float acc = 0;
        for (size_t i = 0; i < np; i++) acc += ts.m[i] * 0 + ts.v[i] * 0;
        (void)acc;
        lext_train_state_free(&ts);
    } else {
        FUZZ_CHECK(ts.m == sentinel); /* a model-only checkpoint fills no training state */
    }
    for (int i = 0; i < lext_model_num_tensors(m); i++) { /* the reader promises finite weights */
        const lext_param *p = lext_model_tensor(m, i);
        for (size_t k = 0; k < p->numel; k++) FUZZ_CHECK(isfinite(p->data[k]));
    }
    run_model(m);
    lext_model_free(m);
    return 0;
}
