/* tests/test_op_softmax_ce.c - softmax_cross_entropy: the loss against a
 * double-precision reference (with and without label smoothing), numerical
 * stability on huge logits, the gradient by finite differences and in
 * closed form scaled by the loss weight, labels outside [0, C) as an error
 * naming the batch element, and shape/dtype errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case ce_case(const char *attrs, int n, int classes, const float *logits, const int32_t *labels)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "softmax_cross_entropy";
    c.attrs = attrs;
    c.n_in = 2;
    c.in[0].name = "logits";
    c.in[0].shape = fx_shape_2d(n, classes);
    c.in[0].dtype = FX_F32;
    c.in[0].data = logits;
    c.in[1].name = "label";
    c.in[1].shape = fx_shape_1d(n);
    c.in[1].dtype = FX_I32;
    c.in[1].idata = labels;
    return c;
}

/* mean_n [ lse_n - (1 - s) x_n,label - (s / C) sum_c x_nc ] in double. */
static double ce_ref(const float *x, const int32_t *label, int n, int classes, double s)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *row = x + i * classes;
        double m = row[0], sum = 0, sum_x = 0;
        for (int c = 1; c < classes; c++)
            m = row[c] > m ? row[c] : m;
        for (int c = 0; c < classes; c++) {
            sum += exp(row[c] - m);
            sum_x += row[c];
        }
        double lse = m + log(sum);
        total += lse - (1 - s) * row[label[i]] - s / classes * sum_x;
    }
    return total / n;
}

