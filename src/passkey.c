/* passkey.c - passkey retrieval (see lext.h, "Passkey retrieval"): the prompt, byte for byte
 * as the landmark-attention reference (epfml/landmark-attention, llama/run_test.py,
 * generate_prompt), with its filler or text from documents, optional distractor codes, and
 * the scores of an answer from the logits of one forward pass. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char TASK[] = "There is an important info hidden inside a lot of irrelevant text. "
                           "Find it and memorize them. I will quiz you about the important "
                           "information there.";
static const char GARBAGE[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. "
                              "There and back again.";
static const char QUESTION[] = "What is the pass key? The pass key is";
/* "The pass key is K. Remember it. K is the pass key." with a 5-digit K */
#define INFO_LEN (sizeof "The pass key is . Remember it.  is the pass key." - 1 + 2 * LEXT_PASSKEY_DIGITS)
#define DISTRACTOR_LEN (sizeof " The pass code is ." - 1 + LEXT_PASSKEY_DIGITS)

void lext_passkey_spec_default(lext_passkey_spec *s) {
    *s = (lext_passkey_spec){0, 50.0, 1, NULL, 0};
}

int64_t lext_passkey_min_length(void) {
    /* the lines task, prefix, info, suffix, question joined by 4 newlines */
    return (int64_t)(sizeof TASK - 1 + INFO_LEN + sizeof QUESTION - 1 + 4);
}

/* n bytes of the reference's filler: " ".join([garbage] * many)[:n] */
static void reference_filler(uint8_t *out, int64_t n) {
    const int64_t g = (int64_t)sizeof GARBAGE - 1;
    for (int64_t i = 0; i < n; i++) {
        const int64_t k = i % (g + 1);
        out[i] = (uint8_t)(k < g ? GARBAGE[k] : ' ');
    }
}

static void draw_key(lext_rng *r, char key[LEXT_PASSKEY_DIGITS + 1]) {
    snprintf(key, LEXT_PASSKEY_DIGITS + 1, "%05llu", (unsigned long long)(10000 + lext_rng_below(r, 90000)));
}

/* The documents' text as one stream, each document followed by '\n', wrapping around. */
typedef struct {
    const lext_dataset *d;
    size_t doc, off; /* off == len: the document's newline */
} text_cursor;

static void corpus_filler(uint8_t *out, int64_t n, text_cursor *c) {
    for (int64_t i = 0; i < n; i++) {
        const lext_doc *doc = &c->d->docs[c->doc];
        if (c->off < doc->len) {
            out[i] = doc->bytes[c->off++];
        } else {
            out[i] = '\n';
            c->doc = (c->doc + 1) % c->d->n_docs;
            c->off = 0;
        }
    }
}

/* Overwrites filler with a " The pass code is NNNNN." sentence (a code other than the key)
 * at an offset drawn in [0, n - len], refusing overlaps with the ones placed before. */
static void place_distractors(uint8_t *f, int64_t n, int count, const char *key, lext_rng *r,
                              int64_t *used, int *n_used) {
    for (int k = 0; k < count; k++) {
        char code[LEXT_PASSKEY_DIGITS + 1], txt[DISTRACTOR_LEN + 1];
        do draw_key(r, code);
        while (strcmp(code, key) == 0);
        snprintf(txt, sizeof txt, " The pass code is %s.", code);
        int64_t at = 0;
        for (int tries = 0; tries < 1000; tries++) {
            at = (int64_t)lext_rng_below(r, (uint64_t)(n - (int64_t)DISTRACTOR_LEN + 1));
            bool clash = false;
            for (int u = 0; u < *n_used; u++)
                clash |= at < used[u] + (int64_t)DISTRACTOR_LEN && used[u] < at + (int64_t)DISTRACTOR_LEN;
            if (!clash) break;
        }
        used[(*n_used)++] = at;
        memcpy(f + at, txt, DISTRACTOR_LEN);
    }
}


