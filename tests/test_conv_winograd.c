/* tests/test_conv_winograd.c - the CPU Winograd convolution
 * (backends/cpu/conv2d_winograd.c, conv2d_winograd_weight_grad.c):
 * F(2x2,3x3) and F(4x4,3x3) against a direct convolution in double,
 * forward, input gradient (the flipped, transposed filter) and weight
 * gradient (its own tolerance table, per weight), on the paper's
 * shapes, odd sizes, batch 1, the paddings a 3x3 stride-1 conv has (TF SAME = 1/1, valid, and the 2/2 of
 * the input gradient of a valid conv), accumulation into y, the
 * choice rule, and the conv2d op's gradients with each tile forced.
 *
 * Tolerance (docs/performance.md): per output, with S = sum |g| |x| over
 * its window (the scale rounding errors grow with),
 *   |y - y_direct| <= tol * S,  tol = 1e-6 (F2), 5e-6 (F4),
 * about 4-6x the worst cases measured on these shapes (1.6e-7 S for F2,
 * 1.4e-6 S for F4; WINO_PRINT=1 prints them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/conv2d_winograd.h"
#include "fxtest.h"

static const double wino_tolerance[5] = { 0, 0, 1e-6, 0, 5e-6 };
/* Weight gradient, per weight, S = sum |dy| |x| over its terms. */
static const double wino_weight_grad_tolerance[5] = { 0, 0, 1e-6, 0, 5e-6 };

/* Direct y[n][o][oy][ox] = b[o] + sum g[o][c][i][j] x[n][c][oy-pt+i][ox-pl+j]
 * with g as cpu_winograd_conv describes (flip: w is [C][O][3][3]); also
 * the scale S of each output. */
static void direct_reference(const cpu_winograd_conv *cv, const float *x, const float *w, const float *bias,
                             double *ref, double *scale)
{
    for (int64_t n = 0; n < cv->n; n++)
        for (int64_t o = 0; o < cv->o; o++)
            for (int64_t oy = 0; oy < cv->oh; oy++)
                for (int64_t ox = 0; ox < cv->ow; ox++) {
                    double s = bias ? bias[o] : 0.0, a = bias ? fabs(bias[o]) : 0.0;
                    for (int64_t c = 0; c < cv->c; c++)
                        for (int i = 0; i < 3; i++) {
                            int64_t iy = oy - cv->pad_top + i;
                            if (iy < 0 || iy >= cv->h)
                                continue;
                            for (int j = 0; j < 3; j++) {
                                int64_t ix = ox - cv->pad_left + j;
                                if (ix < 0 || ix >= cv->w)
                                    continue;
                                double g = cv->flip ? w[(c * cv->o + o) * 9 + (2 - i) * 3 + (2 - j)]
                                                    : w[(o * cv->c + c) * 9 + i * 3 + j];
                                double v = x[((n * cv->c + c) * cv->h + iy) * cv->w + ix];
                                s += g * v;
                                a += fabs(g * v);
                            }
                        }
                    int64_t at = ((n * cv->o + o) * cv->oh + oy) * cv->ow + ox;
                    ref[at] = s;
                    scale[at] = a;
                }
}

static float *random_floats(uint64_t seed, int64_t n, float sd)
{
    float *v = fxtest_random(seed, n);
    for (int64_t i = 0; i < n; i++)
        v[i] *= sd;
    return v;
}

/* Runs cv (tile 2 and 4) on random data and checks it against the direct
 * convolution; with accumulate, y starts from random values that must be
 * kept. WINO_PRINT=1 prints the worst |err| / S of each case. */
