/* backends/cpu/activation_avx2.c - AVX2/FMA variant of the elu forward.
 * gcc does not vectorise libm's expm1f, nor (with the default
 * -ftrapping-math) the selects around a hand-written exp, so this is
 * written with intrinsics: exp(x) - 1 = 2^n * q + (2^n - 1) with
 * x = n ln2 + r, |r| <= ln2/2 and q = exp(r) - 1 from a degree-7 Taylor
 * polynomial (max error ~1e-7 relative, full relative accuracy near 0 as
 * expm1). Compiled with -mavx2 -mfma (CMake matches the _avx2.c name). */
#include <immintrin.h>
#include <math.h>

#include "backends/cpu/activation.h"

void cpu_elu_forward_avx2(float *y, const float *x, int64_t n, float alpha)
{
    const __m256 zero = _mm256_setzero_ps();
    const __m256 lo = _mm256_set1_ps(-87.0f); /* exp(-87) is still a normal float */
    const __m256 log2e = _mm256_set1_ps(1.44269504f);
    const __m256 ln2_hi = _mm256_set1_ps(0.693359375f), ln2_lo = _mm256_set1_ps(-2.12194440e-4f);
    const __m256 one = _mm256_set1_ps(1.0f), va = _mm256_set1_ps(alpha);
    const __m256 c2 = _mm256_set1_ps(0.5f), c3 = _mm256_set1_ps(1.0f / 6), c4 = _mm256_set1_ps(1.0f / 24);
    const __m256 c5 = _mm256_set1_ps(1.0f / 120), c6 = _mm256_set1_ps(1.0f / 720), c7 = _mm256_set1_ps(1.0f / 5040);
    const __m256i bias = _mm256_set1_epi32(127);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        /* t = clamp(v, -87, 0); NaN and positive lanes are replaced by v below. */
        __m256 t = _mm256_max_ps(_mm256_min_ps(v, zero), lo);
        __m256 k = _mm256_round_ps(_mm256_mul_ps(t, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 r = _mm256_fnmadd_ps(k, ln2_hi, t);
        r = _mm256_fnmadd_ps(k, ln2_lo, r);
        __m256 q = _mm256_fmadd_ps(r, c7, c6);
        q = _mm256_fmadd_ps(q, r, c5);
        q = _mm256_fmadd_ps(q, r, c4);
        q = _mm256_fmadd_ps(q, r, c3);
        q = _mm256_fmadd_ps(q, r, c2);
        q = _mm256_fmadd_ps(q, r, one);
        q = _mm256_mul_ps(q, r);
        __m256 pow2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), bias), 23));
        __m256 em1 = _mm256_fmadd_ps(pow2, q, _mm256_sub_ps(pow2, one));
        __m256 neg = _mm256_mul_ps(va, em1);
        /* keep v where v > 0 or v is NaN (unordered compare is true). */
        __m256 keep = _mm256_cmp_ps(v, zero, _CMP_NLE_UQ);
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(neg, v, keep));
    }
    for (; i < n; i++) {
        float v = x[i];
        y[i] = v > 0.0f || v != v ? v : alpha * expm1f(v);
    }
}
