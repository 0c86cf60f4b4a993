/* cli/explain_report.c - explain.json (every number of `fxrun explain`)
 * and explain.html (one self-contained page: inline style, no scripts,
 * relative links to the PNGs beside it). Both are composed in memory and
 * written atomically (fx_file_write_atomic). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/explain.h"
#include "fx/file.h"

/* ---- JSON ------------------------------------------------------------------ */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* A number, or null for NaN/inf (JSON has neither). */
static void json_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

static void json_location(FILE *f, const fx_filter_location *l)
{
    fputs("{\"x\": ", f);
    json_number(f, l->x);
    fputs(", \"y\": ", f);
    json_number(f, l->y);
    fputs(", \"deviation\": ", f);
    json_number(f, l->deviation);
    fputs(", \"weight\": ", f);
    json_number(f, l->weight);
    fprintf(f, ", \"count\": %lld}", (long long)l->count);
}

static void json_spread(FILE *f, const fx_spread *s)
{
    fputs("{\"rms\": ", f);
    json_number(f, s->rms);
    fputs(", \"mean_distance\": ", f);
    json_number(f, s->mean);
    fputs(", \"centroid\": [", f);
    json_number(f, s->centroid_x);
    fputs(", ", f);
    json_number(f, s->centroid_y);
    fprintf(f, "], \"filters\": %d}", s->filters);
}

/* Finishes a memory stream and writes it atomically. */
static fx_status write_stream(fx_context *ctx, FILE *f, char **buf, size_t *size, const char *path)
{
    if (fclose(f) != 0 || !*buf) {
        free(*buf);
        return fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory composing the file", path);
    }
    fx_status st = fx_file_write_atomic(ctx, path, *buf, *size);
    free(*buf);
    return st;
}

fx_status explain_write_json(fx_context *ctx, const explain_data *d, const char *path)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory composing the file", path);
    fputs("{\n  \"graph\": ", f);
    json_string(f, d->graph_path);
    fputs(",\n  \"checkpoint\": ", f);
    json_string(f, d->checkpoint);
    fputs(",\n  \"images\": ", f);
    json_string(f, d->images);
    fputs(",\n  \"landmarks\": ", f);
    if (d->landmarks_path)
        json_string(f, d->landmarks_path);
    else
        fputs("null", f);
    fputs(",\n  \"box\": ", f);
    if (d->has_box)
        fprintf(f, "[%d, %d, %d, %d]", d->box[0], d->box[1], d->box[2], d->box[3]);
    else
        fputs("null", f);
    fputs(",\n  \"value\": ", f);
    json_string(f, d->value);
    fputs(",\n  \"feature\": ", f);
    json_string(f, d->feature);
    fprintf(f, ",\n  \"faces\": %lld,\n  \"faces_warped\": %lld,\n  \"landmark_points\": %d,\n", (long long)d->n,
            (long long)d->n_warped, d->landmark_points);
    fprintf(f, "  \"input\": [%d, %d, %d],\n  \"maps\": [%d, %d, %d],\n", d->channels, d->in_h, d->in_w, d->filters,
            d->map_h, d->map_w);
    fputs("  \"coordinates\": \"input pixels of the mean face frame; (0, 0) is the centre of the top-left pixel; "
          "map cell x maps to (x + 0.5) * input / map - 0.5\",\n",
          f);
    fputs("  \"spread\": {\"positive\": ", f);
    json_spread(f, &d->spread_pos);
    fputs(", \"negative\": ", f);
    json_spread(f, &d->spread_neg);
    fputs("},\n  \"median_deviation\": ", f);
    json_number(f, d->median_deviation);
    fputs(",\n  \"chosen_filters\": [", f);
    for (int i = 0; i < EXPLAIN_CHOSEN; i++) {
        fprintf(f, "%s{\"filter\": %d, \"why\": ", i ? ", " : "", d->chosen[i]);
        json_string(f, d->chosen_label[i]);
        fputc('}', f);
    }
    fputs("],\n  \"heatmap_faces\": [", f);
    for (int i = 0; i < d->n_faces; i++)
        fprintf(f, "%s%lld", i ? ", " : "", (long long)d->face_index[i]);
    fputs("],\n  \"occlusion\": [", f);
    for (int r = 0; r < d->n_regions; r++) {
        const explain_region *reg = &d->regions[r];
        fprintf(f, "%s\n    {\"part\": ", r ? "," : "");
        json_string(f, reg->name);
        fprintf(f, ", \"window\": {\"x\": %d, \"y\": %d, \"width\": %d, \"height\": %d, \"frame\": %d, \"value\": ",
                reg->window.x, reg->window.y, reg->window.width, reg->window.height, reg->window.frame);
        json_number(f, reg->window.value);
        fputs("}, \"mean_change\": ", f);
        json_number(f, reg->mean_change);
        fputc('}', f);
    }
    fputs("\n  ],\n  \"filters\": [", f);
    for (int k = 0; k < d->filters; k++) {
        fprintf(f, "%s\n    {\"filter\": %d, \"positive\": ", k ? "," : "", k);
        json_location(f, &d->pos[k]);
        fputs(", \"negative\": ", f);
        json_location(f, &d->neg[k]);
        if (d->feature_dim == d->filters && d->n_regions > 0) {
            fputs(", \"feature_change\": {", f);
            for (int r = 0; r < d->n_regions; r++) {
                fprintf(f, "%s", r ? ", " : "");
                json_string(f, d->regions[r].name);
                fputs(": ", f);
                json_number(f, d->regions[r].change[k]);
            }
            fputc('}', f);
        }
        fputc('}', f);
    }
    fprintf(f, "\n  ],\n  \"seconds\": %.1f\n}\n", d->seconds);
    return write_stream(ctx, f, &buf, &size, path);
}