static void expect_matches_direct(cpu_winograd_conv cv, int with_bias, uint64_t seed)
{
    fx_context *ctx = fxtest_context();
    fx_backend *cpu = fx_context_cpu_backend(ctx);
    int64_t nx = cv.n * cv.c * cv.h * cv.w, ny = cv.n * cv.o * cv.oh * cv.ow, nw = cv.o * cv.c * 9;
    float *x = random_floats(seed, nx, 1.0f);
    float *w = random_floats(seed + 1, nw > 0 ? nw : 1, 0.3f);
    float *bias = with_bias ? random_floats(seed + 2, cv.o, 1.0f) : NULL;
    float *y0 = random_floats(seed + 3, ny, 1.0f);
    float *y = malloc(sizeof(float) * (size_t)ny);
    double *ref = malloc(sizeof(double) * (size_t)ny), *scale = malloc(sizeof(double) * (size_t)ny);
    ck_assert(y && ref && scale);
    direct_reference(&cv, x, w, bias, ref, scale);
    for (int tile = 2; tile <= 4; tile += 2) {
        cv.tile = tile;
        memcpy(y, y0, sizeof(float) * (size_t)ny);
        ck_assert_int_eq(cpu_conv2d_winograd(ctx, cpu, &cv, x, w, bias, y), FX_OK);
        double worst = 0;
        int64_t worst_at = 0;
        for (int64_t i = 0; i < ny; i++) {
            double want = ref[i] + (cv.accumulate ? y0[i] : 0.0);
            double err = fabs(y[i] - want) / (scale[i] + (cv.accumulate ? fabs(y0[i]) : 0.0) + 1e-30);
            if (err > worst) {
                worst = err;
                worst_at = i;
            }
        }
        if (getenv("WINO_PRINT"))
            printf("F%d n%lld c%lld %lldx%lld o%lld flip %d: worst %.3g S\n", tile, (long long)cv.n, (long long)cv.c, (long long)cv.h, (long long)cv.w, (long long)cv.o, cv.flip, worst);
        ck_assert_msg(worst <= wino_tolerance[tile],
                      "F(%dx%d,3x3) n%lld c%lld %lldx%lld -> o%lld %lldx%lld pad %lld,%lld flip %d: element %lld is %.8g, "
                      "direct %.8g: error %.3g S > %.3g S",
                      tile, tile, (long long)cv.n, (long long)cv.c, (long long)cv.h, (long long)cv.w, (long long)cv.o,
                      (long long)cv.oh, (long long)cv.ow, (long long)cv.pad_top, (long long)cv.pad_left, cv.flip,
                      (long long)worst_at, y[worst_at], ref[worst_at] + (cv.accumulate ? y0[worst_at] : 0.0), worst,
                      wino_tolerance[tile]);
    }
    free(x);
    free(w);
    free(bias);
    free(y0);
    free(y);
    free(ref);
    free(scale);
    fx_context_destroy(ctx);
}

/* A 3x3 stride-1 conv with pads (pt, pl) on both sides: output size. */
static cpu_winograd_conv conv_same(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t pad)
{
    cpu_winograd_conv cv = { n, c, h, w, o, h + 2 * pad - 2, w + 2 * pad - 2, pad, pad, 0, 0, 0 };
    return cv;
}

START_TEST(test_winograd_forward_matches_direct_on_small_and_odd_shapes)
{
    expect_matches_direct(conv_same(2, 3, 8, 8, 4, 1), 1, 11);     /* TF SAME, whole tiles */
    expect_matches_direct(conv_same(1, 5, 7, 5, 3, 1), 1, 12);     /* odd sizes, batch 1 */
    expect_matches_direct(conv_same(3, 2, 13, 11, 6, 0), 0, 13);   /* valid */
    expect_matches_direct(conv_same(1, 4, 3, 3, 2, 1), 1, 14);     /* one partial tile */
    expect_matches_direct(conv_same(2, 1, 1, 1, 5, 1), 1, 15);     /* 1x1 input */
    expect_matches_direct(conv_same(1, 7, 9, 6, 1, 2), 1, 16);     /* pad 2: the "full" correlation */
    cpu_winograd_conv asym = { 2, 3, 6, 7, 4, 6, 7, 0, 1, 0, 0, 0 }; /* pads 0 before rows, 1 before columns */
    expect_matches_direct(asym, 1, 17);
}
END_TEST

