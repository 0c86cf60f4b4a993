/* tests/test_fallback.c - `--fallback cpu`: an op without an OpenCL
 * kernel runs on the CPU inside a graph planned for OpenCL, with the copies
 * inserted by the executor in both directions (forward values, backward
 * gradients); results equal the all-CPU run. Without --fallback the plan
 * fails naming the node and suggesting the option (skips without OpenCL).
 * The same on the ref plugin backend (always built), with a fallback node
 * that reads one value twice: its mirror gradient goes home once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fxtest.h"
#include "fx/opencl.h"
#include "fx/plugin.h"

/* A CPU-only test op: y = x^3 (elementwise). */
static fx_status cube_infer(fx_infer_call *c)
{
    c->out[0] = c->in[0];
    return FX_OK;
}

static fx_status cube_forward(const fx_kernel_call *c)
{
    const float *x = fx_tensor_f32(c->in[0]);
    float *y = fx_tensor_f32(c->out[0]);
    for (int64_t i = 0; i < fx_tensor_numel(c->in[0]); i++)
        y[i] = x[i] * x[i] * x[i];
    return FX_OK;
}

static fx_status cube_backward(const fx_kernel_call *c)
{
    if (!c->grad_in[0])
        return FX_OK;
    const float *x = fx_tensor_f32(c->in[0]);
    const float *gy = fx_tensor_f32(c->grad_out[0]);
    float *gx = fx_tensor_f32(c->grad_in[0]);
    for (int64_t i = 0; i < fx_tensor_numel(c->in[0]); i++)
        gx[i] += 3 * x[i] * x[i] * gy[i];
    return FX_OK;
}

static const fx_op_def cube_op = { .name = "test_cube", .doc = "y = x^3 (CPU only, for tests)", .min_inputs = 1,
                                   .max_inputs = 1, .n_outputs = 1, .infer = cube_infer };

static fx_graph *build(fx_context *ctx)
{
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "fallback", &g), FX_OK);
    fx_srcpos pos = { "fallback.yaml", 1, 1 };
    fx_shape xs = fx_shape_1d(6), ls = fx_shape_make(0, NULL);
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &xs, pos), FX_OK);
    ck_assert_int_eq(fx_graph_add_input(g, "label", FX_I32, &ls, pos), FX_OK);
    const char *five[] = { "5" }, *four[] = { "4" };
    fx_attr_input a5 = { "out_features", five, 1, 0, pos }, a4 = { "out_features", four, 1, 0, pos };
    const char *in_x[] = { "x" }, *in_f1[] = { "f1" }, *in_c[] = { "c" }, *in_ce[] = { "f2", "label" };
    fx_node_desc f1 = { .name = "f1", .op = "linear", .inputs = in_x, .n_inputs = 1, .attrs = &a5, .n_attrs = 1, .pos = pos };
    fx_node_desc c = { .name = "c", .op = "test_cube", .inputs = in_f1, .n_inputs = 1, .pos = pos };
    fx_node_desc f2 = { .name = "f2", .op = "linear", .inputs = in_c, .n_inputs = 1, .attrs = &a4, .n_attrs = 1, .pos = pos };
    fx_node_desc ce = { .name = "ce", .op = "softmax_cross_entropy", .inputs = in_ce, .n_inputs = 2, .pos = pos };
    ck_assert_int_eq(fx_graph_add_node(g, &f1), FX_OK);
    ck_assert_int_eq(fx_graph_add_node(g, &c), FX_OK);
    ck_assert_int_eq(fx_graph_add_node(g, &f2), FX_OK);
    ck_assert_int_eq(fx_graph_add_node(g, &ce), FX_OK);
    ck_assert_int_eq(fx_graph_add_loss(g, "ce", 1.0f, pos), FX_OK);
    return g;
}

