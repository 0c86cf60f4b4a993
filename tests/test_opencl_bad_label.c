/* tests/test_opencl_bad_label.c - the OpenCL softmax_cross_entropy
 * refuses a label out of range, naming it and its batch element, as the
 * CPU does. (Its parity with the CPU, and that of every other OpenCL
 * kernel, is checked by the op x backend matrix, tests/test_backend_ops.c.)
 * Skips (passes) without an OpenCL build or device. */
#include "opencl_parity.h"

OCLTEST_BACKEND_FIXTURE

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
    Suite *s = suite_create("opencl_bad_label");
    TCase *tc = tcase_create("labels");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_opencl_softmax_cross_entropy_rejects_bad_label);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