START_TEST(test_softmax_ce_matches_reference_loss)
{
    enum { N = 5, C = 7 };
    fx_context *ctx = fxtest_context();
    float *x = fxtest_random(1, N * C);
    for (int i = 0; i < N * C; i++)
        x[i] *= 3;
    const int32_t labels[N] = { 0, 6, 3, 3, 1 };
    fxtest_case c = ce_case(NULL, N, C, x, labels);
    fx_shape s;
    float *loss = fxtest_forward(ctx, &c, 0, &s);
    fx_shape scalar = fx_shape_1d(1);
    ck_assert(fx_shape_equal(&s, &scalar));
    double want = ce_ref(x, labels, N, C, 0);
    ck_assert_msg(fabs(loss[0] - want) < 1e-5 * (1 + fabs(want)), "loss %g, want %g", loss[0], want);
    free(loss);

    c.attrs = "label_smoothing=0.2";
    loss = fxtest_forward(ctx, &c, 0, NULL);
    want = ce_ref(x, labels, N, C, 0.2);
    ck_assert_msg(fabs(loss[0] - want) < 1e-5 * (1 + fabs(want)), "smoothed loss %g, want %g", loss[0], want);
    free(loss);
    free(x);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_softmax_ce_is_stable_for_huge_logits)
{
    fx_context *ctx = fxtest_context();
    const float x[2 * 3] = { 1000, 0, -1000, -1e4f, 1e4f, 0 };
    const int32_t right[2] = { 0, 1 }, wrong[2] = { 2, 0 };
    fxtest_case c = ce_case(NULL, 2, 3, x, right);
    float *loss = fxtest_forward(ctx, &c, 0, NULL);
    ck_assert_msg(isfinite(loss[0]) && fabs(loss[0]) < 1e-6, "confident right answers: loss %g", loss[0]);
    free(loss);
    c = ce_case(NULL, 2, 3, x, wrong);
    loss = fxtest_forward(ctx, &c, 0, NULL);
    /* row 0: 1000 - (-1000) = 2000; row 1: 1e4 - (-1e4) = 2e4 */
    ck_assert_msg(fabs(loss[0] - 11000.0) < 1e-2, "confident wrong answers: loss %g, want 11000", loss[0]);
    free(loss);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_softmax_ce_grad_matches_finite_difference)
{
    fx_context *ctx = fxtest_context();
    const int32_t labels[4] = { 2, 0, 4, 2 };
    fxtest_case c = ce_case(NULL, 4, 5, NULL, labels);
    c.max_checks = 20;
    fxtest_gradcheck(ctx, &c);
    c.attrs = "label_smoothing=0.1";
    fxtest_gradcheck(ctx, &c);
    const int32_t one[1] = { 0 }; /* batch 1, one class: loss 0, gradient 0 */
    c = ce_case(NULL, 1, 1, NULL, one);
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

/* As a graph loss with weight 2: d logits = 2 (softmax - onehot) / N. */
START_TEST(test_softmax_ce_gradient_is_weighted_softmax_minus_onehot_over_batch)
{
    enum { N = 3, C = 4 };
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    fx_srcpos pos = { NULL, 0, 0 };
    ck_assert_int_eq(fx_graph_create(ctx, "ce", &g), FX_OK);
    fx_shape per = fx_shape_1d(C), none;
    memset(&none, 0, sizeof none);
    ck_assert_int_eq(fx_graph_add_input(g, "logits", FX_F32, &per, pos), FX_OK);
    ck_assert_int_eq(fx_graph_add_input(g, "label", FX_I32, &none, pos), FX_OK);
    const char *ins[2] = { "logits", "label" };
    fx_node_desc d;
    memset(&d, 0, sizeof d);
    d.name = "ce";
    d.op = "softmax_cross_entropy";
    d.inputs = ins;
    d.n_inputs = 2;
    ck_assert_int_eq(fx_graph_add_node(g, &d), FX_OK);
    ck_assert_int_eq(fx_graph_add_loss(g, "ce", 2.0f, pos), FX_OK);
    ck_assert_int_eq(fx_graph_require_grad(g, "logits"), FX_OK);
    fx_status st = fx_graph_plan(g, N, FX_MODE_TRAIN, fx_context_cpu_backend(ctx));
    ck_assert_msg(st == FX_OK, "plan: %s", fx_context_error(ctx));
    float *x = fxtest_random(3, N * C);
    const int32_t labels[N] = { 3, 0, 1 };
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "logits"), x), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "label"), labels), FX_OK);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_OK);
    float gx[N * C], want[N * C];
    ck_assert_int_eq(fx_tensor_download(fx_graph_value_grad(g, "logits"), gx), FX_OK);
    for (int i = 0; i < N; i++) {
        double m = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++)
            m = fmax(m, x[i * C + c]);
        for (int c = 0; c < C; c++)
            sum += exp(x[i * C + c] - m);
        for (int c = 0; c < C; c++)
            want[i * C + c] = (float)(2.0 * (exp(x[i * C + c] - m) / sum - (c == labels[i])) / N);
    }
    fxtest_assert_close(gx, want, N * C, 1e-5, 1e-7, "d loss / d logits");
    float total;
    ck_assert_int_eq(fx_graph_loss_total(g, &total), FX_OK);
    ck_assert_msg(fabs(total - 2 * ce_ref(x, labels, N, C, 0)) < 1e-5, "weighted total %g", total);
    free(x);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_softmax_ce_label_out_of_range_is_an_error_naming_the_element)
{
    fx_context *ctx = fxtest_context();
    const int32_t too_big[3] = { 0, 1, 5 }, negative[3] = { -1, 0, 0 };
    fxtest_case c = ce_case(NULL, 3, 5, NULL, too_big);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "label 5 of batch element 2 is outside [0, 5)");
    ck_assert_msg(strstr(fx_context_error(ctx), "'node'") != NULL, "message does not name the node: %s",
                  fx_context_error(ctx));
    c = ce_case(NULL, 3, 5, NULL, negative);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "label -1 of batch element 0");
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_softmax_ce_rejects_bad_shapes_and_dtypes)
{
    fx_context *ctx = fxtest_context();
    const int32_t labels[2] = { 0, 1 };
    fxtest_case c = ce_case(NULL, 2, 3, NULL, labels);
    c.in[0].shape = fx_shape_4d(2, 3, 1, 1);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[N, classes]");
    c = ce_case(NULL, 2, 3, NULL, labels);
    c.in[1].shape = fx_shape_2d(2, 1);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "must be [N]");
    c = ce_case(NULL, 2, 3, NULL, labels);
    c.in[1].dtype = FX_F32;
    c.in[1].no_grad = 1;
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "i32");
    c = ce_case("label_smoothing=1", 2, 3, NULL, labels);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "label_smoothing");
    fx_context_destroy(ctx);
}
END_TEST

static Suite *softmax_ce_suite(void)
{
    Suite *s = suite_create("softmax_cross_entropy");
    TCase *tc = tcase_create("softmax_cross_entropy");
    tcase_add_test(tc, test_softmax_ce_matches_reference_loss);
    tcase_add_test(tc, test_softmax_ce_is_stable_for_huge_logits);
    tcase_add_test(tc, test_softmax_ce_grad_matches_finite_difference);
    tcase_add_test(tc, test_softmax_ce_gradient_is_weighted_softmax_minus_onehot_over_batch);
    tcase_add_test(tc, test_softmax_ce_label_out_of_range_is_an_error_naming_the_element);
    tcase_add_test(tc, test_softmax_ce_rejects_bad_shapes_and_dtypes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(softmax_ce_suite()); }
