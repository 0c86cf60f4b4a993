/* tests/test_op_linear.c - linear: forward against a direct double-
 * precision product, flattening of [N, C, H, W] inputs, shape errors,
 * finite-difference gradients with and without bias, and agreement
 * between thread counts and SIMD paths. */
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case linear_case(const char *attrs, fx_shape x)
{
    fxtest_case k;
    memset(&k, 0, sizeof k);
    k.op = "linear";
    k.attrs = attrs;
    k.n_in = 1;
    k.in[0].name = "x";
    k.in[0].shape = x;
    k.in[0].dtype = FX_F32;
    k.seed = 5;
    k.randomize_params = 1;
    return k;
}

static float *download(const fx_tensor *t)
{
    float *v = malloc(fx_tensor_bytes(t));
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(fx_tensor_download(t, v), FX_OK);
    return v;
}

/* y[n][o] = b[o] + sum_i x[n][i] w[o][i]. */
static void expect_forward_matches(fx_context *ctx, const char *attrs, fx_shape xs, int64_t out, int bias)
{
    fxtest_case k = linear_case(attrs, xs);
    fx_graph *g = fxtest_build(ctx, &k);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    int64_t n = xs.dim[0], in = fx_shape_numel(&xs) / n;
    fx_tensor *yt = fx_graph_value(g, "node");
    fx_shape want = fx_shape_2d(n, out);
    ck_assert(fx_shape_equal(&yt->shape, &want));
    fx_param pw, pb;
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "node.weight", &pw));
    fx_shape wshape = fx_shape_2d(out, in);
    ck_assert(fx_shape_equal(&pw.value->shape, &wshape));
    float *x = download(fx_graph_value(g, "x"));
    float *w = download(pw.value);
    float *b = NULL;
    if (bias) {
        ck_assert_ptr_nonnull(fx_graph_find_param(g, "node.bias", &pb));
        b = download(pb.value);
    }
    float *y = download(yt);
    float *ref = malloc(sizeof(float) * (size_t)(n * out));
    ck_assert_ptr_nonnull(ref);
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int64_t i = 0; i < in; i++)
                s += (double)x[r * in + i] * w[o * in + i];
            ref[r * out + o] = (float)s;
        }
    fxtest_assert_close(y, ref, n * out, 1e-4, 1e-4, attrs);
    free(x);
    free(w);
    free(b);
    free(y);
    free(ref);
    fx_graph_destroy(g);
}

START_TEST(test_linear_forward_matches_direct_product)
{
    fx_context *ctx = fxtest_context();
    expect_forward_matches(ctx, "out_features=7", fx_shape_2d(3, 11), 7, 1);
    expect_forward_matches(ctx, "out_features=5 bias=false", fx_shape_2d(1, 9), 5, 0);
    /* [N, C, H, W] is flattened per example (C-major, as NCHW memory). */
    expect_forward_matches(ctx, "out_features=10", fx_shape_4d(4, 3, 5, 6), 10, 1);
    /* Past the GEMM blocks and split over threads. */
    expect_forward_matches(ctx, "out_features=150", fx_shape_2d(70, 300), 150, 1);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_linear_rejects_bad_shapes_and_attributes)
{
    fx_context *ctx = fxtest_context();
    fxtest_case k = linear_case("out_features=0", fx_shape_2d(2, 4));
    fxtest_expect_error(ctx, &k, FX_ERR_INVALID, "out_features");
    k = linear_case("out_features=3", fx_shape_1d(4));
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "feature");
    fx_context_destroy(ctx);
}
END_TEST

static void gradcheck(const char *attrs, fx_shape xs)
{
    fx_context *ctx = fxtest_context();
    fxtest_case k = linear_case(attrs, xs);
    k.max_checks = 48;
    k.rtol = 2e-3; /* linear in x and W: differences are exact up to rounding */
    k.atol = 2e-3;
    fxtest_gradcheck(ctx, &k);
    fx_context_destroy(ctx);
}

START_TEST(test_linear_grad_matches_finite_difference)
{
    gradcheck("out_features=6", fx_shape_2d(4, 9));
    gradcheck("out_features=3 bias=false", fx_shape_2d(2, 5));
    gradcheck("out_features=4", fx_shape_4d(3, 2, 3, 3));
    gradcheck("out_features=1", fx_shape_2d(1, 7));
}
END_TEST

/* Output, dx, dW, db after one forward/backward with a fixed seed grad. */
static float *linear_run_all(int threads, fx_shape xs, int64_t *count)
{
    fxtest_case k = linear_case("out_features=70", xs);
    return fxtest_forward_backward_all(threads, &k, 13, count);
}

START_TEST(test_linear_results_do_not_depend_on_threads_or_simd)
{
    fx_shape xs = fx_shape_2d(40, 130);
    int64_t n1, n3, n4, n5;
    float *one = linear_run_all(1, xs, &n1);
    float *three = linear_run_all(3, xs, &n3);
    setenv("FX_SIMD", "avx2", 1);
    float *avx2 = linear_run_all(2, xs, &n4);
    setenv("FX_SIMD", "scalar", 1);
    float *scalar = linear_run_all(2, xs, &n5);
    unsetenv("FX_SIMD");
    ck_assert(n1 == n3 && n1 == n4 && n1 == n5);
    fxtest_assert_close(three, one, n1, 1e-5, 1e-5, "3 threads vs 1");
    fxtest_assert_close(avx2, one, n1, 1e-4, 1e-4, "AVX2 vs best");
    fxtest_assert_close(scalar, one, n1, 1e-4, 1e-4, "CBLAS vs best");
    free(one);
    free(three);
    free(avx2);
    free(scalar);
}
END_TEST

static Suite *linear_suite(void)
{
    Suite *s = suite_create("linear");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_linear_forward_matches_direct_product);
    tcase_add_test(tc, test_linear_rejects_bad_shapes_and_attributes);
    tcase_add_test(tc, test_linear_grad_matches_finite_difference);
    tcase_add_test(tc, test_linear_results_do_not_depend_on_threads_or_simd);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(linear_suite()); }
