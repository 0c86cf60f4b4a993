/* cli/explain_pictures.c - the three pictures of `fxrun explain`, drawn
 * on an fx_canvas (fx/canvas.h):
 *   peaks.png      the filters' average peak locations over the mean face,
 *                  coloured by deviation, with the spread drawn as a circle;
 *   heatmaps.png   the response maps of three filters (lowest, median and
 *                  highest deviation) over faces of different people;
 *   occlusion.png  per face part, the feature change of every filter when a
 *                  window hides that part, filters ordered top to bottom by
 *                  where they peak on the face. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/explain.h"

static const fx_rgb ink = {30, 30, 36}, paper = {255, 255, 255}, muted = {110, 110, 120}, white = {255, 255, 255};

/* A [C, h, w] image in [0, 1] (C = 1 or 3) into `r`. */
static fx_status blit_face(fx_context *ctx, fx_canvas *c, const float *img, int channels, int w, int h,
                           fx_canvas_rect r)
{
    fx_canvas_image im = {img, w, h, channels == 3 ? 3 : 1, 0.0f, 1.0f, FX_COLORMAP_GREY, 1.0f};
    return fx_canvas_blit(ctx, c, &im, r);
}

/* The deviation range over both signs (finite values only). */
static void deviation_range(const explain_data *d, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int k = 0; k < d->filters; k++)
        for (int s = 0; s < 2; s++) {
            double v = s ? d->neg[k].deviation : d->pos[k].deviation;
            if (isfinite(v)) {
                *lo = v < *lo ? v : *lo;
                *hi = v > *hi ? v : *hi;
            }
        }
    if (!isfinite(*lo)) {
        *lo = 0.0;
        *hi = 1.0;
    }
    if (*hi - *lo < 1e-9)
        *hi = *lo + 1.0;
}

static void text_centered(fx_canvas *c, int cx, int y, const char *s, int scale, fx_rgb col)
{
    int w, h;
    fx_canvas_text_size(s, scale, &w, &h);
    fx_canvas_text(c, cx - w / 2, y, s, scale, col);
}

fx_status explain_draw_peaks(fx_context *ctx, const explain_data *d, const char *path)
{
    const int S = 360, gap = 40, margin = 30, top = 70, bar_h = 16;
    int W = 2 * S + gap + 2 * margin, H = top + S + 34 + 24 + bar_h + 40;
    fx_canvas *c = NULL;
    fx_status st = fx_canvas_create(ctx, W, H, paper, &c);
    if (st != FX_OK)
        return st;
    char line[256];
    snprintf(line, sizeof line, "Where the %d filters of %s peak", d->filters, d->value);
    fx_canvas_text(c, margin, 14, line, 2, ink);
    snprintf(line, sizeof line, "average locations over %lld faces, on the mean face (%dx%d input)%s",
             (long long)d->n, d->in_w, d->in_h, d->n_warped ? "; peaks warped through 68 landmarks" : "");
    fx_canvas_text(c, margin, 40, line, 1, muted);
    double lo, hi;
    deviation_range(d, &lo, &hi);
    float scale = (float)S / (float)d->in_w;
    for (int s = 0; s < 2 && st == FX_OK; s++) {
        int x0 = margin + s * (S + gap), y0 = top;
        const fx_filter_location *loc = s ? d->neg : d->pos;
        const fx_spread *sp = s ? &d->spread_neg : &d->spread_pos;
        st = blit_face(ctx, c, d->mean_face, d->channels, d->in_w, d->in_h, (fx_canvas_rect){x0, y0, S, S});
        /* lighten the face so the dots read */
        float white_px = 1.0f;
        fx_canvas_image veil = {&white_px, 1, 1, 1, 0.0f, 1.0f, FX_COLORMAP_GREY, 0.35f};
        if (st == FX_OK)
            st = fx_canvas_blit(ctx, c, &veil, (fx_canvas_rect){x0, y0, S, S});
        fx_canvas_stroke_rect(c, (fx_canvas_rect){x0 - 1, y0 - 1, S + 2, S + 2}, 1, muted);
        /* the spread: a circle of radius rms around the filters' centroid */
        float ccx = x0 + ((float)sp->centroid_x + 0.5f) * scale, ccy = y0 + ((float)sp->centroid_y + 0.5f) * scale;
        fx_canvas_stroke_circle(c, ccx, ccy, (float)sp->rms * scale, 2.0f, white);
        fx_canvas_stroke_circle(c, ccx, ccy, (float)sp->rms * scale, 1.0f, ink);
        fx_canvas_line(c, ccx - 6, ccy, ccx + 6, ccy, 2.0f, ink);
        fx_canvas_line(c, ccx, ccy - 6, ccx, ccy + 6, 2.0f, ink);
        /* high deviation first, so the consistent filters end on top */
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < d->filters; k++) {
                if (loc[k].count == 0)
                    continue;
                double t = (loc[k].deviation - lo) / (hi - lo);
                if ((pass == 0) != (t >= 0.5))
                    continue;
                float px = x0 + ((float)loc[k].x + 0.5f) * scale, py = y0 + ((float)loc[k].y + 0.5f) * scale;
                fx_canvas_fill_circle(c, px, py, 4.5f, ink);
                fx_canvas_fill_circle(c, px, py, 3.5f, fx_colormap_rgb(FX_COLORMAP_VIRIDIS, (float)t));
            }
        snprintf(line, sizeof line, "%s peaks: spread %.1f px", s ? "negative" : "positive", sp->rms);
        text_centered(c, x0 + S / 2, y0 + S + 10, line, 2, ink);
    }
    /* the colour bar */
    int bx = margin + S / 2, bw = S + gap, by = top + S + 34 + 24;
    fx_canvas_colorbar(c, (fx_canvas_rect){bx, by, bw, bar_h}, FX_COLORMAP_VIRIDIS, 0);
    snprintf(line, sizeof line, "%.1f", lo);
    fx_canvas_text(c, bx - 8 - 6 * 2 * (int)strlen(line), by + 1, line, 2, ink);
    snprintf(line, sizeof line, "%.1f px", hi);
    fx_canvas_text(c, bx + bw + 8, by + 1, line, 2, ink);
    text_centered(c, bx + bw / 2, by + bar_h + 8, "deviation of a filter's peaks from its average location", 1,
                  muted);
    if (st == FX_OK)
        st = fx_canvas_write_png(ctx, c, path);
    fx_canvas_destroy(c);
    return st;
}

