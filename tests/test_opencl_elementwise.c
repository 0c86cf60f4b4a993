/* tests/test_opencl_elementwise.c - CPU vs OpenCL parity of the flat
 * elementwise ops (relu, elu, add, mul, scale, flatten, reshape, dropout,
 * softmax_cross_entropy) forward and backward, on odd sizes and batch 1.
 * Skips (passes) without an OpenCL build or device. */
#include "opencl_parity.h"

OCLTEST_BACKEND_FIXTURE

static const int64_t shapes[][4] = { { 1, 1, 1, 1 }, { 2, 3, 5, 7 }, { 3, 4, 17, 9 } };

START_TEST(test_opencl_activations_match_cpu)
{
    if (!setup_backend())
        return;
    for (int s = 0; s < 3; s++) {
        fx_shape sh = fx_shape_4d(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
        ocltest_case c = ocltest_unary("relu", NULL, sh);
        ocltest_parity(ctx, ocl, &c);
        c = ocltest_unary("elu", NULL, sh);
        c.rtol = 2e-6;
        ocltest_parity(ctx, ocl, &c);
        c = ocltest_unary("elu", "alpha=0.5", sh);
        c.rtol = 2e-6;
        ocltest_parity(ctx, ocl, &c);
        c = ocltest_unary("scale", "factor=-1.5 offset=0.25", sh);
        ocltest_parity(ctx, ocl, &c);
    }
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_add_mul_match_cpu)
{
    if (!setup_backend())
        return;
    for (int s = 0; s < 3; s++) {
        fx_shape sh = fx_shape_4d(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
        const char *ops[] = { "add", "mul" };
        for (int o = 0; o < 2; o++) {
            ocltest_case c = ocltest_unary(ops[o], NULL, sh);
            c.n_in = 2;
            c.in[1] = c.in[0];
            c.in[1].name = "y";
            ocltest_parity(ctx, ocl, &c);
            c.in[1].no_grad = 1; /* grad_in[1] NULL */
            ocltest_parity(ctx, ocl, &c);
        }
    }
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_flatten_reshape_match_cpu)
{
    if (!setup_backend())
        return;
    ocltest_case c = ocltest_unary("flatten", NULL, fx_shape_4d(3, 4, 5, 7));
    ocltest_parity(ctx, ocl, &c);
    c = ocltest_unary("flatten", NULL, fx_shape_4d(1, 1, 3, 1));
    ocltest_parity(ctx, ocl, &c);
    c = ocltest_unary("reshape", "shape=[10,14]", fx_shape_4d(2, 4, 5, 7));
    ocltest_parity(ctx, ocl, &c);
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_dropout_mask_matches_cpu_exactly)
{
    if (!setup_backend())
        return;
    const char *attrs[] = { "rate=0.4", "rate=0", "rate=0.9" };
    for (int a = 0; a < 3; a++) {
        ocltest_case c = ocltest_unary("dropout", attrs[a], fx_shape_2d(5, 333));
        c.rtol = 1e-7;
        c.atol = 1e-12;
        ocltest_parity(ctx, ocl, &c);
        c.inference = 1;
        ocltest_parity(ctx, ocl, &c);
    }
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_softmax_cross_entropy_matches_cpu)
{
    if (!setup_backend())
        return;
    static const int32_t labels[] = { 0, 4, 2, 9, 1, 3, 6 };
    const int64_t sizes[][2] = { { 1, 5 }, { 7, 10 }, { 3, 1000 } };
    const char *attrs[] = { NULL, "label_smoothing=0.1" };
    for (int s = 0; s < 3; s++)
        for (int a = 0; a < 2; a++) {
            ocltest_case c = ocltest_unary("softmax_cross_entropy", attrs[a], fx_shape_2d(sizes[s][0], sizes[s][1]));
            c.n_in = 2;
            c.in[1].name = "label";
            c.in[1].shape = fx_shape_1d(sizes[s][0]);
            c.in[1].dtype = FX_I32;
            c.in[1].idata = labels;
            c.rtol = 1e-5;
            ocltest_parity(ctx, ocl, &c);
        }
    teardown_backend();
}
END_TEST

START_TEST(test_opencl_softmax_cross_entropy_rejects_bad_label)
{
    if (!setup_backend())
        return;
    static const int32_t labels[] = { 0, 7 };
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "bad", &g), FX_OK);
    fx_srcpos pos = { "t.yaml", 1, 1 };
    fx_shape s1 = fx_shape_1d(3), s0 = fx_shape_make(0, NULL);
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &s1, pos), FX_OK);
    ck_assert_int_eq(fx_graph_add_input(g, "label", FX_I32, &s0, pos), FX_OK);
    const char *ins[] = { "x", "label" };
    fx_node_desc d = { .name = "ce", .op = "softmax_cross_entropy", .inputs = ins, .n_inputs = 2, .pos = pos };
    ck_assert_int_eq(fx_graph_add_node(g, &d), FX_OK);
    ck_assert_int_eq(fx_graph_plan(g, 2, FX_MODE_INFER, ocl), FX_OK);
    float x[6] = { 0 };
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "label"), labels), FX_OK);
    ck_assert_int_eq(fx_graph_forward(g), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "label 7 of batch element 1"));
    fx_graph_destroy(g);
    teardown_backend();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl_elementwise");
    TCase *tc = tcase_create("parity");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_opencl_activations_match_cpu);
    tcase_add_test(tc, test_opencl_add_mul_match_cpu);
    tcase_add_test(tc, test_opencl_flatten_reshape_match_cpu);
    tcase_add_test(tc, test_opencl_dropout_mask_matches_cpu_exactly);
    tcase_add_test(tc, test_opencl_softmax_cross_entropy_matches_cpu);
    tcase_add_test(tc, test_opencl_softmax_cross_entropy_rejects_bad_label);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
