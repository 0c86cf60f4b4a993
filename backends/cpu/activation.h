/* backends/cpu/activation.h - SIMD variants of the activation kernels,
 * picked at run time by backends/cpu/activation.c from
 * fx_cpu_simd_level(). */
#ifndef FX_CPU_ACTIVATION_H
#define FX_CPU_ACTIVATION_H

#include <stdint.h>

/* y[i] = x[i] > 0 ? x[i] : alpha * (exp(x[i]) - 1) for i in [0, n);
 * y may equal x. NaN propagates. Built with -mavx2 -mfma. */
void cpu_elu_forward_avx2(float *y, const float *x, int64_t n, float alpha);

#endif