START_TEST(test_winograd_forward_matches_direct_on_the_papers_shapes)
{
    setenv("FX_TEST_THREADS", "2", 1);
    expect_matches_direct(conv_same(2, 32, 96, 96, 64, 1), 1, 21);  /* c12 */
    expect_matches_direct(conv_same(2, 64, 48, 48, 128, 1), 1, 22); /* c23 */
    expect_matches_direct(conv_same(1, 160, 6, 6, 320, 1), 1, 23);  /* c53 */
    expect_matches_direct(conv_same(1, 288, 12, 12, 160, 1), 1, 24); /* k5, small variant */
    expect_matches_direct(conv_same(1, 576, 24, 24, 320, 1), 1, 25); /* k5 */
}
END_TEST

/* dx += correlation of dy (pads 2 - pad) with the flipped, transposed
 * filter: the call conv2d.c makes for the input gradient. */
static void expect_input_gradient_matches(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t pt,
                                          int64_t pl, int64_t pb, int64_t pr, uint64_t seed)
{
    int64_t oh = h + pt + pb - 2, ow = w + pl + pr - 2;
    cpu_winograd_conv cv = { n, o, oh, ow, c, h, w, 2 - pt, 2 - pl, 0, 1, 1 };
    expect_matches_direct(cv, 0, seed);
}

START_TEST(test_winograd_input_gradient_matches_direct)
{
    setenv("FX_TEST_THREADS", "2", 1);
    expect_input_gradient_matches(2, 3, 8, 8, 4, 1, 1, 1, 1, 31);   /* SAME */
    expect_input_gradient_matches(1, 2, 7, 5, 3, 0, 0, 0, 0, 32);   /* valid, odd */
    expect_input_gradient_matches(2, 4, 6, 9, 5, 1, 0, 0, 1, 33);   /* asymmetric pads */
    expect_input_gradient_matches(1, 2, 2, 2, 3, 1, 1, 1, 1, 34);   /* tiny */
    expect_input_gradient_matches(1, 576, 24, 24, 320, 1, 1, 1, 1, 35); /* k5 */
    expect_input_gradient_matches(2, 96, 12, 12, 128, 1, 1, 1, 1, 36);  /* c42 */
}
END_TEST

/* The tolerance is tight enough to catch a wrong transform: one filter
 * tap off by one part in 1e3 must fail it (this checks the check, with
 * the reference computed from the unperturbed filter). */
