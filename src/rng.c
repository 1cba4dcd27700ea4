/* rng.c - xoshiro256** (Blackman & Vigna) seeded through splitmix64. Deterministic across
 * platforms; the four-word state is the whole state, so checkpoints can resume it. */
#include "internal.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void lext_rng_seed(lext_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lext_rng_u64(lext_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t lext_rng_below(lext_rng *r, uint64_t n) {
    LEXT_ASSERT(n > 0);
    /* rejection sampling: accept only draws below the largest multiple of n */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = lext_rng_u64(r);
    while (x >= limit);
    return x % n;
}

double lext_rng_uniform(lext_rng *r) { return (double)(lext_rng_u64(r) >> 11) * 0x1.0p-53; }

double lext_rng_normal(lext_rng *r) {
    double u1 = lext_rng_uniform(r), u2 = lext_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
