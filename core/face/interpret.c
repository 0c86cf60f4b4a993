/* core/face/interpret.c - filter peaks, their per-filter average location and
 * deviation, the spread across filters and the feature change under
 * occlusion (fx/interpret.h). Sums are in double: a few thousand images
 * times a few hundred filters of float weights would lose digits in float. */
#include <math.h>
#include <stdlib.h>

#include "fx/interpret.h"

void fx_interpret_find_peaks(const float *maps, int filters, int height, int width, fx_peak *positive,
                             fx_peak *negative)
{
    size_t plane = (size_t)height * (size_t)width;
    for (int k = 0; k < filters; k++) {
        const float *m = maps + (size_t)k * plane;
        size_t imax = plane, imin = plane;
        float vmax = 0.0f, vmin = 0.0f;
        for (size_t i = 0; i < plane; i++) {
            float v = m[i];
            if (isnan(v))
                continue;
            /* strict comparisons keep the first of equal values (row-major order) */
            if (imax == plane || v > vmax) {
                vmax = v;
                imax = i;
            }
            if (imin == plane || v < vmin) {
                vmin = v;
                imin = i;
            }
        }
        fx_peak none = {NAN, NAN, 0.0f};
        if (positive)
            positive[k] = imax == plane ? none
                                        : (fx_peak){(float)(imax % (size_t)width), (float)(imax / (size_t)width),
                                                    fabsf(vmax)};
        if (negative)
            negative[k] = imin == plane ? none
                                        : (fx_peak){(float)(imin % (size_t)width), (float)(imin / (size_t)width),
                                                    fabsf(vmin)};
    }
}

void fx_interpret_scale_peaks(fx_peak *peaks, int64_t n, int map_width, int map_height, int input_width,
                              int input_height)
{
    float sx = (float)input_width / (float)map_width, sy = (float)input_height / (float)map_height;
    for (int64_t i = 0; i < n; i++) {
        peaks[i].x = (peaks[i].x + 0.5f) * sx - 0.5f;
        peaks[i].y = (peaks[i].y + 0.5f) * sy - 0.5f;
    }
}

static int peak_counts(const fx_peak *p)
{
    return isfinite(p->x) && isfinite(p->y);
}

fx_status fx_interpret_filter_locations(fx_context *ctx, const fx_peak *peaks, int64_t n_images, int filters,
                                        fx_filter_location *out)
{
    if (n_images < 1 || filters < 1)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "filter locations: need at least one image and one filter (got %lld images, %d filters)",
                       (long long)n_images, filters);
    for (int k = 0; k < filters; k++) {
        double sw = 0.0, sx = 0.0, sy = 0.0;
        int64_t count = 0;
        for (int64_t i = 0; i < n_images; i++) {
            const fx_peak *p = &peaks[i * filters + k];
            if (!peak_counts(p))
                continue;
            double w = p->weight > 0.0f ? p->weight : 0.0;
            sw += w;
            sx += w * p->x;
            sy += w * p->y;
            count++;
        }
        fx_filter_location loc = {NAN, NAN, NAN, 0.0, 0};
        if (count == 0) {
            out[k] = loc;
            continue;
        }
        /* all weights 0 (constant maps): every finite peak counts once */
        int equal = !(sw > 0.0);
        if (equal) {
            sx = sy = 0.0;
            for (int64_t i = 0; i < n_images; i++) {
                const fx_peak *p = &peaks[i * filters + k];
                if (peak_counts(p)) {
                    sx += p->x;
                    sy += p->y;
                }
            }
            sw = (double)count;
        }
        loc.x = sx / sw;
        loc.y = sy / sw;
        double sd = 0.0;
        for (int64_t i = 0; i < n_images; i++) {
            const fx_peak *p = &peaks[i * filters + k];
            if (!peak_counts(p))
                continue;
            double w = equal ? 1.0 : (p->weight > 0.0f ? p->weight : 0.0);
            sd += w * hypot(p->x - loc.x, p->y - loc.y);
        }
        loc.deviation = sd / sw;
        loc.weight = equal ? 0.0 : sw;
        loc.count = count;
        out[k] = loc;
    }
    return FX_OK;
}

fx_status fx_interpret_spread(fx_context *ctx, const fx_filter_location *locations, int filters, fx_spread *out)
{
    double cx = 0.0, cy = 0.0;
    int m = 0;
    for (int k = 0; k < filters; k++)
        if (locations[k].count > 0) {
            cx += locations[k].x;
            cy += locations[k].y;
            m++;
        }
    if (m == 0)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "spread: none of the %d filters has a peak location (all maps were NaN?)", filters);
    cx /= m;
    cy /= m;
    double s2 = 0.0, s1 = 0.0;
    for (int k = 0; k < filters; k++)
        if (locations[k].count > 0) {
            double d = hypot(locations[k].x - cx, locations[k].y - cy);
            s2 += d * d;
            s1 += d;
        }
    out->rms = sqrt(s2 / m);
    out->mean = s1 / m;
    out->centroid_x = cx;
    out->centroid_y = cy;
    out->filters = m;
    return FX_OK;
}

fx_status fx_interpret_feature_change(fx_context *ctx, const float *clean, const float *occluded, int64_t n,
                                      int features, double *change)
{
    if (n < 1 || features < 1)
        return fx_fail(ctx, FX_ERR_INVALID, "feature change: need at least one image and one feature (got %lld, %d)",
                       (long long)n, features);
    for (int k = 0; k < features; k++)
        change[k] = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < features; k++)
            change[k] += fabs((double)clean[i * features + k] - (double)occluded[i * features + k]);
    for (int k = 0; k < features; k++)
        change[k] /= (double)n;
    return FX_OK;
}
