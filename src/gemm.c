/* gemm.c - the matrix-product engine (gemm.h): oneDNN by default, OpenBLAS with
 * `make BLAS=openblas` (-DLEXT_BLAS_OPENBLAS). */
#include "gemm.h"

#include "internal.h"
#include "precision.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifdef LEXT_BLAS_OPENBLAS

#include <cblas.h>

char *openblas_get_corename(void);
char *openblas_get_config(void);

void gemm_set_threads(int n) { openblas_set_num_threads(n); }

void gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

void gemv_f32(int64_t m, int64_t k, const float *W, int64_t ldw, const float *x, float beta,
              float *y) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)k, 1.0f, W, (int)ldw, x, 1, beta, y, 1);
}

void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
               uint16_t *scratch) {
    (void)scratch; /* OpenBLAS 0.3.21 in Debian has no bf16 GEMM: exact float32 products */
    gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

bool gemm_bf16_native(void) { return false; }
void gemm_f32_use_matmul(bool on) { (void)on; }
void gemm_bf16_allow_native(bool on) { (void)on; }
size_t gemm_bf16_scratch_elems(size_t a, size_t b) {
    (void)a, (void)b;
    return 0;
}

const char *gemm_engine_name(void) {
    static char name[64];
    if (!name[0]) {
        /* "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64": the version */
        const char *cfg = openblas_get_config();
        char ver[16] = "";
        if (cfg && sscanf(cfg, "OpenBLAS %15s", ver) == 1)
            snprintf(name, sizeof name, "OpenBLAS %s", ver);
        else
            snprintf(name, sizeof name, "OpenBLAS");
    }
    return name;
}
const char *gemm_f32_kernel(void) {
    const char *c = openblas_get_corename();
    return c ? c : "unknown";
}
const char *gemm_bf16_kernel(void) { return "fp32 (bf16-rounded operands)"; }

#else /* oneDNN */

#include <oneapi/dnnl/dnnl.h>

void gemm_set_threads(int n) { (void)n; }

/* ---- matmul primitives, cached by shape -----------------------------------------------
 * A primitive descriptor costs tens of microseconds to create, a step runs ~30 products of
 * a handful of shapes: the primitives are kept, keyed by everything that defines them. */

typedef struct {
    bool bf16; /* bf16 operands (else f32); the result is f32 either way */
    bool ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    bool accumulate;
} mm_key;

typedef struct {
    mm_key key;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a_md, b_md, c_md;
} mm_entry;

enum { MM_CACHE = 64 };
static struct {
    pthread_mutex_t lock;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    bool init_done, init_ok;
    bool native;       /* the CPU's bf16 arithmetic is faster than its fp32 (AMX) */
    bool allow_native; /* tests may force the float32 path */
    bool f32_matmul;   /* fp32 products as matmul primitives (else dnnl_sgemm; gemm.h) */
    char bf16_impl[96], f32_impl[96];
    mm_entry entry[MM_CACHE];
    int n_entry, next_evict;
} dn = {.lock = PTHREAD_MUTEX_INITIALIZER, .allow_native = true, .f32_matmul = false};

/* Called with dn.lock held. Native bf16 only where it is the faster choice: with AMX
 * (oneDNN's avx512_core_amx) its tile products run at 2-3x fp32's speed on lext's shapes;
 * with AVX512-BF16 alone (vdpbf16ps: half the fp32 FMA throughput on Emerald Rapids,
 * oneDNN's bf16 matmul 135-160 GFLOP/s against 206-302 for fp32) and with AVX2 (no bf16
 * unit; oneDNN refuses or converts) it would be slower, so float32 products of the rounded
 * operands compute the same numbers faster. */
static void dn_init(void) {
    if (dn.init_done) return;
    dn.init_done = true;
    if (dnnl_engine_create(&dn.engine, dnnl_cpu, 0) != dnnl_success) return;
    if (dnnl_stream_create(&dn.stream, dn.engine, dnnl_stream_default_flags) != dnnl_success)
        return;
    dn.init_ok = true;
    dn.native = (dnnl_get_effective_cpu_isa() & dnnl_cpu_isa_avx512_core_amx) ==
                dnnl_cpu_isa_avx512_core_amx;
}

/* A 2-D bf16 or f32 memory descriptor of op(X) (rows, cols) stored row-major with stride ld. */
static void md_of(dnnl_memory_desc_t *md, dnnl_data_type_t dt, bool trans, int64_t rows,
                  int64_t cols, int64_t ld) {
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {trans ? 1 : ld, trans ? ld : 1};
    dnnl_status_t st = dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
    LEXT_ASSERT(st == dnnl_success);
}

/* The cached primitive for k, created on first use; NULL if oneDNN cannot make one (the
 * caller then takes the float32 path). Called with dn.lock held. */
static mm_entry *mm_get(const mm_key *k) {
    for (int i = 0; i < dn.n_entry; i++)
        if (memcmp(&dn.entry[i].key, k, sizeof *k) == 0) return &dn.entry[i];
    mm_entry e = {.key = *k};
    const dnnl_data_type_t dt = k->bf16 ? dnnl_bf16 : dnnl_f32;
    md_of(&e.a_md, dt, k->ta, k->M, k->K, k->lda);
    md_of(&e.b_md, dt, k->tb, k->K, k->N, k->ldb);
    md_of(&e.c_md, dnnl_f32, false, k->M, k->N, k->ldc);
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    bool ok = dnnl_matmul_desc_init(&desc, &e.a_md, &e.b_md, NULL, &e.c_md) == dnnl_success &&
              dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && k->accumulate) /* C += A B: oneDNN's sum post-op */
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pd, &desc, attr, dn.engine, NULL) == dnnl_success;
    char *impl_name = k->bf16 ? dn.bf16_impl : dn.f32_impl;
    if (ok && !impl_name[0]) {
        const char *impl = NULL;
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
            impl)
            snprintf(impl_name, sizeof dn.bf16_impl, "%s", impl);
    }
    ok = ok && dnnl_primitive_create(&e.prim, pd) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) return NULL;
    int slot = dn.n_entry;
    if (slot == MM_CACHE) { /* full: replace round-robin (the shapes of one run are few) */
        slot = dn.next_evict;
        dn.next_evict = (dn.next_evict + 1) % MM_CACHE;
        dnnl_primitive_destroy(dn.entry[slot].prim);
    } else {
        dn.n_entry++;
    }
    dn.entry[slot] = e;
    return &dn.entry[slot];
}

