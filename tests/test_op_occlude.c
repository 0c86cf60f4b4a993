/* tests/test_op_occlude.c - occlude: one window per batch (the same for
 * every image and channel), painted with `value`, inside the configured
 * ranges for the frame and for inputs of another size (fit scale and
 * crop), a new window each step and the same one for the same step and
 * seed, clipping at the border, the gradient (zero inside, identity
 * outside), and attribute errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxtest.h"

static fxtest_case occ_case(const char *attrs, fx_shape shape)
{
    fxtest_case c;
    memset(&c, 0, sizeof c);
    c.op = "occlude";
    c.attrs = attrs;
    c.n_in = 1;
    c.in[0].name = "image";
    c.in[0].shape = shape;
    c.in[0].dtype = FX_F32;
    c.seed = 3;
    return c;
}

typedef struct box {
    int top, left, height, width;
} box;

/* Runs forward at `step`, checks the output against the input painted
 * with `value` in the reported window, and returns the window. */
static box occlude_step(fx_graph *g, uint64_t step, float value)
{
    fx_graph_set_step(g, step);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    fx_tensor *x = fx_graph_value(g, "image"), *y = fx_graph_value(g, "node"), *w = fx_graph_value(g, "node:1");
    ck_assert_int_eq(w->shape.ndim, 2);
    ck_assert_int_eq(w->shape.dim[1], 4);
    float bx[4];
    fx_tensor_download(w, bx);
    box b = { (int)bx[0], (int)bx[1], (int)bx[2], (int)bx[3] };
    int64_t n = fx_tensor_numel(x), hh = x->shape.dim[2], ww = x->shape.dim[3];
    float *xs = malloc((size_t)n * sizeof(float)), *ys = malloc((size_t)n * sizeof(float));
    ck_assert(xs && ys);
    fx_tensor_download(x, xs);
    fx_tensor_download(y, ys);
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++) {
        int64_t yy = (i / ww) % hh, xx = i % ww;
        int inside = yy >= b.top && yy < b.top + b.height && xx >= b.left && xx < b.left + b.width;
        if (ys[i] != (inside ? value : xs[i]))
            bad = i;
    }
    ck_assert_msg(bad < 0, "element %lld (row %lld, col %lld) is %g; window [%d, %d, %d, %d]", (long long)bad,
                  (long long)((bad / ww) % hh), (long long)(bad % ww), bad >= 0 ? ys[bad] : 0.0f, b.top, b.left,
                  b.height, b.width);
    free(xs);
    free(ys);
    return b;
}

