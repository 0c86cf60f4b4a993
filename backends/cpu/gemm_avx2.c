/* backends/cpu/gemm_avx2.c - AVX2+FMA GEMM: a 6 x 16 micro-kernel (12 ymm
 * accumulators) under the blocked driver of gemm_driver.h. Compiled with
 * -mavx2 -mfma; called only when fx_cpu_simd_level says AVX2. */
#include <immintrin.h>

#include "backends/cpu/gemm.h"

#define GEMM_MR 6
#define GEMM_NR 16
#define GEMM_MC 120
#define GEMM_KC 256
#define GEMM_NC 1024

static void gemm_microkernel_avx2(int64_t kc, const float *restrict a, const float *restrict b,
                                  float *restrict c, int64_t ldc, float alpha, float beta, int mr, int nr)
{
    __m256 acc[GEMM_MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < GEMM_MR; i++) {
        acc[i][0] = _mm256_setzero_ps();
        acc[i][1] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < GEMM_MR; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
        a += GEMM_MR;
        b += GEMM_NR;
    }
    __m256 va = _mm256_set1_ps(alpha);
    __m256 vb = _mm256_set1_ps(beta);
    if (mr == GEMM_MR && nr == GEMM_NR) {
#pragma GCC unroll 6
        for (int i = 0; i < GEMM_MR; i++) {
            float *row = c + i * ldc;
            __m256 r0 = _mm256_mul_ps(va, acc[i][0]);
            __m256 r1 = _mm256_mul_ps(va, acc[i][1]);
            if (beta != 0.0f) {
                r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), r1);
            }
            _mm256_storeu_ps(row, r0);
            _mm256_storeu_ps(row + 8, r1);
        }
        return;
    }
    /* Edge tile: spill and combine only the valid part. */
    float tile[GEMM_MR][GEMM_NR];
    for (int i = 0; i < GEMM_MR; i++) {
        _mm256_storeu_ps(tile[i], acc[i][0]);
        _mm256_storeu_ps(tile[i] + 8, acc[i][1]);
    }
    for (int i = 0; i < mr; i++) {
        float *row = c + i * ldc;
        for (int j = 0; j < nr; j++)
            row[j] = alpha * tile[i][j] + (beta != 0.0f ? beta * row[j] : 0.0f);
    }
}

#define GEMM_MICROKERNEL gemm_microkernel_avx2
#define GEMM_NAME(x) cpu_gemm_avx2_##x
#include "backends/cpu/gemm_driver.h"
