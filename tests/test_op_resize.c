/* tests/test_op_resize.c - resize_bilinear: each coordinate mapping on tiny
 * examples worked out by hand (2x2 -> 4x4 and 4 -> 2), random inputs
 * against a direct double-precision evaluation of the mapping formulas,
 * non-square sizes, gradients (the backward scatter) by finite
 * differences, and shape/attribute errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case resize_case(const char *attrs, fx_shape shape, const float *data)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "resize_bilinear";
    c.attrs = attrs;
    c.n_in = 1;
    c.in[0].name = "x";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    c.in[0].data = data;
    return c;
}

static void expect_output(const char *attrs, fx_shape in_shape, const float *x, fx_shape out_shape,
                          const float *want)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = resize_case(attrs, in_shape, x);
    fx_shape s;
    float *y = fxtest_forward(ctx, &c, 0, &s);
    char a[64], b[64];
    ck_assert_msg(fx_shape_equal(&s, &out_shape), "%s: output shape %s, want %s", attrs,
                  fx_shape_str(&s, a, sizeof a), fx_shape_str(&out_shape, b, sizeof b));
    fxtest_assert_close(y, want, fx_shape_numel(&out_shape), 1e-6, 1e-6, attrs);
    free(y);
    fx_context_destroy(ctx);
}

static const float square2[4] = { 1, 3, 5, 7 }; /* [[1, 3], [5, 7]] */

/* TF1 legacy (the paper's code): src = dst * in / out. Samples 0, .5, 1,
 * 1.5; the last row/column reads past the edge and is clamped. */
START_TEST(test_resize_asymmetric_upsamples_2_to_4_like_tf1)
{
    const float want[16] = { 1, 2, 3, 3, /* src row 0 */
                             3, 4, 5, 5, /* row 0.5 */
                             5, 6, 7, 7, /* row 1 */
                             5, 6, 7, 7 };
    expect_output("size=4 mapping=asymmetric", fx_shape_4d(1, 1, 2, 2), square2, fx_shape_4d(1, 1, 4, 4), want);
}
END_TEST

/* PyTorch align_corners=False: src = (dst + .5) / 2 - .5 = -.25 (-> 0),
 * .25, .75, 1.25. */
START_TEST(test_resize_half_pixel_upsamples_2_to_4_like_pytorch)
{
    const float want[16] = { 1, 1.5f, 2.5f, 3, 2, 2.5f, 3.5f, 4, 4, 4.5f, 5.5f, 6, 5, 5.5f, 6.5f, 7 };
    expect_output("size=[4,4]", fx_shape_4d(1, 1, 2, 2), square2, fx_shape_4d(1, 1, 4, 4), want);
}
END_TEST

/* src = dst * (in - 1) / (out - 1) = 0, 1/3, 2/3, 1: the corners agree. */
START_TEST(test_resize_align_corners_keeps_corner_values)
{
    const float want[16] = { 1, 5.0f / 3, 7.0f / 3, 3,
                             1 + 4.0f / 3, 5.0f / 3 + 4.0f / 3, 7.0f / 3 + 4.0f / 3, 3 + 4.0f / 3,
                             1 + 8.0f / 3, 5.0f / 3 + 8.0f / 3, 7.0f / 3 + 8.0f / 3, 3 + 8.0f / 3,
                             5, 5 + 2.0f / 3, 5 + 4.0f / 3, 7 };
    expect_output("size=4 mapping=align_corners", fx_shape_4d(1, 1, 2, 2), square2, fx_shape_4d(1, 1, 4, 4),
                  want);
}
END_TEST

/* 1x4 -> 1x2 along W (H stays 1): half_pixel samples 0.5 and 2.5,
 * asymmetric 0 and 2, align_corners 0 and 3. */
START_TEST(test_resize_downsamples_4_to_2_with_each_mapping)
{
    const float x[4] = { 0, 10, 20, 30 };
    const float half[2] = { 5, 25 }, asym[2] = { 0, 20 }, corners[2] = { 0, 30 };
    expect_output("size=[1,2] mapping=half_pixel", fx_shape_4d(1, 1, 1, 4), x, fx_shape_4d(1, 1, 1, 2), half);
    expect_output("size=[1,2] mapping=asymmetric", fx_shape_4d(1, 1, 1, 4), x, fx_shape_4d(1, 1, 1, 2), asym);
    expect_output("size=[1,2] mapping=align_corners", fx_shape_4d(1, 1, 1, 4), x, fx_shape_4d(1, 1, 1, 2),
                  corners);
}
END_TEST

/* The spec, evaluated directly in double: source coordinate of dst. */
static double source_coord(const char *mapping, int dst, int in, int out)
{
    double s;
    if (!strcmp(mapping, "half_pixel")) {
        s = (dst + 0.5) * in / out - 0.5;
        s = s < 0 ? 0 : s;
    } else if (!strcmp(mapping, "align_corners")) {
        s = out > 1 ? (double)dst * (in - 1) / (out - 1) : 0;
    } else {
        s = (double)dst * in / out;
    }
    return s;
}