static void run(fx_graph *g, float *loss, float *dw1, float *dw2)
{
    float *x = fxtest_random(5, 3 * 6);
    int32_t labels[3] = { 0, 3, 1 };
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "label"), labels), FX_OK);
    free(x);
    fx_context *ctx = fx_graph_context(g);
    ck_assert_msg(fx_graph_forward(g) == FX_OK, "forward: %s", fx_context_error(ctx));
    ck_assert_msg(fx_graph_backward(g) == FX_OK, "backward: %s", fx_context_error(ctx));
    ck_assert_int_eq(fx_graph_loss_total(g, loss), FX_OK);
    fx_param p;
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "f1.weight", &p));
    ck_assert_int_eq(fx_tensor_download(p.grad, dw1), FX_OK);
    ck_assert_ptr_nonnull(fx_graph_find_param(g, "f2.weight", &p));
    ck_assert_int_eq(fx_tensor_download(p.grad, dw2), FX_OK);
}

START_TEST(test_fallback_runs_cpu_only_op_inside_opencl_graph)
{
    fx_context *ctx = fxtest_context();
    ck_assert_int_eq(fx_registry_add_op(fx_context_registry(ctx), &cube_op), FX_OK);
    ck_assert_int_eq(fx_registry_add_kernel(fx_context_registry(ctx), "test_cube", "cpu", cube_forward, cube_backward),
                     FX_OK);
    fx_backend *ocl = NULL;
    if (fx_opencl_backend_create(ctx, getenv("FX_TEST_OPENCL") ? getenv("FX_TEST_OPENCL") : "opencl", &ocl) != FX_OK) {
        printf("SKIP: no OpenCL backend: %s\n", fx_context_error(ctx));
        fx_context_destroy(ctx);
        return;
    }
    /* Without fallback: a clear refusal. */
    fx_graph *g = build(ctx);
    ck_assert_int_eq(fx_graph_plan(g, 3, FX_MODE_TRAIN, ocl), FX_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(fx_context_error(ctx), "'c'") && strstr(fx_context_error(ctx), "--fallback cpu"),
                  "message: %s", fx_context_error(ctx));
    fx_graph_destroy(g);

    float loss_cpu, loss_mix, w1c[30], w2c[20], w1m[30], w2m[20];
    g = build(ctx);
    ck_assert_int_eq(fx_graph_plan(g, 3, FX_MODE_TRAIN, fx_context_cpu_backend(ctx)), FX_OK);
    run(g, &loss_cpu, w1c, w2c);
    fx_graph_destroy(g);

    g = build(ctx);
    fx_graph_set_fallback(g, fx_context_cpu_backend(ctx));
    ck_assert_msg(fx_graph_plan(g, 3, FX_MODE_TRAIN, ocl) == FX_OK, "plan: %s", fx_context_error(ctx));
    ck_assert_int_eq(fx_graph_fallback_count(g), 1);
    ck_assert_str_eq(fx_node_backend_name(fx_graph_find_node(g, "c")), "cpu");
    ck_assert_str_eq(fx_node_backend_name(fx_graph_find_node(g, "f1")), "opencl");
    run(g, &loss_mix, w1m, w2m);
    fx_graph_destroy(g);

    /* Same seed, same initial weights: the results agree to float rounding. */
    ck_assert_msg(fabsf(loss_cpu - loss_mix) <= 1e-5f * fabsf(loss_cpu), "loss %g vs %g", loss_cpu, loss_mix);
    fxtest_assert_close(w1m, w1c, 30, 1e-4, 1e-6, "f1.weight gradient (through the CPU op and back)");
    fxtest_assert_close(w2m, w2c, 20, 1e-4, 1e-6, "f2.weight gradient");
    ocl->ops->destroy(ocl);
    fx_context_destroy(ctx);
}
END_TEST

/* x -> linear f1 (ref) -> sq = mul(f1, f1) (no ref kernel: the CPU) ->
 * linear f2 (ref) -> cross-entropy (ref). sq reads f1 twice through one
 * mirror on the CPU; d sq / d f1 = 2 f1, and the mirror gradient holds it
 * once both inputs' terms are in. */
