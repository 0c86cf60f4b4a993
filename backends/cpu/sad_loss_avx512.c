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

/* In-register transpose of 16 rows of 16 floats (r[i] lane j -> r[j] lane
 * i): pairs of rows interleave, then 64-bit pairs, then 128-bit blocks
 * twice. */
static void sad_transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int h = 0; h < 16; h += 8)
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
        }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}

void cpu_sad_transpose_add_avx512(float *dst, int64_t ld_dst, const float *src, int64_t ld_src, int64_t rows,
                                  int64_t cols)
{
    __m512 r[16];
    for (int64_t q0 = 0; q0 < cols; q0 += 16) {
        int64_t nq = cols - q0 < 16 ? cols - q0 : 16;
        __mmask16 qmask = nq == 16 ? (__mmask16)0xffff : (__mmask16)((1u << nq) - 1u);
        for (int64_t i0 = 0; i0 < rows; i0 += 16) {
            int64_t ni = rows - i0 < 16 ? rows - i0 : 16;
            __mmask16 imask = ni == 16 ? (__mmask16)0xffff : (__mmask16)((1u << ni) - 1u);
            /* r[a] = src row q0 + a, columns i0 .. i0 + 15 */
            for (int a = 0; a < 16; a++)
                r[a] = a < nq ? _mm512_maskz_loadu_ps(imask, src + (q0 + a) * ld_src + i0) : _mm512_setzero_ps();
            sad_transpose16(r);
            /* r[b] = dst row i0 + b, columns q0 .. q0 + 15 */
            for (int b = 0; b < ni; b++) {
                float *d = dst + (i0 + b) * ld_dst + q0;
                _mm512_mask_storeu_ps(d, qmask, _mm512_add_ps(_mm512_maskz_loadu_ps(qmask, d), r[b]));
            }
        }
    }
}
