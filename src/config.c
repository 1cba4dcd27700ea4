/* config.c - model configuration defaults and validation. */
#include "internal.h"
#include "position.h"

#include <math.h>

void lext_config_default(lext_config *c) {
    c->n_layer = 4;
    c->n_head = 4;
    c->d_model = 256;
    c->d_ff = 4 * 256;
    c->vocab_size = 256;
    c->train_len = 256;
    c->pos = LEXT_POS_XPOS;
    c->xpos_gamma = 0.4;
    c->xpos_scale_base = 512.0;
    c->rope_base = 10000.0;
    c->tied = true;
    c->norm_eps = 1e-5;
    c->embed_scale = false;
}

/* Limits keep every product of dimensions far inside int (BLAS takes int) and size_t. */
#define LEXT_MAX_DIM (1 << 16)
#define LEXT_MAX_LAYERS 1024

lext_status lext_config_validate(const lext_config *c) {
    if (c->n_layer < 1 || c->n_layer > LEXT_MAX_LAYERS)
        return lext_fail(LEXT_ERR_CONFIG, "layers must be in [1, %d], got %d", LEXT_MAX_LAYERS,
                         c->n_layer);
    if (c->n_head < 1 || c->n_head > 1024)
        return lext_fail(LEXT_ERR_CONFIG, "heads must be in [1, 1024], got %d", c->n_head);
    if (c->d_model < 1 || c->d_model > LEXT_MAX_DIM)
        return lext_fail(LEXT_ERR_CONFIG, "dim must be in [1, %d], got %d", LEXT_MAX_DIM,
                         c->d_model);
    if (c->d_model % c->n_head != 0)
        return lext_fail(LEXT_ERR_CONFIG, "dim %d is not divisible by heads %d", c->d_model,
                         c->n_head);
    if (c->d_ff < 1 || c->d_ff > 4 * LEXT_MAX_DIM)
        return lext_fail(LEXT_ERR_CONFIG, "ffn must be in [1, %d], got %d", 4 * LEXT_MAX_DIM,
                         c->d_ff);
    if (c->vocab_size < 1 || c->vocab_size > LEXT_MAX_DIM)
        return lext_fail(LEXT_ERR_CONFIG, "vocab_size must be in [1, %d], got %d", LEXT_MAX_DIM,
                         c->vocab_size);
    if (c->train_len < 2 || c->train_len > (1 << 20))
        return lext_fail(LEXT_ERR_CONFIG, "train_len must be in [2, %d], got %d", 1 << 20,
                         c->train_len);
    if ((unsigned)c->pos >= LEXT_POS_COUNT)
        return lext_fail(LEXT_ERR_CONFIG, "invalid position scheme %d", (int)c->pos);
    pos_hooks h = pos_hooks_of(c->pos);
    int hd = c->d_model / c->n_head;
    if (h.rotary && hd % 2 != 0)
        return lext_fail(LEXT_ERR_CONFIG,
                         "%s needs an even head dimension, but dim %d / heads %d = %d is odd",
                         lext_pos_name(c->pos), c->d_model, c->n_head, hd);
    if (!(c->rope_base > 1.0) || !isfinite(c->rope_base))
        return lext_fail(LEXT_ERR_CONFIG, "rope_base must be a finite number > 1, got %g",
                         c->rope_base);
    if (!(c->xpos_gamma > 0.0) || !isfinite(c->xpos_gamma))
        return lext_fail(LEXT_ERR_CONFIG, "xpos_gamma must be a finite number > 0, got %g",
                         c->xpos_gamma);
    if (!(c->xpos_scale_base > 0.0) || !isfinite(c->xpos_scale_base))
        return lext_fail(LEXT_ERR_CONFIG, "xpos_scale_base must be a finite number > 0, got %g",
                         c->xpos_scale_base);
    if (!(c->norm_eps > 0.0) || !isfinite(c->norm_eps))
        return lext_fail(LEXT_ERR_CONFIG, "norm_eps must be a finite number > 0, got %g",
                         c->norm_eps);
    return LEXT_OK;
}
