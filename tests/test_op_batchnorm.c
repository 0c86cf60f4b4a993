/* tests/test_op_batchnorm.c - batchnorm: training forward against batch
 * statistics computed by a naive loop, the running averages (TensorFlow
 * momentum convention, unbiased variance), inference with running
 * statistics, two nodes sharing parameters but not statistics, gradients by
 * finite differences (maps, vectors, odd shapes, batch 1), and the errors
 * (bad input rank, bad attributes, one value per channel in training). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fx_srcpos nopos(void)
{
    fx_srcpos p = { NULL, 0, 0 };
    return p;
}

/* Host copy of a parameter of `g` (malloc'd). */
static float *param_host(fx_graph *g, const char *name)
{
    fx_param p;
    ck_assert_msg(fx_graph_find_param(g, name, &p) != NULL, "no parameter '%s'", name);
    float *h = malloc(fx_tensor_bytes(p.value));
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(fx_tensor_download(p.value, h), FX_OK);
    return h;
}

static void param_set(fx_graph *g, const char *name, const float *values)
{
    fx_param p;
    ck_assert_msg(fx_graph_find_param(g, name, &p) != NULL, "no parameter '%s'", name);
    ck_assert_int_eq(fx_tensor_upload(p.value, values), FX_OK);
}

static float *value_host(fx_graph *g, const char *name)
{
    fx_tensor *t = fx_graph_value(g, name);
    ck_assert_msg(t != NULL, "no value '%s'", name);
    float *h = malloc(fx_tensor_bytes(t));
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(fx_tensor_download(t, h), FX_OK);
    return h;
}

/* Naive per-channel statistics of x [n, c, s] in double. */
static void channel_stats(const float *x, int n, int c, int s, double *mean, double *var_biased)
{
    for (int ch = 0; ch < c; ch++) {
        double sum = 0;
        for (int b = 0; b < n; b++)
            for (int i = 0; i < s; i++)
                sum += x[((size_t)b * c + ch) * s + i];
        double m = sum / (n * s);
        double sq = 0;
        for (int b = 0; b < n; b++)
            for (int i = 0; i < s; i++) {
                double d = x[((size_t)b * c + ch) * s + i] - m;
                sq += d * d;
            }
        mean[ch] = m;
        var_biased[ch] = sq / (n * s);
    }
}

static fxtest_case bn_case(fx_shape shape, const char *attrs)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "batchnorm";
    c.attrs = attrs;
    c.n_in = 1;
    c.in[0].name = "x";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    c.randomize_params = 1;
    return c;
}

