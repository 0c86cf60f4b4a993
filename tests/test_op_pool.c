/* tests/test_op_pool.c - maxpool2d, avgpool2d, global_avgpool: forward
 * against hand-computed values and a naive reference written here,
 * padding modes (explicit, same, valid; padded positions never count),
 * shape errors, and finite-difference gradients. Max-pool gradient checks
 * use data whose values are at least 0.1 apart, so the finite-difference
 * step (0.01) never changes which element is the maximum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case pool_case(const char *op, const char *attrs, int n, int c, int h, int w, const float *data)
{
    fxtest_case k;
    memset(&k, 0, sizeof k);
    k.op = op;
    k.attrs = attrs;
    k.n_in = 1;
    k.in[0].name = "x";
    k.in[0].shape = fx_shape_4d(n, c, h, w);
    k.in[0].dtype = FX_F32;
    k.in[0].data = data;
    k.seed = 9;
    return k;
}

/* Distinct values 0.1 apart in a seeded shuffled order, centred on 0. */
static float *distinct_data(int64_t n, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    ck_assert_ptr_nonnull(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = 0.1f * (float)(i - n / 2);
    fx_rng r;
    fx_rng_seed(&r, seed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)fx_rng_below(&r, (uint64_t)(i + 1));
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
    return x;
}

typedef struct pool_ref {
    int n, c, h, w, kh, kw, sh, sw, pt, pl, oh, ow;
} pool_ref;

/* Naive pooling over the in-bounds part of each window. */
static void pool_reference(const pool_ref *r, int is_max, const float *x, float *y)
{
    for (int p = 0; p < r->n * r->c; p++)
        for (int oy = 0; oy < r->oh; oy++)
            for (int ox = 0; ox < r->ow; ox++) {
                double acc = is_max ? -INFINITY : 0.0;
                int count = 0;
                for (int i = 0; i < r->kh; i++)
                    for (int j = 0; j < r->kw; j++) {
                        int iy = oy * r->sh - r->pt + i, ix = ox * r->sw - r->pl + j;
                        if (iy < 0 || iy >= r->h || ix < 0 || ix >= r->w)
                            continue;
                        double v = x[(p * r->h + iy) * r->w + ix];
                        acc = is_max ? fmax(acc, v) : acc + v;
                        count++;
                    }
                y[(p * r->oh + oy) * r->ow + ox] = (float)(is_max ? acc : acc / count);
            }
}

static void expect_pool_matches(fx_context *ctx, const char *op, const char *attrs, pool_ref r)
{
    int64_t nx = (int64_t)r.n * r.c * r.h * r.w, ny = (int64_t)r.n * r.c * r.oh * r.ow;
    float *x = fxtest_random(21, nx);
    fxtest_case k = pool_case(op, attrs, r.n, r.c, r.h, r.w, x);
    fx_shape shape;
    float *y = fxtest_forward(ctx, &k, 0, &shape);
    fx_shape want = fx_shape_4d(r.n, r.c, r.oh, r.ow);
    char buf[64];
    ck_assert_msg(fx_shape_equal(&shape, &want), "%s %s: output shape %s", op, attrs,
                  fx_shape_str(&shape, buf, sizeof buf));
    float *ref = malloc(sizeof(float) * (size_t)ny);
    ck_assert_ptr_nonnull(ref);
    pool_reference(&r, strcmp(op, "maxpool2d") == 0, x, ref);
    fxtest_assert_close(y, ref, ny, 1e-5, 1e-6, attrs);
    free(x);
    free(y);
    free(ref);
}

START_TEST(test_maxpool2d_forward_matches_hand_values_and_saves_argmax)
{
    fx_context *ctx = fxtest_context();
    const float x[16] = { 1, 5, 2, 0,   /* */
                          3, 4, 8, 7,   /* */
                          -1, -2, -6, -5, /* */
                          -3, -9, -4, -8 };
    fxtest_case k = pool_case("maxpool2d", "kernel=2", 1, 1, 4, 4, x);
    fx_graph *g = fxtest_build(ctx, &k);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    float y[4];
    fx_tensor *yt = fx_graph_value(g, "node");
    ck_assert_int_eq(fx_tensor_numel(yt), 4); /* stride defaults to the kernel */
    ck_assert_int_eq(fx_tensor_download(yt, y), FX_OK);
    const float want[4] = { 5, 8, -1, -4 };
    fxtest_assert_close(y, want, 4, 0, 0, "maxpool 2x2");
    /* The gradient lands on the argmax positions 1, 6, 8, 14. */
    const float dy[4] = { 1, 2, 3, 4 };
    ck_assert_int_eq(fx_graph_seed_grad(g, "node", dy), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_OK);
    float dx[16];
    ck_assert_int_eq(fx_tensor_download(fx_graph_value_grad(g, "x"), dx), FX_OK);
    float want_dx[16] = { 0 };
    want_dx[1] = 1;
    want_dx[6] = 2;
    want_dx[8] = 3;
    want_dx[14] = 4;
    fxtest_assert_close(dx, want_dx, 16, 0, 0, "maxpool 2x2 gradient");
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_pool_forward_matches_reference)
{
    fx_context *ctx = fxtest_context();
    const char *ops[2] = { "maxpool2d", "avgpool2d" };
    for (int i = 0; i < 2; i++) {
        /* n c h w kh kw sh sw pt pl oh ow */
        expect_pool_matches(ctx, ops[i], "kernel=2", (pool_ref){ 2, 3, 8, 6, 2, 2, 2, 2, 0, 0, 4, 3 });
        expect_pool_matches(ctx, ops[i], "kernel=3 stride=2 pad=1", (pool_ref){ 2, 2, 7, 8, 3, 3, 2, 2, 1, 1, 4, 4 });
        expect_pool_matches(ctx, ops[i], "kernel=3 stride=2 padding=same",
                            (pool_ref){ 1, 2, 8, 6, 3, 3, 2, 2, 0, 0, 4, 3 });
        expect_pool_matches(ctx, ops[i], "kernel=[3,2] stride=1 padding=valid",
                            (pool_ref){ 1, 3, 7, 5, 3, 2, 1, 1, 0, 0, 5, 4 });
        expect_pool_matches(ctx, ops[i], "kernel=3 stride=[1,2] pad=[1,0]",
                            (pool_ref){ 2, 1, 5, 7, 3, 3, 1, 2, 1, 0, 5, 3 });
    }
    fx_context_destroy(ctx);
}
END_TEST

/* count_include_pad = false: a corner window of a 3x3 pool with pad 1 is
 * the mean of its 4 real pixels, not of 9 with 5 zeros. */
START_TEST(test_avgpool2d_divides_by_in_bounds_count)
{
    fx_context *ctx = fxtest_context();
    const float x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    fxtest_case k = pool_case("avgpool2d", "kernel=3 stride=1 pad=1", 1, 1, 3, 3, x);
    fx_shape shape;
    float *y = fxtest_forward(ctx, &k, 0, &shape);
    ck_assert_int_eq(fx_shape_numel(&shape), 9);
    const float want[9] = { 3, 3.5f, 4, 4.5f, 5, 5.5f, 6, 6.5f, 7 };
    fxtest_assert_close(y, want, 9, 1e-6, 1e-6, "avgpool 3x3 pad 1");
    free(y);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_global_avgpool_forward_is_mean_per_channel)
{
    fx_context *ctx = fxtest_context();
    float x[2 * 3 * 4 * 5];
    for (int i = 0; i < 120; i++)
        x[i] = (float)i;
    fxtest_case k = pool_case("global_avgpool", NULL, 2, 3, 4, 5, x);
    fx_shape shape;
    float *y = fxtest_forward(ctx, &k, 0, &shape);
    fx_shape want_shape = fx_shape_2d(2, 3);
    ck_assert(fx_shape_equal(&shape, &want_shape));
    float want[6];
    for (int p = 0; p < 6; p++)
        want[p] = 20.0f * (float)p + 9.5f; /* mean of 20p .. 20p+19 */
    fxtest_assert_close(y, want, 6, 1e-6, 1e-6, "global_avgpool");
    free(y);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_pool_rejects_bad_shapes_and_attributes)
{
    fx_context *ctx = fxtest_context();
    fxtest_case k = pool_case("maxpool2d", "kernel=2", 1, 1, 4, 4, NULL);
    k.in[0].shape = fx_shape_2d(2, 8);
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "4-D");
    k = pool_case("avgpool2d", "kernel=3 pad=3", 1, 1, 8, 8, NULL);
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "smaller than the window");
    k = pool_case("maxpool2d", "kernel=5 padding=valid", 1, 1, 4, 8, NULL);
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "does not fit");
    k = pool_case("maxpool2d", "kernel=2 stride=0", 1, 1, 4, 4, NULL);
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "stride");
    k = pool_case("avgpool2d", "kernel=2 padding=round", 1, 1, 4, 4, NULL);
    fxtest_expect_error(ctx, &k, FX_ERR_INVALID, "unknown padding");
    k = pool_case("global_avgpool", NULL, 1, 1, 4, 4, NULL);
    k.in[0].shape = fx_shape_make(3, (int64_t[]){ 1, 4, 4 });
    fxtest_expect_error(ctx, &k, FX_ERR_SHAPE, "4-D");
    fx_context_destroy(ctx);
}
END_TEST

