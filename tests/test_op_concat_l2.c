/* tests/test_op_concat_l2.c - concat and l2_normalize (the hypercolumn
 * pieces): concat along channels, the last axis and a spatial axis against
 * hand-placed references, shape errors naming both shapes, gradients;
 * l2_normalize over channels per pixel and over the last axis against a
 * naive loop, the eps floor (zero vectors stay finite), gradients on both
 * sides of the floor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_input f32_input(const char *name, fx_shape shape, const float *data)
{
    fxtest_input in;
    memset(&in, 0, sizeof in);
    in.name = name;
    in.shape = shape;
    in.dtype = FX_F32;
    in.data = data;
    return in;
}

static fxtest_case make_case(const char *op, const char *attrs)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.attrs = attrs;
    return c;
}

/* Reference concat of inputs [outer, inner_i] blocks. */
static void concat_ref(int n, const float *const *in, const int64_t *inner, int64_t outer, float *out)
{
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += inner[i];
    for (int64_t o = 0; o < outer; o++) {
        int64_t off = 0;
        for (int i = 0; i < n; i++) {
            for (int64_t k = 0; k < inner[i]; k++)
                out[o * total + off + k] = in[i][o * inner[i] + k];
            off += inner[i];
        }
    }
}

START_TEST(test_concat_joins_channels_in_input_order)
{
    fx_context *ctx = fxtest_context();
    float *a = fxtest_random(1, 2 * 1 * 4), *b = fxtest_random(2, 2 * 3 * 4), *d = fxtest_random(3, 2 * 2 * 4);
    fxtest_case c = make_case("concat", NULL);
    c.n_in = 3;
    c.in[0] = f32_input("a", fx_shape_4d(2, 1, 2, 2), a);
    c.in[1] = f32_input("b", fx_shape_4d(2, 3, 2, 2), b);
    c.in[2] = f32_input("d", fx_shape_4d(2, 2, 2, 2), d);
    fx_shape s;
    float *y = fxtest_forward(ctx, &c, 0, &s);
    fx_shape want = fx_shape_4d(2, 6, 2, 2);
    ck_assert(fx_shape_equal(&s, &want));
    const float *ins[3] = { a, b, d };
    const int64_t inner[3] = { 4, 12, 8 };
    float ref[2 * 6 * 4];
    concat_ref(3, ins, inner, 2, ref);
    fxtest_assert_close(y, ref, 2 * 6 * 4, 0, 0, "concat axis 1");
    free(y);
    free(a);
    free(b);
    free(d);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_concat_joins_last_and_spatial_axes)
{
    fx_context *ctx = fxtest_context();
    float *a = fxtest_random(4, 2 * 3), *b = fxtest_random(5, 2 * 4);
    fxtest_case c = make_case("concat", "axis=-1");
    c.n_in = 2;
    c.in[0] = f32_input("a", fx_shape_2d(2, 3), a);
    c.in[1] = f32_input("b", fx_shape_2d(2, 4), b);
    fx_shape s;
    float *y = fxtest_forward(ctx, &c, 0, &s);
    fx_shape want = fx_shape_2d(2, 7);
    ck_assert(fx_shape_equal(&s, &want));
    const float *ins[2] = { a, b };
    int64_t inner[2] = { 3, 4 };
    float ref[14];
    concat_ref(2, ins, inner, 2, ref);
    fxtest_assert_close(y, ref, 14, 0, 0, "concat axis -1");
    free(y);
    free(a);
    free(b);

    /* Axis 2 (rows) of [2, 3, h, 4]: outer = 2 * 3, inner = h * 4. */
    a = fxtest_random(6, 2 * 3 * 1 * 4);
    b = fxtest_random(7, 2 * 3 * 2 * 4);
    c = make_case("concat", "axis=2");
    c.n_in = 2;
    c.in[0] = f32_input("a", fx_shape_4d(2, 3, 1, 4), a);
    c.in[1] = f32_input("b", fx_shape_4d(2, 3, 2, 4), b);
    y = fxtest_forward(ctx, &c, 0, &s);
    want = fx_shape_4d(2, 3, 3, 4);
    ck_assert(fx_shape_equal(&s, &want));
    const float *ins2[2] = { a, b };
    int64_t inner2[2] = { 4, 8 };
    float ref2[2 * 3 * 3 * 4];
    concat_ref(2, ins2, inner2, 6, ref2);
    fxtest_assert_close(y, ref2, 2 * 3 * 3 * 4, 0, 0, "concat axis 2");
    free(y);
    free(a);
    free(b);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_concat_shape_error_names_both_shapes)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = make_case("concat", NULL);
    c.n_in = 2;
    c.in[0] = f32_input("a", fx_shape_4d(2, 3, 4, 4), NULL);
    c.in[1] = f32_input("b", fx_shape_4d(2, 3, 5, 4), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[2, 3, 5, 4]");
    ck_assert_msg(strstr(fx_context_error(ctx), "[2, 3, 4, 4]") != NULL, "message lacks the first shape: %s",
                  fx_context_error(ctx));
    c.in[1] = f32_input("b", fx_shape_2d(2, 3), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[2, 3]");
    c = make_case("concat", "axis=0");
    c.n_in = 2;
    c.in[0] = f32_input("a", fx_shape_2d(2, 3), NULL);
    c.in[1] = f32_input("b", fx_shape_2d(2, 3), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "batch");
    c.attrs = "axis=2";
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "out of range");
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_concat_grad_matches_finite_difference)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = make_case("concat", NULL);
    c.n_in = 3;
    c.in[0] = f32_input("a", fx_shape_4d(2, 2, 3, 3), NULL);
    c.in[1] = f32_input("b", fx_shape_4d(2, 1, 3, 3), NULL);
    c.in[2] = f32_input("d", fx_shape_4d(2, 3, 3, 3), NULL);
    fxtest_gradcheck(ctx, &c);
    /* The maximum of eight inputs. */
    static const char *names[8] = { "i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7" };
    c = make_case("concat", "axis=-1");
    c.n_in = 8;
    for (int i = 0; i < 8; i++)
        c.in[i] = f32_input(names[i], fx_shape_2d(3, 1 + i % 3), NULL);
    c.seed = 5;
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