START_TEST(test_batchnorm_training_normalises_with_batch_statistics_and_updates_running_averages)
{
    enum { N = 4, C = 3, H = 5, W = 7, S = H * W };
    fx_context *ctx = fxtest_context();
    /* Data with a per-channel offset and scale, so mean and variance matter. */
    float *x = fxtest_random(5, N * C * S);
    for (int b = 0; b < N; b++)
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < S; i++)
                x[(b * C + ch) * S + i] = x[(b * C + ch) * S + i] * (1.0f + ch) + 3.0f * ch - 1.0f;
    fxtest_case c = bn_case(fx_shape_4d(N, C, H, W), "momentum=0.8 eps=1e-3");
    c.in[0].data = x;
    fx_graph *g = fxtest_build(ctx, &c);
    float *gamma = param_host(g, "node.weight"), *beta = param_host(g, "node.bias");
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);

    double mean[C], var[C];
    channel_stats(x, N, C, S, mean, var);
    float *y = value_host(g, "node");
    float *ref = malloc(sizeof(float) * N * C * S);
    for (int b = 0; b < N; b++)
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < S; i++) {
                int k = (b * C + ch) * S + i;
                ref[k] = (float)(gamma[ch] * (x[k] - mean[ch]) / sqrt(var[ch] + 1e-3) + beta[ch]);
            }
    fxtest_assert_close(y, ref, N * C * S, 1e-4, 1e-5, "batchnorm training output");

    /* running = 0.8 * initial + 0.2 * batch, variance unbiased (m / (m - 1)). */
    float *rm = param_host(g, "node.running_mean"), *rv = param_host(g, "node.running_var");
    float want_m[C], want_v[C];
    for (int ch = 0; ch < C; ch++) {
        double unbiased = var[ch] * (N * S) / (N * S - 1.0);
        want_m[ch] = (float)(0.2 * mean[ch]);
        want_v[ch] = (float)(0.8 * 1.0 + 0.2 * unbiased);
    }
    fxtest_assert_close(rm, want_m, C, 1e-5, 1e-6, "running_mean after one step");
    fxtest_assert_close(rv, want_v, C, 1e-5, 1e-6, "running_var after one step");
    free(rm);
    free(rv);

    /* A second step on the same batch: running = 0.8 r1 + 0.2 batch. */
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    rm = param_host(g, "node.running_mean");
    rv = param_host(g, "node.running_var");
    for (int ch = 0; ch < C; ch++) {
        double unbiased = var[ch] * (N * S) / (N * S - 1.0);
        want_m[ch] = (float)(0.8 * want_m[ch] + 0.2 * mean[ch]);
        want_v[ch] = (float)(0.8 * want_v[ch] + 0.2 * unbiased);
    }
    fxtest_assert_close(rm, want_m, C, 1e-5, 1e-6, "running_mean after two steps");
    fxtest_assert_close(rv, want_v, C, 1e-5, 1e-6, "running_var after two steps");

    free(rm);
    free(rv);
    free(ref);
    free(y);
    free(gamma);
    free(beta);
    free(x);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_batchnorm_default_momentum_keeps_ninety_percent_of_running_value)
{
    fx_context *ctx = fxtest_context();
    float x[4] = { 1, 3, 5, 7 }; /* [4, 1]: mean 4, unbiased var 20/3 */
    fxtest_case c = bn_case(fx_shape_2d(4, 1), NULL);
    c.in[0].data = x;
    fx_graph *g = fxtest_build(ctx, &c);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    float *rm = param_host(g, "node.running_mean"), *rv = param_host(g, "node.running_var");
    ck_assert_float_eq_tol(rm[0], 0.4f, 1e-6f);
    ck_assert_float_eq_tol(rv[0], 0.9f + 0.1f * 20.0f / 3.0f, 1e-5f);
    free(rm);
    free(rv);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_batchnorm_inference_uses_running_statistics_and_leaves_them_alone)
{
    enum { N = 2, C = 3, S = 4 };
    fx_context *ctx = fxtest_context();
    fxtest_case c = bn_case(fx_shape_4d(N, C, 2, 2), "eps=0.01");
    c.inference = 1;
    fx_graph *g = fxtest_build(ctx, &c);
    const float rm[C] = { 0.5f, -1.0f, 2.0f }, rv[C] = { 4.0f, 0.25f, 1.0f };
    const float gamma[C] = { 1.5f, -0.5f, 2.0f }, beta[C] = { 0.1f, 0.2f, -0.3f };
    param_set(g, "node.running_mean", rm);
    param_set(g, "node.running_var", rv);
    param_set(g, "node.weight", gamma);
    param_set(g, "node.bias", beta);
    float *x = value_host(g, "x");
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    float *y = value_host(g, "node");
    float ref[N * C * S];
    for (int b = 0; b < N; b++)
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < S; i++) {
                int k = (b * C + ch) * S + i;
                ref[k] = (float)(gamma[ch] * (x[k] - rm[ch]) / sqrt(rv[ch] + 0.01) + beta[ch]);
            }
    fxtest_assert_close(y, ref, N * C * S, 1e-5, 1e-6, "batchnorm inference output");
    float *rm2 = param_host(g, "node.running_mean"), *rv2 = param_host(g, "node.running_var");
    fxtest_assert_close(rm2, rm, C, 0, 0, "running_mean unchanged by inference");
    fxtest_assert_close(rv2, rv, C, 0, 0, "running_var unchanged by inference");
    free(rm2);
    free(rv2);
    free(x);
    free(y);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

