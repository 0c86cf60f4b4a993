/* tests/test_op_filter_diversity.c - filter_diversity (L_A): against a
 * PyTorch reference (tests/gen_paper_fixtures.py, with one all-zero
 * spatial vector), hand cases (identical spatial vectors give 1,
 * orthogonal ones 0), the eps guard, finite differences for 3x3 and 2x2
 * kernels, errors, `fxrun run` on a fed weight, and the bound form (the
 * op's weight slot tied to a conv's weight, in C and in YAML). */
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

/* tests/data/paper/<name>.npy, made by tests/gen_paper_fixtures.py. */
static fx_array load_fixture(fx_context *ctx, const char *name) { return fxtest_load_npy(ctx, "paper", name); }

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

/* conv "k5" on x, and filter_diversity bound to k5.weight as the only
 * loss: the loss and the weight's gradient must be those of the value form
 * on the same weight. */
START_TEST(test_filter_diversity_bound_to_a_conv_weight)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "bound", &g), FX_OK);
    fx_shape per = fx_shape_make(3, (int64_t[]){ 4, 6, 6 });
    fx_srcpos pos = { "test.yaml", 1, 1 };
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &per, pos), FX_OK);
    const char *items[1] = { "5" }, *kitems[1] = { "3" }, *pitems[1] = { "1" };
    fx_attr_input attrs[3] = { { "out_channels", items, 1, 0, pos }, { "kernel", kitems, 1, 0, pos },
                               { "pad", pitems, 1, 0, pos } };
    const char *conv_in[1] = { "x" };
    fx_node_desc conv;
    memset(&conv, 0, sizeof conv);
    conv.name = "k5";
    conv.op = "conv2d";
    conv.inputs = conv_in;
    conv.n_inputs = 1;
    conv.attrs = attrs;
    conv.n_attrs = 3;
    ck_assert_msg(fx_graph_add_node(g, &conv) == FX_OK, "%s", fx_context_error(ctx));
    fx_node_desc la;
    memset(&la, 0, sizeof la);
    la.name = "la";
    la.op = "filter_diversity";
    la.n_bind = 1;
    la.bind_slot[0] = "weight";
    la.bind_param[0] = "k5.weight";
    ck_assert_msg(fx_graph_add_node(g, &la) == FX_OK, "%s", fx_context_error(ctx));
    ck_assert_int_eq(fx_graph_add_loss(g, "la", 1.0f, pos), FX_OK);
    ck_assert_msg(fx_graph_plan(g, 2, FX_MODE_TRAIN, NULL) == FX_OK, "%s", fx_context_error(ctx));
    float *x = fxtest_random(3, 2 * 4 * 36);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    ck_assert_msg(fx_graph_backward(g) == FX_OK, "%s", fx_context_error(ctx));
    float loss;
    ck_assert_int_eq(fx_graph_loss_value(g, 0, &loss), FX_OK);
    fx_param w;
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "k5.weight", &w));
    float wv[5 * 4 * 9], gw[5 * 4 * 9];
    fx_tensor_download(w.value, wv);
    fx_tensor_download(w.grad, gw);
    fxtest_case c = fd_case(fx_shape_4d(5, 4, 3, 3), wv);
    float *want_gw;
    float want = run_fd(ctx, &c, &want_gw);
    fxtest_assert_close(&loss, &want, 1, 1e-6, 0, "bound L_A");
    fxtest_assert_close(gw, want_gw, 5 * 4 * 9, 1e-6, 1e-12, "gradient into the conv weight");
    free(want_gw);
    free(x);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_filter_diversity_needs_exactly_one_weight)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "none", &g), FX_OK);
    fx_shape per = fx_shape_make(1, (int64_t[]){ 3 });
    fx_srcpos pos = { "test.yaml", 1, 1 };
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &per, pos), FX_OK);
    fx_node_desc la;
    memset(&la, 0, sizeof la);
    la.name = "la";
    la.op = "filter_diversity";
    ck_assert_int_eq(fx_graph_add_node(g, &la), FX_OK);
    ck_assert_int_eq(fx_graph_plan(g, 1, FX_MODE_TRAIN, NULL), FX_ERR_INVALID);
    ck_assert_msg(strstr(fx_context_error(ctx), "bind: {weight:") != NULL, "%s", fx_context_error(ctx));
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_fxrun_filter_diversity_bound_in_yaml)
{
    char *dir = fxtest_tempdir();
    char yaml[512], x[512], cmd[4096], out[8192];
    snprintf(yaml, sizeof yaml, "%s/la.yaml", dir);
    fxtest_write_file(yaml, "name: la\n"
                            "input: {x: [4, 6, 6]}\n"
                            "layers:\n"
                            "  - {name: k5, op: conv2d, in: x, out_channels: 5, kernel: 3, pad: 1}\n"
                            "losses:\n"
                            "  - {name: la, op: filter_diversity, in: [], bind: {weight: k5.weight}, weight: 100}\n");
    snprintf(x, sizeof x, "%s/x.npy", dir);
    fx_context *ctx = fxtest_context();
    float *xs = fxtest_random(4, 2 * 4 * 36);
    fx_array a = { FX_F32, fx_shape_4d(2, 4, 6, 6), xs };
    ck_assert_int_eq(fx_npy_write(ctx, x, &a), FX_OK);
    snprintf(cmd, sizeof cmd, "%s run %s --feed x=%s --grad k5.weight=%s/gw.npy", fxtest_fxrun(), yaml, x, dir);
    int rc = fxtest_run(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "fxrun failed (%d):\n%s", rc, out);
    ck_assert_msg(strstr(out, "loss la = ") != NULL && strstr(out, "(weight 100)") != NULL, "%s", out);
    free(xs);
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
    tcase_add_test(tc, test_filter_diversity_bound_to_a_conv_weight);
    tcase_add_test(tc, test_filter_diversity_needs_exactly_one_weight);
    tcase_add_test(tc, test_fxrun_filter_diversity_bound_in_yaml);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
