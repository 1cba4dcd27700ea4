/*
 * test_passkey.c - the passkey prompt (lext_passkey_make) against the reference template's
 * parts written out here, the depths at the edges, lengths that split the filler unevenly,
 * determinism by seed, distractors, documents' text as filler, bad input; and the scores
 * (lext_passkey_score_logits) on hand-made logits. tests/test_passkey.py checks the prompt
 * byte for byte against the reference's own Python.
 */
#include "harness.h"
#include "lext.h"

#include <math.h>
#include <string.h>

static const char *TASK = "There is an important info hidden inside a lot of irrelevant text. Find it "
                          "and memorize them. I will quiz you about the important information there.";
static const char *GARB = "The grass is green. The sky is blue. The sun is yellow. Here we go. "
                          "There and back again.";
static const char *QUES = "What is the pass key? The pass key is";

/* The reference's prompt rebuilt from its parts for a given key: task, prefix, info, suffix,
 * question joined by "\n"; prefix and suffix cut from " ".join([garbage] * n). */
static size_t reference(char *out, int64_t length, double depth, const char *key) {
    char info[128];
    snprintf(info, sizeof info, "The pass key is %s. Remember it. %s is the pass key.", key, key);
    const int64_t fixed = (int64_t)(strlen(TASK) + strlen(info) + strlen(QUES) + 4);
    const int64_t n = length - fixed, np = (int64_t)llround(depth / 100.0 * (double)n), ns = n - np;
    char inf[8192] = "";
    while ((int64_t)strlen(inf) < n + 100) {
        if (inf[0]) strcat(inf, " ");
        strcat(inf, GARB);
    }
    size_t k = 0;
    k += (size_t)sprintf(out + k, "%s\n", TASK);
    memcpy(out + k, inf, (size_t)np), k += (size_t)np;
    k += (size_t)sprintf(out + k, "\n%s\n", info);
    memcpy(out + k, inf, (size_t)ns), k += (size_t)ns;
    k += (size_t)sprintf(out + k, "\n%s", QUES);
    return k;
}

TEST(prompt_is_the_reference_template) {
    const int64_t fixed = (int64_t)(strlen(TASK) + 58 + strlen(QUES) + 4);
    CHECK(lext_passkey_min_length() == fixed, "min length %lld, expected %lld",
          (long long)lext_passkey_min_length(), (long long)fixed);
    const int64_t lengths[] = {fixed, fixed + 1, fixed + 7, 300, 1000, 4091};
    const double depths[] = {0, 10, 33.3, 50, 99, 100};
    static uint8_t got[8192];
    static char want[8192];
    int bad = 0, n = 0;
    for (size_t li = 0; li < sizeof lengths / sizeof *lengths; li++)
        for (size_t di = 0; di < sizeof depths / sizeof *depths; di++) {
            lext_passkey_spec s;
            lext_passkey_spec_default(&s);
            s.length = lengths[li], s.depth = depths[di], s.seed = 100 + li * 10 + di;
            char key[LEXT_PASSKEY_DIGITS + 1];
            CHECK(lext_passkey_make(&s, got, key) == LEXT_OK, "make: %s", lext_last_error());
            CHECK(strlen(key) == 5 && key[0] >= '1' && strspn(key, "0123456789") == 5, "key %s", key);
            size_t k = reference(want, lengths[li], depths[di], key);
            n++;
            if (k != (size_t)lengths[li] || memcmp(got, want, k) != 0) {
                bad++;
                CHECK(0, "length %lld depth %g: prompt differs from the reference", (long long)lengths[li],
                      depths[di]);
            }
        }
    printf("  %d prompts byte for byte as the reference template, %d differ\n", n, bad);
    /* depth 0: the key line right after the task; 100: right before the question */
    lext_passkey_spec s;
    lext_passkey_spec_default(&s);
    s.length = 600, s.depth = 0;
    char key[LEXT_PASSKEY_DIGITS + 1];
    lext_passkey_make(&s, got, key);
    CHECK(memcmp(got + strlen(TASK), "\n\nThe pass key is ", 18) == 0, "depth 0: key line first");
    s.depth = 100;
    lext_passkey_make(&s, got, key);
    const char *tail = "is the pass key.\n\nWhat is the pass key? The pass key is";
    CHECK(memcmp(got + 600 - strlen(tail), tail, strlen(tail)) == 0, "depth 100: key line last");
}

