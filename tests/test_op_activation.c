/* tests/test_op_activation.c - relu and elu: forward against libm
 * references (elu with both its AVX2 and scalar paths, over the whole
 * range including the clamp at -87, tails of odd length, NaN and
 * infinities), gradients by finite differences, and attribute/dtype
 * errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case act_case(const char *op, const char *attrs, fx_shape shape, const float *data)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.attrs = attrs;
    c.n_in = 1;
    c.in[0].name = "x";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    c.in[0].data = data;
    return c;
}

/* Normal data pushed at least `gap` away from 0, so a finite difference
 * of step < gap never straddles the kink. */
static float *data_away_from_zero(uint64_t seed, int64_t n, float gap)
{
    float *x = fxtest_random(seed, n);
    for (int64_t i = 0; i < n; i++)
        x[i] += x[i] >= 0 ? gap : -gap;
    return x;
}

START_TEST(test_relu_forward_clamps_negatives_to_zero)
{
    fx_context *ctx = fxtest_context();
    const float x[7] = { -2.0f, -0.0f, 0.0f, 1e-30f, -1e-30f, 3.5f, -INFINITY };
    const float ref[7] = { 0, 0, 0, 1e-30f, 0, 3.5f, 0 };
    fxtest_case c = act_case("relu", NULL, fx_shape_2d(1, 7), x);
    fx_shape s;
    float *y = fxtest_forward(ctx, &c, 0, &s);
    ck_assert(fx_shape_equal(&s, &c.in[0].shape));
    fxtest_assert_close(y, ref, 7, 0, 0, "relu");
    free(y);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_relu_grad_matches_finite_difference)
{
    fx_context *ctx = fxtest_context();
    float *x = data_away_from_zero(3, 3 * 5 * 7, 0.05f);
    fxtest_case c = act_case("relu", NULL, fx_shape_4d(3, 5, 7, 1), x);
    c.max_checks = 200;
    fxtest_gradcheck(ctx, &c);
    free(x);
    fx_context_destroy(ctx);
}
END_TEST

/* Forward of elu on `n` values spread over [-100, 20] (plus specials)
 * against alpha * expm1(x) in double. */
static void check_elu_forward(float alpha, int64_t n)
{
    fx_context *ctx = fxtest_context();
    float *x = malloc((size_t)n * sizeof(float)), *ref = malloc((size_t)n * sizeof(float));
    ck_assert(x && ref);
    for (int64_t i = 0; i < n; i++)
        x[i] = -100.0f + 120.0f * (float)i / (float)(n - 1);
    x[1] = -1e-6f;
    x[2] = 1e-6f;
    x[3] = -0.0f;
    x[4] = -87.5f;
    x[5] = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        ref[i] = x[i] > 0 ? x[i] : (float)(alpha * expm1((double)x[i]));
    char attrs[32];
    snprintf(attrs, sizeof attrs, "alpha=%g", alpha);
    fxtest_case c = act_case("elu", attrs, fx_shape_2d(1, n), x);
    float *y = fxtest_forward(ctx, &c, 0, NULL);
    /* 2e-7 relative: a few ulp; 1e-7 absolute covers exp(x) - 1 near -1. */
    fxtest_assert_close(y, ref, n, 4e-7, 1e-7, "elu forward");
    free(y);

    /* NaN stays NaN (divergence must stay visible); +inf stays +inf. */
    x[0] = NAN;
    x[n - 1] = INFINITY;
    y = fxtest_forward(ctx, &c, 0, NULL);
    ck_assert_msg(isnan(y[0]), "elu(NaN) = %g", y[0]);
    ck_assert(isinf(y[n - 1]) && y[n - 1] > 0);
    free(y);
    free(x);
    free(ref);
    fx_context_destroy(ctx);
}

START_TEST(test_elu_forward_matches_expm1_on_every_simd_level)
{
    const char *levels[] = { NULL, "scalar", "avx2" };
    for (int l = 0; l < 3; l++) {
        if (levels[l])
            setenv("FX_SIMD", levels[l], 1);
        else
            unsetenv("FX_SIMD");
        check_elu_forward(1.0f, 1003); /* 1003: not a multiple of 8 or 16 */
        check_elu_forward(0.25f, 37);
    }
    unsetenv("FX_SIMD");
}
END_TEST

START_TEST(test_elu_grad_matches_finite_difference)
{
    fx_context *ctx = fxtest_context();
    float *x = data_away_from_zero(4, 2 * 3 * 4 * 5, 0.05f);
    fxtest_case c = act_case("elu", NULL, fx_shape_4d(2, 3, 4, 5), x);
    c.max_checks = 120;
    fxtest_gradcheck(ctx, &c);
    /* alpha != 1: the derivative jumps at 0 (1 vs alpha), checked away from it. */
    c.attrs = "alpha=1.7";
    c.seed = 9;
    fxtest_gradcheck(ctx, &c);
    free(x);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_activations_reject_bad_alpha_and_integer_input)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = act_case("elu", "alpha=0", fx_shape_2d(2, 3), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "alpha");
    int32_t labels[2] = { 0, 1 };
    c = act_case("relu", NULL, fx_shape_1d(2), NULL);
    c.in[0].dtype = FX_I32;
    c.in[0].idata = labels;
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "f32");
    fx_context_destroy(ctx);
}
END_TEST

static Suite *activation_suite(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("activation");
    tcase_add_test(tc, test_relu_forward_clamps_negatives_to_zero);
    tcase_add_test(tc, test_relu_grad_matches_finite_difference);
    tcase_add_test(tc, test_elu_forward_matches_expm1_on_every_simd_level);
    tcase_add_test(tc, test_elu_grad_matches_finite_difference);
    tcase_add_test(tc, test_activations_reject_bad_alpha_and_integer_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(activation_suite()); }
