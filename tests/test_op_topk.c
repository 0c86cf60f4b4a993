/* tests/test_op_topk.c - topk_mask: against PyTorch references
 * (tests/gen_paper_fixtures.py), the paper's k = H keeping H - 1 per map,
 * ties at the threshold dropped, k beyond the map, NaN, gradients by
 * finite differences, the same answer on every SIMD level and thread
 * count, and shape/attribute errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case topk_case(const char *attrs, fx_shape shape, const float *data)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "topk_mask";
    c.attrs = attrs;
    c.n_in = 1;
    c.in[0].name = "x";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    c.in[0].data = data;
    return c;
}

/* tests/data/paper/<name>.npy, made by tests/gen_paper_fixtures.py. */
static fx_array load_fixture(fx_context *ctx, const char *name) { return fxtest_load_npy(ctx, "paper", name); }

/* Forward, then backward with gradient r seeded on the output; returns y
 * and dx (malloc'd). */
static void run_topk(fx_context *ctx, const fxtest_case *c, const float *r, float **y, float **dx)
{
    fx_graph *g = fxtest_build(ctx, c);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    fx_tensor *t = fx_graph_value(g, "node");
    *y = malloc(fx_tensor_bytes(t));
    ck_assert_ptr_nonnull(*y);
    fx_tensor_download(t, *y);
    if (dx) {
        ck_assert_int_eq(fx_graph_seed_grad(g, "node", r), FX_OK);
        ck_assert_msg(fx_graph_backward(g) == FX_OK, "%s", fx_context_error(ctx));
        fx_tensor *gx = fx_graph_value_grad(g, "x");
        *dx = malloc(fx_tensor_bytes(gx));
        ck_assert_ptr_nonnull(*dx);
        fx_tensor_download(gx, *dx);
    }
    fx_graph_destroy(g);
}

START_TEST(test_topk_mask_matches_pytorch_reference)
{
    fx_context *ctx = fxtest_context();
    fx_array x = load_fixture(ctx, "topk_x"), r = load_fixture(ctx, "topk_r");
    const char *attrs[2] = { NULL, "k=3" };
    const char *names[2][2] = { { "topk_k0_y", "topk_k0_dx" }, { "topk_k3_y", "topk_k3_dx" } };
    for (int v = 0; v < 2; v++) {
        fxtest_case c = topk_case(attrs[v], x.shape, x.data);
        float *y, *dx;
        run_topk(ctx, &c, r.data, &y, &dx);
        fx_array ry = load_fixture(ctx, names[v][0]), rdx = load_fixture(ctx, names[v][1]);
        int64_t n = fx_shape_numel(&x.shape);
        fxtest_assert_close(y, ry.data, n, 0, 0, names[v][0]);
        fxtest_assert_close(dx, rdx.data, n, 0, 0, names[v][1]);
        fx_array_free(&ry);
        fx_array_free(&rdx);
        free(y);
        free(dx);
    }
    fx_array_free(&x);
    fx_array_free(&r);
    fx_context_destroy(ctx);
}
END_TEST

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