/* ---- HTML ------------------------------------------------------------------ */

static void html_text(FILE *f, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        switch (*p) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*p, f);
        }
    }
}

static const char *html_style =
    "body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1e1e24;background:#f6f6f8;margin:0}"
    "main{max-width:1000px;margin:0 auto;padding:24px 28px 48px;background:#fff;min-height:100vh}"
    "h1{font-size:26px;margin:8px 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:1px solid #ddd}"
    ".lead{color:#555;margin-top:0}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:18px 0}"
    ".card{flex:1 1 180px;border:1px solid #e2e2e8;border-radius:8px;padding:10px 14px;background:#fafafc}"
    ".card b{display:block;font-size:24px}.card span{color:#666;font-size:13px}"
    "table{border-collapse:collapse;margin:8px 0}td,th{border-bottom:1px solid #e6e6ea;padding:4px 12px 4px 0;"
    "text-align:left;vertical-align:top}th{color:#555;font-weight:600}td.n{text-align:right;font-variant-numeric:"
    "tabular-nums}"
    "figure{margin:16px 0}figure img{max-width:100%;height:auto;border:1px solid #e2e2e8;border-radius:4px}"
    "figcaption{color:#444;font-size:14px;margin-top:6px}code{background:#f0f0f4;padding:1px 4px;border-radius:3px}";

static void card(FILE *f, const char *value, const char *label)
{
    fprintf(f, "<div class=\"card\"><b>%s</b><span>", value);
    html_text(f, label);
    fputs("</span></div>\n", f);
}

