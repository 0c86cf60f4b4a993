/* backends/cpu/gemm.h - single-precision matrix multiply for the CPU
 * kernels (conv2d, linear).
 *
 * All matrices are row-major. cpu_gemm computes
 *   C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C
 * where op(X) is X or X^T (trans_* = 1); with beta == 0, C is not read.
 *
 * On AVX-512 / AVX2 machines it runs fx's own blocked kernels
 * (gemm_avx512.c, gemm_avx2.c; driver in gemm_driver.h), single-threaded,
 * in the calling thread: kernels parallelise over the batch with the
 * backend's thread pool and must not start another pool underneath.
 * Measured on the 2-core dev machine (AMD EPYC with AVX-512), batch 64,
 * the 64x196x800 GEMM of the Fashion-MNIST net's second conv: per image on
 * 2 threads with OpenBLAS single-threaded 5.9 ms, one big OpenBLAS-threaded
 * call 6.3-6.7 ms, both pools at once 6.8-11 ms (OpenBLAS threads every
 * large call itself, and openblas_set_num_threads is process-global, so
 * the fast combination is not reachable through it). OpenBLAS 0.3.21 also
 * runs its Haswell (AVX2) kernels on this CPU: ~115 GFLOP/s per core on
 * these shapes, against 165-205 for the own AVX-512 kernel. Without
 * AVX2 it falls back to cblas_sgemm (OpenBLAS). */
#ifndef FX_CPU_GEMM_H
#define FX_CPU_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "fx/fx.h"

/* An operand given other than as a dense matrix, so convolutions can skip
 * copies: A already packed once for many products (cpu_gemm_pack_a: the
 * weights, reused for every image), or B produced panel by panel by a
 * callback (implicit im2col: the columns never exist as a whole).
 *
 * A packer writes rows [k0, k0 + kc) x columns [j0, j0 + nc) of op(B) as
 * consecutive panels of `nr` columns: panel q holds, for each row k, nr
 * values (columns j0 + q*nr ...), zero past column j0 + nc. With nr == nc
 * that is simply the row-major kc x nc block. */
typedef void (*cpu_gemm_pack_fn)(const void *self, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr,
                                 float *dst);

typedef struct cpu_gemm_src {
    const float *data;       /* dense: row-major, leading dimension ld */
    int64_t ld;
    int trans;               /* dense: use data^T */
    const float *packed;     /* A only: from cpu_gemm_pack_a (then data is unused) */
    cpu_gemm_pack_fn pack;   /* B only: callback packer (then data is unused) */
    const void *self;        /* the packer's argument */
} cpu_gemm_src;

/* Packs all of op(A) [m, k] for cpu_gemm_ex (the layout depends on simd).
 * `dst` holds cpu_gemm_packed_a_floats(...) floats. */
size_t cpu_gemm_packed_a_floats(fx_simd_level simd, int64_t m, int64_t k);
void cpu_gemm_pack_a(fx_simd_level simd, int trans_a, int64_t m, int64_t k, const float *a, int64_t lda, float *dst);

/* For packers that produce op(B)'s columns as rows first: writes one
 * panel (nr wide, zero past nc <= nr) of op(B) = rows^T, rows being
 * [nc][kc] with leading dimension ld. `nr` must be the value the packer was
 * called with. */
void cpu_gemm_pack_b_rows(fx_simd_level simd, const float *rows, int64_t ld, int64_t kc, int64_t nc, int nr,
                          float *dst);

/* C[m, n] = alpha * A B + beta * C with operands as described above;
 * single-threaded; `work` as for cpu_gemm. */
void cpu_gemm_ex(fx_simd_level simd, int64_t m, int64_t n, int64_t k, float alpha, const cpu_gemm_src *a,
                 const cpu_gemm_src *b, float beta, float *c, int64_t ldc, float *work);

/* Floats of workspace cpu_gemm / cpu_gemm_ex need for these sizes. */
size_t cpu_gemm_work_floats(fx_simd_level simd, int64_t m, int64_t n, int64_t k);

/* Single-threaded GEMM. `work` holds cpu_gemm_work_floats(...) floats (may
 * be NULL when that is 0). */
void cpu_gemm(fx_simd_level simd, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
              float *work);

/* The same product split over the backend's threads (by rows of C, or by
 * columns when C has few rows), for single large products (linear
 * layers). Fails only when scratch memory cannot be had (recorded). */
fx_status cpu_gemm_parallel(fx_backend *cpu, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                            float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                            float *c, int64_t ldc);

/* Gets `floats` of per-thread scratch for every thread of the pool from the
 * calling (host) thread, so that workers never allocate, and returns the
 * pointers in a malloc'd array of fx_cpu_threads(cpu) entries (the caller
 * frees the array, not the scratch). NULL on failure (recorded). The
 * pointers stay valid until the next fx_cpu_scratch call for that thread. */
float **cpu_scratch_per_thread(fx_backend *cpu, size_t floats);

/* Rounds a float count up to a whole 64-byte line (16 floats), so buffers
 * carved one after another from scratch stay aligned. */
static inline size_t cpu_floats_aligned(size_t floats) { return (floats + 15u) & ~(size_t)15u; }

/* Variants (gemm_avx512.c, gemm_avx2.c): same contracts as the calls above. */
#define CPU_GEMM_VARIANT(isa)                                                                                       \
    size_t cpu_gemm_##isa##_work_floats(int64_t m, int64_t n, int64_t k);                                         \
    size_t cpu_gemm_##isa##_packed_a_floats(int64_t m, int64_t k);                                                \
    void cpu_gemm_##isa##_pack_a(int trans_a, int64_t m, int64_t k, const float *a, int64_t lda, float *dst);    \
    void cpu_gemm_##isa##_pack_b_rows(const float *rows, int64_t ld, int64_t kc, int64_t nc, float *dst);        \
    void cpu_gemm_##isa##_ex(int64_t m, int64_t n, int64_t k, float alpha, const cpu_gemm_src *a,                \
                             const cpu_gemm_src *b, float beta, float *c, int64_t ldc, float *work)
CPU_GEMM_VARIANT(avx512);
CPU_GEMM_VARIANT(avx2);

#endif