static fx_graph *build_square(fx_context *ctx)
{
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "square", &g), FX_OK);
    fx_srcpos pos = { "square.yaml", 1, 1 };
    fx_shape xs = fx_shape_1d(6), ls = fx_shape_make(0, NULL);
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &xs, pos), FX_OK);
    ck_assert_int_eq(fx_graph_add_input(g, "label", FX_I32, &ls, pos), FX_OK);
    fxtest_add_node(g, "f1", "linear", "x", NULL, "out_features", "5");
    fxtest_add_node(g, "sq", "mul", "f1", "f1", NULL, NULL);
    fxtest_add_node(g, "f2", "linear", "sq", NULL, "out_features", "4");
    fxtest_add_node(g, "ce", "softmax_cross_entropy", "f2", "label", NULL, NULL);
    ck_assert_int_eq(fx_graph_add_loss(g, "ce", 1.0f, pos), FX_OK);
    ck_assert_int_eq(fx_graph_require_grad(g, "x"), FX_OK);
    return g;
}

START_TEST(test_fallback_node_reading_one_value_twice_sends_its_gradient_home_once)
{
    fx_context *ctx = fxtest_context();
    fx_plugin_host *host = NULL;
    ck_assert_int_eq(fx_plugin_host_create(ctx, &host), FX_OK);
    const char *ref_path = FX_PLUGIN_BUILD_DIR "/ref.so";
    ck_assert_msg(fx_plugin_load(host, ref_path, 0) == FX_OK, "%s", fx_context_error(ctx));
    fx_backend *ref = NULL;
    ck_assert_msg(fx_plugin_host_create_backend(host, "ref", &ref) == FX_OK, "%s", fx_context_error(ctx));

    float loss[2], dw1[2][30], dx[2][18];
    for (int mixed = 0; mixed < 2; mixed++) {
        fx_graph *g = build_square(ctx);
        fx_backend *be = fx_context_cpu_backend(ctx);
        if (mixed) {
            fx_graph_set_fallback(g, be);
            be = ref;
        }
        ck_assert_msg(fx_graph_plan(g, 3, FX_MODE_TRAIN, be) == FX_OK, "plan: %s", fx_context_error(ctx));
        if (mixed) {
            ck_assert_int_eq(fx_graph_fallback_count(g), 1);
            ck_assert_str_eq(fx_node_backend_name(fx_graph_find_node(g, "sq")), "cpu");
            ck_assert_str_eq(fx_node_backend_name(fx_graph_find_node(g, "f1")), "ref");
        }
        float *x = fxtest_random(7, 3 * 6);
        int32_t labels[3] = { 2, 0, 3 };
        ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
        ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "label"), labels), FX_OK);
        free(x);
        ck_assert_msg(fx_graph_forward(g) == FX_OK, "forward: %s", fx_context_error(ctx));
        ck_assert_msg(fx_graph_backward(g) == FX_OK, "backward: %s", fx_context_error(ctx));
        ck_assert_int_eq(fx_graph_loss_total(g, &loss[mixed]), FX_OK);
        fx_param p;
        ck_assert_ptr_nonnull(fx_graph_find_param(g, "f1.weight", &p));
        ck_assert_int_eq(fx_tensor_download(p.grad, dw1[mixed]), FX_OK);
        ck_assert_int_eq(fx_tensor_download(fx_graph_value_grad(g, "x"), dx[mixed]), FX_OK);
        fx_graph_destroy(g);
    }
    /* The ref backend sums in double: float rounding apart. A gradient
     * sent home twice would be 2x the CPU's. */
    ck_assert_msg(fabsf(loss[0] - loss[1]) <= 1e-5f * fabsf(loss[0]), "loss %g vs %g", loss[1], loss[0]);
    fxtest_assert_close(dw1[1], dw1[0], 30, 1e-4, 1e-6, "f1.weight gradient (through mul(f1, f1) on the CPU)");
    fxtest_assert_close(dx[1], dx[0], 18, 1e-4, 1e-6, "x gradient");
    fx_plugin_host_release_backend(host, ref);
    fx_context_destroy(ctx);
    fx_plugin_host_destroy(host);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fallback");
    TCase *tc = tcase_create("opencl+cpu");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fallback_runs_cpu_only_op_inside_opencl_graph);
    suite_add_tcase(s, tc);
    TCase *rc = tcase_create("ref+cpu");
    tcase_add_test(rc, test_fallback_node_reading_one_value_twice_sends_its_gradient_home_once);
    suite_add_tcase(s, rc);
    return fxtest_run_suite(s);
}