/* The FAD setup: two branches run the same BN parameters; each branch
 * normalises with its own batch, both update the running averages. */
START_TEST(test_batchnorm_shared_parameters_keep_separate_batch_statistics)
{
    enum { N = 3, C = 2, S = 4 };
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "two_branches", &g), FX_OK);
    fx_shape per = { 3, { C, 2, 2 } };
    ck_assert_int_eq(fx_graph_add_input(g, "a", FX_F32, &per, nopos()), FX_OK);
    ck_assert_int_eq(fx_graph_add_input(g, "b", FX_F32, &per, nopos()), FX_OK);
    const char *in_a[1] = { "a" }, *in_b[1] = { "b" };
    fx_node_desc d;
    memset(&d, 0, sizeof d);
    d.name = "bn_a";
    d.op = "batchnorm";
    d.inputs = in_a;
    d.n_inputs = 1;
    ck_assert_int_eq(fx_graph_add_node(g, &d), FX_OK);
    d.name = "bn_b";
    d.inputs = in_b;
    d.share = "bn_a";
    ck_assert_int_eq(fx_graph_add_node(g, &d), FX_OK);
    fx_status st = fx_graph_plan(g, N, FX_MODE_TRAIN, fx_context_cpu_backend(ctx));
    ck_assert_msg(st == FX_OK, "plan: %s", fx_context_error(ctx));

    float *xa = fxtest_random(11, N * C * S), *xb = fxtest_random(12, N * C * S);
    for (int i = 0; i < N * C * S; i++)
        xb[i] = 5.0f + 3.0f * xb[i]; /* a very different batch */
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "a"), xa), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "b"), xb), FX_OK);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);

    const char *outs[2] = { "bn_a", "bn_b" };
    const float *ins[2] = { xa, xb };
    double mean[2][C], var[2][C];
    for (int br = 0; br < 2; br++) {
        channel_stats(ins[br], N, C, S, mean[br], var[br]);
        float *y = value_host(g, outs[br]);
        float ref[N * C * S];
        for (int b = 0; b < N; b++)
            for (int ch = 0; ch < C; ch++)
                for (int i = 0; i < S; i++) {
                    int k = (b * C + ch) * S + i;
                    ref[k] = (float)((ins[br][k] - mean[br][ch]) / sqrt(var[br][ch] + 1e-5));
                }
        fxtest_assert_close(y, ref, N * C * S, 1e-4, 1e-5, outs[br]);
        free(y);
    }
    /* One set of running averages, updated by bn_a then bn_b. */
    ck_assert_int_eq(fx_graph_param_count(g), 4);
    float *rm = param_host(g, "bn_a.running_mean");
    for (int ch = 0; ch < C; ch++) {
        double want = 0.9 * (0.1 * mean[0][ch]) + 0.1 * mean[1][ch];
        ck_assert_msg(fabs(rm[ch] - want) < 1e-5, "running_mean[%d] = %g, want %g", ch, rm[ch], want);
    }
    free(rm);
    free(xa);
    free(xb);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

/* Evaluation reuses the training plan (fx_graph_set_training(g, 0)): the
 * kernel then sees training = 0 and must use, not update, the running
 * statistics. */
