/* tests/test_backward_seeds.c - explicit gradient seeds
 * (fx_graph_seed_grad, core/engine/executor.c): seeds given before a backward
 * add up and are used by that backward only; a seed on a value that has
 * no gradient in the plan is dropped by the backward, not kept for a
 * later plan; and re-planning drops seeds given under the old plan, so a
 * plan with a larger batch never reads (or adds into) a smaller seed.
 *
 * The graph: y = relu(x) with x > 0, so dL/dx = the seed of y, exactly. */
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fx_graph *build(fx_context *ctx)
{
    fx_graph *g = NULL;
    ck_assert_int_eq(fx_graph_create(ctx, "seeds", &g), FX_OK);
    fx_srcpos pos = { "seeds.yaml", 1, 1 };
    fx_shape xs = fx_shape_1d(3);
    ck_assert_int_eq(fx_graph_add_input(g, "x", FX_F32, &xs, pos), FX_OK);
    fxtest_add_node(g, "y", "relu", "x", NULL, NULL, NULL);
    return g;
}

static void plan(fx_graph *g, int64_t batch)
{
    ck_assert_msg(fx_graph_plan(g, batch, FX_MODE_TRAIN, NULL) == FX_OK, "plan: %s",
                  fx_context_error(fx_graph_context(g)));
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = 0.5f + (float)i; /* positive: relu passes the gradient on */
    ck_assert_int_eq(fx_tensor_upload(fx_graph_value(g, "x"), x), FX_OK);
    ck_assert_msg(fx_graph_forward(g) == FX_OK, "forward: %s", fx_context_error(fx_graph_context(g)));
}

static void seed(fx_graph *g, const float *values)
{
    ck_assert_msg(fx_graph_seed_grad(g, "y", values) == FX_OK, "seed: %s", fx_context_error(fx_graph_context(g)));
}

static void backward(fx_graph *g)
{
    ck_assert_msg(fx_graph_backward(g) == FX_OK, "backward: %s", fx_context_error(fx_graph_context(g)));
}

static void expect_dx(fx_graph *g, const float *want, int n, const char *what)
{
    fx_tensor *gx = fx_graph_value_grad(g, "x");
    ck_assert_ptr_nonnull(gx);
    ck_assert_int_eq(fx_tensor_numel(gx), n);
    float got[12];
    ck_assert_int_eq(fx_tensor_download(gx, got), FX_OK);
    fxtest_assert_close(got, want, n, 0, 0, what); /* relu passes seeds on exactly */
}

START_TEST(test_seeds_add_up_until_one_backward_uses_them)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = build(ctx);
    ck_assert_int_eq(fx_graph_require_grad(g, "x"), FX_OK);
    plan(g, 1);
    const float a[3] = { 1, 2, 3 }, b[3] = { 10, 20, 30 }, ab[3] = { 11, 22, 33 };
    seed(g, a);
    seed(g, b);
    backward(g);
    expect_dx(g, ab, 3, "dx after two seeds");
    seed(g, a);
    backward(g);
    expect_dx(g, a, 3, "dx of the next backward (the earlier seeds are used up)");
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_a_seed_on_a_value_without_gradient_does_not_reach_a_later_plan)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = build(ctx);
    /* Nothing learnable and no require_grad: y has no gradient here, so
     * its seeds have nowhere to go. */
    plan(g, 1);
    ck_assert_ptr_null(fx_graph_value_grad(g, "y"));
    const float ones[3] = { 1, 1, 1 }, want[3] = { 4, 5, 6 };
    seed(g, ones);
    backward(g);
    seed(g, ones);
    backward(g);
    /* Now x needs a gradient: one seed, one backward, that seed alone. */
    ck_assert_int_eq(fx_graph_require_grad(g, "x"), FX_OK);
    plan(g, 1);
    seed(g, want);
    backward(g);
    expect_dx(g, want, 3, "dx (seeds the earlier backwards could not use must be gone)");
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_replanning_for_a_larger_batch_drops_the_old_seeds)
{
    fx_context *ctx = fxtest_context();
    fx_graph *g = build(ctx);
    ck_assert_int_eq(fx_graph_require_grad(g, "x"), FX_OK);
    plan(g, 1);
    const float stale[3] = { 100, 200, 300 };
    seed(g, stale); /* no backward under this plan */
    plan(g, 4);     /* 12 elements now: a 3-element seed must not be read or added into */
    float want[12];
    for (int i = 0; i < 12; i++)
        want[i] = (float)(i + 1);
    seed(g, want);
    backward(g);
    expect_dx(g, want, 12, "dx at batch 4 (the seed given under the batch-1 plan must be gone)");
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backward_seeds");
    TCase *tc = tcase_create("seeds");
    tcase_add_test(tc, test_seeds_add_up_until_one_backward_uses_them);
    tcase_add_test(tc, test_a_seed_on_a_value_without_gradient_does_not_reach_a_later_plan);
    tcase_add_test(tc, test_replanning_for_a_larger_batch_drops_the_old_seeds);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
