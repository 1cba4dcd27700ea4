/*
 * precision.h - bf16 matrix products with fp32 master weights (lext train --precision bf16).
 *
 * bfloat16 keeps float32's sign and 8-bit exponent and the top 7 stored bits of its
 * significand (8 with the hidden bit). A product of two bf16 numbers has at most 16
 * significant bits, so it is exact in float32: a bf16 matrix product with float32
 * accumulation (what a bf16 dot-product instruction such as AVX512-BF16's vdpbf16ps
 * computes) equals a float32 product of the operands rounded to bf16, up to the order of
 * the float32 additions. That is how lext computes it: operands are rounded to bf16 and
 * kept in float32 containers, then OpenBLAS sgemm multiplies them. The numerics are those
 * of bf16 training; the speed is that of fp32 plus the rounding passes (lext has no native
 * bf16 kernel: see README, "Performance").
 *
 * What is rounded, per nn.Linear y = x w^T + b (qkv, out, up, down and the output
 * projection) in bf16 mode:
 *   forward    y  = bf16(x) bf16(w)^T + b              b and the sum in fp32
 *   backward   dx += bf16(dy) bf16(w)                  straight through the rounding
 *              dw += bf16(dy)^T bf16(x)                dw in fp32 (the master gradient)
 *              db += column sums of dy                  fp32
 * Everything else (embeddings, LayerNorm, GELU, attention, the loss, AdamW and its state,
 * the master weights) stays fp32.
 */
#ifndef LEXT_PRECISION_H
#define LEXT_PRECISION_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* x rounded to the nearest bf16 (ties to even), returned as a float whose low 16 bits are
 * zero. Infinities stay; a NaN stays a (quiet) NaN; finite values past bf16's largest
 * round to infinity, as IEEE rounding does. */
static inline float bf16_round1(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    if ((u & 0x7fffffffu) > 0x7f800000u) r = (u | 0x00400000u) & 0xffff0000u; /* NaN */
    memcpy(&x, &r, sizeof x);
    return x;
}

/* dst[i] = bf16_round1(src[i]) for n values (dst may equal src). Returns dst. */
float *bf16_round(float *dst, const float *src, size_t n);

#endif
