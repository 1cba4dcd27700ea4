/* position.c - names of the schemes and the one dispatch point from scheme to hooks. */
#include "internal.h"
#include "position.h"

#include <string.h>

static const char *const pos_names[LEXT_POS_COUNT] = {"none", "sinusoidal", "learned",
                                                      "alibi", "rope",       "xpos"};

const char *lext_pos_name(lext_pos_kind k) {
    return (unsigned)k < LEXT_POS_COUNT ? pos_names[k] : "invalid";
}

lext_status lext_pos_parse(const char *s, lext_pos_kind *out) {
    for (int k = 0; k < LEXT_POS_COUNT; k++)
        if (s && strcmp(s, pos_names[k]) == 0) {
            *out = (lext_pos_kind)k;
            return LEXT_OK;
        }
    return lext_fail(LEXT_ERR_ARG,
                     "unknown position scheme '%s' (expected none, sinusoidal, learned, alibi, "
                     "rope or xpos)",
                     s ? s : "(null)");
}

pos_hooks pos_hooks_of(lext_pos_kind k) {
    pos_hooks h = {false, false, false, false};
    switch (k) {
    case LEXT_POS_NONE: break;
    case LEXT_POS_SINUSOIDAL:
    case LEXT_POS_LEARNED: h.embed_add = true; break;
    case LEXT_POS_ALIBI: h.alibi = true; break;
    case LEXT_POS_ROPE: h.rotary = true; break;
    case LEXT_POS_XPOS: h.rotary = h.xpos = true; break;
    case LEXT_POS_COUNT: LEXT_ASSERT(!"invalid position scheme");
    }
    return h;
}
