/* tests/test_interpret.c - the interpretability statistics (core/face/interpret.c)
 * against maps and peaks worked out by hand: argmax/argmin with ties and
 * NaN, the map-to-input scaling, the |peak|-weighted average location and
 * deviation, the spread across filters and the feature change. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fx/interpret.h"
#include "fxtest.h"

static fx_context *ctx;

static void setup(void)
{
    ctx = fxtest_context();
}

static void teardown(void)
{
    fx_context_destroy(ctx);
}

START_TEST(test_peaks_are_argmax_and_argmin_first_in_row_major_order)
{
    /* three 3x4 maps (H = 3, W = 4) */
    const float maps[3 * 12] = {
        /* filter 0: max 9 at (x 2, y 1), min -4 at (x 0, y 2) */
        1, 2, 3, 0,
        0, 5, 9, 1,
        -4, 0, 2, 8,
        /* filter 1: max 5 twice (x 1, y 0) and (x 3, y 2), min -2 twice (x 0, y 1) and (x 2, y 2);
         * the NaN at (0, 0) is skipped, not taken as a peak */
        NAN, 5, 0, 1,
        -2, 0, 0, 1,
        0, 0, -2, 5,
        /* filter 2: all NaN */
        NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN,
    };
    fx_peak pos[3], neg[3];
    fx_interpret_find_peaks(maps, 3, 3, 4, pos, neg);
    ck_assert_float_eq(pos[0].x, 2);
    ck_assert_float_eq(pos[0].y, 1);
    ck_assert_float_eq(pos[0].weight, 9);
    ck_assert_float_eq(neg[0].x, 0);
    ck_assert_float_eq(neg[0].y, 2);
    ck_assert_float_eq(neg[0].weight, 4); /* |-4| */
    ck_assert_float_eq(pos[1].x, 1);
    ck_assert_float_eq(pos[1].y, 0);
    ck_assert_float_eq(pos[1].weight, 5);
    ck_assert_float_eq(neg[1].x, 0);
    ck_assert_float_eq(neg[1].y, 1);
    ck_assert_float_eq(neg[1].weight, 2);
    ck_assert(isnan(pos[2].x) && isnan(pos[2].y) && pos[2].weight == 0.0f);
    ck_assert(isnan(neg[2].x) && neg[2].weight == 0.0f);
    /* a map entirely below zero: the positive peak is still its argmax, weighted |max| */
    const float below[4] = {-3, -1, -2, -5};
    fx_interpret_find_peaks(below, 1, 2, 2, pos, NULL);
    ck_assert_float_eq(pos[0].x, 1);
    ck_assert_float_eq(pos[0].y, 0);
    ck_assert_float_eq(pos[0].weight, 1);
}
END_TEST

START_TEST(test_peaks_scale_to_the_input_with_pixel_centres_aligned)
{
    /* 24 -> 96: x_in = 4x + 1.5; 12 -> 48 likewise; 3 -> 7: (x + 0.5) * 7/3 - 0.5 */
    fx_peak p[3] = {{0, 23, 1}, {10, 0.5f, 1}, {NAN, NAN, 0}};
    fx_interpret_scale_peaks(p, 3, 24, 24, 96, 96);
    ck_assert_float_eq(p[0].x, 1.5f);
    ck_assert_float_eq(p[0].y, 93.5f);
    ck_assert_float_eq(p[1].x, 41.5f);
    ck_assert_float_eq(p[1].y, 3.5f);
    ck_assert(isnan(p[2].x));
    fx_peak q = {0, 2, 1};
    fx_interpret_scale_peaks(&q, 1, 3, 3, 7, 14);
    ck_assert_float_eq_tol(q.x, 0.5f * 7.0f / 3.0f - 0.5f, 1e-6f);
    ck_assert_float_eq_tol(q.y, 2.5f * 14.0f / 3.0f - 0.5f, 1e-5f);
}
END_TEST

