/* tests/test_op_elementwise.c - add, mul, scale, flatten and reshape:
 * forward against direct computation, gradients by finite differences
 * (including an input used twice, where gradients must accumulate), shape
 * errors (different shapes, no broadcasting; bad reshape targets) and the
 * required `factor`. */
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

static fxtest_case binary_case(const char *op, fx_shape sa, const float *a, fx_shape sb, const float *b)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.n_in = 2;
    c.in[0] = f32_input("a", sa, a);
    c.in[1] = f32_input("b", sb, b);
    return c;
}

static fxtest_case unary_case(const char *op, const char *attrs, fx_shape s, const float *x)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.attrs = attrs;
    c.n_in = 1;
    c.in[0] = f32_input("x", s, x);
    return c;
}

START_TEST(test_add_and_mul_are_elementwise)
{
    enum { T = 3 * 4 * 5 * 7 };
    fx_context *ctx = fxtest_context();
    float *a = fxtest_random(1, T), *b = fxtest_random(2, T);
    fx_shape s = fx_shape_4d(3, 4, 5, 7);
    float want[T];
    fxtest_case c = binary_case("add", s, a, s, b);
    float *y = fxtest_forward(ctx, &c, 0, NULL);
    for (int i = 0; i < T; i++)
        want[i] = a[i] + b[i];
    fxtest_assert_close(y, want, T, 0, 0, "add");
    free(y);
    c = binary_case("mul", s, a, s, b);
    y = fxtest_forward(ctx, &c, 0, NULL);
    for (int i = 0; i < T; i++)
        want[i] = a[i] * b[i];
    fxtest_assert_close(y, want, T, 0, 0, "mul");
    free(y);
    free(a);
    free(b);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_scale_multiplies_then_adds_offset)
{
    fx_context *ctx = fxtest_context();
    float *x = fxtest_random(3, 2 * 9);
    float want[18];
    fxtest_case c = unary_case("scale", "factor=-2.5 offset=0.75", fx_shape_2d(2, 9), x);
    float *y = fxtest_forward(ctx, &c, 0, NULL);
    for (int i = 0; i < 18; i++)
        want[i] = -2.5f * x[i] + 0.75f;
    fxtest_assert_close(y, want, 18, 1e-7, 0, "scale");
    free(y);
    c.attrs = "factor=3"; /* offset defaults to 0 */
    y = fxtest_forward(ctx, &c, 0, NULL);
    for (int i = 0; i < 18; i++)
        want[i] = 3.0f * x[i];
    fxtest_assert_close(y, want, 18, 0, 0, "scale without offset");
    free(y);
    free(x);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_elementwise_grads_match_finite_difference)
{
    fx_context *ctx = fxtest_context();
    fx_shape s = fx_shape_4d(2, 3, 3, 5);
    fxtest_case c = binary_case("add", s, NULL, s, NULL);
    fxtest_gradcheck(ctx, &c);
    c = binary_case("mul", s, NULL, s, NULL);
    c.seed = 2;
    fxtest_gradcheck(ctx, &c);
    c = unary_case("scale", "factor=0.3 offset=-1", fx_shape_2d(3, 5), NULL);
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

/* y = x * x through mul with the same value twice: both input gradients
 * land on x and must add up to 2 x g. */
START_TEST(test_mul_of_a_value_with_itself_accumulates_both_gradients)
{
    enum { T = 2 * 6 };
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "square", &g), FX_OK);
    fx_shape per = fx_shape_1d(6);
    fx_srcpos pos = { NULL, 0, 0 };
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &per, pos), FX_OK);
    const char *ins[2] = { "x", "x" };
    fx_node_desc d;
    memset(&d, 0, sizeof d);
    d.name = "sq";
    d.op = "mul";
    d.inputs = ins;
    d.n_inputs = 2;
    ck_assert_int_eq(fx_graph_add_node(g, &d), FX_OK);
    ck_assert_int_eq(fx_graph_require_grad(g, "x"), FX_OK);
    ck_assert_int_eq(fx_graph_plan(g, 2, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)), FX_OK);
    float *x = fxtest_random(4, T), *r = fxtest_random(5, T);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    ck_assert_int_eq(fx_graph_seed_grad(g, "sq", r), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_OK);
    float gx[T], want[T];
    ck_assert_int_eq(fx_tensor_download(fx_graph_value_grad(g, "x"), gx), FX_OK);
    for (int i = 0; i < T; i++)
        want[i] = 2 * x[i] * r[i];
    fxtest_assert_close(gx, want, T, 1e-6, 1e-7, "d(x*x)/dx");
    free(x);
    free(r);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_add_and_mul_refuse_different_shapes)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = binary_case("add", fx_shape_4d(2, 3, 4, 4), NULL, fx_shape_4d(2, 1, 4, 4), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[2, 1, 4, 4]");
    ck_assert(strstr(fx_context_error(ctx), "[2, 3, 4, 4]") != NULL);
    c = binary_case("mul", fx_shape_2d(2, 3), NULL, fx_shape_2d(2, 4), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "no broadcasting");
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_scale_requires_factor)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = unary_case("scale", "offset=1", fx_shape_2d(2, 3), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "factor");
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_flatten_and_reshape_keep_data_order)
{
    enum { T = 2 * 3 * 4 * 5 };
    fx_context *ctx = fxtest_context();
    float *x = fxtest_random(6, T);
    fx_shape s;
    fxtest_case c = unary_case("flatten", NULL, fx_shape_4d(2, 3, 4, 5), x);
    float *y = fxtest_forward(ctx, &c, 0, &s);
    fx_shape want = fx_shape_2d(2, 60);
    ck_assert(fx_shape_equal(&s, &want));
    fxtest_assert_close(y, x, T, 0, 0, "flatten");
    free(y);

    c = unary_case("reshape", "shape=[5,-1,2]", fx_shape_4d(2, 3, 4, 5), x);
    y = fxtest_forward(ctx, &c, 0, &s);
    want = fx_shape_make(4, (int64_t[]){ 2, 5, 6, 2 });
    char a[64];
    ck_assert_msg(fx_shape_equal(&s, &want), "reshape gave %s", fx_shape_str(&s, a, sizeof a));
    fxtest_assert_close(y, x, T, 0, 0, "reshape");
    free(y);

    c = unary_case("reshape", "shape=60", fx_shape_4d(2, 3, 4, 5), x);
    y = fxtest_forward(ctx, &c, 0, &s);
    ck_assert(fx_shape_equal(&s, &(fx_shape){ 2, { 2, 60 } }));
    free(y);
    free(x);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_flatten_and_reshape_grads_match_finite_difference)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = unary_case("flatten", NULL, fx_shape_4d(2, 3, 2, 3), NULL);
    fxtest_gradcheck(ctx, &c);
    c = unary_case("reshape", "shape=[-1,3]", fx_shape_4d(2, 3, 2, 3), NULL);
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_reshape_rejects_wrong_sizes_and_two_wildcards)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = unary_case("reshape", "shape=[7,8]", fx_shape_4d(2, 3, 4, 5), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "56 elements per example");
    c.attrs = "shape=[-1,-1]";
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "more than one -1");
    c.attrs = "shape=[-1,7]";
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "not a multiple of 7");
    c.attrs = "shape=[0,60]";
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "positive");
    fx_context_destroy(ctx);
}
END_TEST

static Suite *elementwise_suite(void)
{
    Suite *s = suite_create("elementwise");
    TCase *tc = tcase_create("elementwise");
    tcase_add_test(tc, test_add_and_mul_are_elementwise);
    tcase_add_test(tc, test_scale_multiplies_then_adds_offset);
    tcase_add_test(tc, test_elementwise_grads_match_finite_difference);
    tcase_add_test(tc, test_mul_of_a_value_with_itself_accumulates_both_gradients);
    tcase_add_test(tc, test_add_and_mul_refuse_different_shapes);
    tcase_add_test(tc, test_scale_requires_factor);
    tcase_add_test(tc, test_flatten_and_reshape_keep_data_order);
    tcase_add_test(tc, test_flatten_and_reshape_grads_match_finite_difference);
    tcase_add_test(tc, test_reshape_rejects_wrong_sizes_and_two_wildcards);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(elementwise_suite()); }