START_TEST(test_topk_mask_default_k_is_map_height_and_keeps_h_minus_one)
{
    /* The paper's k5: 24 x 24 maps, k = H = 24 keeps the 23 largest |x|. */
    fx_context *ctx = fxtest_context();
    const int64_t n = 2, ch = 5, hw = 24 * 24;
    float *x = fxtest_random(11, n * ch * hw);
    fxtest_case c = topk_case(NULL, fx_shape_4d(n, ch, 24, 24), x);
    float *y;
    run_topk(ctx, &c, NULL, &y, NULL);
    float mags[576];
    for (int64_t m = 0; m < n * ch; m++) {
        for (int64_t p = 0; p < hw; p++)
            mags[p] = fabsf(x[m * hw + p]);
        qsort(mags, (size_t)hw, sizeof *mags, cmp_desc);
        int kept = 0;
        for (int64_t p = 0; p < hw; p++) {
            float v = x[m * hw + p], out = y[m * hw + p];
            if (out != 0.0f) {
                kept++;
                ck_assert_msg(out == v, "kept values keep their sign and value");
                ck_assert_msg(fabsf(v) > mags[23], "kept |x| %g is not above the 24th largest %g", fabsf(v), mags[23]);
            } else {
                ck_assert_msg(fabsf(v) <= mags[23], "dropped |x| %g is above the threshold %g", fabsf(v), mags[23]);
            }
        }
        ck_assert_int_eq(kept, 23);
    }
    free(x);
    free(y);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_topk_mask_drops_ties_at_the_threshold)
{
    fx_context *ctx = fxtest_context();
    /* One 2x4 map: |x| sorted 5, 4, 3, 3, 3, 1, 0.5, 0: the 3rd largest is
     * 3, tied three times, so only 5 and -4 survive k = 3. */
    float x[8] = { 3, -4, 0.5f, 3, 5, 0, -3, 1 };
    fxtest_case c = topk_case("k=3", fx_shape_4d(1, 1, 2, 4), x);
    float *y;
    run_topk(ctx, &c, NULL, &y, NULL);
    float want[8] = { 0, -4, 0, 0, 5, 0, 0, 0 };
    fxtest_assert_close(y, want, 8, 0, 0, "ties at the threshold");
    free(y);
    /* A constant map and an all-zero map keep nothing. */
    float flat[2 * 6] = { 2, 2, -2, 2, 2, -2, 0, 0, 0, 0, 0, 0 };
    c = topk_case("k=2", fx_shape_4d(1, 2, 2, 3), flat);
    run_topk(ctx, &c, NULL, &y, NULL);
    for (int i = 0; i < 12; i++)
        ck_assert_msg(y[i] == 0.0f, "element %d of a constant map survived", i);
    free(y);
    fx_context_destroy(ctx);
}
END_TEST

/* k = H*W (a larger k is refused: tests/test_reliability_input.c). */
START_TEST(test_topk_mask_k_beyond_the_map_keeps_all_above_the_smallest)
{
    fx_context *ctx = fxtest_context();
    float *x = fxtest_random(5, 2 * 3 * 4 * 5);
    const char *attrs[1] = { "k=20" };
    for (int v = 0; v < 1; v++) {
        fxtest_case c = topk_case(attrs[v], fx_shape_4d(2, 3, 4, 5), x);
        float *y;
        run_topk(ctx, &c, NULL, &y, NULL);
        for (int m = 0; m < 6; m++) {
            int smallest = 0, kept = 0;
            for (int p = 1; p < 20; p++)
                if (fabsf(x[m * 20 + p]) < fabsf(x[m * 20 + smallest]))
                    smallest = p;
            for (int p = 0; p < 20; p++) {
                float want = p == smallest ? 0.0f : x[m * 20 + p];
                ck_assert_msg(y[m * 20 + p] == want, "%s: map %d position %d", attrs[v], m, p);
                kept += y[m * 20 + p] != 0.0f;
            }
            ck_assert_int_eq(kept, 19);
        }
        free(y);
    }
    /* k = 1: the threshold is the maximum itself, so nothing survives. */
    fxtest_case c = topk_case("k=1", fx_shape_4d(2, 3, 4, 5), x);
    float *y;
    run_topk(ctx, &c, NULL, &y, NULL);
    for (int i = 0; i < 120; i++)
        ck_assert(y[i] == 0.0f);
    free(y);
    free(x);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_topk_mask_counts_nan_as_largest)
{
    fx_context *ctx = fxtest_context();
    float x[6] = { 1, NAN, -2, 0.5f, 3, -0.25f };
    fxtest_case c = topk_case("k=3", fx_shape_4d(1, 1, 2, 3), x);
    float *y;
    run_topk(ctx, &c, NULL, &y, NULL);
    /* Order: NaN, 3, -2 (the threshold), 1, ...: NaN and 3 survive. */
    ck_assert(isnan(y[1]));
    ck_assert(y[4] == 3.0f);
    ck_assert(y[0] == 0.0f && y[2] == 0.0f && y[3] == 0.0f && y[5] == 0.0f);
    free(y);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_topk_mask_grad_matches_finite_difference)
{
    /* Magnitudes 0.5, 0.7, 0.9, ... (gaps 0.2 >> the FD step), random
     * signs and order, so no perturbation crosses the threshold. */
    fx_context *ctx = fxtest_context();
    const int n = 2 * 3 * 4 * 5;
    float x[2 * 3 * 4 * 5];
    fx_rng rng;
    fx_rng_seed(&rng, 9);
    for (int m = 0; m < 6; m++) {
        for (int p = 0; p < 20; p++)
            x[m * 20 + p] = (0.5f + 0.2f * (float)p) * (fx_rng_next_uniform(&rng) < 0.5f ? -1.0f : 1.0f);
        for (int p = 19; p > 0; p--) {
            int q = (int)fx_rng_below(&rng, (uint64_t)p + 1);
            float t = x[m * 20 + p];
            x[m * 20 + p] = x[m * 20 + q];
            x[m * 20 + q] = t;
        }
    }
    fxtest_case c = topk_case("k=6", fx_shape_4d(2, 3, 4, 5), x);
    c.eps = 1e-2;
    c.max_checks = n;
    fxtest_gradcheck(ctx, &c);
    fx_context_destroy(ctx);
}
END_TEST

