/* tests/test_plan_memory.c - fx_graph_planned_bytes (core/engine/executor.c), the
 * figure `fxrun bench` prints as "planned": for a one-conv graph it is the
 * sum of the buffers the plan holds, counted by hand from the tensors the
 * public API shows (input and its gradient, output and its gradient,
 * weight, bias and their gradients); 0 before a plan; an inference plan
 * holds less than a training plan (no gradients). */
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static int64_t bytes_of(const fx_tensor *t) { return t && t->buffer ? (int64_t)t->buffer->size : 0; }

static fxtest_case conv_case(int inference)
{
    fxtest_case k;
    memset(&k, 0, sizeof k);
    k.op = "conv2d";
    k.attrs = "out_channels=4 kernel=3 pad=1";
    k.n_in = 1;
    k.in[0].name = "x";
    k.in[0].shape = fx_shape_4d(2, 3, 5, 6);
    k.in[0].dtype = FX_F32;
    k.inference = inference;
    return k;
}

START_TEST(test_planned_bytes_is_the_sum_of_the_plans_buffers)
{
    fx_context *ctx = fxtest_context();
    fxtest_case k = conv_case(0);
    fx_graph *g = fxtest_build(ctx, &k);
    int64_t want = bytes_of(fx_graph_value(g, "x")) + bytes_of(fx_graph_value_grad(g, "x")) +
                   bytes_of(fx_graph_value(g, "node")) + bytes_of(fx_graph_value_grad(g, "node"));
    for (int i = 0; i < fx_graph_param_count(g); i++) {
        fx_param p = fx_graph_param_at(g, i);
        want += bytes_of(p.value) + bytes_of(p.grad);
    }
    /* By hand: x and dx 2*3*5*6, y and dy 2*4*5*6, W and dW 4*3*9, b and db 4 floats. */
    ck_assert_int_eq(want, 4 * 2 * (180 + 240 + 108 + 4));
    ck_assert_int_eq(fx_graph_planned_bytes(g), want);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_planned_bytes_is_zero_before_a_plan_and_smaller_for_inference)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "empty", &g), FX_OK);
    ck_assert_int_eq(fx_graph_planned_bytes(g), 0);
    fx_graph_destroy(g);
    fxtest_case train = conv_case(0), infer = conv_case(1);
    fx_graph *gt = fxtest_build(ctx, &train);
    fx_graph *gi = fxtest_build(ctx, &infer);
    /* Inference: x, y (kept output), W, b: no gradients. */
    ck_assert_int_eq(fx_graph_planned_bytes(gi), 4 * (180 + 240 + 108 + 4));
    ck_assert_int_lt(fx_graph_planned_bytes(gi), fx_graph_planned_bytes(gt));
    fx_graph_destroy(gt);
    fx_graph_destroy(gi);
    fx_context_destroy(ctx);
}
END_TEST

static Suite *plan_memory_suite(void)
{
    Suite *s = suite_create("plan_memory");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_planned_bytes_is_the_sum_of_the_plans_buffers);
    tcase_add_test(tc, test_planned_bytes_is_zero_before_a_plan_and_smaller_for_inference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(plan_memory_suite()); }
