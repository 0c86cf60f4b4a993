/* backends/cpu/gemm_avx512.c - AVX-512 GEMM: an 8 x 32 micro-kernel (16
 * zmm accumulators; each step loads two B vectors and broadcasts 8 A
 * values) under the blocked driver of gemm_driver.h. Compiled with
 * -mavx512f...; called only when fx_cpu_simd_level says AVX-512. */
#include <immintrin.h>

#include "backends/cpu/gemm.h"

#define GEMM_MR 8
#define GEMM_NR 32
#define GEMM_MC 128
#define GEMM_KC 256
#define GEMM_NC 1024

static void gemm_microkernel_avx512(int64_t kc, const float *restrict a, const float *restrict b,
                                    float *restrict c, int64_t ldc, float alpha, float beta, int mr, int nr)
{
    __m512 acc[GEMM_MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < GEMM_MR; i++) {
        acc[i][0] = _mm512_setzero_ps();
        acc[i][1] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b);
        __m512 b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 8
        for (int i = 0; i < GEMM_MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
        a += GEMM_MR;
        b += GEMM_NR;
    }
    /* Masked stores cover the right edge (nr < 32); rows past mr are skipped. */
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1u);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1u) : 0;
    __m512 va = _mm512_set1_ps(alpha);
    __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int i = 0; i < GEMM_MR; i++) {
        if (i >= mr)
            break;
        float *row = c + i * ldc;
        __m512 r0 = _mm512_mul_ps(va, acc[i][0]);
        __m512 r1 = _mm512_mul_ps(va, acc[i][1]);
        if (beta != 0.0f) {
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), r1);
        }
        _mm512_mask_storeu_ps(row, m0, r0);
        _mm512_mask_storeu_ps(row + 16, m1, r1);
    }
}

#define GEMM_MICROKERNEL gemm_microkernel_avx512
#define GEMM_NAME(x) cpu_gemm_avx512_##x
#include "backends/cpu/gemm_driver.h"