START_TEST(test_winograd_tolerance_catches_a_wrong_result)
{
    fx_context *ctx = fxtest_context();
    fx_backend *cpu = fx_context_cpu_backend(ctx);
    cpu_winograd_conv cv = conv_same(1, 2, 8, 8, 4, 1);
    cv.tile = 4;
    float *x = random_floats(41, 2 * 64, 1.0f), *w = random_floats(42, 4 * 2 * 9, 0.3f);
    float y[4 * 64];
    double ref[4 * 64], scale[4 * 64];
    direct_reference(&cv, x, w, NULL, ref, scale);
    w[5] *= 1.001f;
    ck_assert_int_eq(cpu_conv2d_winograd(ctx, cpu, &cv, x, w, NULL, y), FX_OK);
    double worst = 0;
    for (int i = 0; i < 4 * 64; i++)
        worst = fmax(worst, fabs(y[i] - ref[i]) / scale[i]);
    ck_assert_msg(worst > wino_tolerance[4], "a perturbed filter passes: worst %.3g S", worst);
    free(x);
    free(w);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_winograd_rule_picks_by_shape)
{
    unsetenv("FX_CONV_WINOGRAD");
    fx_window2d s1 = { 3, 3, 1, 1, 1, 1, 1, 1, 0, 0 };
    fx_window2d s2 = { 3, 3, 2, 2, 0, 1, 0, 1, 0, 0 };
    fx_window2d k1 = { 1, 1, 1, 1, 0, 0, 0, 0, 0, 0 };
    fx_window2d k5 = { 5, 5, 1, 1, 2, 2, 2, 2, 0, 0 };
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s1, 3, 32, 96, 96), 0);    /* c11: 3 input channels */
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s1, 32, 64, 96, 96), 4);   /* c12 */
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s1, 576, 320, 24, 24), 4); /* k5 */
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s1, 256, 160, 6, 6), 2);   /* c52: a tie, the smaller tile */
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s1, 128, 96, 5, 5), 2);    /* 9 F2 tiles vs 4 F4 */
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s2, 64, 64, 48, 48), 0);   /* stride 2 */
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&k1, 256, 192, 12, 12), 0); /* 1x1 */
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&k5, 32, 64, 14, 14), 0);   /* 5x5 */
    setenv("FX_CONV_WINOGRAD", "off", 1);
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s1, 576, 320, 24, 24), 0);
    setenv("FX_CONV_WINOGRAD", "2", 1);
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s1, 576, 320, 24, 24), 2);
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s1, 3, 4, 5, 5), 2);
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s2, 64, 64, 48, 48), 0); /* never for stride 2 */
    setenv("FX_CONV_WINOGRAD", "4", 1);
    ck_assert_int_eq(cpu_conv2d_winograd_tile(&s1, 256, 160, 6, 6), 4);
    unsetenv("FX_CONV_WINOGRAD");
    /* The weight gradient: the GEMM by default; the rule, a tile or off
     * on its own; FX_CONV_WINOGRAD = 2 | 4 forces it too. */
    ck_assert_int_eq(cpu_conv2d_winograd_weight_grad_tile(&s1, 576, 320, 24, 24), 0);
    setenv("FX_CONV_WINOGRAD_WEIGHT_GRAD", "rule", 1);
    ck_assert_int_eq(cpu_conv2d_winograd_weight_grad_tile(&s1, 576, 320, 24, 24), 4);
    ck_assert_int_eq(cpu_conv2d_winograd_weight_grad_tile(&s1, 256, 160, 6, 6), 2);
    ck_assert_int_eq(cpu_conv2d_winograd_weight_grad_tile(&s1, 3, 32, 96, 96), 0);
    setenv("FX_CONV_WINOGRAD_WEIGHT_GRAD", "2", 1);
    ck_assert_int_eq(cpu_conv2d_winograd_weight_grad_tile(&s1, 576, 320, 24, 24), 2);
    ck_assert_int_eq(cpu_conv2d_winograd_weight_grad_tile(&s2, 64, 64, 48, 48), 0);
    setenv("FX_CONV_WINOGRAD", "4", 1);
    setenv("FX_CONV_WINOGRAD_WEIGHT_GRAD", "off", 1);
    ck_assert_int_eq(cpu_conv2d_winograd_weight_grad_tile(&s1, 576, 320, 24, 24), 0);
    unsetenv("FX_CONV_WINOGRAD_WEIGHT_GRAD");
    ck_assert_int_eq(cpu_conv2d_winograd_weight_grad_tile(&s1, 576, 320, 24, 24), 4);
    unsetenv("FX_CONV_WINOGRAD");
}
END_TEST

/* ---- weight gradient ---- */

/* Direct dw[o][c][i][j] = sum dy[n][o][oy][ox] x[n][c][oy-pt+i][ox-pl+j]
 * in double, and its scale S = sum |dy| |x| over the same terms. */
static void direct_weight_grad(const cpu_winograd_conv *cv, const float *x, const float *dy, double *ref,
                               double *scale)
{
    for (int64_t o = 0; o < cv->o; o++)
        for (int64_t c = 0; c < cv->c; c++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    /* The outputs whose window tap (i, j) lies inside x. */
                    int64_t oy0 = cv->pad_top - i > 0 ? cv->pad_top - i : 0;
                    int64_t oy1 = cv->h + cv->pad_top - i < cv->oh ? cv->h + cv->pad_top - i : cv->oh;
                    int64_t ox0 = cv->pad_left - j > 0 ? cv->pad_left - j : 0;
                    int64_t ox1 = cv->w + cv->pad_left - j < cv->ow ? cv->w + cv->pad_left - j : cv->ow;
                    double s = 0, a = 0;
                    for (int64_t n = 0; n < cv->n; n++)
                        for (int64_t oy = oy0; oy < oy1; oy++) {
                            const float *d = dy + ((n * cv->o + o) * cv->oh + oy) * cv->ow;
                            const float *xr = x + ((n * cv->c + c) * cv->h + oy - cv->pad_top + i) * cv->w - cv->pad_left + j;
                            for (int64_t ox = ox0; ox < ox1; ox++) {
                                double p = (double)d[ox] * xr[ox];
                                s += p;
                                a += fabs(p);
                            }
                        }
                    ref[(o * cv->c + c) * 9 + i * 3 + j] = s;
                    scale[(o * cv->c + c) * 9 + i * 3 + j] = a;
                }
}