/* y = x / sqrt(max(sum over the axis of x^2, eps)), naive. x is
 * [outer, a, inner]. */
static void l2_ref(const float *x, int64_t outer, int64_t a, int64_t inner, double eps, float *y)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            double s = 0;
            for (int64_t i = 0; i < a; i++) {
                double v = x[(o * a + i) * inner + k];
                s += v * v;
            }
            double r = 1.0 / sqrt(s > eps ? s : eps);
            for (int64_t i = 0; i < a; i++)
                y[(o * a + i) * inner + k] = (float)(x[(o * a + i) * inner + k] * r);
        }
}

START_TEST(test_l2_normalize_gives_unit_channel_vectors_per_pixel)
{
    /* 20x20 = 400 positions: crosses the kernel's 256-position blocks. */
    enum { N = 2, C = 3, H = 20, W = 20, T = N * C * H * W };
    fx_context *ctx = fxtest_context();
    float *x = fxtest_random(9, T);
    fxtest_case c = make_case("l2_normalize", NULL);
    c.n_in = 1;
    c.in[0] = f32_input("x", fx_shape_4d(N, C, H, W), x);
    float *y = fxtest_forward(ctx, &c, 0, NULL);
    float *ref = malloc(T * sizeof(float));
    ck_assert_ptr_nonnull(ref);
    l2_ref(x, N, C, H * W, 1e-12, ref);
    fxtest_assert_close(y, ref, T, 1e-5, 1e-7, "l2_normalize axis 1");
    for (int n = 0; n < N; n++) /* and each pixel's channel vector has norm 1 */
        for (int p = 0; p < H * W; p++) {
            double s = 0;
            for (int ch = 0; ch < C; ch++)
                s += (double)y[(n * C + ch) * H * W + p] * y[(n * C + ch) * H * W + p];
            ck_assert_msg(fabs(s - 1) < 1e-5, "pixel %d of image %d has squared norm %g", p, n, s);
        }
    free(y);
    free(ref);
    free(x);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_l2_normalize_last_axis_and_zero_vectors_stay_finite)
{
    fx_context *ctx = fxtest_context();
    float x[3 * 4] = { 3, 4, 0, 0, /* norm 5 */
                       0, 0, 0, 0, /* zero: stays zero, not NaN */
                       1e-7f, 0, 0, 0 };
    fxtest_case c = make_case("l2_normalize", "axis=-1");
    c.n_in = 1;
    c.in[0] = f32_input("x", fx_shape_2d(3, 4), x);
    float *y = fxtest_forward(ctx, &c, 0, NULL);
    /* 1e-7^2 = 1e-14 < eps 1e-12: divided by sqrt(eps) = 1e-6. */
    const float want[12] = { 0.6f, 0.8f, 0, 0, 0, 0, 0, 0, 0.1f, 0, 0, 0 };
    fxtest_assert_close(y, want, 12, 1e-5, 0, "l2_normalize axis -1");
    free(y);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_l2_normalize_grad_matches_finite_difference)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = make_case("l2_normalize", NULL);
    c.n_in = 1;
    c.in[0] = f32_input("x", fx_shape_4d(2, 5, 3, 3), NULL);
    c.max_checks = 90;
    fxtest_gradcheck(ctx, &c);
    c = make_case("l2_normalize", "axis=-1");
    c.n_in = 1;
    c.in[0] = f32_input("x", fx_shape_2d(3, 7), NULL);
    c.seed = 2;
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

