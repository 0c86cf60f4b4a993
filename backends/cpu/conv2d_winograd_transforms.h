/* backends/cpu/conv2d_winograd_transforms.h - the tile transforms of the
 * Winograd convolution (conv2d_winograd.c), a template included once by
 * conv2d_winograd.c (generic build) and once by conv2d_winograd_avx2.c
 * (compiled with AVX2+FMA), so the same loops are vectorised for each
 * instruction set. Not a public header.
 *
 * Before including, define WINO_NAME(x) to paste the variant's suffix.
 *
 * Every function works on a chunk of `nt` tiles at once, in two passes
 * (columns, then rows, through `tmp`: alpha^2 nt floats), each a set of
 * loops over the tiles whose body is straight-line arithmetic with
 * unit-stride loads and stores in the tile index, so the compiler turns
 * them into SIMD over tiles (8 tiles per AVX2 instruction; a loop with a
 * small local matrix per tile is not vectorised by gcc 12).
 *
 * F(m, 3) with alpha = m + 2 (Toom-Cook points 0, +-1, infinity for m = 2
 * as in Lavin & Gray 2015; 0, 1, -1, 1/2, -2, infinity for m = 4):
 *   V = B^T d B    (input tile d: alpha x alpha)
 *   Y = A^T M A    (M: alpha x alpha, Y: m x m)
 * (the weight transform U = G g G^T runs once per call, in
 * conv2d_winograd.c). The patches arrive as p[(k*alpha + s)*nt + tt] and
 * the transforms leave v[(r*alpha + q)*vstride + tt].
 *
 * The weight gradient (conv2d_winograd_weight_grad.c) uses the transposed
 * roles (bench/winograd_weight_grad.py derives and checks them):
 *   E  = A dY A^T  (dy tile dY: m x m -> alpha x alpha; A = (A^T)^T)
 *   dW = G^T M G   (M: alpha x alpha -> 3 x 3)
 * with the same B^T on the input tiles. */
#include <stdint.h>

/* u[xi * ustride + c] = (G g_c G^T)[xi] for c in [0, nc), g_c[i][j] =
 * w[c * cstride + i*3 + j] or, flipped, w[c * cstride + 8 - (i*3 + j)];
 * G is alpha x 3 (gm, row-major). In double: once per call, and the
 * weight transform's rounding would otherwise add to every output. */
void WINO_NAME(weight)(const double *restrict gm, int alpha, const float *restrict w, int64_t cstride, int flip,
                       int64_t nc, float *restrict u, int64_t ustride)
{
    for (int64_t c = 0; c < nc; c++) {
        double g[9], t[6][3];
        for (int k = 0; k < 9; k++)
            g[k] = w[c * cstride + (flip ? 8 - k : k)];
        for (int r = 0; r < alpha; r++)
            for (int j = 0; j < 3; j++)
                t[r][j] = gm[r * 3 + 0] * g[j] + gm[r * 3 + 1] * g[3 + j] + gm[r * 3 + 2] * g[6 + j];
        for (int r = 0; r < alpha; r++)
            for (int q = 0; q < alpha; q++)
                u[(r * alpha + q) * ustride + c] =
                    (float)(t[r][0] * gm[q * 3 + 0] + t[r][1] * gm[q * 3 + 1] + t[r][2] * gm[q * 3 + 2]);
    }
}

/* ---- F(2x2, 3x3): alpha = 4 ----
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1] */
#define WINO_BT4(o, os, d, ds)                         \
    do {                                               \
        float d0_ = (d)[0 * (ds)], d1_ = (d)[1 * (ds)]; \
        float d2_ = (d)[2 * (ds)], d3_ = (d)[3 * (ds)]; \
        (o)[0 * (os)] = d0_ - d2_;                     \
        (o)[1 * (os)] = d1_ + d2_;                     \
        (o)[2 * (os)] = d2_ - d1_;                     \
        (o)[3 * (os)] = d1_ - d3_;                     \
    } while (0)
#define WINO_AT4(o, os, d, ds)                         \
    do {                                               \
        float d0_ = (d)[0 * (ds)], d1_ = (d)[1 * (ds)]; \
        float d2_ = (d)[2 * (ds)], d3_ = (d)[3 * (ds)]; \
        (o)[0 * (os)] = d0_ + d1_ + d2_;               \
        (o)[1 * (os)] = d1_ - d2_ - d3_;               \
    } while (0)

/* ---- F(4x4, 3x3): alpha = 6, points 0, 1, -1, 1/2, -2, infinity ----
 * (Lavin's 0, +-1, +-2 give 3x the maximum error in float: measured in
 * docs/performance.md; with these the largest A^T entry is still 8 but
 * the others are smaller, as Barabasz et al. 2018 recommend.)
 * B^T = [1 -3/2 -2 3/2 1 0; 0 -1 1/2 5/2 1 0; 0 1 -5/2 1/2 1 0;
 *        0 -2 -1 2 1 0; 0 1/2 -1 -1/2 1 0; 0 1 -3/2 -2 3/2 1]
 * A^T = [1 1 1 1 1 0; 0 1 -1 1/2 -2 0; 0 1 1 1/4 4 0; 0 1 -1 1/8 -8 1] */
