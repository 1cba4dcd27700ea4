/* pe_alibi.c - ALiBi head slopes (Press et al. 2022). The bias itself, -m_h (i - j), is
 * added inside the attention kernel after the 1/sqrt(hd) scaling; it has no parameters,
 * so it has no gradient of its own. */
#include "internal.h"
#include "position.h"

#include <math.h>

/* slopes of a power-of-two head count n: start = 2^(-8/n), m_h = start^h, h = 1..n */
static void slopes_pow2(double *out, int n) {
    double start = pow(2.0, -8.0 / n);
    for (int h = 0; h < n; h++) out[h] = pow(start, h + 1);
}

void alibi_slopes(float *slopes, int H) {
    int p = 1;
    while (p * 2 <= H) p *= 2; /* largest power of two <= H */
    double a[1024], b[2048];
    LEXT_ASSERT(H > 0 && H <= 1024);
    slopes_pow2(a, p);
    for (int h = 0; h < p; h++) slopes[h] = (float)a[h];
    if (p < H) {
        slopes_pow2(b, 2 * p);
        for (int h = p; h < H; h++) slopes[h] = (float)b[2 * (h - p)];
    }
}
