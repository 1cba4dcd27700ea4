/*
 * tile.h - small dense products for attention tiles (at most a few hundred rows and
 * columns, inner dimension the head size), where OpenBLAS spends more time packing and
 * dispatching than computing. One register-blocked kernel serves every layout:
 *
 *   C (M x N, row stride ldc) = alpha * A B + beta * C
 *
 * with A given by element strides (A[m][k] = A[m * ars + k * aks], so A or its transpose)
 * and B by rows (row k at B + k * ldb, N contiguous floats). For A B^T, transpose B into a
 * buffer first (tile_transpose). Single-threaded: callers run many tiles in parallel.
 */
#ifndef LEXT_TILE_H
#define LEXT_TILE_H

#include <stdint.h>

void tile_gemm(float *C, int64_t ldc, const float *A, int64_t ars, int64_t aks, const float *B,
               int64_t ldb, int64_t M, int64_t N, int64_t K, float alpha, float beta);

/* dst (cols x rows, row stride ldd) = src (rows x cols, row stride lds)^T */
void tile_transpose(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                    int64_t cols);

#endif
