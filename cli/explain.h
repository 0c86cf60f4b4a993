/* cli/explain.h - what `fxrun explain` computes (cmd_explain.c) and hands
 * to its writers: the pictures (explain_pictures.c) and explain.json and
 * explain.html (explain_report.c). Coordinates are input pixels of the
 * mean face frame ((0, 0) = centre of the top-left pixel); images are CHW
 * floats in [0, 1] (normalisation undone for display). */
#ifndef FX_CLI_EXPLAIN_H
#define FX_CLI_EXPLAIN_H

#include "fx/fx.h"
#include "fx/face.h"
#include "fx/interpret.h"

#define EXPLAIN_MAX_FACES 6
#define EXPLAIN_MAX_REGIONS 8
#define EXPLAIN_CHOSEN 3

typedef struct explain_region {
    const char *name;      /* "forehead", "left eye", ... (the viewer's left) */
    fx_occlusion window;   /* in the mean face frame */
    double *change;        /* [K]: mean |f - f_occluded| per feature */
    double mean_change;    /* over the K features */
} explain_region;

typedef struct explain_data {
    /* settings */
    const char *graph_path, *checkpoint, *images, *landmarks_path;
    char value[FX_NAME_MAX], feature[FX_NAME_MAX];
    int has_box, box[4];
    int64_t n;               /* images used */
    int64_t n_available;     /* images in the folder (before --limit) */
    int filters, map_h, map_w;
    int channels, in_h, in_w;
    int landmark_points;     /* per image in the CSV (0: none) */
    int64_t n_warped;        /* images whose peaks went through the 68-point mesh */
    /* results */
    float *mean_face;        /* [C, in_h, in_w] in [0, 1] */
    fx_filter_location *pos, *neg; /* [K] each */
    fx_spread spread_pos, spread_neg;
    double median_deviation; /* over filters, of (pos + neg) / 2 */
    /* heat maps: a few faces of distinct identities and their maps */
    int n_faces;
    int64_t face_index[EXPLAIN_MAX_FACES];
    float *faces;            /* [n_faces, C, in_h, in_w] in [0, 1] */
    float *face_maps;        /* [n_faces, K, map_h, map_w] */
    int chosen[EXPLAIN_CHOSEN];           /* filters: lowest, median, highest deviation */
    const char *chosen_label[EXPLAIN_CHOSEN];
    /* occlusion */
    int feature_dim;         /* K' of the feature; equals filters when one feature per filter */
    int n_regions;
    explain_region regions[EXPLAIN_MAX_REGIONS];
    double seconds;          /* wall time */
} explain_data;

/* The filter's deviation used to rank filters: mean of its positive and
 * negative peaks' deviations (NaN when neither has peaks). */
double explain_filter_deviation(const explain_data *d, int k);

/* explain_pictures.c: each writes one PNG (atomically). */
fx_status explain_draw_peaks(fx_context *ctx, const explain_data *d, const char *path);
fx_status explain_draw_heatmaps(fx_context *ctx, const explain_data *d, const char *path);
fx_status explain_draw_occlusion(fx_context *ctx, const explain_data *d, const char *path);

/* explain_report.c */
fx_status explain_write_json(fx_context *ctx, const explain_data *d, const char *path);
fx_status explain_write_html(fx_context *ctx, const explain_data *d, const char *path);

#endif
