/* fx/interpret.h - the interpretability statistics of "Towards
 * Interpretable Face Recognition" (Yin et al., ICCV 2019): where each
 * filter of a response map peaks, how consistently, and how spread the
 * filters are over the face. docs/interpretability.md states the formulas.
 *
 * Shapes: a response map set is one image's [K, H, W] slice of an NCHW
 * value (K filters, H x W map), row-major. Peak lists are image-major:
 * peaks[i * K + k] is filter k's peak on image i. Coordinates are pixels
 * with (0, 0) the centre of the top-left pixel, x to the right, y down.
 *
 * Memory: every function writes into arrays the caller provides. */
#ifndef FX_INTERPRET_H
#define FX_INTERPRET_H

#include <stdint.h>
#include "fx/context.h"
#include "fx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One peak: its location and weight |response|. A peak that could not be
 * found or placed (an all-NaN map, a warp that failed) has x = y = NaN and
 * weight 0, and is left out of every statistic. */
typedef struct fx_peak {
    float x, y;
    float weight;
} fx_peak;

/* For each of the K maps of `maps` ([K, H, W]): the positive peak (the
 * argmax) into positive[k] and the negative peak (the argmin) into
 * negative[k], in map coordinates, weight = |value|. Ties go to the first
 * in row-major order (smallest y, then smallest x); NaN values are
 * skipped. Either output may be NULL. */
void fx_interpret_find_peaks(const float *maps, int filters, int height, int width, fx_peak *positive,
                             fx_peak *negative);

/* Map coordinates to input coordinates, pixel centres aligned:
 *   x_in = (x + 0.5) * input_width / map_width - 0.5   (y likewise)
 * For a 24x24 map of a 96x96 input that is 4x + 1.5: the centre of the
 * 4x4 block of input pixels the map cell covers. Peaks with NaN stay NaN. */
void fx_interpret_scale_peaks(fx_peak *peaks, int64_t n, int map_width, int map_height, int input_width,
                              int input_height);

/* One filter's statistics over a set of images (one sign of peak). */
typedef struct fx_filter_location {
    double x, y;        /* |peak|-weighted average location */
    double deviation;   /* |peak|-weighted mean distance of the peaks from (x, y) */
    double weight;      /* the sum of the weights */
    int64_t count;      /* peaks that counted (finite location) */
} fx_filter_location;

/* Per filter k over the images i = 0..n_images-1 with finite peaks p_ik
 * and weights w_ik = peaks[i*K+k].weight:
 *   average   a_k = sum_i w_ik p_ik / sum_i w_ik
 *   deviation d_k = sum_i w_ik |p_ik - a_k| / sum_i w_ik
 * When every weight of a filter is 0 (constant maps), all its peaks count
 * equally. A filter with no finite peak gets x = y = deviation = NaN and
 * count 0. Refuses n_images < 1 or filters < 1. */
fx_status fx_interpret_filter_locations(fx_context *ctx, const fx_peak *peaks, int64_t n_images, int filters,
                                        fx_filter_location *out);

/* How spread the filters' average locations are. Over the m filters with
 * count > 0 and centroid c = (1/m) sum_k a_k (unweighted: every filter
 * counts once):
 *   rms  = sqrt((1/m) sum_k |a_k - c|^2)   (the 2-D standard deviation)
 *   mean = (1/m) sum_k |a_k - c|
 * The centroid and m are written too. Refuses m = 0. */
typedef struct fx_spread {
    double rms, mean;
    double centroid_x, centroid_y;
    int filters; /* m */
} fx_spread;
fx_status fx_interpret_spread(fx_context *ctx, const fx_filter_location *locations, int filters, fx_spread *out);

/* The feature change under occlusion: for each of the K features,
 *   change_k = (1/n) sum_i |clean[i*K+k] - occluded[i*K+k]|
 * Refuses n < 1 or K < 1. */
fx_status fx_interpret_feature_change(fx_context *ctx, const float *clean, const float *occluded, int64_t n,
                                      int features, double *change);

#ifdef __cplusplus
}
#endif

#endif