/* Worst |dw - (dw0 + ref)| / (S + |dw0|) over the weights; its index. */
static double weight_grad_error(int64_t nw, const float *dw, const float *dw0, const double *ref, const double *scale,
                                int64_t *worst_at)
{
    double worst = 0;
    *worst_at = 0;
    for (int64_t i = 0; i < nw; i++) {
        double err = fabs(dw[i] - (dw0[i] + ref[i])) / (scale[i] + fabs(dw0[i]) + 1e-30);
        if (err > worst) {
            worst = err;
            *worst_at = i;
        }
    }
    return worst;
}

/* Runs the Winograd weight gradient of cv (tile 2 and 4) on random x and
 * dy, adding into a random dw0 that must be kept, and checks it against
 * the direct sum. WINO_PRINT=1 prints the worst |err| / S of each case. */
static void expect_weight_grad_matches(cpu_winograd_conv cv, uint64_t seed)
{
    fx_context *ctx = fxtest_context();
    fx_backend *cpu = fx_context_cpu_backend(ctx);
    int64_t nx = cv.n * cv.c * cv.h * cv.w, ny = cv.n * cv.o * cv.oh * cv.ow, nw = cv.o * cv.c * 9;
    float *x = random_floats(seed, nx, 1.0f);
    float *dy = random_floats(seed + 1, ny, 0.01f);
    float *dw0 = random_floats(seed + 2, nw, 0.01f);
    float *dw = malloc(sizeof(float) * (size_t)nw);
    double *ref = malloc(sizeof(double) * (size_t)nw), *scale = malloc(sizeof(double) * (size_t)nw);
    ck_assert(dw && ref && scale);
    direct_weight_grad(&cv, x, dy, ref, scale);
    for (int tile = 2; tile <= 4; tile += 2) {
        cv.tile = tile;
        memcpy(dw, dw0, sizeof(float) * (size_t)nw);
        ck_assert_int_eq(cpu_conv2d_winograd_weight_grad(ctx, cpu, &cv, x, dy, dw), FX_OK);
        int64_t at;
        double worst = weight_grad_error(nw, dw, dw0, ref, scale, &at);
        if (getenv("WINO_PRINT"))
            printf("dW F%d n%lld c%lld %lldx%lld o%lld pad %lld,%lld: worst %.3g S\n", tile, (long long)cv.n,
                   (long long)cv.c, (long long)cv.h, (long long)cv.w, (long long)cv.o, (long long)cv.pad_top,
                   (long long)cv.pad_left, worst);
        ck_assert_msg(worst <= wino_weight_grad_tolerance[tile],
                      "weight gradient F(%dx%d,3x3) n%lld c%lld %lldx%lld -> o%lld %lldx%lld pad %lld,%lld: weight "
                      "%lld is %.8g, direct %.8g: error %.3g S > %.3g S",
                      tile, tile, (long long)cv.n, (long long)cv.c, (long long)cv.h, (long long)cv.w, (long long)cv.o,
                      (long long)cv.oh, (long long)cv.ow, (long long)cv.pad_top, (long long)cv.pad_left,
                      (long long)at, dw[at], dw0[at] + ref[at], worst, wino_weight_grad_tolerance[tile]);
    }
    free(x);
    free(dy);
    free(dw0);
    free(dw);
    free(ref);
    free(scale);
    fx_context_destroy(ctx);
}

