/* tests/test_op_filter_diversity.c - filter_diversity (L_A): against a
 * PyTorch reference (tests/gen_paper_fixtures.py, with one all-zero
 * spatial vector), hand cases (identical spatial vectors give 1,
 * orthogonal ones 0), the eps guard, finite differences for 3x3 and 2x2
 * kernels, errors, and `fxrun run` on a fed weight. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case fd_case(fx_shape shape, const float *w)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "filter_diversity";
    c.n_in = 1;
    c.in[0].name = "w";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    c.in[0].data = w;
    return c;
}

static fx_array load_fixture(fx_context *ctx, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/paper/%s.npy", FX_SOURCE_DIR, name);
    fx_array a;
    ck_assert_msg(fx_npy_read(ctx, path, &a) == FX_OK, "%s", fx_context_error(ctx));
    return a;
}

static float run_fd(fx_context *ctx, const fxtest_case *c, float **dw)
{
    fx_graph *g = fxtest_build(ctx, c);
    ck_assert_msg(fx_graph_forward(g) == FX_OK, "%s", fx_context_error(ctx));
    float loss;
    fx_tensor_download(fx_graph_value(g, "node"), &loss);
    if (dw) {
        float one = 1.0f;
        ck_assert_int_eq(fx_graph_seed_grad(g, "node", &one), FX_OK);
        ck_assert_msg(fx_graph_backward(g) == FX_OK, "%s", fx_context_error(ctx));
        fx_tensor *t = fx_graph_value_grad(g, "w");
        *dw = malloc(fx_tensor_bytes(t));
        ck_assert_ptr_nonnull(*dw);
        fx_tensor_download(t, *dw);
    }
    fx_graph_destroy(g);
    return loss;
}

START_TEST(test_filter_diversity_matches_pytorch_reference)
{
    fx_context *ctx = fxtest_context();
    fx_array w = load_fixture(ctx, "fdiv_w"), want_loss = load_fixture(ctx, "fdiv_loss");
    fx_array want_dw = load_fixture(ctx, "fdiv_dw");
    fxtest_case c = fd_case(w.shape, w.data);
    float *dw;
    float loss = run_fd(ctx, &c, &dw);
    fxtest_assert_close(&loss, want_loss.data, 1, 1e-6, 0, "L_A");
    fxtest_assert_close(dw, want_dw.data, fx_shape_numel(&w.shape), 1e-5, 1e-9, "dL_A/dw");
    free(dw);
    fx_array_free(&w), fx_array_free(&want_loss), fx_array_free(&want_dw);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_filter_diversity_identical_vectors_give_one_orthogonal_zero)
{
    fx_context *ctx = fxtest_context();
    /* Filter 0: all 9 spatial vectors equal (cos 1 for every pair), and
     * filter 1: one-hot vectors (C = 9, vector p = e_p): cos 0. L = 0.5. */
    float w[2 * 9 * 9];
    for (int c = 0; c < 9; c++)
        for (int p = 0; p < 9; p++) {
            w[(0 * 9 + c) * 9 + p] = (float)(c + 1) * (c % 2 ? -1.0f : 1.0f);
            w[(1 * 9 + c) * 9 + p] = c == p ? 2.0f : 0.0f;
        }
    fxtest_case c = fd_case(fx_shape_4d(2, 9, 3, 3), w);
    float *dw;
    float loss = run_fd(ctx, &c, &dw);
    ck_assert_msg(fabsf(loss - 0.5f) < 1e-6f, "loss %g, expected 0.5", loss);
    /* Both are stationary points: parallel and orthogonal sets. */
    for (int i = 0; i < 2 * 81; i++)
        ck_assert_msg(fabsf(dw[i]) < 1e-6f, "gradient element %d is %g", i, dw[i]);
    free(dw);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_filter_diversity_zero_weights_stay_finite)
{
    fx_context *ctx = fxtest_context();
    float w[3 * 4 * 4] = { 0 };
    fxtest_case c = fd_case(fx_shape_4d(3, 4, 2, 2), w);
    float *dw;
    float loss = run_fd(ctx, &c, &dw);
    ck_assert(loss == 0.0f);
    for (int i = 0; i < 48; i++)
        ck_assert(dw[i] == 0.0f);
    free(dw);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_filter_diversity_grad_matches_finite_difference)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = fd_case(fx_shape_4d(4, 5, 3, 3), NULL);
    c.eps = 1e-3;
    c.atol = 1e-5;
    c.max_checks = 180;
    fxtest_gradcheck(ctx, &c);
    c = fd_case(fx_shape_4d(3, 7, 2, 2), NULL);
    c.seed = 5;
    c.eps = 1e-3;
    c.atol = 1e-5;
    c.max_checks = 84;
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_filter_diversity_rejects_bad_input)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = fd_case(fx_shape_4d(4, 3, 1, 1), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "1x1 kernel");
    c = fd_case(fx_shape_2d(4, 3), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "conv weight");
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_fxrun_filter_diversity_on_a_fed_weight)
{
    char *dir = fxtest_tempdir();
    char yaml[512], cmd[4096], out[8192], path[600];
    snprintf(yaml, sizeof yaml, "%s/la.yaml", dir);
    fxtest_write_file(yaml, "name: la\n"
                            "input: {w: [4, 3, 3]}\n"
                            "layers:\n"
                            "  - {name: k5_weight, op: scale, factor: 1, in: w}\n"
                            "losses:\n"
                            "  - {name: la, op: filter_diversity, in: k5_weight, weight: 100}\n");
    snprintf(cmd, sizeof cmd, "%s run %s --feed w=%s/tests/data/paper/fdiv_w.npy --grad w=%s/dw.npy",
             fxtest_fxrun(), yaml, FX_SOURCE_DIR, dir);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "fxrun failed (%d):\n%s", rc, out);
    fx_context *ctx = fxtest_context();
    fx_array want_loss = load_fixture(ctx, "fdiv_loss"), want_dw = load_fixture(ctx, "fdiv_dw");
    const char *at = strstr(out, "loss la = ");
    ck_assert_msg(at != NULL, "no loss line:\n%s", out);
    float loss = (float)atof(at + strlen("loss la = "));
    fxtest_assert_close(&loss, want_loss.data, 1, 1e-6, 0, "fxrun L_A");
    fx_array dw;
    snprintf(path, sizeof path, "%s/dw.npy", dir);
    ck_assert_int_eq(fx_npy_read(ctx, path, &dw), FX_OK);
    int64_t n = fx_shape_numel(&dw.shape);
    for (int64_t i = 0; i < n; i++) /* the loss weight 100 scales the gradient */
        ((float *)want_dw.data)[i] *= 100.0f;
    fxtest_assert_close(dw.data, want_dw.data, n, 1e-5, 1e-7, "fxrun dL/dw");
    fx_array_free(&dw), fx_array_free(&want_loss), fx_array_free(&want_dw);
    fx_context_destroy(ctx);
    fxtest_remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("filter_diversity");
    TCase *tc = tcase_create("filter_diversity");
    tcase_add_test(tc, test_filter_diversity_matches_pytorch_reference);
    tcase_add_test(tc, test_filter_diversity_identical_vectors_give_one_orthogonal_zero);
    tcase_add_test(tc, test_filter_diversity_zero_weights_stay_finite);
    tcase_add_test(tc, test_filter_diversity_grad_matches_finite_difference);
    tcase_add_test(tc, test_filter_diversity_rejects_bad_input);
    tcase_add_test(tc, test_fxrun_filter_diversity_on_a_fed_weight);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
