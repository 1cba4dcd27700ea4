/*
 * gemm.h - the one dispatch point for the model's matrix products: the linear layers'
 * forward and backward, the LM head and the decoder's one-token products all go through
 * gemm_f32 / gemm_bf16. (Attention's per-head tile products are lext's own kernels, in
 * tile.c: they are small, fused with the softmax and never leave the cache.)
 *
 * The engine is chosen at build time: oneDNN by default (`make`; Debian's libdnnl, which
 * picks its kernels by the CPU's instruction sets, so it runs at the CPU's speed on models
 * that OpenBLAS 0.3.21's table does not know), or OpenBLAS (`make BLAS=openblas`).
 *
 * All matrices are row-major. op(X) is X, or X^T when its flag is set; lda/ldb/ldc are row
 * strides of the matrices as stored. Results are the same bits run to run for the same
 * thread count and the same kernels (one kind of CPU); they differ in the last bits across
 * kinds of CPU and engines, which choose other blockings.
 */
#ifndef LEXT_GEMM_H
#define LEXT_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* C (M, N) = op(A) (M, K) op(B) (K, N) + beta C, float32 throughout. beta is 0 or 1. */
void gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* y (m) = W (m, k) x (k) + beta y, W with row stride ldw: the decoder's one-token
 * products (a matrix-vector product runs at memory speed; gemm's packing would dominate). */
void gemv_f32(int64_t m, int64_t k, const float *W, int64_t ldw, const float *x, float beta,
              float *y);

/* The same product as gemm_f32 with bf16 operands and float32 accumulation: A and B hold
 * float32 values that are already bf16 numbers (low 16 bits zero, precision.h's rounding),
 * so the result is the exact products summed in float32, in some order. Where the CPU has
 * a bf16 unit that is faster than its fp32 FMAs (AMX), oneDNN's bf16 matmul computes it from
 * a 16-bit copy of the operands (scratch, see gemm_bf16_scratch_elems); elsewhere float32
 * gemm_f32 does, which gives the same numbers up to summation order. */
void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
               uint16_t *scratch);

/* Whether gemm_bf16 uses native bf16 arithmetic in this process (decided once, by the CPU's
 * instruction sets: see gemm.c), and a switch for tests and benchmarks that compare it with
 * the float32 path (on = false forces the float32 path; on = true restores the default). */
bool gemm_bf16_native(void);
void gemm_bf16_allow_native(bool on);

/* Elements of uint16 scratch gemm_bf16 needs for operands of a and b elements: a + b in a
 * build with a native bf16 path (whether or not this CPU uses it), else 0. */
size_t gemm_bf16_scratch_elems(size_t a, size_t b);

/* oneDNN only: fp32 products as cached matmul primitives (on) or dnnl_sgemm (off, the
 * default: 10-20% faster on lext's shapes on a Xeon with AVX-512 and AMX, measured with
 * bench/sgemm_peak --onednn matmul|sgemm), for that comparison. */
void gemm_f32_use_matmul(bool on);

/* Threads the engine's products use (OpenBLAS keeps its own count; oneDNN follows OpenMP's,
 * which lext_set_threads sets). */
void gemm_set_threads(int n);

/* What the engine is and which kernels it runs, for `lext info --system` and checkpoint
 * metadata: "oneDNN 2.6.3" / "OpenBLAS 0.3.21"; the kernel of a typical fp32 product
 * ("jit:avx512_core" or OpenBLAS's core name) and of a bf16 one ("brg:avx512_core_amx_bf16",
 * or "fp32 (bf16-rounded operands)" when the native path is off). Never NULL. */
const char *gemm_engine_name(void);
const char *gemm_f32_kernel(void);
const char *gemm_bf16_kernel(void);

#endif