/* src (rows, cols, row stride ld) -> dst packed bf16 (the top halves: exact for values that
 * are bf16 numbers already). Returns the packed row stride. */
static int64_t to_bf16(uint16_t *dst, const float *src, int64_t rows, int64_t cols, int64_t ld) {
#pragma omp parallel for schedule(static) if (rows * cols >= 65536)
    for (int64_t r = 0; r < rows; r++) {
        const float *s = src + r * ld;
        uint16_t *d = dst + r * cols;
        for (int64_t c = 0; c < cols; c++) {
            uint32_t u;
            memcpy(&u, &s[c], sizeof u);
            d[c] = (uint16_t)(u >> 16);
        }
    }
    return cols;
}

/* Runs C = op(A) op(B) (+ C) as the cached primitive for k; false if oneDNN cannot make
 * one for it (the caller then takes another path). */
static bool mm_run(const mm_key *k, const void *A, const void *B, float *C) {
    pthread_mutex_lock(&dn.lock);
    dn_init();
    mm_entry *e = dn.init_ok ? mm_get(k) : NULL;
    bool ok = e != NULL;
    if (e) {
        dnnl_memory_t ma = NULL, mb = NULL, mc = NULL;
        ok = dnnl_memory_create(&ma, &e->a_md, dn.engine, (void *)A) == dnnl_success &&
             dnnl_memory_create(&mb, &e->b_md, dn.engine, (void *)B) == dnnl_success &&
             dnnl_memory_create(&mc, &e->c_md, dn.engine, C) == dnnl_success;
        if (ok) {
            dnnl_exec_arg_t args[3] = {
                {DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
            ok = dnnl_primitive_execute(e->prim, dn.stream, 3, args) == dnnl_success &&
                 dnnl_stream_wait(dn.stream) == dnnl_success;
        }
        if (ma) dnnl_memory_destroy(ma);
        if (mb) dnnl_memory_destroy(mb);
        if (mc) dnnl_memory_destroy(mc);
        LEXT_ASSERT(ok); /* a created primitive that fails to run is oneDNN's bug */
    }
    pthread_mutex_unlock(&dn.lock);
    return ok;
}

void gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (dn.f32_matmul && M > 1) {
        mm_key k = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb,
                    .ldc = ldc, .accumulate = beta != 0.0f};
        if (mm_run(&k, A, B, C)) return;
    }
    dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, A, lda, B, ldb,
                                  beta, C, ldc);
    /* arguments are the model's own shapes; a failure is a broken invariant */
    LEXT_ASSERT(st == dnnl_success);
}

