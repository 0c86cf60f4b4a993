/* tests/test_op_dropout.c - dropout: the exact mask rule (element i kept
 * iff fx_rng_uniform(seed, i) >= rate, the contract the OpenCL kernel must
 * reproduce) by calling the CPU kernels directly with a chosen seed; mask
 * statistics; determinism for a step and change between steps; identity in
 * inference and at rate 0; gradients; rate errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case dropout_case(const char *attrs, fx_shape shape, const float *data)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "dropout";
    c.attrs = attrs;
    c.n_in = 1;
    c.in[0].name = "x";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    c.in[0].data = data;
    return c;
}

static float *download(const fx_tensor *t)
{
    float *h = malloc(fx_tensor_bytes(t));
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(fx_tensor_download(t, h), FX_OK);
    return h;
}

START_TEST(test_dropout_keeps_exactly_where_uniform_is_at_least_rate)
{
    enum { N = 4, F = 1000, T = N * F };
    const float rate = 0.3f;
    const uint64_t seed = 0x1234abcdULL;
    fx_context *ctx = fxtest_context();
    fxtest_case c = dropout_case("rate=0.3", fx_shape_2d(N, F), NULL);
    fx_graph *g = fxtest_build(ctx, &c);
    fx_kernel_fn fwd = NULL, bwd = NULL;
    ck_assert(fx_registry_find_kernel(fx_context_registry(ctx), "dropout", "cpu", &fwd, &bwd));

    fx_tensor *x = fx_graph_value(g, "x"), *y = fx_graph_value(g, "node");
    fx_tensor *gy = fx_graph_value_grad(g, "node"), *gx = fx_graph_value_grad(g, "x");
    ck_assert(x && y && gy && gx);
    fx_tensor *ins[1] = { x }, *outs[1] = { y }, *gouts[1] = { gy }, *gins[1] = { gx };
    fx_kernel_call call;
    memset(&call, 0, sizeof call);
    call.ctx = ctx;
    call.node = fx_graph_find_node(g, "node");
    call.backend = fx_context_cpu_backend(ctx);
    call.training = 1;
    call.seed = seed;
    call.n_in = 1;
    call.in = ins;
    call.n_out = 1;
    call.out = outs;
    ck_assert_int_eq(fwd(&call), FX_OK);

    float *xh = download(x), *yh = download(y);
    int dropped = 0;
    for (int i = 0; i < T; i++) {
        int keep = fx_rng_uniform(seed, (uint64_t)i) >= rate;
        float want = keep ? xh[i] * (1.0f / (1.0f - rate)) : 0.0f;
        dropped += !keep;
        ck_assert_msg(fabsf(yh[i] - want) <= 1e-6f * fabsf(want), "element %d: %g, want %g", i, yh[i], want);
    }
    ck_assert_int_gt(dropped, 0);

    /* Backward draws the same mask again and ADDS to what is there. */
    float *g_h = fxtest_random(77, T), *prior = fxtest_random(78, T);
    ck_assert_int_eq(fx_tensor_upload(gy, g_h), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(gx, prior), FX_OK);
    call.grad_out = gouts;
    call.grad_in = gins;
    ck_assert_int_eq(bwd(&call), FX_OK);
    float *gxh = download(gx);
    for (int i = 0; i < T; i++) {
        int keep = fx_rng_uniform(seed, (uint64_t)i) >= rate;
        float want = prior[i] + (keep ? g_h[i] * (1.0f / (1.0f - rate)) : 0.0f);
        ck_assert_msg(fabsf(gxh[i] - want) <= 1e-6f * (1.0f + fabsf(want)), "grad element %d: %g, want %g", i,
                      gxh[i], want);
    }
    free(gxh);
    free(g_h);
    free(prior);
    free(xh);
    free(yh);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_drops_the_requested_fraction_and_preserves_the_mean)
{
    enum { N = 10, F = 10000, T = N * F };
    const char *attrs[3] = { "rate=0.1", "rate=0.5", "rate=0.9" };
    const double rates[3] = { 0.1, 0.5, 0.9 };
    float *ones = malloc(T * sizeof(float));
    ck_assert_ptr_nonnull(ones);
    for (int i = 0; i < T; i++)
        ones[i] = 1.0f;
    fx_context *ctx = fxtest_context();
    for (int r = 0; r < 3; r++) {
        fxtest_case c = dropout_case(attrs[r], fx_shape_2d(N, F), ones);
        float *y = fxtest_forward(ctx, &c, 0, NULL);
        int zeros = 0;
        double sum = 0;
        const float scale = 1.0f / (1.0f - (float)rates[r]); /* as the kernel: in float */
        for (int i = 0; i < T; i++) {
            ck_assert_msg(y[i] == 0.0f || y[i] == scale, "element %d is %g: neither 0 nor 1/(1-rate)", i, y[i]);
            zeros += y[i] == 0.0f;
            sum += y[i];
        }
        /* 6 standard deviations of a binomial fraction. */
        double sd = sqrt(rates[r] * (1 - rates[r]) / T);
        double frac = (double)zeros / T;
        ck_assert_msg(fabs(frac - rates[r]) < 6 * sd, "rate %g dropped %g", rates[r], frac);
        ck_assert_msg(fabs(sum / T - 1.0) < 6 * sd / (1 - rates[r]), "rate %g: mean %g", rates[r], sum / T);
        free(y);
    }
    free(ones);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_mask_is_fixed_for_a_step_and_changes_between_steps)
{
    enum { T = 2 * 500 };
    fx_context *ctx = fxtest_context();
    fxtest_case c = dropout_case("rate=0.5", fx_shape_2d(2, 500), NULL);
    fx_graph *g = fxtest_build(ctx, &c);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    float *a = download(fx_graph_value(g, "node"));
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    float *b = download(fx_graph_value(g, "node"));
    ck_assert_msg(memcmp(a, b, T * sizeof(float)) == 0, "same step, different masks");
    fx_graph_set_step(g, 1);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    float *s1 = download(fx_graph_value(g, "node"));
    int differ = 0;
    for (int i = 0; i < T; i++)
        differ += (a[i] == 0.0f) != (s1[i] == 0.0f);
    ck_assert_msg(differ > T / 4, "step 1 mask differs from step 0 in only %d of %d elements", differ, T);

    /* A fresh graph with the same seed reproduces step 0. */
    fx_graph *g2 = fxtest_build(ctx, &c);
    ck_assert_int_eq(fx_graph_forward(g2), FX_OK);
    float *a2 = download(fx_graph_value(g2, "node"));
    ck_assert_msg(memcmp(a, a2, T * sizeof(float)) == 0, "same seed and step, different masks");
    free(a);
    free(b);
    free(s1);
    free(a2);
    fx_graph_destroy(g);
    fx_graph_destroy(g2);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_is_identity_in_inference_and_at_rate_zero)
{
    enum { T = 3 * 7 };
    fx_context *ctx = fxtest_context();
    float *x = fxtest_random(8, T);
    fxtest_case c = dropout_case("rate=0.5", fx_shape_2d(3, 7), x);
    c.inference = 1;
    float *y = fxtest_forward(ctx, &c, 0, NULL);
    fxtest_assert_close(y, x, T, 0, 0, "dropout in inference");
    free(y);
    c = dropout_case("rate=0", fx_shape_2d(3, 7), x);
    y = fxtest_forward(ctx, &c, 0, NULL);
    fxtest_assert_close(y, x, T, 0, 0, "dropout with rate 0 in training");
    free(y);
    /* A training plan switched to evaluation (fx_graph_set_training). */
    c = dropout_case("rate=0.5", fx_shape_2d(3, 7), x);
    fx_graph *g = fxtest_build(ctx, &c);
    fx_graph_set_training(g, 0);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    y = download(fx_graph_value(g, "node"));
    fxtest_assert_close(y, x, T, 0, 0, "dropout in a training plan run for evaluation");
    free(y);
    fx_graph_destroy(g);
    /* Gradient of the identity too. */
    c = dropout_case("rate=0", fx_shape_2d(3, 7), x);
    fxtest_gradcheck(ctx, &c);
    free(x);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_grad_matches_finite_difference)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = dropout_case("rate=0.4", fx_shape_4d(2, 3, 5, 3), NULL);
    c.max_checks = 90;
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_rejects_rate_outside_zero_to_one)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = dropout_case("rate=1", fx_shape_2d(2, 3), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "[0, 1)");
    c.attrs = "rate=-0.1";
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "rate");
    fx_context_destroy(ctx);
}
END_TEST

static Suite *dropout_suite(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("dropout");
    tcase_add_test(tc, test_dropout_keeps_exactly_where_uniform_is_at_least_rate);
    tcase_add_test(tc, test_dropout_drops_the_requested_fraction_and_preserves_the_mean);
    tcase_add_test(tc, test_dropout_mask_is_fixed_for_a_step_and_changes_between_steps);
    tcase_add_test(tc, test_dropout_is_identity_in_inference_and_at_rate_zero);
    tcase_add_test(tc, test_dropout_grad_matches_finite_difference);
    tcase_add_test(tc, test_dropout_rejects_rate_outside_zero_to_one);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(dropout_suite()); }