static double sample(const float *plane, int ih, int iw, double sy, double sx)
{
    int y0 = (int)floor(sy), x0 = (int)floor(sx);
    y0 = y0 > ih - 1 ? ih - 1 : y0;
    x0 = x0 > iw - 1 ? iw - 1 : x0;
    int y1 = y0 + 1 < ih ? y0 + 1 : ih - 1, x1 = x0 + 1 < iw ? x0 + 1 : iw - 1;
    double wy = sy - y0, wx = sx - x0;
    return (1 - wy) * ((1 - wx) * plane[y0 * iw + x0] + wx * plane[y0 * iw + x1]) +
           wy * ((1 - wx) * plane[y1 * iw + x0] + wx * plane[y1 * iw + x1]);
}

START_TEST(test_resize_matches_direct_formula_on_random_maps)
{
    enum { N = 2, C = 3, IH = 6, IW = 5, OH = 13, OW = 4 };
    const char *mappings[3] = { "half_pixel", "align_corners", "asymmetric" };
    float *x = fxtest_random(21, N * C * IH * IW);
    fx_context *ctx = fxtest_context();
    for (int m = 0; m < 3; m++) {
        char attrs[64];
        snprintf(attrs, sizeof attrs, "size=[%d,%d] mapping=%s", OH, OW, mappings[m]);
        fxtest_case c = resize_case(attrs, fx_shape_4d(N, C, IH, IW), x);
        fx_shape s;
        float *y = fxtest_forward(ctx, &c, 0, &s);
        fx_shape want_shape = fx_shape_4d(N, C, OH, OW);
        ck_assert(fx_shape_equal(&s, &want_shape));
        float ref[N * C * OH * OW];
        for (int p = 0; p < N * C; p++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++)
                    ref[(p * OH + oy) * OW + ox] = (float)sample(x + p * IH * IW, IH, IW,
                                                                 source_coord(mappings[m], oy, IH, OH),
                                                                 source_coord(mappings[m], ox, IW, OW));
        fxtest_assert_close(y, ref, N * C * OH * OW, 1e-5, 1e-6, mappings[m]);
        free(y);
    }
    free(x);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_resize_grad_matches_finite_difference_for_each_mapping)
{
    const char *attrs[6] = { "size=[5,4] mapping=half_pixel",    "size=[5,4] mapping=align_corners",
                             "size=[5,4] mapping=asymmetric",    "size=2 mapping=half_pixel",
                             "size=[1,7] mapping=align_corners", "size=24 mapping=asymmetric" };
    const fx_shape shapes[6] = { fx_shape_4d(2, 3, 3, 5), fx_shape_4d(2, 3, 3, 5), fx_shape_4d(2, 3, 3, 5),
                                 fx_shape_4d(1, 2, 5, 3), fx_shape_4d(1, 1, 3, 2), fx_shape_4d(1, 2, 6, 6) };
    fx_context *ctx = fxtest_context();
    for (int i = 0; i < 6; i++) {
        fxtest_case c = resize_case(attrs[i], shapes[i], NULL);
        c.seed = (uint64_t)i + 1;
        c.max_checks = 90;
        fxtest_gradcheck(ctx, &c);
    }
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_resize_rejects_bad_input_size_and_mapping)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = resize_case("size=4", fx_shape_2d(2, 3), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[N, C, H, W]");
    c = resize_case("size=[4,4,4]", fx_shape_4d(1, 1, 2, 2), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "size");
    c = resize_case("size=0", fx_shape_4d(1, 1, 2, 2), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "positive");
    c = resize_case("size=4 mapping=nearest", fx_shape_4d(1, 1, 2, 2), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "half_pixel, align_corners or asymmetric");
    fx_context_destroy(ctx);
}
END_TEST

static Suite *resize_suite(void)
{
    Suite *s = suite_create("resize_bilinear");
    TCase *tc = tcase_create("resize_bilinear");
    tcase_add_test(tc, test_resize_asymmetric_upsamples_2_to_4_like_tf1);
    tcase_add_test(tc, test_resize_half_pixel_upsamples_2_to_4_like_pytorch);
    tcase_add_test(tc, test_resize_align_corners_keeps_corner_values);
    tcase_add_test(tc, test_resize_downsamples_4_to_2_with_each_mapping);
    tcase_add_test(tc, test_resize_matches_direct_formula_on_random_maps);
    tcase_add_test(tc, test_resize_grad_matches_finite_difference_for_each_mapping);
    tcase_add_test(tc, test_resize_rejects_bad_input_size_and_mapping);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(resize_suite()); }
