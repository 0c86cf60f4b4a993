/* backends/cpu/sad_loss_avx2.c - AVX2/FMA variant of the SAD row
 * combination (contract in backends/cpu/sad_loss.h): 4 x 8 columns in
 * registers, then 8-wide steps, then a scalar tail that uses fmaf so every
 * element is rounded the same way as the vector lanes. Compiled with
 * -mavx2 -mfma (CMake matches the _avx2.c name). */
#include <immintrin.h>
#include <math.h>

#include "backends/cpu/sad_loss.h"

void cpu_sad_combine_rows_avx2(float *dst, int64_t len, const float *src, int64_t ld, const int32_t *idx,
                               const float *coef, int64_t count)
{
    int64_t j = 0;
    for (; j + 32 <= len; j += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (int64_t t = 0; t < count; t++) {
            const float *s = src + (int64_t)idx[t] * ld + j;
            __m256 c = _mm256_set1_ps(coef[t]);
            a0 = _mm256_fmadd_ps(c, _mm256_loadu_ps(s), a0);
            a1 = _mm256_fmadd_ps(c, _mm256_loadu_ps(s + 8), a1);
            a2 = _mm256_fmadd_ps(c, _mm256_loadu_ps(s + 16), a2);
            a3 = _mm256_fmadd_ps(c, _mm256_loadu_ps(s + 24), a3);
        }
        _mm256_storeu_ps(dst + j, a0);
        _mm256_storeu_ps(dst + j + 8, a1);
        _mm256_storeu_ps(dst + j + 16, a2);
        _mm256_storeu_ps(dst + j + 24, a3);
    }
    for (; j + 8 <= len; j += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int64_t t = 0; t < count; t++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(coef[t]), _mm256_loadu_ps(src + (int64_t)idx[t] * ld + j), a);
        _mm256_storeu_ps(dst + j, a);
    }
    for (; j < len; j++) {
        float a = 0.0f;
        for (int64_t t = 0; t < count; t++)
            a = fmaf(coef[t], src[(int64_t)idx[t] * ld + j], a);
        dst[j] = a;
    }
}