#define WINO_BT6(o, os, d, ds)                                           \
    do {                                                                 \
        float d0_ = (d)[0 * (ds)], d1_ = (d)[1 * (ds)], d2_ = (d)[2 * (ds)]; \
        float d3_ = (d)[3 * (ds)], d4_ = (d)[4 * (ds)], d5_ = (d)[5 * (ds)]; \
        (o)[0 * (os)] = d0_ - 1.5f * (d1_ - d3_) - 2.0f * d2_ + d4_;     \
        (o)[1 * (os)] = 0.5f * d2_ - d1_ + 2.5f * d3_ + d4_;             \
        (o)[2 * (os)] = d1_ - 2.5f * d2_ + 0.5f * d3_ + d4_;             \
        (o)[3 * (os)] = 2.0f * (d3_ - d1_) - d2_ + d4_;                  \
        (o)[4 * (os)] = 0.5f * (d1_ - d3_) - d2_ + d4_;                  \
        (o)[5 * (os)] = d1_ - 1.5f * (d2_ - d4_) - 2.0f * d3_ + d5_;     \
    } while (0)
#define WINO_AT6(o, os, d, ds)                                           \
    do {                                                                 \
        float d0_ = (d)[0 * (ds)], d1_ = (d)[1 * (ds)], d2_ = (d)[2 * (ds)]; \
        float d3_ = (d)[3 * (ds)], d4_ = (d)[4 * (ds)], d5_ = (d)[5 * (ds)]; \
        float a_ = d1_ + d2_, b_ = d1_ - d2_;                            \
        (o)[0 * (os)] = d0_ + a_ + d3_ + d4_;                            \
        (o)[1 * (os)] = b_ + 0.5f * d3_ - 2.0f * d4_;                    \
        (o)[2 * (os)] = a_ + 0.25f * d3_ + 4.0f * d4_;                   \
        (o)[3 * (os)] = b_ + 0.125f * d3_ - 8.0f * d4_ + d5_;            \
    } while (0)

/* A (alpha x m): the dy tile transform of the weight gradient, the
 * transpose of A^T above. F(2x2): A = [1 0; 1 1; 1 -1; 0 -1]. */
#define WINO_A4(o, os, d, ds)                          \
    do {                                               \
        float d0_ = (d)[0 * (ds)], d1_ = (d)[1 * (ds)]; \
        (o)[0 * (os)] = d0_;                           \
        (o)[1 * (os)] = d0_ + d1_;                     \
        (o)[2 * (os)] = d0_ - d1_;                     \
        (o)[3 * (os)] = -d1_;                          \
    } while (0)
/* F(4x4): A = [1 0 0 0; 1 1 1 1; 1 -1 1 -1; 1 1/2 1/4 1/8; 1 -2 4 -8;
 * 0 0 0 1]. */
#define WINO_A6(o, os, d, ds)                                                  \
    do {                                                                       \
        float d0_ = (d)[0 * (ds)], d1_ = (d)[1 * (ds)];                         \
        float d2_ = (d)[2 * (ds)], d3_ = (d)[3 * (ds)];                         \
        float e_ = d0_ + d2_, f_ = d1_ + d3_;                                  \
        (o)[0 * (os)] = d0_;                                                   \
        (o)[1 * (os)] = e_ + f_;                                               \
        (o)[2 * (os)] = e_ - f_;                                               \
        (o)[3 * (os)] = (d0_ + 0.25f * d2_) + 0.5f * (d1_ + 0.25f * d3_);     \
        (o)[4 * (os)] = (d0_ + 4.0f * d2_) - 2.0f * (d1_ + 4.0f * d3_);       \
        (o)[5 * (os)] = d3_;                                                   \
    } while (0)

/* G^T (3 x alpha): the weight gradient's last transform. F(2x2):
 * G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1]. */
#define WINO_GT4(o, os, d, ds)                         \
    do {                                               \
        float d0_ = (d)[0 * (ds)], d1_ = (d)[1 * (ds)]; \
        float d2_ = (d)[2 * (ds)], d3_ = (d)[3 * (ds)]; \
        float s_ = 0.5f * (d1_ + d2_);                 \
        (o)[0 * (os)] = d0_ + s_;                      \
        (o)[1 * (os)] = 0.5f * (d1_ - d2_);            \
        (o)[2 * (os)] = s_ + d3_;                      \
    } while (0)
/* F(4x4), the transpose of G in conv2d_winograd.c:
 * G^T = [1 1/3 -1/3 -16/15 1/15 0; 0 1/3 1/3 -8/15 -2/15 0;
 *        0 1/3 -1/3 -4/15 4/15 1]. */