START_TEST(test_occlude_one_window_per_batch_within_the_ranges)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = occ_case(NULL, fx_shape_4d(3, 2, 110, 110));
    fx_graph *g = fxtest_build(ctx, &c);
    int distinct = 0;
    box first = { 0 };
    for (uint64_t s = 0; s < 40; s++) {
        box b = occlude_step(g, s, -1.0f); /* checks every image and channel */
        ck_assert_msg(b.left >= 10 && b.left <= 68 && b.top >= 10 && b.top <= 88,
                      "step %llu: corner (x %d, y %d) outside x [10, 68], y [10, 88]", (unsigned long long)s, b.left,
                      b.top);
        ck_assert_int_eq(b.height, 12);
        ck_assert_int_eq(b.width, 32);
        if (s == 0)
            first = b;
        else
            distinct += b.left != first.left || b.top != first.top;
    }
    ck_assert_msg(distinct >= 30, "only %d of 39 steps moved the window", distinct);
    /* The same step again gives the same window. */
    box again = occlude_step(g, 0, -1.0f);
    ck_assert(again.left == first.left && again.top == first.top);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_occlude_depends_on_the_graph_seed)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = occ_case(NULL, fx_shape_4d(1, 1, 110, 110));
    fx_graph *g = fxtest_build(ctx, &c);
    int moved = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        fx_graph_set_seed(g, 1);
        box a = occlude_step(g, 5, -1.0f);
        fx_graph_set_seed(g, 1000 + seed);
        box b = occlude_step(g, 5, -1.0f);
        moved += a.left != b.left || a.top != b.top;
    }
    ck_assert_msg(moved >= 6, "a new seed moved the window only %d times of 8", moved);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_occlude_maps_the_frame_to_smaller_inputs)
{
    fx_context *ctx = fxtest_context();
    /* fit scale: corner * 96/110, window size unchanged. */
    fxtest_case c = occ_case("value=0.25", fx_shape_4d(2, 3, 96, 96));
    fx_graph *g = fxtest_build(ctx, &c);
    for (uint64_t s = 0; s < 20; s++) {
        box b = occlude_step(g, s, 0.25f);
        ck_assert_msg(b.left >= 9 && b.left <= 59 && b.top >= 9 && b.top <= 77, "scale: corner (%d, %d)", b.left,
                      b.top);
        ck_assert(b.height == 12 && b.width == 32);
    }
    fx_graph_destroy(g);
    /* fit crop: the input is the centred 96 x 96 crop, offset 7. */
    c = occ_case("fit=crop", fx_shape_4d(2, 3, 96, 96));
    g = fxtest_build(ctx, &c);
    for (uint64_t s = 0; s < 20; s++) {
        box b = occlude_step(g, s, -1.0f);
        ck_assert_msg(b.left >= 3 && b.left <= 61 && b.top >= 3 && b.top <= 81, "crop: corner (%d, %d)", b.left,
                      b.top);
        ck_assert(b.height == 12 && b.width == 32);
    }
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_occlude_fixed_window_and_clipping)
{
    fx_context *ctx = fxtest_context();
    /* A fixed window in input pixels (frame = input size): the authors'
     * "mouth" probe at x 30, y 68 on 96 x 96. */
    fxtest_case c = occ_case("x_range=[30, 30] y_range=[68, 68] frame=96", fx_shape_4d(1, 1, 96, 96));
    fx_graph *g = fxtest_build(ctx, &c);
    box b = occlude_step(g, 7, -1.0f);
    ck_assert(b.top == 68 && b.left == 30 && b.height == 12 && b.width == 32);
    fx_graph_destroy(g);
    /* Hanging over the right and bottom edges: clipped. */
    c = occ_case("x_range=[90, 90] y_range=[90, 90] frame=96", fx_shape_4d(1, 2, 96, 96));
    g = fxtest_build(ctx, &c);
    b = occlude_step(g, 0, -1.0f);
    ck_assert(b.top == 90 && b.left == 90 && b.height == 6 && b.width == 6);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_occlude_gradient_is_zero_inside_the_window)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = occ_case("window=[3, 4] x_range=[1, 5] y_range=[2, 4] frame=10", fx_shape_4d(2, 2, 10, 10));
    fxtest_gradcheck(ctx, &c);
    /* And explicitly: dx = dy outside, 0 inside. */
    fx_graph *g = fxtest_build(ctx, &c);
    box b = occlude_step(g, 0, -1.0f);
    float *r = fxtest_random(8, 400);
    ck_assert_int_eq(fx_graph_seed_grad(g, "node", r), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_OK);
    float dx[400];
    fx_tensor_download(fx_graph_value_grad(g, "image"), dx);
    for (int i = 0; i < 400; i++) {
        int yy = (i / 10) % 10, xx = i % 10;
        int inside = yy >= b.top && yy < b.top + b.height && xx >= b.left && xx < b.left + b.width;
        ck_assert_msg(dx[i] == (inside ? 0.0f : r[i]), "dx[%d] = %g", i, dx[i]);
    }
    free(r);
    fx_graph_destroy(g);
    fx_context_destroy(ctx);
}
END_TEST

/* Landmarks [2, 68, 2]: image 0 has the mean face (frame 40) sheared by
 * x' = x + 0.4 y, image 1 has NaN points. Window 4 x 8 frame pixels at
 * (10, 10): its corners (9.5, 9.5), (17.5, 9.5), (17.5, 13.5), (9.5, 13.5)
 * warp to (13.3, 9.5), (21.3, 9.5), (22.9, 13.5), (14.9, 13.5), so row i
 * (10..13) of image 0 is painted for 13.3 + 0.4 (i - 9.5) <= j <
 * 21.3 + 0.4 (i - 9.5). Image 1 gets the plain window: fit scale, top
 * round(10 * 40/40) = 10, left round(10 * 64/40) = 16, 4 x 8 input pixels. */
static float *sheared_landmarks(fx_context *ctx)
{
    float *lm = malloc(2 * 136 * sizeof(float));
    ck_assert_ptr_nonnull(lm);
    ck_assert_int_eq(fx_face_template68(ctx, 40, lm), FX_OK);
    for (int p = 0; p < 68; p++) {
        lm[2 * p] += 0.4f * lm[2 * p + 1];
        lm[136 + 2 * p] = NAN;
        lm[136 + 2 * p + 1] = NAN;
    }
    return lm;
}

static int sheared_inside(int b, int i, int j)
{
    if (b == 0)
        return i >= 10 && i < 14 && (float)j >= 13.3f + 0.4f * ((float)i - 9.5f) &&
               (float)j < 21.3f + 0.4f * ((float)i - 9.5f);
    return i >= 10 && i < 14 && j >= 16 && j < 24;
}

