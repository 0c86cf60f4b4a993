/* backends/cpu/topk_mask_avx512.c - AVX-512 variant of topk_mask's
 * threshold search (the algorithm and its contract: topk_threshold in
 * backends/cpu/topk_mask.c). Each counting pass is 16 lanes of compare +
 * popcount; the final gather compresses in registers. Compiled with
 * -mavx512f etc. (CMake matches the _avx512.c name). */
#include <immintrin.h>
#include <string.h>

#include "backends/cpu/topk_mask.h"

float cpu_topk_threshold_avx512(const float *x, int64_t n, int64_t k, int32_t *u)
{
    const __m512i inf_bits = _mm512_set1_epi32(0x7f800000);
    const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
    int64_t n16 = n & ~(int64_t)15;
    __mmask16 tail = (__mmask16)((1u << (n - n16)) - 1u);
    for (int64_t p = 0; p < n16; p += 16) {
        __m512i b = _mm512_and_si512(_mm512_loadu_si512((const void *)(x + p)), abs_mask);
        _mm512_storeu_si512((void *)(u + p), _mm512_min_epi32(b, inf_bits));
    }
    if (tail) {
        __m512i b = _mm512_and_si512(_mm512_maskz_loadu_epi32(tail, x + n16), abs_mask);
        _mm512_mask_storeu_epi32(u + n16, tail, _mm512_min_epi32(b, inf_bits));
    }
    int32_t t = 0;
    int64_t ge_lo = n, ge_hi = 0;
    int bit = 31;
    while (bit > 0 && ge_lo - ge_hi > CPU_TOPK_FEW) {
        bit--;
        const __m512i cand = _mm512_set1_epi32(t | (int32_t)(1u << bit));
        int64_t c = 0;
        for (int64_t p = 0; p < n16; p += 16)
            c += __builtin_popcount(_mm512_cmpge_epi32_mask(_mm512_loadu_si512((const void *)(u + p)), cand));
        if (tail)
            c += __builtin_popcount(_mm512_mask_cmpge_epi32_mask(tail, _mm512_maskz_loadu_epi32(tail, u + n16), cand));
        if (c >= k) {
            t |= (int32_t)(1u << bit);
            ge_lo = c;
        } else {
            ge_hi = c;
        }
    }
    float out;
    if (ge_lo - ge_hi > CPU_TOPK_FEW) { /* bit 0 reached: all tied at t */
        memcpy(&out, &t, sizeof out);
        return out;
    }
    /* Gather the <= CPU_TOPK_FEW patterns in [t, t + 2^bit) (t + 2^bit <=
     * 2^31 - 1 + 1 would overflow only for bit 31, which the loop never
     * leaves open with n > CPU_TOPK_FEW). */
    int32_t few[CPU_TOPK_FEW + 16];
    int64_t m = 0;
    few[0] = t;
    const __m512i lo = _mm512_set1_epi32(t);
    const __m512i hi = _mm512_set1_epi32((int32_t)((int64_t)t + ((int64_t)1 << bit) - 1));
    for (int64_t p = 0; p < n; p += 16) {
        __mmask16 live = p < n16 ? (__mmask16)0xffff : tail;
        __m512i v = _mm512_maskz_loadu_epi32(live, u + p);
        __mmask16 in = _mm512_mask_cmpge_epi32_mask(live, v, lo) & _mm512_mask_cmple_epi32_mask(live, v, hi);
        if (in) {
            _mm512_storeu_si512((void *)(few + m), _mm512_maskz_compress_epi32(in, v));
            m += __builtin_popcount(in);
        }
    }
    cpu_topk_finish(few, m, k - ge_hi, &out);
    return out;
}
