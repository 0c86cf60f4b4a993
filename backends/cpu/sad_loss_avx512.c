/* backends/cpu/sad_loss_avx512.c - AVX-512 variants of the SAD inner loops
 * (contracts in backends/cpu/sad_loss.h). combine_rows keeps 4 x 16
 * columns in registers while it walks the rows, so each output is stored
 * once; a masked load/store covers the last < 16 columns. extract_nonzeros
 * compresses in registers and stores whole vectors (a compress straight to
 * memory is microcoded and slow on Zen 4). Compiled with -mavx512f etc.
 * (CMake matches the _avx512.c name). */
#include <immintrin.h>

#include "backends/cpu/sad_loss.h"

void cpu_sad_combine_rows_avx512(float *dst, int64_t len, const float *src, int64_t ld, const int32_t *idx,
                                 const float *coef, int64_t count)
{
    int64_t j = 0;
    for (; j + 64 <= len; j += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int64_t t = 0; t < count; t++) {
            const float *s = src + (int64_t)idx[t] * ld + j;
            __m512 c = _mm512_set1_ps(coef[t]);
            a0 = _mm512_fmadd_ps(c, _mm512_loadu_ps(s), a0);
            a1 = _mm512_fmadd_ps(c, _mm512_loadu_ps(s + 16), a1);
            a2 = _mm512_fmadd_ps(c, _mm512_loadu_ps(s + 32), a2);
            a3 = _mm512_fmadd_ps(c, _mm512_loadu_ps(s + 48), a3);
        }
        _mm512_storeu_ps(dst + j, a0);
        _mm512_storeu_ps(dst + j + 16, a1);
        _mm512_storeu_ps(dst + j + 32, a2);
        _mm512_storeu_ps(dst + j + 48, a3);
    }
    for (; j < len; j += 16) {
        int64_t rest = len - j;
        __mmask16 m = rest >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rest) - 1u);
        __m512 a = _mm512_setzero_ps();
        for (int64_t t = 0; t < count; t++) {
            const float *s = src + (int64_t)idx[t] * ld + j;
            a = _mm512_fmadd_ps(_mm512_set1_ps(coef[t]), _mm512_maskz_loadu_ps(m, s), a);
        }
        _mm512_mask_storeu_ps(dst + j, m, a);
    }
}

int64_t cpu_sad_extract_nonzeros_avx512(const float *x, int64_t n, int32_t *pos, float *val)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 zero = _mm512_setzero_ps();
    int64_t c = 0, p = 0;
    for (; p + 16 <= n; p += 16) {
        __m512 v = _mm512_loadu_ps(x + p);
        __mmask16 nz = _mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ); /* NaN counts as non-zero */
        if (!nz)
            continue;
        __m512i at = _mm512_add_epi32(lane, _mm512_set1_epi32((int)p));
        _mm512_storeu_ps(val + c, _mm512_maskz_compress_ps(nz, v));
        _mm512_storeu_si512((void *)(pos + c), _mm512_maskz_compress_epi32(nz, at));
        c += __builtin_popcount((unsigned)nz);
    }
    for (; p < n; p++) {
        pos[c] = (int32_t)p;
        val[c] = x[p];
        c += x[p] != 0.0f;
    }
    return c;
}
