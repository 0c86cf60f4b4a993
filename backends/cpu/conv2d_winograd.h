/* backends/cpu/conv2d_winograd.h - Winograd F(m x m, 3 x 3) convolution
 * on the CPU (conv2d_winograd.c), used by conv2d.c for 3x3 stride-1
 * convolutions: the forward pass, and the input gradient (a 3x3 stride-1
 * correlation of dy with the flipped, transposed filter). The weight
 * gradient stays on the implicit-im2col GEMM (docs/performance.md says
 * why).
 *
 * Shapes are NCHW. One call computes, for every image n and output
 * channel o (0 outside the input):
 *   y[n][o][oy][ox] (+)= bias[o] + sum_{c,i,j} g[o][c][i][j] *
 *                        x[n][c][oy - pad_top + i][ox - pad_left + j]
 * with g = w ([O][C][3][3]) or, when flip is set, g[o][c][i][j] =
 * w[c][o][2 - i][2 - j] (w then has the layout [C][O][3][3]: the filter
 * of the conv whose input gradient this is). */
#ifndef FX_CPU_CONV2D_WINOGRAD_H
#define FX_CPU_CONV2D_WINOGRAD_H

#include <stdint.h>

#include "core/ops/window2d.h"
#include "fx/fx.h"

typedef struct cpu_winograd_conv {
    int64_t n, c, h, w;          /* input x [N, C, H, W] */
    int64_t o, oh, ow;           /* output y [N, O, OH, OW] */
    int64_t pad_top, pad_left;   /* where the window starts, as above */
    int tile;                    /* m: 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)) */
    int flip;                    /* g = flipped transpose of w (input gradient) */
    int accumulate;              /* y += result (else y = result) */
} cpu_winograd_conv;

/* The plan rule: the output tile m (2 or 4) a conv2d with this window,
 * C input and O output channels and an OH x OW output runs with, or 0 for
 * the GEMM path. Winograd only for 3x3 stride 1 with C, O >= 16 (below,
 * the transforms cost more than the multiplications they save); the tile
 * with fewer multiplications in all (tiles * (m + 2)^2), the smaller tile
 * on a tie (it is the more accurate). The environment variable
 * FX_CONV_WINOGRAD = off | 2 | 4 overrides it for a 3x3 stride-1 conv
 * (A/B benchmarks, tests). A pure function of the shape: a layer keeps
 * its algorithm for the whole run. */
int cpu_conv2d_winograd_tile(const fx_window2d *win, int64_t c, int64_t o, int64_t oh, int64_t ow);

/* Runs the convolution above on the backend's threads. `bias` may be
 * NULL. Fails only when memory cannot be had (recorded in ctx). */
fx_status cpu_conv2d_winograd(fx_context *ctx, fx_backend *be, const cpu_winograd_conv *cv, const float *x,
                              const float *w, const float *bias, float *y);

/* The tile transforms (conv2d_winograd_transforms.h), one set per
 * instruction set: generic (conv2d_winograd.c) and AVX2 (_avx2.c). */
#define CPU_WINOGRAD_TRANSFORMS(isa)                                                                      \
    void cpu_winograd_##isa##_weight(const double *gm, int alpha, const float *w, int64_t cstride, int flip, \
                                     int64_t nc, float *u, int64_t ustride);                               \
    void cpu_winograd_##isa##_input_f2(const float *p, int64_t nt, float *tmp, float *v, int64_t vstride); \
    void cpu_winograd_##isa##_input_f4(const float *p, int64_t nt, float *tmp, float *v, int64_t vstride); \
    void cpu_winograd_##isa##_output_f2(const float *m, int64_t mstride, int64_t nt, float *tmp, float *y); \
    void cpu_winograd_##isa##_output_f4(const float *m, int64_t mstride, int64_t nt, float *tmp, float *y)
CPU_WINOGRAD_TRANSFORMS(generic);
CPU_WINOGRAD_TRANSFORMS(avx2);

#endif