fx_status explain_write_html(fx_context *ctx, const explain_data *d, const char *path)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return fx_fail(ctx, FX_ERR_NOMEM, "%s: out of memory composing the file", path);
    char v[64], l[256];
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
               "<title>What the filters learned: ");
    html_text(f, d->value);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n", html_style);
    fputs("<h1>What the filters of <code>", f);
    html_text(f, d->value);
    fputs("</code> learned</h1>\n<p class=\"lead\">", f);
    fprintf(f, "%d filters, %dx%d response maps, over %lld faces of %dx%d pixels from <code>", d->filters, d->map_w,
            d->map_h, (long long)d->n, d->in_w, d->in_h);
    html_text(f, d->images);
    fputs("</code>. Graph <code>", f);
    html_text(f, d->graph_path);
    fputs("</code>, weights <code>", f);
    html_text(f, d->checkpoint);
    fputs("</code>.</p>\n<div class=\"cards\">\n", f);
    /* the paper's figures are on 96x96 faces: the same spread at that scale */
    double to96 = 96.0 / (double)d->in_w;
    snprintf(v, sizeof v, "%.1f px", d->spread_pos.rms);
    snprintf(l, sizeof l,
             "spread of the filters' positive peaks (%.1f px at 96x96; larger: filters cover more distinct face "
             "parts)",
             d->spread_pos.rms * to96);
    card(f, v, l);
    snprintf(v, sizeof v, "%.1f px", d->spread_neg.rms);
    snprintf(l, sizeof l, "spread of the negative peaks (%.1f px at 96x96)", d->spread_neg.rms * to96);
    card(f, v, l);
    snprintf(v, sizeof v, "%.1f px", d->median_deviation);
    card(f, v, "median deviation of a filter's peaks (smaller: a filter keeps to one face part)");
    snprintf(v, sizeof v, "%lld / %lld", (long long)d->n_warped, (long long)d->n);
    card(f, v,
         d->landmark_points == FX_FACE_POINTS68 ? "faces warped to the mean face through their 68 landmarks"
         : d->landmark_points > 0 ? "faces warped to the mean face (their landmarks are not the 68-point scheme: "
                                    "peaks stay in the crop frame)"
                                  : "faces warped to the mean face (no --landmarks: peaks stay in the crop frame)");
    fputs("</div>\n", f);

    fputs("<h2>Where each filter peaks</h2>\n<figure><img src=\"peaks.png\" alt=\"average peak locations of every "
          "filter over the mean face, coloured by deviation\">\n<figcaption>Each dot is one filter: the "
          "|response|-weighted average location of its strongest positive (left) and negative (right) response "
          "over all faces, drawn on the mean face. Its colour is the filter's deviation, how far its peaks wander "
          "from that average (dark: consistent). The circle's radius is the spread: the RMS distance of the dots "
          "from their centroid (the cross).</figcaption></figure>\n",
          f);
    fputs("<h2>Response maps</h2>\n<figure><img src=\"heatmaps.png\" alt=\"response maps of three filters over "
          "several faces\">\n<figcaption>The filter with the lowest, the median and the highest deviation, "
          "over faces of different people (one per column). Red is a positive response, blue a negative one, "
          "scaled per filter. A consistent filter lights up the same face part on every face.</figcaption>"
          "</figure>\n",
          f);
    if (d->n_regions > 0) {
        fputs("<h2>Hiding face parts</h2>\n<figure><img src=\"occlusion.png\" alt=\"feature change per filter when a "
              "face part is occluded\">\n<figcaption>A black window (the paper's 32x12 on a 96x96 face, scaled to the "
              "input) hides one face part of every face, placed on the mean face",
              f);
        fputs(d->n_warped ? " and warped to each face through its landmarks" : " and at the same place in every crop",
              f);
        fputs(". The bars are the mean change of each filter's feature (<code>", f);
        html_text(f, d->feature);
        fputs("</code>); filters are ordered by the height of their average peak, so with interpretable filters "
              "hiding the forehead moves the bars on the left and hiding the mouth those on the right."
              "</figcaption></figure>\n",
              f);
        fputs("<table>\n<tr><th>hidden part</th><th>window (x, y, w, h)</th><th>mean feature change</th>"
              "<th>most changed filters</th></tr>\n",
              f);
        for (int r = 0; r < d->n_regions; r++) {
            const explain_region *reg = &d->regions[r];
            fprintf(f, "<tr><td>%s</td><td>%d, %d, %d, %d</td><td class=\"n\">%.4g</td><td>", reg->name, reg->window.x,
                    reg->window.y, reg->window.width, reg->window.height, reg->mean_change);
            /* the three largest changes */
            int top[3] = {-1, -1, -1};
            for (int k = 0; k < d->feature_dim; k++)
                for (int t = 0; t < 3; t++)
                    if (top[t] < 0 || reg->change[k] > reg->change[top[t]]) {
                        for (int u = 2; u > t; u--)
                            top[u] = top[u - 1];
                        top[t] = k;
                        break;
                    }
            for (int t = 0; t < 3 && top[t] >= 0; t++)
                fprintf(f, "%s%d (%.3g)", t ? ", " : "", top[t], reg->change[top[t]]);
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }

    fputs("<h2>Figures</h2>\n<table>\n", f);
    snprintf(l, sizeof l, "%.2f px (mean distance %.2f px)", d->spread_pos.rms, d->spread_pos.mean);
    fprintf(f, "<tr><th>spread, positive peaks</th><td>%s</td></tr>\n", l);
    snprintf(l, sizeof l, "%.2f px (mean distance %.2f px)", d->spread_neg.rms, d->spread_neg.mean);
    fprintf(f, "<tr><th>spread, negative peaks</th><td>%s</td></tr>\n", l);
    fprintf(f, "<tr><th>median deviation</th><td>%.2f px</td></tr>\n", d->median_deviation);
    for (int i = 0; i < EXPLAIN_CHOSEN; i++)
        fprintf(f, "<tr><th>%s</th><td>filter %d: %.2f px</td></tr>\n", d->chosen_label[i], d->chosen[i],
                explain_filter_deviation(d, d->chosen[i]));
    fprintf(f, "<tr><th>faces</th><td>%lld (%lld warped; landmarks per face: %d)</td></tr>\n", (long long)d->n,
            (long long)d->n_warped, d->landmark_points);
    if (d->has_box)
        fprintf(f, "<tr><th>box</th><td>%d, %d, %d, %d</td></tr>\n", d->box[0], d->box[1], d->box[2], d->box[3]);
    fprintf(f, "<tr><th>input / maps</th><td>%dx%dx%d / %dx%dx%d</td></tr>\n", d->channels, d->in_h, d->in_w,
            d->filters, d->map_h, d->map_w);
    fprintf(f, "<tr><th>time</th><td>%.1f s</td></tr>\n</table>\n", d->seconds);
    fputs("<p>Every number is in <a href=\"explain.json\">explain.json</a>. The spread is the RMS distance of the "
          "filters' average peak locations from their centroid, in pixels of this input size; the paper reports "
          "6.9 (base CNN), 17.1 (SAD) and 18.7 (SAD+FAD) pixels on 96x96 faces. Scale by 96 / input size to "
          "compare. Definitions: <code>docs/interpretability.md</code>.</p>\n",
          f);
    fputs("</main>\n</body>\n</html>\n", f);
    return write_stream(ctx, f, &buf, &size, path);
}