START_TEST(test_occlude_with_landmarks_paints_the_warped_quadrilateral)
{
    fx_context *ctx = fxtest_context();
    float *lm = sheared_landmarks(ctx);
    fxtest_case c = occ_case("window=[4, 8] x_range=[10, 10] y_range=[10, 10] frame=40", fx_shape_4d(2, 2, 40, 64));
    c.n_in = 2;
    c.in[1].name = "landmarks";
    c.in[1].shape = fx_shape_make(3, (int64_t[]){2, 68, 2});
    c.in[1].dtype = FX_F32;
    c.in[1].data = lm;
    c.in[1].no_grad = 1;
    fx_graph *g = fxtest_build(ctx, &c);
    ck_assert_int_eq(fx_graph_forward(g), FX_OK);
    float x[2 * 2 * 40 * 64], y[2 * 2 * 40 * 64], bx[4];
    fx_tensor_download(fx_graph_value(g, "image"), x);
    fx_tensor_download(fx_graph_value(g, "node"), y);
    fx_tensor_download(fx_graph_value(g, "node:1"), bx);
    ck_assert(bx[0] == 10 && bx[1] == 16 && bx[2] == 4 && bx[3] == 8);
    for (int b = 0; b < 2; b++)
        for (int ch = 0; ch < 2; ch++)
            for (int i = 0; i < 40; i++)
                for (int j = 0; j < 64; j++) {
                    size_t k = (((size_t)b * 2 + ch) * 40 + i) * 64 + j;
                    float want = sheared_inside(b, i, j) ? -1.0f : x[k];
                    ck_assert_msg(y[k] == want, "image %d channel %d pixel (%d, %d): %g, want %g", b, ch, j, i,
                                  (double)y[k], (double)want);
                }
    /* Backward: dx = dy outside the painted pixels, 0 inside. */
    float *r = fxtest_random(9, 2 * 2 * 40 * 64);
    ck_assert_int_eq(fx_graph_seed_grad(g, "node", r), FX_OK);
    ck_assert_int_eq(fx_graph_backward(g), FX_OK);
    fx_tensor_download(fx_graph_value_grad(g, "image"), y);
    for (int k = 0; k < 2 * 2 * 40 * 64; k++) {
        int b = k / (2 * 40 * 64), i = (k / 64) % 40, j = k % 64;
        ck_assert_msg(y[k] == (sheared_inside(b, i, j) ? 0.0f : r[k]), "dx[%d] = %g", k, (double)y[k]);
    }
    free(r);
    fx_graph_destroy(g);
    fxtest_gradcheck(ctx, &c);

    /* Landmarks of another count are refused. */
    c.in[1].shape = fx_shape_make(3, (int64_t[]){2, 30, 2});
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[2, 68, 2]");
    free(lm);
    fx_context_destroy(ctx);
}
END_TEST

START_TEST(test_occlude_rejects_bad_attributes)
{
    fx_context *ctx = fxtest_context();
    fxtest_case c = occ_case("window=[0, 4]", fx_shape_4d(1, 1, 8, 8));
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "window");
    c = occ_case("x_range=[5, 3]", fx_shape_4d(1, 1, 8, 8));
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "x_range [5, 3]");
    c = occ_case("y_range=[4]", fx_shape_4d(1, 1, 8, 8));
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "y_range needs two integers");
    c = occ_case("fit=warp", fx_shape_4d(1, 1, 8, 8));
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "fit 'warp'");
    c = occ_case("frame=0", fx_shape_4d(1, 1, 8, 8));
    fxtest_expect_error(ctx, &c, FX_ERR_INVALID, "frame");
    c = occ_case(NULL, fx_shape_2d(1, 8));
    fxtest_expect_error(ctx, &c, FX_ERR_SHAPE, "[N, C, H, W]");
    fx_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("occlude");
    TCase *tc = tcase_create("occlude");
    tcase_add_test(tc, test_occlude_one_window_per_batch_within_the_ranges);
    tcase_add_test(tc, test_occlude_depends_on_the_graph_seed);
    tcase_add_test(tc, test_occlude_maps_the_frame_to_smaller_inputs);
    tcase_add_test(tc, test_occlude_fixed_window_and_clipping);
    tcase_add_test(tc, test_occlude_gradient_is_zero_inside_the_window);
    tcase_add_test(tc, test_occlude_with_landmarks_paints_the_warped_quadrilateral);
    tcase_add_test(tc, test_occlude_rejects_bad_attributes);
    suite_add_tcase(s, tc);
    return fxtest_run_suite(s);
}