START_TEST(test_winograd_weight_grad_matches_direct_on_small_and_odd_shapes)
{
    expect_weight_grad_matches(conv_same(2, 3, 8, 8, 4, 1), 51);    /* TF SAME, whole tiles */
    expect_weight_grad_matches(conv_same(1, 5, 7, 5, 3, 1), 52);    /* odd sizes, batch 1 */
    expect_weight_grad_matches(conv_same(3, 2, 13, 11, 6, 0), 53);  /* valid */
    expect_weight_grad_matches(conv_same(1, 4, 3, 3, 2, 1), 54);    /* one partial tile */
    expect_weight_grad_matches(conv_same(2, 1, 1, 1, 5, 1), 55);    /* 1x1 input */
    expect_weight_grad_matches(conv_same(1, 7, 9, 6, 1, 2), 56);    /* pad 2 */
    cpu_winograd_conv asym = { 2, 3, 6, 7, 4, 6, 7, 0, 1, 0, 0, 0 }; /* pads 0 before rows, 1 before columns */
    expect_weight_grad_matches(asym, 57);
    /* Many chunks (256 tiles each) and a partial last one. */
    expect_weight_grad_matches(conv_same(13, 16, 24, 24, 24, 1), 58);
}
END_TEST

START_TEST(test_winograd_weight_grad_matches_direct_on_the_papers_shapes)
{
    setenv("FX_TEST_THREADS", "2", 1);
    expect_weight_grad_matches(conv_same(2, 32, 96, 96, 64, 1), 61);   /* c12 */
    expect_weight_grad_matches(conv_same(4, 64, 48, 48, 128, 1), 62);  /* c23 */
    expect_weight_grad_matches(conv_same(8, 160, 6, 6, 320, 1), 63);   /* c53 */
    expect_weight_grad_matches(conv_same(8, 288, 12, 12, 160, 1), 64); /* k5, small variant */
    expect_weight_grad_matches(conv_same(2, 576, 24, 24, 320, 1), 65); /* k5 */
    unsetenv("FX_TEST_THREADS");
}
END_TEST

/* The same call on 1 and 3 threads gives the same bits (the GEMM rows of
 * M are split differently, the chunks are not). */
START_TEST(test_winograd_weight_grad_does_not_depend_on_the_thread_count)
{
    cpu_winograd_conv cv = conv_same(5, 24, 17, 19, 100, 1);
    int64_t nx = cv.n * cv.c * cv.h * cv.w, ny = cv.n * cv.o * cv.oh * cv.ow, nw = cv.o * cv.c * 9;
    float *x = random_floats(71, nx, 1.0f), *dy = random_floats(72, ny, 0.01f);
    float *dw1 = calloc((size_t)nw, sizeof(float)), *dw3 = calloc((size_t)nw, sizeof(float));
    ck_assert(dw1 && dw3);
    for (int tile = 2; tile <= 4; tile += 2) {
        cv.tile = tile;
        for (int threads = 1; threads <= 3; threads += 2) {
            setenv("FX_TEST_THREADS", threads == 1 ? "1" : "3", 1);
            fx_context *ctx = fxtest_context();
            float *dw = threads == 1 ? dw1 : dw3;
            memset(dw, 0, sizeof(float) * (size_t)nw);
            ck_assert_int_eq(cpu_conv2d_winograd_weight_grad(ctx, fx_context_cpu_backend(ctx), &cv, x, dy, dw),
                             FX_OK);
            fx_context_destroy(ctx);
        }
        ck_assert_msg(memcmp(dw1, dw3, sizeof(float) * (size_t)nw) == 0,
                      "F(%dx%d) weight gradient differs between 1 and 3 threads", tile, tile);
    }
    unsetenv("FX_TEST_THREADS");
    free(x);
    free(dy);
    free(dw1);
    free(dw3);
}
END_TEST

/* The weight gradient's tolerance catches a wrong result: with one input
 * value off by one part in 1e3 (it enters 9 taps of each filter through
 * one term each), or one tap of the result off by one part in 1e3, the
 * check must fail. */