TEST(prompt_determinism_distractors_documents) {
    static uint8_t a[2048], b[2048];
    char ka[6], kb[6];
    lext_passkey_spec s;
    lext_passkey_spec_default(&s);
    s.length = 2000, s.seed = 7;
    lext_passkey_make(&s, a, ka);
    lext_passkey_make(&s, b, kb);
    CHECK(memcmp(a, b, 2000) == 0 && strcmp(ka, kb) == 0, "same seed, same prompt");
    int differ = 0;
    for (uint64_t seed = 8; seed < 28; seed++) {
        s.seed = seed;
        lext_passkey_make(&s, b, kb);
        differ += strcmp(ka, kb) != 0;
    }
    CHECK(differ >= 19, "other seeds draw other keys (%d of 20)", differ);
    /* distractors: that many other codes, the key still once in its line */
    s.seed = 7, s.distractors = 3;
    lext_passkey_make(&s, b, kb);
    int codes = 0;
    for (int i = 0; i + 17 < 2000; i++)
        if (memcmp(b + i, "The pass code is ", 17) == 0) {
            codes++;
            CHECK(memcmp(b + i + 17, kb, 5) != 0, "a distractor repeats the key");
        }
    CHECK(codes == 3, "%d distractors, expected 3", codes);
    /* documents' text as filler: no reference sentence, the text continues across the key */
    lext_dataset d = {0};
    lext_doc docs[2] = {{"a", (uint8_t *)"0123456789abcdefghij", 20}, {"b", (uint8_t *)"KLMNOPQRST", 10}};
    d.docs = docs, d.n_docs = 2, d.total_bytes = 30;
    s.distractors = 0, s.filler = &d, s.length = lext_passkey_min_length() + 40, s.depth = 50;
    lext_passkey_make(&s, b, kb);
    const size_t t = strlen(TASK) + 1;
    /* 20 bytes before the key line, 20 after, one stream: doc a or b, '\n' between */
    char stream[128];
    size_t k = 0;
    for (int rep = 0; rep < 3; rep++) k += (size_t)sprintf(stream + k, "0123456789abcdefghij\nKLMNOPQRST\n");
    char filler[41];
    memcpy(filler, b + t, 20);
    memcpy(filler + 20, b + t + 20 + 1 + 58 + 1, 20);
    filler[40] = '\0';
    CHECK(strstr(stream, filler) != NULL, "document filler is one stream around the key: '%s'", filler);
}

TEST(prompt_bad_input) {
    static uint8_t buf[4096];
    char key[6];
    lext_passkey_spec s;
    lext_passkey_spec_default(&s);
    s.length = lext_passkey_min_length() - 1;
    CHECK(lext_passkey_make(&s, buf, key) == LEXT_ERR_ARG && strstr(lext_last_error(), "shorter"),
          "short: %s", lext_last_error());
    s.length = 1000, s.depth = 101;
    CHECK(lext_passkey_make(&s, buf, key) == LEXT_ERR_ARG && strstr(lext_last_error(), "0..100"),
          "depth 101: %s", lext_last_error());
    s.depth = NAN;
    CHECK(lext_passkey_make(&s, buf, key) == LEXT_ERR_ARG, "depth NaN");
    s.depth = 50, s.length = lext_passkey_min_length() + 30, s.distractors = 2;
    CHECK(lext_passkey_make(&s, buf, key) == LEXT_ERR_ARG && strstr(lext_last_error(), "fit"),
          "distractors that do not fit: %s", lext_last_error());
}

TEST(scores_from_hand_made_logits) {
    enum { V = 256 };
    static float lg[6 * V];
    const char *key = "40917";
    const char want[6] = {' ', '4', '0', '9', '1', '7'};
    /* row r: logit 2 on its byte, 1 on 'x', 0 elsewhere */
    for (int r = 0; r < 6; r++)
        for (int v = 0; v < V; v++) lg[r * V + v] = v == want[r] ? 2.0f : v == 'x' ? 1.0f : 0.0f;
    lext_passkey_score sc;
    lext_passkey_score_logits(lg, V, key, &sc);
    const double z = exp(2.0) + exp(1.0) + 254.0, lp = 5 * (2.0 - log(z));
    CHECK(sc.exact && sc.digits_right == 5 && fabs(sc.logprob - lp) < 1e-9,
          "all right: exact %d, digits %d, logprob %.9f (want %.9f)", sc.exact, sc.digits_right, sc.logprob, lp);
    lg[3 * V + 'x'] = 3.0f; /* the third digit's argmax is now 'x' */
    lext_passkey_score_logits(lg, V, key, &sc);
    CHECK(!sc.exact && sc.digits_right == 4, "a wrong digit: exact %d, digits %d", sc.exact, sc.digits_right);
    lg[3 * V + 'x'] = 1.0f;
    lg[0 * V + '\n'] = 5.0f; /* the space is not the argmax: greedy fails, digits still count */
    lext_passkey_score_logits(lg, V, key, &sc);
    CHECK(!sc.exact && sc.digits_right == 5, "a wrong space: exact %d, digits %d", sc.exact, sc.digits_right);
    lg[0 * V + '\n'] = 0.0f;
    lg[1 * V + 'x'] = 2.0f; /* a tie goes to the lower byte ('4' < 'x'), as greedy sampling */
    lext_passkey_score_logits(lg, V, key, &sc);
    CHECK(sc.exact, "a tie resolves to the lower id");
}

