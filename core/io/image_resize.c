/* core/io/image_resize.c - separable area / bilinear resizing of planar
 * 8-bit and float images; the method is described in image_resize.h.
 *
 * Each axis gets a tap table (first source index, number of taps, weights)
 * computed once per call. The horizontal pass writes a float intermediate
 * of in_h x out_w per plane; the vertical pass combines its rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/io/image_resize.h"

typedef struct resize_taps {
    int *first;     /* [out] first source index */
    int *count;     /* [out] number of taps */
    float *weight;  /* [out * max_taps] */
    int max_taps;
} resize_taps;

/* Safe to call twice (taps_build frees on failure, the driver again). */
static void taps_free(resize_taps *t)
{
    free(t->first);
    free(t->count);
    free(t->weight);
    t->first = t->count = NULL;
    t->weight = NULL;
}

static int taps_build(resize_taps *t, int in, int out)
{
    double scale = (double)in / out;
    t->max_taps = in > out ? (int)ceil(scale) + 1 : 2;
    t->first = malloc((size_t)out * sizeof(int));
    t->count = malloc((size_t)out * sizeof(int));
    t->weight = calloc((size_t)out * (size_t)t->max_taps, sizeof(float));
    if (!t->first || !t->count || !t->weight) {
        taps_free(t);
        return -1;
    }
    for (int o = 0; o < out; o++) {
        float *w = t->weight + (size_t)o * t->max_taps;
        if (in > out) {
            double lo = o * scale, hi = (o + 1) * scale;
            int i0 = (int)floor(lo), n = 0;
            for (int i = i0; i < in && i < hi && n < t->max_taps; i++) {
                double a = i > lo ? i : lo, b = i + 1 < hi ? i + 1 : hi;
                w[n++] = (float)((b > a ? b - a : 0) / scale);
            }
            t->first[o] = i0;
            t->count[o] = n;
        } else {
            double src = (o + 0.5) * scale - 0.5;
            if (src < 0)
                src = 0;
            int i0 = (int)floor(src);
            if (i0 > in - 1)
                i0 = in - 1;
            double frac = src - i0;
            t->first[o] = i0;
            if (i0 + 1 < in && frac > 0) {
                w[0] = (float)(1 - frac);
                w[1] = (float)frac;
                t->count[o] = 2;
            } else {
                w[0] = 1;
                t->count[o] = 1;
            }
        }
    }
    return 0;
}

/* Horizontal pass of one row into out_w floats. */
static void row_u8(const uint8_t *src, const resize_taps *tx, int out_w, float *dst)
{
    for (int o = 0; o < out_w; o++) {
        const float *w = tx->weight + (size_t)o * tx->max_taps;
        const uint8_t *s = src + tx->first[o];
        float acc = 0;
        for (int k = 0; k < tx->count[o]; k++)
            acc += w[k] * s[k];
        dst[o] = acc;
    }
}

static void row_f32(const float *src, const resize_taps *tx, int out_w, float *dst)
{
    for (int o = 0; o < out_w; o++) {
        const float *w = tx->weight + (size_t)o * tx->max_taps;
        const float *s = src + tx->first[o];
        float acc = 0;
        for (int k = 0; k < tx->count[o]; k++)
            acc += w[k] * s[k];
        dst[o] = acc;
    }
}

/* Shared driver: `is_u8` selects the element type of src and dst. */
static int resize_planes(const void *src, int is_u8, int channels, int in_h, int in_w, void *dst, int out_h,
                         int out_w)
{
    resize_taps tx = {0}, ty = {0};
    float *tmp = NULL, *acc = NULL;
    int rc = -1;
    if (taps_build(&tx, in_w, out_w) != 0 || taps_build(&ty, in_h, out_h) != 0)
        goto done;
    tmp = malloc((size_t)in_h * (size_t)out_w * sizeof(float));
    acc = malloc((size_t)out_w * sizeof(float));
    if (!tmp || !acc)
        goto done;
    for (int c = 0; c < channels; c++) {
        size_t in_plane = (size_t)c * in_h * in_w, out_plane = (size_t)c * out_h * out_w;
        for (int y = 0; y < in_h; y++) {
            if (is_u8)
                row_u8((const uint8_t *)src + in_plane + (size_t)y * in_w, &tx, out_w, tmp + (size_t)y * out_w);
            else
                row_f32((const float *)src + in_plane + (size_t)y * in_w, &tx, out_w, tmp + (size_t)y * out_w);
        }
        for (int o = 0; o < out_h; o++) {
            const float *w = ty.weight + (size_t)o * ty.max_taps;
            memset(acc, 0, (size_t)out_w * sizeof(float));
            for (int k = 0; k < ty.count[o]; k++) {
                const float *row = tmp + (size_t)(ty.first[o] + k) * out_w;
                for (int x = 0; x < out_w; x++)
                    acc[x] += w[k] * row[x];
            }
            if (is_u8) {
                uint8_t *d = (uint8_t *)dst + out_plane + (size_t)o * out_w;
                for (int x = 0; x < out_w; x++) {
                    float v = acc[x] + 0.5f;
                    d[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            } else {
                memcpy((float *)dst + out_plane + (size_t)o * out_w, acc, (size_t)out_w * sizeof(float));
            }
        }
    }
    rc = 0;
done:
    free(acc);
    free(tmp);
    taps_free(&tx);
    taps_free(&ty);
    return rc;
}

int fx_image_resize_u8(const uint8_t *src, int channels, int in_h, int in_w, uint8_t *dst, int out_h,
                       int out_w)
{
    if (in_h == out_h && in_w == out_w) {
        memcpy(dst, src, (size_t)channels * in_h * in_w);
        return 0;
    }
    return resize_planes(src, 1, channels, in_h, in_w, dst, out_h, out_w);
}

int fx_image_resize_f32(const float *src, int channels, int in_h, int in_w, float *dst, int out_h,
                        int out_w)
{
    if (in_h == out_h && in_w == out_w) {
        memcpy(dst, src, (size_t)channels * in_h * in_w * sizeof(float));
        return 0;
    }
    return resize_planes(src, 0, channels, in_h, in_w, dst, out_h, out_w);
}
