/* backends/cpu/conv2d_winograd.h - Winograd F(m x m, 3 x 3) convolution
 * on the CPU, used by conv2d.c for 3x3 stride-1 convolutions: the forward
 * pass and the input gradient (a 3x3 stride-1 correlation of dy with the
 * flipped, transposed filter; conv2d_winograd.c), and the weight gradient
 * (conv2d_winograd_weight_grad.c).
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

/* The tile for the weight gradient of that conv, or 0 for the GEMM.
 * FX_CONV_WINOGRAD_WEIGHT_GRAD = rule (the rule above) | 2 | 4 | off
 * chooses it for the weight gradient alone; else FX_CONV_WINOGRAD = 2 | 4
 * forces it as for the other passes; else 0: the GEMM stays the default
 * for now, because with the Winograd weight gradient the paper network's
 * training test (test_train_paper) lands on another trajectory whose SAD
 * falls less than the test asks (docs/performance.md). */
int cpu_conv2d_winograd_weight_grad_tile(const fx_window2d *win, int64_t c, int64_t o, int64_t oh, int64_t ow);

/* Runs the convolution above on the backend's threads. `bias` may be
 * NULL. Fails only when memory cannot be had (recorded in ctx). */
fx_status cpu_conv2d_winograd(fx_context *ctx, fx_backend *be, const cpu_winograd_conv *cv, const float *x,
                              const float *w, const float *bias, float *y);

/* The weight gradient of the (unflipped) convolution cv describes, added
 * into dw ([O][C][3][3]):
 *   dw[o][c][i][j] += sum_{n,oy,ox} dy[n][o][oy][ox] *
 *                     x[n][c][oy - pad_top + i][ox - pad_left + j]
 * (x: [N, C, H, W], dy: [N, O, OH, OW]; cv->flip and cv->accumulate are
 * not used: it always adds). The result does not depend on the thread
 * count. Fails only when memory cannot be had (recorded in ctx). */
fx_status cpu_conv2d_winograd_weight_grad(fx_context *ctx, fx_backend *be, const cpu_winograd_conv *cv,
                                          const float *x, const float *dy, float *dw);

/* Tiles per chunk for a pass whose transformed tiles may take up to
 * budget_floats (conv2d_winograd.c): a multiple of 16 in 16..256, at most
 * total; a function of the shape only. */
int64_t cpu_winograd_chunk_tiles(const cpu_winograd_conv *cv, int a2, int64_t total, int64_t budget_floats);

/* Shared by the two files: the tiles of all images form one range; tile
 * t = (n * tiles_h + ty) * tiles_w + tx. Writes, for the nt tiles from t0,
 * p[(k*size + s)*nt + tt] = plane_n[ty*m + y0 + k][tx*m + x0 + s] (0 outside
 * the h x w plane), plane_n = plane + n * image_stride. */
typedef struct cpu_winograd_tiling {
    int m;                          /* tile step */
    int64_t tiles_h, tiles_w;
} cpu_winograd_tiling;
void cpu_winograd_gather(const cpu_winograd_tiling *tl, const float *plane, int64_t image_stride, int64_t h,
                         int64_t w, int64_t y0, int64_t x0, int size, int64_t t0, int64_t nt, float *p);

/* The distance between the alpha^2 blocks of U, V and M: whole cache
 * lines plus one, so that blocks of a power-of-two size do not all map
 * to the same cache set (the transforms touch all alpha^2 blocks at once;
 * at 576 x 32 floats, 18 pages apart, they would thrash the L1). */
static inline size_t cpu_winograd_block_stride(int64_t floats) { return (((size_t)floats + 15u) & ~(size_t)15u) + 16; }

/* The tile transforms (conv2d_winograd_transforms.h), one set per
 * instruction set: generic (conv2d_winograd.c) and AVX2 (_avx2.c). */
#define CPU_WINOGRAD_TRANSFORMS(isa)                                                                      \
    void cpu_winograd_##isa##_weight(const double *gm, int alpha, const float *w, int64_t cstride, int flip, \
                                     int64_t nc, float *u, int64_t ustride);                               \
    void cpu_winograd_##isa##_input_f2(const float *p, int64_t nt, float *tmp, float *v, int64_t vstride); \
    void cpu_winograd_##isa##_input_f4(const float *p, int64_t nt, float *tmp, float *v, int64_t vstride); \
    void cpu_winograd_##isa##_output_f2(const float *m, int64_t mstride, int64_t nt, float *tmp, float *y); \
    void cpu_winograd_##isa##_output_f4(const float *m, int64_t mstride, int64_t nt, float *tmp, float *y); \
    void cpu_winograd_##isa##_dy_f2(const float *p, int64_t nt, float *tmp, float *e, int64_t estride);    \
    void cpu_winograd_##isa##_dy_f4(const float *p, int64_t nt, float *tmp, float *e, int64_t estride);    \
    void cpu_winograd_##isa##_weight_grad_f2(const float *m, int64_t mstride, int64_t nc, float *tmp,       \
                                             float *out);                                                  \
    void cpu_winograd_##isa##_weight_grad_f4(const float *m, int64_t mstride, int64_t nc, float *tmp, float *out)
CPU_WINOGRAD_TRANSFORMS(generic);
CPU_WINOGRAD_TRANSFORMS(avx2);

#endif