/* Below the floor the divisor is the constant sqrt(eps): y = x / 10 here,
 * so the gradient is g / 10 (the projection term vanishes). */
START_TEST(test_l2_normalize_grad_below_eps_floor_is_plain_scaling)
{
    fx_context *ctx = fxtest_context();
    float *x = fxtest_random(3, 4 * 3);
    for (int i = 0; i < 12; i++)
        x[i] *= 0.2f; /* sum of 3 squares well below 100 */
    fxtest_case c = make_case("l2_normalize", "axis=1 eps=100");
    c.n_in = 1;
    c.in[0] = f32_input("x", fx_shape_2d(4, 3), x);
    float *y = fxtest_forward(ctx, &c, 0, NULL);
    float want[12];
    for (int i = 0; i < 12; i++)
        want[i] = x[i] / 10;
    fxtest_assert_close(y, want, 12, 1e-6, 0, "l2_normalize below eps");
    free(y);
    fxtest_gradcheck(ctx, &c);
    free(x);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_l2_normalize_rejects_batch_axis_and_bad_eps)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = make_case("l2_normalize", "axis=0");
    c.n_in = 1;
    c.in[0] = f32_input("x", fx_shape_2d(3, 4), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "axis");
    c.attrs = "eps=0";
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "eps");
    fx_context_destroy(ctx);
}
END_TEST

static Suite *concat_l2_suite(void)
{
    Suite *s = suite_create("concat_l2_normalize");
    TCase *tc = tcase_create("concat_l2_normalize");
    tcase_add_test(tc, test_concat_joins_channels_in_input_order);
    tcase_add_test(tc, test_concat_joins_last_and_spatial_axes);
    tcase_add_test(tc, test_concat_shape_error_names_both_shapes);
    tcase_add_test(tc, test_concat_grad_matches_finite_difference);
    tcase_add_test(tc, test_l2_normalize_gives_unit_channel_vectors_per_pixel);
    tcase_add_test(tc, test_l2_normalize_last_axis_and_zero_vectors_stay_finite);
    tcase_add_test(tc, test_l2_normalize_grad_matches_finite_difference);
    tcase_add_test(tc, test_l2_normalize_grad_below_eps_floor_is_plain_scaling);
    tcase_add_test(tc, test_l2_normalize_rejects_batch_axis_and_bad_eps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(concat_l2_suite()); }