#define WINO_GT6(o, os, d, ds)                                                      \
    do {                                                                            \
        float d0_ = (d)[0 * (ds)], d1_ = (d)[1 * (ds)], d2_ = (d)[2 * (ds)];        \
        float d3_ = (d)[3 * (ds)], d4_ = (d)[4 * (ds)], d5_ = (d)[5 * (ds)];        \
        float p_ = (d1_ + d2_) * (1.0f / 3), q_ = (d1_ - d2_) * (1.0f / 3);           \
        (o)[0 * (os)] = d0_ + q_ - (16.0f / 15) * d3_ + (1.0f / 15) * d4_;            \
        (o)[1 * (os)] = p_ - (8.0f / 15) * d3_ - (2.0f / 15) * d4_;                  \
        (o)[2 * (os)] = q_ - (4.0f / 15) * d3_ + (4.0f / 15) * d4_ + d5_;            \
    } while (0)

/* One pass of a 1-D transform over nt tiles: o[k*os + tt] from
 * d[k*ds + tt]. A function of its own, with ivdep (the rows never
 * overlap; without it gcc 12 gives up on the 6-row passes for want of
 * alias checks), so that gcc vectorises the loop over tt. */
#define WINO_PASS(name, T)                                                                                     \
    __attribute__((noinline)) static void WINO_NAME(name)(const float *restrict d, int64_t ds, float *restrict o, \
                                                          int64_t os, int64_t nt)                              \
    {                                                                                                          \
        _Pragma("GCC ivdep") for (int64_t tt = 0; tt < nt; tt++) T(o + tt, os, d + tt, ds);                    \
    }
WINO_PASS(pass_bt4, WINO_BT4)
WINO_PASS(pass_bt6, WINO_BT6)
WINO_PASS(pass_at4, WINO_AT4)
WINO_PASS(pass_at6, WINO_AT6)
WINO_PASS(pass_a4, WINO_A4)
WINO_PASS(pass_a6, WINO_A6)
WINO_PASS(pass_gt4, WINO_GT4)
WINO_PASS(pass_gt6, WINO_GT6)

/* V = B^T d B: tmp[(r*alpha + s)] = (B^T d)[r][s], then
 * v[(r*alpha + q)*vstride] = (tmp B)[r][q] (per tile tt). */
#define WINO_INPUT(name, alpha, pass)                                                                        \
    void WINO_NAME(name)(const float *restrict p, int64_t nt, float *restrict tmp, float *restrict v,        \
                         int64_t vstride)                                                                    \
    {                                                                                                        \
        for (int s = 0; s < (alpha); s++)                                                                    \
            WINO_NAME(pass)(p + s * nt, (alpha) * nt, tmp + s * nt, (alpha) * nt, nt);                       \
        for (int r = 0; r < (alpha); r++)                                                                    \
            WINO_NAME(pass)(tmp + r * (alpha) * nt, nt, v + (int64_t)(r * (alpha)) * vstride, vstride, nt);  \
    }

/* Y = A^T M A: tmp[(i*alpha + q)] = (A^T M)[i][q], then
 * y[(i*m + j)*nt] = (tmp A)[i][j]. */
#define WINO_OUTPUT(name, alpha, m, pass)                                                                    \
    void WINO_NAME(name)(const float *restrict mm, int64_t mstride, int64_t nt, float *restrict tmp,        \
                         float *restrict y)                                                                 \
    {                                                                                                        \
        for (int q = 0; q < (alpha); q++)                                                                    \
            WINO_NAME(pass)(mm + q * mstride, (alpha) * mstride, tmp + q * nt, (alpha) * nt, nt);            \
        for (int i = 0; i < (m); i++)                                                                        \
            WINO_NAME(pass)(tmp + i * (alpha) * nt, nt, y + i * (m) * nt, nt, nt);                           \
    }

WINO_INPUT(input_f2, 4, pass_bt4)
WINO_INPUT(input_f4, 6, pass_bt6)
WINO_OUTPUT(output_f2, 4, 2, pass_at4)
WINO_OUTPUT(output_f4, 6, 4, pass_at6)

/* E = A dY A^T for the weight gradient: p[(a*m + b)*nt + tt] (the m x m
 * dy tile) -> tmp[(r*m + b)*nt] = (A dY)[r][b], then
 * e[(r*alpha + q)*estride + tt] = (tmp A^T)[r][q]. */
#define WINO_DY(name, alpha, m, pass)                                                                       \
    void WINO_NAME(name)(const float *restrict p, int64_t nt, float *restrict tmp, float *restrict e,       \
                         int64_t estride)                                                                   \
    {                                                                                                       \
        for (int b = 0; b < (m); b++)                                                                       \
            WINO_NAME(pass)(p + b * nt, (m) * nt, tmp + b * nt, (m) * nt, nt);                              \
        for (int r = 0; r < (alpha); r++)                                                                   \
            WINO_NAME(pass)(tmp + r * (m) * nt, nt, e + (int64_t)(r * (alpha)) * estride, estride, nt);     \
    }
WINO_DY(dy_f2, 4, 2, pass_a4)
WINO_DY(dy_f4, 6, 4, pass_a6)

/* dW = G^T M G for nc filters at once (M[xi*mstride + c], out[(i*3 +
 * j)*nc + c]): the output transform above with a 3 x 3 result. */
WINO_OUTPUT(weight_grad_f2, 4, 3, pass_gt4)
WINO_OUTPUT(weight_grad_f4, 6, 3, pass_gt6)