void gemv_f32(int64_t m, int64_t k, const float *W, int64_t ldw, const float *x, float beta,
              float *y) {
    /* y^T (1, m) = x^T (1, k) W^T (k, m) */
    gemm_f32(false, true, 1, m, k, x, k, W, ldw, beta, y, m);
}

void gemm_f32_use_matmul(bool on) { dn.f32_matmul = on; }

void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
               uint16_t *scratch) {
    if (scratch && gemm_bf16_native()) {
        /* stored shapes: A is (M, K), or (K, M) when transposed; likewise B */
        int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
        uint16_t *a16 = scratch, *b16 = scratch + ar * ac;
        mm_key k = {.bf16 = true, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .ldc = ldc,
                    .accumulate = beta != 0.0f};
        k.lda = to_bf16(a16, A, ar, ac, lda);
        k.ldb = to_bf16(b16, B, br, bc, ldb);
        if (mm_run(&k, a16, b16, C)) return;
    }
    gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

bool gemm_bf16_native(void) {
    pthread_mutex_lock(&dn.lock);
    dn_init();
    bool r = dn.init_ok && dn.native && dn.allow_native;
    pthread_mutex_unlock(&dn.lock);
    return r;
}

void gemm_bf16_allow_native(bool on) {
    pthread_mutex_lock(&dn.lock);
    dn.allow_native = on;
    pthread_mutex_unlock(&dn.lock);
}

size_t gemm_bf16_scratch_elems(size_t a, size_t b) { return a + b; }

const char *gemm_engine_name(void) {
    static char name[48];
    if (!name[0]) {
        const dnnl_version_t *v = dnnl_version();
        snprintf(name, sizeof name, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
    }
    return name;
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    /* the largest set the effective ISA contains, as oneDNN names its kernels */
    static const struct { dnnl_cpu_isa_t isa; const char *name; } t[] = {
        {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
        {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
        {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
        {dnnl_cpu_isa_avx512_core, "avx512_core"},
        {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
        {dnnl_cpu_isa_avx2, "avx2"},
        {dnnl_cpu_isa_avx, "avx"},
        {dnnl_cpu_isa_sse41, "sse41"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if ((isa & t[i].isa) == t[i].isa) return t[i].name;
    return "generic";
}

const char *gemm_f32_kernel(void) {
    static char name[64];
    if (!dn.f32_matmul) {
        if (!name[0])
            snprintf(name, sizeof name, "dnnl_sgemm (jit, max ISA %s)",
                     isa_name(dnnl_get_effective_cpu_isa()));
        return name;
    }
    pthread_mutex_lock(&dn.lock);
    dn_init();
    if (dn.init_ok && !dn.f32_impl[0]) { /* name the kernel of a typical product */
        mm_key k = {.M = 64, .N = 64, .K = 64, .lda = 64, .ldb = 64, .ldc = 64, .tb = true};
        mm_get(&k);
    }
    pthread_mutex_unlock(&dn.lock);
    return dn.f32_impl[0] ? dn.f32_impl : "unknown";
}

const char *gemm_bf16_kernel(void) {
    if (!gemm_bf16_native()) return "fp32 (bf16-rounded operands)";
    pthread_mutex_lock(&dn.lock);
    if (!dn.bf16_impl[0]) { /* name the kernel of a typical product without running one */
        mm_key k = {.bf16 = true, .M = 64, .N = 64, .K = 64, .lda = 64, .ldb = 64, .ldc = 64,
                    .tb = true};
        mm_get(&k);
    }
    pthread_mutex_unlock(&dn.lock);
    return dn.bf16_impl[0] ? dn.bf16_impl : "unknown";
}

#endif