START_TEST(test_winograd_weight_grad_tolerance_catches_a_wrong_result)
{
    fx_context *ctx = fxtest_context();
    fx_backend *cpu = fx_context_cpu_backend(ctx);
    cpu_winograd_conv cv = conv_same(1, 2, 8, 8, 3, 1);
    int64_t nw = 3 * 2 * 9;
    float *x = random_floats(81, 2 * 64, 1.0f), *dy = random_floats(82, 3 * 64, 0.01f);
    float dw0[54], dw[54];
    double ref[54], scale[54];
    memset(dw0, 0, sizeof dw0);
    direct_weight_grad(&cv, x, dy, ref, scale);
    for (int tile = 2; tile <= 4; tile += 2) {
        cv.tile = tile;
        int64_t at;
        memset(dw, 0, sizeof dw);
        ck_assert_int_eq(cpu_conv2d_winograd_weight_grad(ctx, cpu, &cv, x, dy, dw), FX_OK);
        ck_assert(weight_grad_error(nw, dw, dw0, ref, scale, &at) <= wino_weight_grad_tolerance[tile]);
        dw[40] *= 1.001f;
        double worst = weight_grad_error(nw, dw, dw0, ref, scale, &at);
        ck_assert_msg(worst > wino_weight_grad_tolerance[tile], "F%d: a perturbed tap passes: worst %.3g S", tile,
                      worst);
        x[64 + 3 * 8 + 4] *= 1.001f; /* channel 1, row 3, column 4 */
        memset(dw, 0, sizeof dw);
        ck_assert_int_eq(cpu_conv2d_winograd_weight_grad(ctx, cpu, &cv, x, dy, dw), FX_OK);
        worst = weight_grad_error(nw, dw, dw0, ref, scale, &at);
        x[64 + 3 * 8 + 4] /= 1.001f;
        ck_assert_msg(worst > wino_weight_grad_tolerance[tile], "F%d: a perturbed input passes: worst %.3g S", tile,
                      worst);
    }
    free(x);
    free(dy);
    fx_context_destroy(ctx);
}
END_TEST

/* The conv2d op with each tile forced: gradients by finite differences
 * (weight and input gradients by Winograd). */
static void op_gradcheck(const char *tile, const char *attrs, int n, int c, int h, int w)
{
    setenv("FX_CONV_WINOGRAD", tile, 1);
    fx_context *ctx = fxtest_context();
    fxtest_case k;
    memset(&k, 0, sizeof k);
    k.op = "conv2d";
    k.attrs = attrs;
    k.n_in = 1;
    k.in[0].name = "x";
    k.in[0].shape = fx_shape_4d(n, c, h, w);
    k.in[0].dtype = FX_F32;
    k.seed = 5;
    k.randomize_params = 1;
    k.max_checks = 48;
    k.rtol = 2e-3;
    k.atol = 2e-3;
    fxtest_gradcheck(ctx, &k);
    fx_context_destroy(ctx);
    unsetenv("FX_CONV_WINOGRAD");
}

START_TEST(test_conv2d_op_gradients_with_winograd)
{
    for (int t = 0; t < 2; t++) {
        const char *tile = t ? "4" : "2";
        op_gradcheck(tile, "out_channels=3 kernel=3 padding=same", 2, 2, 7, 5);
        op_gradcheck(tile, "out_channels=4 kernel=3 padding=valid bias=false", 1, 3, 9, 6);
        op_gradcheck(tile, "out_channels=2 kernel=3 pad=2", 1, 2, 4, 5);
    }
}
END_TEST

static Suite *winograd_suite(void)
{
    Suite *s = suite_create("conv_winograd");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600); /* the direct double reference of k5 is ~1 GMAC per case */
    tcase_add_test(tc, test_winograd_forward_matches_direct_on_small_and_odd_shapes);
    tcase_add_test(tc, test_winograd_forward_matches_direct_on_the_papers_shapes);
    tcase_add_test(tc, test_winograd_input_gradient_matches_direct);
    tcase_add_test(tc, test_winograd_tolerance_catches_a_wrong_result);
    tcase_add_test(tc, test_winograd_rule_picks_by_shape);
    tcase_add_test(tc, test_winograd_weight_grad_matches_direct_on_small_and_odd_shapes);
    tcase_add_test(tc, test_winograd_weight_grad_matches_direct_on_the_papers_shapes);
    tcase_add_test(tc, test_winograd_weight_grad_does_not_depend_on_the_thread_count);
    tcase_add_test(tc, test_winograd_weight_grad_tolerance_catches_a_wrong_result);
    tcase_add_test(tc, test_conv2d_op_gradients_with_winograd);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fxtest_run_suite(winograd_suite());
}
