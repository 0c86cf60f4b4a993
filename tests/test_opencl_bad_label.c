/* tests/test_opencl_bad_label.c - the OpenCL softmax_cross_entropy
 * refuses a label out of range, naming it, its batch element and the node,
 * as the CPU does. The check runs on the device and is reported by the
 * next host wait (backends/opencl/ocl_checks.c), so the forward itself
 * waits for nothing: counted here. After the error the backend works again
 * with good labels. (Its parity with the CPU, and that of every other
 * OpenCL kernel, is checked by the op x backend matrix,
 * tests/test_backend_ops.c.) Skips (passes) without an OpenCL build or
 * device. */
#include <math.h>

#include "opencl_parity.h"

OCLTEST_BACKEND_FIXTURE

static uint64_t waits(void)
{
    fx_opencl_counters c;
    ck_assert_int_eq(fx_opencl_get_counters(ocl, &c), FX_OK);
    return c.blocking_syncs;
}

/* Two losses in one graph, "ce_a" then "ce_b", on the same logits. */
static fx_graph *two_losses(void)
{
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "bad", &g), FX_OK);
    fx_srcpos pos = { "t.yaml", 1, 1 };
    fx_shape s1 = fx_shape_1d(3), s0 = fx_shape_make(0, NULL);
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &s1, pos), FX_OK);
    ck_assert_int_eq(fx_graph_add_input(g, "la", FX_I32, &s0, pos), FX_OK);
    ck_assert_int_eq(fx_graph_add_input(g, "lb", FX_I32, &s0, pos), FX_OK);
    const char *ia[] = { "x", "la" }, *ib[] = { "x", "lb" };
    fx_srcpos pa = { "t.yaml", 7, 5 }, pb = { "t.yaml", 9, 5 };
    fx_node_desc da = { .name = "ce_a", .op = "softmax_cross_entropy", .inputs = ia, .n_inputs = 2, .pos = pa };
    fx_node_desc db = { .name = "ce_b", .op = "softmax_cross_entropy", .inputs = ib, .n_inputs = 2, .pos = pb };
    ck_assert_int_eq(fx_graph_add_node(g, &da), FX_OK);
    ck_assert_int_eq(fx_graph_add_node(g, &db), FX_OK);
    ck_assert_int_eq(fx_graph_plan(g, 2, FX_MODE_INFER, ocl), FX_OK);
    float x[6] = { 0.5f, -1, 2, 0, 1, 0.25f };
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
    return g;
}

/* Uploads the labels, runs the forward (which must not wait) and the
 * wait that reports; returns the wait's status. */
static fx_status run(fx_graph *g, const int32_t *la, const int32_t *lb)
{
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "la"), la), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "lb"), lb), FX_OK);
    uint64_t before = waits();
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    ck_assert_msg(waits() == before, "the forward waited %d times", (int)(waits() - before));
    return fx_backend_synchronize(ocl);
}

START_TEST(test_opencl_softmax_cross_entropy_rejects_bad_label)
{
    if (!setup_backend())
        return;
    static const int32_t good[] = { 0, 2 }, bad_b[] = { 1, 7 }, bad_a[] = { -1, 0 };
    fx_graph *g = two_losses();
    ck_assert_int_eq(run(g, good, good), FX_OK);
    float loss = 0;
    ck_assert_int_eq(fx_tensor_download(fx_graph_value(g, "ce_a"), &loss), FX_OK);
    ck_assert(isfinite(loss) && loss > 0);

    /* the second loss's label 7 of element 1 (3 classes) */
    ck_assert_int_eq(run(g, good, bad_b), FX_ERR_INVALID);
    const char *e = fx_context_error(ctx);
    ck_assert_msg(strstr(e, "t.yaml:9:5: node 'ce_b' (softmax_cross_entropy): label 7 of batch element 1 is "
                            "outside [0, 3)") != NULL, "%s", e);

    /* reported once; the backend works again with good labels */
    ck_assert_int_eq(run(g, good, good), FX_OK);

    /* both bad: the first node's error (element 0, label -1), through a
     * blocking read this time */
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "la"), bad_a), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "lb"), bad_b), FX_OK);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    ck_assert_int_eq(fx_tensor_download(fx_graph_value(g, "ce_b"), &loss), FX_ERR_INVALID);
    e = fx_context_error(ctx);
    ck_assert_msg(strstr(e, "node 'ce_a' (softmax_cross_entropy): label -1 of batch element 0 is outside [0, 3)") !=
                  NULL, "%s", e);
    ck_assert_int_eq(run(g, good, good), FX_OK);
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