lext_status lext_passkey_make(const lext_passkey_spec *s, uint8_t *prompt, char key[LEXT_PASSKEY_DIGITS + 1]) {
    const int64_t fixed = lext_passkey_min_length();
    if (s->length < fixed)
        return lext_fail(LEXT_ERR_ARG,
                         "a passkey prompt of %lld bytes is shorter than its template (%lld bytes "
                         "without any filler)",
                         (long long)s->length, (long long)fixed);
    if (!(s->depth >= 0 && s->depth <= 100))
        return lext_fail(LEXT_ERR_ARG,
                         "passkey depth must be in 0..100 (%% of the filler before the key), got %g",
                         s->depth);
    if (s->distractors < 0 || s->distractors > LEXT_PASSKEY_MAX_DISTRACTORS)
        return lext_fail(LEXT_ERR_ARG, "distractors must be in 0..%d, got %d",
                         LEXT_PASSKEY_MAX_DISTRACTORS, s->distractors);
    if (s->filler && s->filler->n_docs == 0) return lext_fail(LEXT_ERR_ARG, "no filler documents");
    const int64_t n_garbage = s->length - fixed;
    /* the reference: n_garbage_prefix = the depth's share of the filler */
    const int64_t n_prefix = (int64_t)llround(s->depth / 100.0 * (double)n_garbage);
    const int64_t n_suffix = n_garbage - n_prefix;
    if (s->distractors && (n_prefix < (int64_t)DISTRACTOR_LEN * s->distractors &&
                           n_suffix < (int64_t)DISTRACTOR_LEN * s->distractors))
        return lext_fail(LEXT_ERR_ARG,
                         "%d distractors of %d bytes do not fit beside the key in the %lld bytes "
                         "of filler of a %lld-byte prompt",
                         s->distractors, (int)DISTRACTOR_LEN, (long long)n_garbage,
                         (long long)s->length);
    lext_rng r;
    lext_rng_seed(&r, s->seed);
    draw_key(&r, key);
    uint8_t *p = prompt;
    memcpy(p, TASK, sizeof TASK - 1), p += sizeof TASK - 1;
    *p++ = '\n';
    uint8_t *prefix = p, *suffix = prefix + n_prefix + 1 + INFO_LEN + 1;
    if (s->filler) { /* documents' text: the suffix continues where the prefix stopped */
        text_cursor c = {s->filler, (size_t)lext_rng_below(&r, s->filler->n_docs), 0};
        corpus_filler(prefix, n_prefix, &c);
        corpus_filler(suffix, n_suffix, &c);
    } else { /* garbage_inf[:n_prefix], garbage_inf[:n_suffix]: the suffix starts over */
        reference_filler(prefix, n_prefix);
        reference_filler(suffix, n_suffix);
    }
    if (s->distractors) { /* each in the prefix or the suffix, where it fits */
        int64_t used[2][LEXT_PASSKEY_MAX_DISTRACTORS];
        int n_used[2] = {0, 0};
        for (int k = 0; k < s->distractors; k++) {
            const bool fit_p = n_prefix >= (int64_t)DISTRACTOR_LEN * (n_used[0] + 1),
                       fit_s = n_suffix >= (int64_t)DISTRACTOR_LEN * (n_used[1] + 1);
            const int side = fit_p && fit_s ? (int)lext_rng_below(&r, 2) : fit_s ? 1 : 0;
            if (!fit_p && !fit_s)
                return lext_fail(LEXT_ERR_ARG, "%d distractors do not fit in the filler of a "
                                               "%lld-byte prompt",
                                 s->distractors, (long long)s->length);
            place_distractors(side ? suffix : prefix, side ? n_suffix : n_prefix, 1, key, &r,
                              used[side], &n_used[side]);
        }
    }
    p = prefix + n_prefix;
    *p++ = '\n';
    char info[INFO_LEN + 1];
    snprintf(info, sizeof info, "The pass key is %s. Remember it. %s is the pass key.", key, key);
    memcpy(p, info, INFO_LEN), p += INFO_LEN;
    *p++ = '\n';
    LEXT_ASSERT(p == suffix);
    p = suffix + n_suffix;
    *p++ = '\n';
    memcpy(p, QUESTION, sizeof QUESTION - 1), p += sizeof QUESTION - 1;
    LEXT_ASSERT(p - prompt == s->length);
    return LEXT_OK;
}

void lext_passkey_score_logits(const float *logits, int V, const char *key, lext_passkey_score *out) {
    /* row 0 predicts the space, rows 1..5 the digits; greedy decoding writes " " + key
     * exactly when each row's argmax (lowest id on ties, as lext_sample) is its byte */
    *out = (lext_passkey_score){true, 0, 0.0};
    for (int r = 0; r <= LEXT_PASSKEY_DIGITS; r++) {
        const float *lg = logits + (size_t)r * (size_t)V;
        const int want = r == 0 ? ' ' : (unsigned char)key[r - 1];
        int best = 0;
        double mx = lg[0];
        for (int v = 1; v < V; v++)
            if (lg[v] > mx) mx = lg[v], best = v;
        double z = 0;
        for (int v = 0; v < V; v++) z += exp((double)lg[v] - mx);
        const bool right = best == want;
        out->exact &= right;
        if (r > 0) {
            out->digits_right += right;
            out->logprob += (double)lg[want] - mx - log(z);
        }
    }
}