START_TEST(test_batchnorm_training_plan_switched_to_evaluation_uses_running_statistics)
{
    enum { N = 3, C = 2, S = 6 };
    fx_context *ctx = fxtest_context();
    fxtest_case c = bn_case(fx_shape_4d(N, C, 2, 3), NULL);
    c.randomize_params = 0;
    fx_graph *g = fxtest_build(ctx, &c);
    const float rm[C] = { 1.0f, -2.0f }, rv[C] = { 4.0f, 9.0f };
    param_set(g, "node.running_mean", rm);
    param_set(g, "node.running_var", rv);
    fx_graph_set_training(g, 0);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    float *x = value_host(g, "x"), *y = value_host(g, "node");
    float ref[N * C * S];
    for (int b = 0; b < N; b++)
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < S; i++) {
                int k = (b * C + ch) * S + i;
                ref[k] = (float)((x[k] - rm[ch]) / sqrt(rv[ch] + 1e-5));
            }
    fxtest_assert_close(y, ref, N * C * S, 1e-5, 1e-6, "evaluation output");
    float *rm2 = param_host(g, "node.running_mean");
    fxtest_assert_close(rm2, rm, C, 0, 0, "running_mean unchanged by evaluation");
    free(rm2);
    free(x);
    free(y);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_batchnorm_grad_matches_finite_difference_on_maps)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = bn_case(fx_shape_4d(3, 4, 5, 5), NULL);
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_batchnorm_grad_matches_finite_difference_on_vectors_and_odd_shapes)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = bn_case(fx_shape_2d(5, 3), "eps=1e-3");
    c.seed = 3;
    fxtest_gradcheck(ctx, &c);
    c = bn_case(fx_shape_4d(3, 5, 3, 1), "momentum=0.5");
    c.seed = 4;
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_batchnorm_batch_of_one_normalises_over_space)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = bn_case(fx_shape_4d(1, 2, 3, 3), NULL);
    c.seed = 6;
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

/* One value per channel has no variance: a clear error in training,
 * defined (running statistics) in inference. */
START_TEST(test_batchnorm_one_value_per_channel_is_an_error_in_training_only)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = bn_case(fx_shape_4d(1, 3, 1, 1), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "more than one value per channel");
    c = bn_case(fx_shape_2d(1, 3), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "batch of at least 2");

    c = bn_case(fx_shape_4d(1, 3, 1, 1), NULL);
    c.randomize_params = 0;
    c.inference = 1;
    float x[3] = { 0.5f, -2.0f, 4.0f };
    c.in[0].data = x;
    fx_shape shape;
    float *y = fxtest_forward(ctx, &c, 0, &shape);
    float ref[3];
    for (int i = 0; i < 3; i++) /* running mean 0, var 1, gamma 1, beta 0 */
        ref[i] = (float)(x[i] / sqrt(1.0 + 1e-5));
    fxtest_assert_close(y, ref, 3, 1e-6, 0, "batch-1 inference output");
    free(y);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_batchnorm_rejects_bad_rank_and_attributes)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = bn_case(fx_shape_1d(4), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[N, C]");
    c = bn_case(fx_shape_2d(4, 3), "momentum=1.5");
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "momentum");
    c = bn_case(fx_shape_2d(4, 3), "eps=0");
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "eps");
    fx_context_destroy(ctx);
}
END_TEST

static Suite *batchnorm_suite(void)
{
    Suite *s = suite_create("batchnorm");
    TCase *tc = tcase_create("batchnorm");
    tcase_add_test(tc, test_batchnorm_training_normalises_with_batch_statistics_and_updates_running_averages);
    tcase_add_test(tc, test_batchnorm_default_momentum_keeps_ninety_percent_of_running_value);
    tcase_add_test(tc, test_batchnorm_inference_uses_running_statistics_and_leaves_them_alone);
    tcase_add_test(tc, test_batchnorm_shared_parameters_keep_separate_batch_statistics);
    tcase_add_test(tc, test_batchnorm_training_plan_switched_to_evaluation_uses_running_statistics);
    tcase_add_test(tc, test_batchnorm_grad_matches_finite_difference_on_maps);
    tcase_add_test(tc, test_batchnorm_grad_matches_finite_difference_on_vectors_and_odd_shapes);
    tcase_add_test(tc, test_batchnorm_batch_of_one_normalises_over_space);
    tcase_add_test(tc, test_batchnorm_one_value_per_channel_is_an_error_in_training_only);
    tcase_add_test(tc, test_batchnorm_rejects_bad_rank_and_attributes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(batchnorm_suite()); }
