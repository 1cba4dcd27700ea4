/* attn_ext.c - attention extensions at inference (see lext.h, "Attention extensions"):
 * attention sinks (three position conventions), Self-Extend and ReRoPE as one rule,
 * ext_row_of, that the tiled forward, the naive oracle, the scores and the decoder share. */
#include "attention.h"
#include "internal.h"
#include "model.h"
#include "position.h"

#include <string.h>

static const char *const ext_names[LEXT_EXT_COUNT] = {"none", "sinks", "self-extend", "rerope"};
static const char *const sink_names[LEXT_SINK_COUNT] = {"cache", "absolute", "capped"};

void lext_attn_ext_default(lext_attn_ext *e) {
    *e = (lext_attn_ext){LEXT_EXT_NONE, 0, LEXT_SINK_CACHE, 0, 0, 0};
}

const char *lext_attn_ext_name(lext_attn_ext_kind k) {
    return (unsigned)k < LEXT_EXT_COUNT ? ext_names[k] : "invalid";
}

const char *lext_sink_pos_name(lext_sink_pos p) {
    return (unsigned)p < LEXT_SINK_COUNT ? sink_names[p] : "invalid";
}

lext_status lext_sink_pos_parse(const char *s, lext_sink_pos *out) {
    for (int k = 0; k < LEXT_SINK_COUNT; k++)
        if (s && strcmp(s, sink_names[k]) == 0) {
            *out = (lext_sink_pos)k;
            return LEXT_OK;
        }
    return lext_fail(LEXT_ERR_ARG, "unknown sink position '%s' (expected cache, absolute or capped)",
                     s ? s : "(null)");
}

bool ext_has_map_b(const lext_attn_ext *e) {
    return e && e->kind != LEXT_EXT_NONE && !(e->kind == LEXT_EXT_SINKS && e->sink_pos == LEXT_SINK_ABSOLUTE);
}

lext_status lext_attn_ext_validate(const lext_attn_ext *e, const lext_config *c, const lext_attn *attn) {
    if (!e || e->kind == LEXT_EXT_NONE) return LEXT_OK;
    const char *name = lext_attn_ext_name(e->kind);
    switch (e->kind) {
    case LEXT_EXT_SINKS:
        if (e->sinks < 1)
            return lext_fail(LEXT_ERR_ARG, "sinks: the number of sink positions must be >= 1, got %lld",
                             (long long)e->sinks);
        if ((unsigned)e->sink_pos >= LEXT_SINK_COUNT)
            return lext_fail(LEXT_ERR_ARG, "sinks: invalid position convention %d", (int)e->sink_pos);
        break;
    case LEXT_EXT_SELF_EXTEND:
        if (e->group < 1 || e->neighbors < 1)
            return lext_fail(LEXT_ERR_ARG,
                             "self-extend needs a group size G >= 1 and a neighbour window W >= 1, "
                             "got G %lld, W %lld",
                             (long long)e->group, (long long)e->neighbors);
        break;
    case LEXT_EXT_REROPE:
        if (e->clip < 1)
            return lext_fail(LEXT_ERR_ARG, "rerope needs a window W >= 1, got %lld", (long long)e->clip);
        break;
    default: return lext_fail(LEXT_ERR_ARG, "invalid attention extension %d", (int)e->kind);
    }
    if (c && ext_has_map_b(e) && !pos_hooks_of(c->pos).rotary)
        return lext_fail(LEXT_ERR_ARG,
                         "%s%s moves keys to other positions, which needs rope or xpos; this model "
                         "uses %s%s",
                         name, e->kind == LEXT_EXT_SINKS ? " with --sink-pos cache or capped" : "",
                         lext_pos_name(c->pos),
                         e->kind == LEXT_EXT_SINKS ? " (absolute sinks work with any scheme)" : "");
    if (attn && e->kind == LEXT_EXT_SINKS && attn->mode == LEXT_ATTN_CAUSAL)
        return lext_fail(LEXT_ERR_ARG, "sinks apply with window or bca attention: causal attention "
                                       "already sees every key");
    return LEXT_OK;
}

lext_status lext_model_set_attn_ext(lext_model *m, const lext_attn_ext *e) {
    if (!m) return lext_fail(LEXT_ERR_ARG, "no model");
    if (!e) {
        lext_attn_ext_default(&m->attn_ext);
        return LEXT_OK;
    }
    LEXT_TRY(lext_attn_ext_validate(e, &m->cfg, NULL));
    m->attn_ext = *e;
    return LEXT_OK;
}

const lext_attn_ext *lext_model_attn_ext(const lext_model *m) { return &m->attn_ext; }

/* The distance at which capped sinks sit: what the mask keeps in reach, the window W or
 * bca's block l (the training length by default). */
static int64_t capped_distance(const lext_attn *mask) {
    return mask->mode == LEXT_ATTN_WINDOW ? mask->window : mask->block;
}

ext_row ext_row_of(const lext_attn_ext *e, const lext_attn *mask, int64_t T, int64_t i) {
    ext_row r = {lext_attn_lo(mask, T, i), 0, 0, i};
    if (!e) return r;
    switch (e->kind) {
    case LEXT_EXT_SINKS:
        r.ns = e->sinks < r.lo ? e->sinks : r.lo;
        if (e->sink_pos == LEXT_SINK_CACHE) {
            /* the cache holds the ns sinks, then the band [lo, i]: the query's index in it */
            r.bhi = r.ns;
            r.qpos = i - (r.lo - r.ns);
        } else if (e->sink_pos == LEXT_SINK_CAPPED) {
            r.bhi = r.ns;
            r.qpos = capped_distance(mask);
        }
        break;
    case LEXT_EXT_SELF_EXTEND: {
        /* LongLM: group_query_position = i // G + W - W // G, key j // G */
        const int64_t near = i - e->neighbors + 1; /* keys j >= near are neighbours */
        r.bhi = near > r.lo ? near : r.lo;
        r.qpos = i / e->group + e->neighbors - e->neighbors / e->group;
        break;
    }
    case LEXT_EXT_REROPE: {
        const int64_t near = i - e->clip + 1;
        r.bhi = near > r.lo ? near : r.lo;
        r.qpos = e->clip;
        break;
    }
    default: break;
    }
    return r;
}

int64_t ext_kpos(const lext_attn_ext *e, int64_t j) {
    if (!e) return j;
    switch (e->kind) {
    case LEXT_EXT_SINKS: return e->sink_pos == LEXT_SINK_CAPPED ? 0 : j;
    case LEXT_EXT_SELF_EXTEND: return j / e->group;
    case LEXT_EXT_REROPE: return 0;
    default: return j;
    }
}
