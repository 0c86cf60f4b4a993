/* backends/cpu/sad_loss.h - the two inner loops of the SAD loss kernels
 * (backends/cpu/sad_loss.c), with SIMD variants picked at run time.
 *
 * combine_rows: dst[0, len) = sum_{t < count} coef[t] * src[idx[t] * ld + (0, len)]
 * (overwrites dst; count 0 writes zeros). Every element accumulates its
 * terms in the order t = 0, 1, ... in one chain, so the result does not
 * depend on how a variant blocks the columns. The SIMD variants fuse each
 * multiply-add (FMA); the scalar one rounds twice.
 *
 * extract_nonzeros: writes the positions p and values x[p] of the entries
 * of x[0, n) that are != 0 (NaN included) in increasing p, and returns
 * their count. The AVX-512 variant stores whole 16-lane vectors, so pos
 * and val need 16 entries of slack past the largest possible count.
 *
 * transpose_add: dst[i * ld_dst + q] += src[q * ld_src + i] for i < rows,
 * q < cols (the AVX-512 variant transposes 16 x 16 tiles in registers). */
#ifndef FX_CPU_SAD_LOSS_H
#define FX_CPU_SAD_LOSS_H

#include <stdint.h>

void cpu_sad_combine_rows_avx512(float *dst, int64_t len, const float *src, int64_t ld, const int32_t *idx,
                                 const float *coef, int64_t count);
void cpu_sad_combine_rows_avx2(float *dst, int64_t len, const float *src, int64_t ld, const int32_t *idx,
                               const float *coef, int64_t count);
int64_t cpu_sad_extract_nonzeros_avx512(const float *x, int64_t n, int32_t *pos, float *val);
void cpu_sad_transpose_add_avx512(float *dst, int64_t ld_dst, const float *src, int64_t ld_src, int64_t rows,
                                  int64_t cols);

#endif