fx_status explain_draw_heatmaps(fx_context *ctx, const explain_data *d, const char *path)
{
    const int cell = 140, gap = 8, label_w = 200, margin = 24, top = 64, bar_h = 14;
    int cols = d->n_faces > 0 ? d->n_faces : 1;
    int W = margin * 2 + label_w + cols * (cell + gap), H = top + EXPLAIN_CHOSEN * (cell + gap) + 70;
    fx_canvas *c = NULL;
    fx_status st = fx_canvas_create(ctx, W, H, paper, &c);
    if (st != FX_OK)
        return st;
    char line[256];
    snprintf(line, sizeof line, "Response maps of three filters of %s", d->value);
    fx_canvas_text(c, margin, 14, line, 2, ink);
    fx_canvas_text(c, margin, 40, "red: positive response, blue: negative; one face per person, columns", 1, muted);
    int64_t plane = (int64_t)d->in_w * d->in_h, map_plane = (int64_t)d->map_w * d->map_h;
    float *grey = malloc((size_t)plane * sizeof(float));
    if (!grey) {
        fx_canvas_destroy(c);
        return fx_fail(ctx, FX_ERR_NOMEM, "explain: out of memory drawing the heat maps");
    }
    for (int r = 0; r < EXPLAIN_CHOSEN && st == FX_OK; r++) {
        int k = d->chosen[r], y0 = top + r * (cell + gap);
        snprintf(line, sizeof line, "filter %d", k);
        fx_canvas_text(c, margin, y0 + 30, line, 2, ink);
        fx_canvas_text(c, margin, y0 + 56, d->chosen_label[r], 1, muted);
        snprintf(line, sizeof line, "deviation %.1f px", explain_filter_deviation(d, k));
        fx_canvas_text(c, margin, y0 + 72, line, 1, muted);
        /* one symmetric range per filter, over the faces shown */
        float m = 1e-6f;
        for (int f = 0; f < d->n_faces; f++) {
            const float *map = d->face_maps + ((int64_t)f * d->filters + k) * map_plane;
            for (int64_t j = 0; j < map_plane; j++)
                if (isfinite(map[j]) && fabsf(map[j]) > m)
                    m = fabsf(map[j]);
        }
        for (int f = 0; f < d->n_faces && st == FX_OK; f++) {
            fx_canvas_rect cr = {margin + label_w + f * (cell + gap), y0, cell, cell};
            /* the face in grey, under the map */
            const float *face = d->faces + (int64_t)f * d->channels * plane;
            for (int64_t j = 0; j < plane; j++)
                grey[j] = d->channels == 3 ? 0.299f * face[j] + 0.587f * face[plane + j] + 0.114f * face[2 * plane + j]
                                           : face[j];
            st = blit_face(ctx, c, grey, 1, d->in_w, d->in_h, cr);
            const float *map = d->face_maps + ((int64_t)f * d->filters + k) * map_plane;
            fx_canvas_image heat = {map, d->map_w, d->map_h, 1, -m, m, FX_COLORMAP_DIVERGING, 0.6f};
            if (st == FX_OK)
                st = fx_canvas_blit(ctx, c, &heat, cr);
        }
    }
    free(grey);
    int by = top + EXPLAIN_CHOSEN * (cell + gap) + 14, bx = margin + label_w, bw = 240;
    fx_canvas_colorbar(c, (fx_canvas_rect){bx, by, bw, bar_h}, FX_COLORMAP_DIVERGING, 0);
    fx_canvas_text(c, bx - 70, by + 3, "negative", 1, ink);
    fx_canvas_text(c, bx + bw + 8, by + 3, "positive", 1, ink);
    text_centered(c, bx + bw / 2, by + bar_h + 8, "response, scaled per filter", 1, muted);
    if (st == FX_OK)
        st = fx_canvas_write_png(ctx, c, path);
    fx_canvas_destroy(c);
    return st;
}

