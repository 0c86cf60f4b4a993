/* backends/cpu/topk_mask.h - the threshold search of topk_mask, shared by
 * the portable kernel (backends/cpu/topk_mask.c) and its AVX-512 variant
 * (topk_mask_avx512.c).
 *
 * cpu_topk_threshold_*(x, n, k, u) returns the k-th largest |x| of x[0, n)
 * exactly (1 <= k <= n < 2^31; ties counted with multiplicity; NaN as
 * +inf), using u (n ints) as scratch. */
#ifndef FX_CPU_TOPK_MASK_H
#define FX_CPU_TOPK_MASK_H

#include <stdint.h>
#include <string.h>

/* The bit search stops once at most this many patterns remain open. */
#define CPU_TOPK_FEW 16

float cpu_topk_threshold_avx512(const float *x, int64_t n, int64_t k, int32_t *u);

/* The rank-th largest (1-based) of the m bit patterns few[0, m) as a
 * float, into *out (sorts few). Callers set few[0] before gathering, which
 * is the answer should m be 0 (it cannot be: the open interval always
 * holds the k-th largest). */
static inline void cpu_topk_finish(int32_t *few, int64_t m, int64_t rank, float *out)
{
    for (int64_t i = 1; i < m; i++) { /* insertion sort, descending */
        int32_t v = few[i];
        int64_t j = i - 1;
        while (j >= 0 && few[j] < v) {
            few[j + 1] = few[j];
            j--;
        }
        few[j + 1] = v;
    }
    int64_t r = rank - 1;
    int32_t bits = m > 0 ? few[r < 0 ? 0 : r >= m ? m - 1 : r] : few[0];
    memcpy(out, &bits, sizeof *out);
}

#endif
