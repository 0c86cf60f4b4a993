/* backends/cpu/gemm.c - GEMM dispatch (own SIMD kernels or CBLAS), the
 * thread-split product for single large GEMMs, and per-thread scratch
 * handed out from the host thread. See gemm.h for why fx does not let
 * OpenBLAS thread the convolutions. */
#include <cblas.h>
#include <stdlib.h>

#include "backends/cpu/gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#define GEMM_HAVE_X86 1
#else
#define GEMM_HAVE_X86 0
#endif

size_t cpu_gemm_work_floats(fx_simd_level simd, int64_t m, int64_t n, int64_t k)
{
#if GEMM_HAVE_X86
    if (simd >= FX_SIMD_AVX512)
        return cpu_gemm_avx512_work_floats(m, n, k);
    if (simd >= FX_SIMD_AVX2)
        return cpu_gemm_avx2_work_floats(m, n, k);
#endif
    /* CBLAS path: room for a callback-packed B as one dense k x n block. */
    return m <= 0 || n <= 0 || k <= 0 ? 0 : (size_t)(k * n);
}

size_t cpu_gemm_packed_a_floats(fx_simd_level simd, int64_t m, int64_t k)
{
#if GEMM_HAVE_X86
    if (simd >= FX_SIMD_AVX512)
        return cpu_gemm_avx512_packed_a_floats(m, k);
    if (simd >= FX_SIMD_AVX2)
        return cpu_gemm_avx2_packed_a_floats(m, k);
#endif
    return m <= 0 || k <= 0 ? 0 : (size_t)(m * k);
}

void cpu_gemm_pack_a(fx_simd_level simd, int trans_a, int64_t m, int64_t k, const float *a, int64_t lda, float *dst)
{
#if GEMM_HAVE_X86
    if (simd >= FX_SIMD_AVX512) {
        cpu_gemm_avx512_pack_a(trans_a, m, k, a, lda, dst);
        return;
    }
    if (simd >= FX_SIMD_AVX2) {
        cpu_gemm_avx2_pack_a(trans_a, m, k, a, lda, dst);
        return;
    }
#endif
    /* CBLAS path: op(A)^T as a dense k x m matrix (one "panel" of m rows). */
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < k; p++)
            dst[p * m + i] = trans_a ? a[p * lda + i] : a[i * lda + p];
}

void cpu_gemm_pack_b_rows(fx_simd_level simd, const float *rows, int64_t ld, int64_t kc, int64_t nc, int nr,
                          float *dst)
{
#if GEMM_HAVE_X86
    if (simd >= FX_SIMD_AVX512) {
        cpu_gemm_avx512_pack_b_rows(rows, ld, kc, nc, dst);
        return;
    }
    if (simd >= FX_SIMD_AVX2) {
        cpu_gemm_avx2_pack_b_rows(rows, ld, kc, nc, dst);
        return;
    }
#endif
    for (int64_t k = 0; k < kc; k++)
        for (int64_t j = 0; j < nr; j++)
            dst[k * nr + j] = j < nc ? rows[j * ld + k] : 0.0f;
}

void cpu_gemm_ex(fx_simd_level simd, int64_t m, int64_t n, int64_t k, float alpha, const cpu_gemm_src *a,
                 const cpu_gemm_src *b, float beta, float *c, int64_t ldc, float *work)
{
    if (m <= 0 || n <= 0)
        return;
#if GEMM_HAVE_X86
    if (simd >= FX_SIMD_AVX512) {
        cpu_gemm_avx512_ex(m, n, k, alpha, a, b, beta, c, ldc, work);
        return;
    }
    if (simd >= FX_SIMD_AVX2) {
        cpu_gemm_avx2_ex(m, n, k, alpha, a, b, beta, c, ldc, work);
        return;
    }
#endif
    const float *pa = a->data, *pb = b->data;
    int64_t lda = a->ld, ldb = b->ld;
    int ta = a->trans, tb = b->trans;
    if (a->packed) {
        pa = a->packed; /* op(A)^T, k x m */
        lda = m;
        ta = 1;
    }
    if (b->pack) {
        /* A single panel as wide as B is the dense row-major block. */
        if (k > 0)
            b->pack(b->self, 0, k, 0, n, (int)n, work);
        pb = work;
        ldb = n;
        tb = 0;
    }
    if (k <= 0) {
        /* CBLAS would not touch C for k == 0 with beta == 1; make it exact. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    /* CBLAS takes int sizes; the shape functions keep tensors far below
     * 2^31 elements per matrix for any network that fits in memory. */
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
                alpha, pa, (int)lda, pb, (int)ldb, beta, c, (int)ldc);
}