/* Filters ordered by the height of their average positive peak (NaN last). */
static int compare_height(const void *a, const void *b, void *arg)
{
    const explain_data *d = arg;
    double x = d->pos[*(const int *)a].y, y = d->pos[*(const int *)b].y;
    if (isnan(x) || isnan(y))
        return isnan(x) - isnan(y);
    return (x > y) - (x < y);
}

fx_status explain_draw_occlusion(fx_context *ctx, const explain_data *d, const char *path)
{
    const int thumb = 96, chart_w = 640, row_h = thumb + 14, margin = 24, top = 64, label_w = 150;
    int W = margin * 2 + thumb + 16 + label_w + chart_w, H = top + d->n_regions * row_h + 50;
    int K = d->feature_dim;
    int *order = malloc((size_t)(K > 0 ? K : 1) * sizeof *order);
    if (!order)
        return fx_fail(ctx, FX_ERR_NOMEM, "explain: out of memory drawing the occlusion chart");
    for (int k = 0; k < K; k++)
        order[k] = k;
    if (K == d->filters)
        qsort_r(order, (size_t)K, sizeof *order, compare_height, (void *)d);
    double vmax = 1e-12;
    for (int r = 0; r < d->n_regions; r++)
        for (int k = 0; k < K; k++)
            vmax = d->regions[r].change[k] > vmax ? d->regions[r].change[k] : vmax;
    fx_canvas *c = NULL;
    fx_status st = fx_canvas_create(ctx, W, H, paper, &c);
    if (st != FX_OK) {
        free(order);
        return st;
    }
    char line[256];
    fx_canvas_text(c, margin, 14, "Feature change per filter when a face part is hidden", 2, ink);
    snprintf(line, sizeof line,
             "mean |f - f_occluded| of %s over %lld faces; bars: filters ordered by the height of their average "
             "peak (forehead left, chin right)",
             d->feature, (long long)d->n);
    fx_canvas_text(c, margin, 40, line, 1, muted);
    float sc = (float)thumb / (float)d->in_w;
    for (int r = 0; r < d->n_regions && st == FX_OK; r++) {
        const explain_region *reg = &d->regions[r];
        int y0 = top + r * row_h, x0 = margin;
        st = blit_face(ctx, c, d->mean_face, d->channels, d->in_w, d->in_h, (fx_canvas_rect){x0, y0, thumb, thumb});
        fx_canvas_rect win = {x0 + (int)lroundf((float)reg->window.x * sc), y0 + (int)lroundf((float)reg->window.y * sc),
                              (int)lroundf((float)reg->window.width * sc), (int)lroundf((float)reg->window.height * sc)};
        fx_canvas_fill_rect(c, win, (fx_rgb){0, 0, 0});
        int lx = x0 + thumb + 16;
        fx_canvas_text(c, lx, y0 + 30, reg->name, 2, ink);
        snprintf(line, sizeof line, "mean %.3g", reg->mean_change);
        fx_canvas_text(c, lx, y0 + 56, line, 1, muted);
        /* the bars */
        int cx = lx + label_w, base = y0 + thumb;
        fx_canvas_fill_rect(c, (fx_canvas_rect){cx, y0, chart_w, thumb}, (fx_rgb){246, 246, 248});
        for (int i = 0; i < K; i++) {
            double v = reg->change[order[i]] / vmax;
            int xa = cx + (int)((int64_t)i * chart_w / K), xb = cx + (int)((int64_t)(i + 1) * chart_w / K);
            int hgt = (int)lround(v * (thumb - 4));
            fx_rgb col = fx_colormap_rgb(FX_COLORMAP_VIRIDIS, 0.15f + 0.75f * (float)i / (float)(K > 1 ? K - 1 : 1));
            fx_canvas_fill_rect(c, (fx_canvas_rect){xa, base - hgt, xb - xa > 1 ? xb - xa - (K < 200) : 1, hgt}, col);
        }
        fx_canvas_line(c, cx, base, cx + chart_w, base, 1.0f, muted);
    }
    snprintf(line, sizeof line, "bar height: change / %.3g (the largest change of any filter and part)", vmax);
    fx_canvas_text(c, margin + thumb + 16 + label_w, top + d->n_regions * row_h + 8, line, 1, muted);
    free(order);
    if (st == FX_OK)
        st = fx_canvas_write_png(ctx, c, path);
    fx_canvas_destroy(c);
    return st;
}