START_TEST(test_filter_location_is_the_weighted_mean_and_deviation_the_weighted_distance)
{
    /* 4 images x 3 filters, image-major */
    const fx_peak peaks[4 * 3] = {
        /* image 0 */ {0, 0, 1}, {0, 0, 0}, {NAN, NAN, 0},
        /* image 1 */ {4, 0, 3}, {2, 0, 0}, {NAN, NAN, 0},
        /* image 2 */ {0, 3, 0}, {1, 3, 0}, {NAN, NAN, 0},
        /* image 3 */ {NAN, NAN, 0}, {NAN, 5, 0}, {NAN, NAN, 0},
    };
    fx_filter_location loc[3];
    ck_assert_int_eq(fx_interpret_filter_locations(ctx, peaks, 4, 3, loc), FX_OK);
    /* filter 0: a = (1*(0,0) + 3*(4,0) + 0*(0,3)) / 4 = (3, 0);
     * d = (1*3 + 3*1 + 0*|(0,3)-(3,0)|) / 4 = 1.5; the NaN peak does not count */
    ck_assert_double_eq_tol(loc[0].x, 3.0, 1e-12);
    ck_assert_double_eq_tol(loc[0].y, 0.0, 1e-12);
    ck_assert_double_eq_tol(loc[0].deviation, 1.5, 1e-12);
    ck_assert_double_eq_tol(loc[0].weight, 4.0, 1e-12);
    ck_assert_int_eq(loc[0].count, 3);
    /* filter 1: all weights 0, so (0,0), (2,0), (1,3) count equally (the
     * peak with a NaN x is left out): a = (1, 1); distances sqrt2, sqrt2, 2 */
    ck_assert_double_eq_tol(loc[1].x, 1.0, 1e-12);
    ck_assert_double_eq_tol(loc[1].y, 1.0, 1e-12);
    ck_assert_double_eq_tol(loc[1].deviation, (2.0 * sqrt(2.0) + 2.0) / 3.0, 1e-12);
    ck_assert_int_eq(loc[1].count, 3);
    /* filter 2: no peak at all */
    ck_assert_int_eq(loc[2].count, 0);
    ck_assert(isnan(loc[2].x) && isnan(loc[2].deviation));
    /* a filter whose peaks never move has deviation 0 */
    const fx_peak still[2] = {{5, 7, 2}, {5, 7, 9}};
    ck_assert_int_eq(fx_interpret_filter_locations(ctx, still, 2, 1, loc), FX_OK);
    ck_assert_double_eq(loc[0].deviation, 0.0);
    ck_assert_double_eq_tol(loc[0].x, 5.0, 1e-12);
    /* refusals */
    ck_assert_int_eq(fx_interpret_filter_locations(ctx, peaks, 0, 3, loc), FX_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(fx_context_error(ctx), "at least one image"));
}
END_TEST

START_TEST(test_spread_is_the_rms_and_mean_distance_of_filter_locations_from_their_centroid)
{
    /* a 4x3 rectangle: centroid (2, 1.5), every corner 2.5 away */
    fx_filter_location rect[5] = {
        {0, 0, 1, 1, 1}, {4, 0, 1, 1, 1}, {4, 3, 1, 1, 1}, {0, 3, 1, 1, 1},
        {NAN, NAN, NAN, 0, 0}, /* no peaks: left out */
    };
    fx_spread s;
    ck_assert_int_eq(fx_interpret_spread(ctx, rect, 5, &s), FX_OK);
    ck_assert_int_eq(s.filters, 4);
    ck_assert_double_eq_tol(s.centroid_x, 2.0, 1e-12);
    ck_assert_double_eq_tol(s.centroid_y, 1.5, 1e-12);
    ck_assert_double_eq_tol(s.rms, 2.5, 1e-12);
    ck_assert_double_eq_tol(s.mean, 2.5, 1e-12);
    /* (0,0), (3,0), (0,4): centroid (1, 4/3); squared distances 25/9, 52/9, 73/9:
     * rms = sqrt(150/27), mean = (5/3 + sqrt(52)/3 + sqrt(73)/3) / 3 */
    fx_filter_location tri[3] = {{0, 0, 0, 1, 1}, {3, 0, 0, 1, 1}, {0, 4, 0, 1, 1}};
    ck_assert_int_eq(fx_interpret_spread(ctx, tri, 3, &s), FX_OK);
    ck_assert_double_eq_tol(s.rms, sqrt(150.0 / 27.0), 1e-12);
    ck_assert_double_eq_tol(s.mean, (5.0 + sqrt(52.0) + sqrt(73.0)) / 9.0, 1e-12);
    /* all filters in one place: spread 0 */
    fx_filter_location same[2] = {{7, 7, 0, 1, 1}, {7, 7, 3, 1, 1}};
    ck_assert_int_eq(fx_interpret_spread(ctx, same, 2, &s), FX_OK);
    ck_assert_double_eq(s.rms, 0.0);
    /* nothing to measure */
    ck_assert_int_eq(fx_interpret_spread(ctx, rect + 4, 1, &s), FX_ERR_INVALID);
}
END_TEST

START_TEST(test_feature_change_is_the_mean_absolute_difference_per_feature)
{
    const float clean[2 * 3] = {1, 2, 3, -1, 0, 4};
    const float occl[2 * 3] = {1, 0, 4, 1, 0, 1};
    double change[3];
    ck_assert_int_eq(fx_interpret_feature_change(ctx, clean, occl, 2, 3, change), FX_OK);
    ck_assert_double_eq_tol(change[0], (0.0 + 2.0) / 2, 1e-12);
    ck_assert_double_eq_tol(change[1], (2.0 + 0.0) / 2, 1e-12);
    ck_assert_double_eq_tol(change[2], (1.0 + 3.0) / 2, 1e-12);
    ck_assert_int_eq(fx_interpret_feature_change(ctx, clean, occl, 0, 3, change), FX_ERR_INVALID);
}
END_TEST

static Suite *interpret_suite(void)
{
    Suite *s = suite_create("interpret");
    TCase *tc = tcase_create("interpret");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_peaks_are_argmax_and_argmin_first_in_row_major_order);
    tcase_add_test(tc, test_peaks_scale_to_the_input_with_pixel_centres_aligned);
    tcase_add_test(tc, test_filter_location_is_the_weighted_mean_and_deviation_the_weighted_distance);
    tcase_add_test(tc, test_spread_is_the_rms_and_mean_distance_of_filter_locations_from_their_centroid);
    tcase_add_test(tc, test_feature_change_is_the_mean_absolute_difference_per_feature);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fxtest_run_suite(interpret_suite());
}