void cpu_gemm(fx_simd_level simd, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
              float *work)
{
    cpu_gemm_src sa = { a, lda, trans_a, NULL, NULL, NULL };
    cpu_gemm_src sb = { b, ldb, trans_b, NULL, NULL, NULL };
    cpu_gemm_ex(simd, m, n, k, alpha, &sa, &sb, beta, c, ldc, work);
}

float **cpu_scratch_per_thread(fx_backend *cpu, size_t floats)
{
    int threads = fx_cpu_threads(cpu);
    if (threads < 1)
        threads = 1;
    float **ptrs = fx_calloc(cpu->ctx, (size_t)threads, sizeof *ptrs, "per-thread scratch table");
    if (!ptrs)
        return NULL;
    for (int t = 0; t < threads; t++) {
        ptrs[t] = fx_cpu_scratch(cpu, t, floats ? floats : 1);
        if (!ptrs[t]) {
            free(ptrs);
            return NULL;
        }
    }
    return ptrs;
}

typedef struct gemm_split {
    fx_simd_level simd;
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t lda, ldb, ldc;
    int64_t unit;     /* rows (split_rows) or columns per index */
    int split_rows;
    float **work;
} gemm_split;

static void gemm_split_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const gemm_split *s = arg;
    int64_t lo = begin * s->unit;
    int64_t hi = end * s->unit;
    if (s->split_rows) {
        if (hi > s->m)
            hi = s->m;
        const float *a = s->trans_a ? s->a + lo : s->a + lo * s->lda;
        cpu_gemm(s->simd, s->trans_a, s->trans_b, hi - lo, s->n, s->k, s->alpha, a, s->lda, s->b, s->ldb, s->beta,
                 s->c + lo * s->ldc, s->ldc, s->work[thread]);
    } else {
        if (hi > s->n)
            hi = s->n;
        const float *b = s->trans_b ? s->b + lo * s->ldb : s->b + lo;
        cpu_gemm(s->simd, s->trans_a, s->trans_b, s->m, hi - lo, s->k, s->alpha, s->a, s->lda, b, s->ldb, s->beta,
                 s->c + lo, s->ldc, s->work[thread]);
    }
}

fx_status cpu_gemm_parallel(fx_backend *cpu, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                            float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                            float *c, int64_t ldc)
{
    fx_simd_level simd = fx_cpu_simd_level(cpu);
    if (m <= 0 || n <= 0)
        return FX_OK;
    if (simd < FX_SIMD_AVX2) {
        /* CBLAS threads a single call itself. */
        cpu_gemm(simd, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
        return FX_OK;
    }
    gemm_split s = { simd, trans_a, trans_b, m, n, k, alpha, beta, a, b, c, lda, ldb, ldc, 0, 0, NULL };
    /* Split the dimension with more 32-wide tiles; units are whole tiles so
     * that no thread gets a ragged sliver. Small products (< ~1 MFLOP) are
     * not worth waking the pool: one unit holds them all. */
    s.split_rows = m >= n;
    int64_t extent = s.split_rows ? m : n;
    s.unit = 32;
    if (m * n * k < (int64_t)1 << 19)
        s.unit = extent;
    int64_t units = (extent + s.unit - 1) / s.unit;
    /* The workspace grows with m and n only up to the cache blocks, so the
     * whole product's size bounds every thread's share. */
    size_t work = cpu_gemm_work_floats(simd, m, n, k);
    s.work = cpu_scratch_per_thread(cpu, work);
    if (!s.work)
        return FX_ERR_NOMEM;
    fx_cpu_parallel_for(cpu, units, 1, gemm_split_range, &s);
    free(s.work);
    return FX_OK;
}