static void gradcheck(const char *op, const char *attrs, int n, int c, int h, int w, int distinct)
{
    fx_context *ctx = fxtest_context();
    float *x = distinct ? distinct_data((int64_t)n * c * h * w, 77) : NULL;
    fxtest_case k = pool_case(op, attrs, n, c, h, w, x);
    k.max_checks = 64;
    k.rtol = 2e-3; /* piecewise linear: exact away from ties */
    k.atol = 2e-3;
    fxtest_gradcheck(ctx, &k);
    free(x);
    fx_context_destroy(ctx);
}

START_TEST(test_maxpool2d_grad_matches_finite_difference)
{
    /* Overlapping windows: an element can be the max of several. */
    gradcheck("maxpool2d", "kernel=3 stride=2 pad=1", 2, 2, 7, 5, 1);
    gradcheck("maxpool2d", "kernel=3 stride=1", 1, 2, 6, 6, 1);
    gradcheck("maxpool2d", "kernel=2", 2, 3, 6, 4, 1);
    gradcheck("maxpool2d", "kernel=3 stride=2 padding=same", 1, 2, 8, 6, 1);
}
END_TEST

START_TEST(test_avgpool2d_grad_matches_finite_difference)
{
    gradcheck("avgpool2d", "kernel=3 stride=1 pad=1", 2, 2, 5, 6, 0);
    gradcheck("avgpool2d", "kernel=3 stride=2 padding=same", 1, 2, 8, 7, 0);
    gradcheck("avgpool2d", "kernel=[2,3] stride=[2,1] pad=[1,1]", 2, 1, 5, 5, 0);
}
END_TEST

START_TEST(test_global_avgpool_grad_matches_finite_difference)
{
    gradcheck("global_avgpool", NULL, 3, 2, 5, 3, 0);
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_maxpool2d_forward_matches_hand_values_and_saves_argmax);
    tcase_add_test(tc, test_pool_forward_matches_reference);
    tcase_add_test(tc, test_avgpool2d_divides_by_in_bounds_count);
    tcase_add_test(tc, test_global_avgpool_forward_is_mean_per_channel);
    tcase_add_test(tc, test_pool_rejects_bad_shapes_and_attributes);
    tcase_add_test(tc, test_maxpool2d_grad_matches_finite_difference);
    tcase_add_test(tc, test_avgpool2d_grad_matches_finite_difference);
    tcase_add_test(tc, test_global_avgpool_grad_matches_finite_difference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fxtest_run_suite(pool_suite()); }