static float *topk_with(const char *simd, int threads, const float *x, fx_shape shape, const float *r, float **dx)
{
    if (simd)
        setenv("FX_SIMD", simd, 1);
    else
        unsetenv("FX_SIMD");
    fx_context_options o = fx_context_options_default();
    o.threads = threads;
    fx_context *ctx = NULL;
    char err[256];
    ck_assert_msg(fx_context_create(&o, &ctx, err, sizeof err) == FX_OK, "%s", err);
    fxtest_case c = topk_case(NULL, shape, x);
    float *y;
    run_topk(ctx, &c, r, &y, dx);
    fx_context_destroy(ctx);
    unsetenv("FX_SIMD");
    return y;
}

START_TEST(test_topk_mask_same_on_every_simd_level_and_thread_count)
{
    /* 24 x 24 maps with many exact ties (values rounded to 1/8) and a few
     * zero maps: the selection is exact, so every variant agrees bit for
     * bit, masks and gradients alike. */
    const int64_t n = 3, ch = 7, hw = 576, total = n * ch * hw;
    float *x = fxtest_random(21, total), *r = fxtest_random(22, total);
    for (int64_t i = 0; i < total; i++)
        x[i] = roundf(x[i] * 8.0f) / 8.0f;
    for (int64_t p = 0; p < hw; p++)
        x[4 * hw + p] = 0.0f;
    fx_shape shape = fx_shape_4d(n, ch, 24, 24);
    float *dx0, *dx1, *dx2, *dx3;
    float *y0 = topk_with(NULL, 1, x, shape, r, &dx0);
    float *y1 = topk_with("scalar", 1, x, shape, r, &dx1);
    float *y2 = topk_with("avx2", 2, x, shape, r, &dx2);
    float *y3 = topk_with(NULL, 2, x, shape, r, &dx3);
    fxtest_assert_close(y1, y0, total, 0, 0, "scalar vs best SIMD");
    fxtest_assert_close(y2, y0, total, 0, 0, "avx2 on 2 threads vs best SIMD");
    fxtest_assert_close(y3, y0, total, 0, 0, "2 threads vs 1");
    fxtest_assert_close(dx1, dx0, total, 0, 0, "gradient, scalar vs best SIMD");
    fxtest_assert_close(dx3, dx0, total, 0, 0, "gradient, 2 threads vs 1");
    free(y0), free(y1), free(y2), free(y3);
    free(dx0), free(dx1), free(dx2), free(dx3);
    free(x);
    free(r);
}
END_TEST

START_TEST(test_topk_mask_rejects_bad_input)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = topk_case("k=-1", fx_shape_4d(1, 2, 3, 3), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "k -1 must be >= 0");
    c = topk_case(NULL, fx_shape_2d(4, 9), NULL);
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[N, C, H, W]");
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topk_mask");
    TCase *tc = tcase_create("topk_mask");
    tcase_add_test(tc, test_topk_mask_matches_pytorch_reference);
    tcase_add_test(tc, test_topk_mask_default_k_is_map_height_and_keeps_h_minus_one);
    tcase_add_test(tc, test_topk_mask_drops_ties_at_the_threshold);
    tcase_add_test(tc, test_topk_mask_k_beyond_the_map_keeps_all_above_the_smallest);
    tcase_add_test(tc, test_topk_mask_counts_nan_as_largest);
    tcase_add_test(tc, test_topk_mask_grad_matches_finite_difference);
    tcase_add_test(tc, test_topk_mask_same_on_every_simd_level_and_thread_count);
    tcase_add_test(tc, test_topk_mask_rejects_bad_input);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
