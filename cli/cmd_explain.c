/* cli/cmd_explain.c - `fxrun explain GRAPH.yaml --images DIR`: what the
 * filters of one layer learned, as in Yin et al. (ICCV 2019) section 5.
 *
 *   1. one loader pass over the faces (centre crop, no flip): the mean face
 *      (each face warped to the 68-point mean face when it has 68
 *      landmarks), the landmarks, a few faces of distinct identities;
 *   2. fx_extract_values: the studied maps [K, H, W] and the feature;
 *   3. per image and filter the positive and negative peaks
 *      (fx_interpret_find_peaks), scaled to the input and warped to the
 *      mean face; per filter the average location and deviation, across
 *      filters the spread (fx/interpret.h, docs/interpretability.md);
 *   4. the feature again with a 32x12 window (at 96x96; scaled to the
 *      input) over each face part of the mean face: the change per filter;
 *   5. explain.json, peaks.png, heatmaps.png, occlusion.png, explain.html. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/explain.h"
#include "fx/extract.h"

#define EXPLAIN_DEFAULT_LIMIT 256
#define EXPLAIN_DEFAULT_VALUE "clean.k5bn"

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double explain_filter_deviation(const explain_data *d, int k)
{
    double a = d->pos[k].deviation, b = d->neg[k].deviation;
    if (isnan(a))
        return b;
    if (isnan(b))
        return a;
    return 0.5 * (a + b);
}

/* ---- the face parts occluded (positions on the 68-point mean face) ---- */

typedef struct face_part {
    const char *name;
    int points[8];  /* template points whose centroid is the window's centre; -1 ends */
    float dy;       /* then moved by dy window heights (the forehead sits above the brows) */
} face_part;

/* "left" is the viewer's left (the image's left half). */
static const face_part face_parts[] = {
    {"forehead", {19, 20, 23, 24, -1}, -1.5f},
    {"left eye", {36, 37, 38, 39, 40, 41, -1}, 0.0f},
    {"right eye", {42, 43, 44, 45, 46, 47, -1}, 0.0f},
    {"nose", {30, 31, 32, 33, 34, 35, -1}, 0.0f},
    {"mouth", {48, 51, 54, 57, -1}, 0.0f},
    {"left cheek", {2, 3, 31, 41, -1}, 0.0f},
    {"right cheek", {13, 14, 35, 46, -1}, 0.0f},
};

static void place_windows(explain_data *d, const float *tmpl, float black)
{
    /* the paper's 32x12 window on a 96x96 face, scaled to the input */
    int w = (int)lroundf(32.0f * (float)d->in_w / 96.0f), h = (int)lroundf(12.0f * (float)d->in_h / 96.0f);
    w = w < 1 ? 1 : w;
    h = h < 1 ? 1 : h;
    d->n_regions = (int)(sizeof face_parts / sizeof face_parts[0]);
    for (int r = 0; r < d->n_regions; r++) {
        float cx = 0.0f, cy = 0.0f;
        int m = 0;
        for (int j = 0; face_parts[r].points[j] >= 0; j++, m++) {
            cx += tmpl[2 * face_parts[r].points[j]];
            cy += tmpl[2 * face_parts[r].points[j] + 1];
        }
        cx /= (float)m;
        cy = cy / (float)m + face_parts[r].dy * (float)h;
        explain_region *reg = &d->regions[r];
        reg->name = face_parts[r].name;
        reg->window = (fx_occlusion){(int)lroundf(cx - 0.5f * (float)w), (int)lroundf(cy - 0.5f * (float)h), w, h,
                                     d->in_w, black};
        if (reg->window.y < 0)
            reg->window.y = 0;
    }
}

/* ---- the loader pass: mean face, landmarks, faces for the heat maps ---- */

/* Normalised CHW image -> [0, 1] for display. */
static void unnormalise(const fx_data_config *dc, const float *in, int c, int plane, float *out)
{
    for (int ch = 0; ch < c; ch++) {
        float mean = dc->n_norm ? dc->mean[dc->n_norm > 1 ? ch : 0] : 0.0f;
        float std = dc->n_norm ? dc->std[dc->n_norm > 1 ? ch : 0] : 1.0f;
        for (int i = 0; i < plane; i++) {
            float v = in[ch * plane + i] * std + mean;
            out[ch * plane + i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
    }
}

static float sample_clamped(const float *p, int w, int h, float x, float y)
{
    x = x < 0.0f ? 0.0f : (x > (float)(w - 1) ? (float)(w - 1) : x);
    y = y < 0.0f ? 0.0f : (y > (float)(h - 1) ? (float)(h - 1) : y);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    float top = p[y0 * w + x0] + fx * (p[y0 * w + x1] - p[y0 * w + x0]);
    float bot = p[y1 * w + x0] + fx * (p[y1 * w + x1] - p[y1 * w + x0]);
    return top + fy * (bot - top);
}

static int landmarks_finite(const float *lm, int points)
{
    for (int j = 0; j < 2 * points; j++)
        if (!isfinite(lm[j]))
            return 0;
    return 1;
}

/* Adds `img` warped into the mean face frame (each output pixel sampled
 * where the mesh puts it in the image) to `sum`. 0, or -1 when the mesh
 * cannot map this face (degenerate landmarks). */
static int add_warped(const fx_face_mesh *mesh, const float *tmpl, const float *lm, const float *img, int c, int h,
                      int w, float *sum)
{
    int plane = h * w;
    float sx, sy;
    if (fx_face_mesh_map(mesh, tmpl, lm, 0.5f * (float)w, 0.5f * (float)h, &sx, &sy) != 0)
        return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (fx_face_mesh_map(mesh, tmpl, lm, (float)x, (float)y, &sx, &sy) != 0)
                continue;
            for (int ch = 0; ch < c; ch++)
                sum[ch * plane + y * w + x] += sample_clamped(img + ch * plane, w, h, sx, sy);
        }
    return 0;
}

/* The mean face shape: the mean of the 68 landmarks of every face that has
 * them, in the input frame (after box, resize and centre crop). Peaks and
 * faces are warped to this shape, not to a template scaled to the frame:
 * it keeps the faces' own scale and margins, so the mean face is as large
 * as the faces are and a peak on the background stays near the face.
 * *count is the number of faces averaged (0: no warping). */
static fx_status mean_landmarks(fx_context *ctx, fx_dataset *ds, const fx_config *cfg, float *shape,
                                int64_t *count)
{
    const int P = FX_FACE_POINTS68, batch = 32;
    fx_shape ex = fx_dataset_example_shape(ds, &cfg->data);
    int64_t per = fx_shape_numel(&ex);
    fx_loader *ld = NULL;
    fx_loader_options lo = {.batch = batch, .shuffle = 0, .augment = 0, .drop_last = 0, .seed = cfg->train.seed};
    fx_status st = fx_loader_create(ctx, ds, &cfg->data, &lo, &ld);
    if (st != FX_OK)
        return st;
    float *images = fx_malloc(ctx, (size_t)(batch * per) * sizeof(float), "explain: image batch");
    int32_t *labels = fx_malloc(ctx, (size_t)batch * sizeof(int32_t), "explain: labels");
    float *lm = fx_malloc(ctx, (size_t)batch * P * 2 * sizeof(float), "explain: landmarks");
    double sum[2 * FX_FACE_POINTS68] = {0};
    *count = 0;
    if (!images || !labels || !lm)
        st = FX_ERR_NOMEM;
    if (st == FX_OK)
        st = fx_loader_start_epoch(ld, 0);
    while (st == FX_OK) {
        int got = 0;
        st = fx_loader_next_landmarks(ld, images, labels, lm, &got);
        if (st != FX_OK || got == 0)
            break;
        for (int b = 0; b < got; b++) {
            const float *one = lm + (size_t)b * P * 2;
            if (!landmarks_finite(one, P))
                continue;
            for (int j = 0; j < 2 * P; j++)
                sum[j] += one[j];
            (*count)++;
        }
    }
    if (st == FX_OK && *count > 0)
        for (int j = 0; j < 2 * P; j++)
            shape[j] = (float)(sum[j] / (double)*count);
    free(images);
    free(labels);
    free(lm);
    fx_loader_destroy(ld);
    return st;
}

typedef struct face_pass {
    float *landmarks;   /* [n, P, 2] or NULL */
    unsigned char *warp_ok; /* [n]: peaks of image i go through the mesh */
} face_pass;

static fx_status read_faces(fx_context *ctx, fx_dataset *ds, const fx_config *cfg, const fx_face_mesh *mesh,
                            const float *tmpl, explain_data *d, face_pass *fp)
{
    const fx_data_config *dc = &cfg->data;
    int batch = 32, c = d->channels, plane = d->in_h * d->in_w, P = d->landmark_points;
    int64_t per = (int64_t)c * plane;
    fx_loader *ld = NULL;
    fx_loader_options lo = {.batch = batch, .shuffle = 0, .augment = 0, .drop_last = 0, .seed = cfg->train.seed};
    fx_status st = fx_loader_create(ctx, ds, dc, &lo, &ld);
    if (st != FX_OK)
        return st;
    float *images = fx_malloc(ctx, (size_t)(batch * per) * sizeof(float), "explain: image batch");
    float *shown = fx_malloc(ctx, (size_t)per * sizeof(float), "explain: one face");
    int32_t *labels = fx_malloc(ctx, (size_t)batch * sizeof(int32_t), "explain: labels");
    float *lm_batch = P > 0 ? fx_malloc(ctx, (size_t)batch * P * 2 * sizeof(float), "explain: landmarks") : NULL;
    float *mean = fx_calloc(ctx, (size_t)per, sizeof(float), "explain: mean face");
    d->faces = fx_malloc(ctx, (size_t)(EXPLAIN_MAX_FACES * per) * sizeof(float), "explain: faces");
    fp->warp_ok = fx_calloc(ctx, (size_t)d->n, 1, "explain: warp flags");
    if (P > 0)
        fp->landmarks = fx_malloc(ctx, (size_t)d->n * P * 2 * sizeof(float), "explain: all landmarks");
    if (!images || !shown || !labels || (P > 0 && (!lm_batch || !fp->landmarks)) || !mean || !d->faces ||
        !fp->warp_ok)
        st = FX_ERR_NOMEM;
    int32_t seen[EXPLAIN_MAX_FACES];
    int64_t done = 0;
    if (st == FX_OK)
        st = fx_loader_start_epoch(ld, 0);
    while (st == FX_OK) {
        int count = 0;
        st = fx_loader_next_landmarks(ld, images, labels, lm_batch, &count);
        if (st != FX_OK || count == 0)
            break;
        for (int b = 0; b < count && done < d->n; b++, done++) {
            unnormalise(dc, images + b * per, c, plane, shown);
            const float *lm = P > 0 ? lm_batch + (size_t)b * P * 2 : NULL;
            if (lm)
                memcpy(fp->landmarks + (size_t)done * P * 2, lm, (size_t)P * 2 * sizeof(float));
            int warped = 0;
            if (mesh && lm && landmarks_finite(lm, P))
                warped = add_warped(mesh, tmpl, lm, shown, c, d->in_h, d->in_w, mean) == 0;
            if (!warped)
                for (int64_t j = 0; j < per; j++)
                    mean[j] += shown[j];
            fp->warp_ok[done] = (unsigned char)warped;
            d->n_warped += warped;
            /* faces for the heat maps: the first image of each new
             * identity; with fewer identities than columns (a folder of
             * unlabelled faces is one identity), images spread evenly
             * over the set fill the rest */
            int fresh = d->n_faces < EXPLAIN_MAX_FACES;
            for (int f = 0; f < d->n_faces && fresh; f++)
                fresh = seen[f] != labels[b];
            int64_t spacing = d->n / EXPLAIN_MAX_FACES > 1 ? d->n / EXPLAIN_MAX_FACES : 1;
            if (!fresh && d->n_faces < EXPLAIN_MAX_FACES && fx_dataset_classes(ds) < EXPLAIN_MAX_FACES &&
                done % spacing == 0 && done > 0)
                fresh = 1;
            if (fresh) {
                seen[d->n_faces] = labels[b];
                d->face_index[d->n_faces] = done;
                memcpy(d->faces + d->n_faces * per, shown, (size_t)per * sizeof(float));
                d->n_faces++;
            }
        }
    }
    if (st == FX_OK && done != d->n)
        st = fx_fail(ctx, FX_ERR_INTERNAL, "explain: the loader gave %lld of %lld images", (long long)done,
                     (long long)d->n);
    if (st == FX_OK) {
        for (int64_t j = 0; j < per; j++)
            mean[j] /= (float)d->n;
        d->mean_face = mean;
        mean = NULL;
    }
    free(mean);
    free(images);
    free(shown);
    free(labels);
    free(lm_batch);
    fx_loader_destroy(ld);
    return st;
}

/* ---- peaks ------------------------------------------------------------------ */

static fx_status compute_peaks(fx_context *ctx, const fx_extracted *maps, const fx_face_mesh *mesh,
                               const float *tmpl, const face_pass *fp, explain_data *d)
{
    int K = d->filters, P = d->landmark_points;
    int64_t n = d->n, plane = (int64_t)d->map_h * d->map_w;
    fx_peak *pos = fx_malloc(ctx, (size_t)(n * K) * sizeof *pos, "explain: positive peaks");
    fx_peak *neg = fx_malloc(ctx, (size_t)(n * K) * sizeof *neg, "explain: negative peaks");
    d->pos = fx_calloc(ctx, (size_t)K, sizeof *d->pos, "explain: filter locations");
    d->neg = fx_calloc(ctx, (size_t)K, sizeof *d->neg, "explain: filter locations");
    fx_status st = pos && neg && d->pos && d->neg ? FX_OK : FX_ERR_NOMEM;
    for (int64_t i = 0; i < n && st == FX_OK; i++) {
        fx_interpret_find_peaks(maps->data + i * K * plane, K, d->map_h, d->map_w, pos + i * K, neg + i * K);
        fx_interpret_scale_peaks(pos + i * K, K, d->map_w, d->map_h, d->in_w, d->in_h);
        fx_interpret_scale_peaks(neg + i * K, K, d->map_w, d->map_h, d->in_w, d->in_h);
        if (!fp->warp_ok[i])
            continue;
        const float *lm = fp->landmarks + (size_t)i * P * 2;
        for (int k = 0; k < 2 * K; k++) {
            fx_peak *p = k < K ? &pos[i * K + k] : &neg[i * K + k - K];
            float ox, oy;
            if (!isfinite(p->x))
                continue;
            if (fx_face_mesh_map(mesh, lm, tmpl, p->x, p->y, &ox, &oy) == 0) {
                p->x = ox;
                p->y = oy;
            } else {
                *p = (fx_peak){NAN, NAN, 0.0f}; /* cannot be placed on the mean face: left out */
            }
        }
    }
    if (st == FX_OK)
        st = fx_interpret_filter_locations(ctx, pos, n, K, d->pos);
    if (st == FX_OK)
        st = fx_interpret_filter_locations(ctx, neg, n, K, d->neg);
    if (st == FX_OK)
        st = fx_interpret_spread(ctx, d->pos, K, &d->spread_pos);
    if (st == FX_OK)
        st = fx_interpret_spread(ctx, d->neg, K, &d->spread_neg);
    free(pos);
    free(neg);
    return st;
}

static int compare_by_deviation(const void *a, const void *b, void *arg)
{
    const explain_data *d = arg;
    double x = explain_filter_deviation(d, *(const int *)a), y = explain_filter_deviation(d, *(const int *)b);
    if (isnan(x) || isnan(y))
        return isnan(x) - isnan(y); /* NaN last */
    return (x > y) - (x < y);
}

static fx_status choose_filters(fx_context *ctx, explain_data *d)
{
    int K = d->filters;
    int *order = fx_malloc(ctx, (size_t)K * sizeof *order, "explain: filter order");
    if (!order)
        return FX_ERR_NOMEM;
    for (int k = 0; k < K; k++)
        order[k] = k;
    qsort_r(order, (size_t)K, sizeof *order, compare_by_deviation, d);
    int valid = 0;
    while (valid < K && !isnan(explain_filter_deviation(d, order[valid])))
        valid++;
    if (valid == 0)
        valid = K;
    d->chosen[0] = order[0];
    d->chosen[1] = order[valid / 2];
    d->chosen[2] = order[valid - 1];
    d->chosen_label[0] = "lowest deviation";
    d->chosen_label[1] = "median deviation";
    d->chosen_label[2] = "highest deviation";
    d->median_deviation = explain_filter_deviation(d, order[valid / 2]);
    free(order);
    return FX_OK;
}

/* ---- extraction ------------------------------------------------------------- */

/* Per filter spatial mean of maps [n, K, H, W] -> [n, K]. */
static float *pool_maps(fx_context *ctx, const fx_extracted *maps, int K)
{
    int64_t n = maps->n, plane = maps->shape.dim[1] * maps->shape.dim[2];
    float *out = fx_malloc(ctx, (size_t)(n * K) * sizeof(float), "explain: pooled maps");
    if (!out)
        return NULL;
    for (int64_t i = 0; i < n * K; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < plane; j++)
            s += maps->data[i * plane + j];
        out[i] = (float)(s / (double)plane);
    }
    return out;
}

/* Loads a fresh graph (fx_extract_values plans it) and extracts `names`.
 * FX_ERR_INVALID when the graph file fails to load (already printed). */
static fx_status extract(fx_context *ctx, const cli_options *o, fx_backend *be, fx_dataset *ds,
                         const char *const *names, int n_names, const fx_occlusion *occlude, fx_extracted *out)
{
    fx_graph *g = NULL;
    fx_config cfg;
    if (cli_load(ctx, o, &g, &cfg) != 0)
        return FX_ERR_INVALID;
    fx_extract_options eo = {.backend = be, .batch = 0, .occlude = occlude, .progress = o->progress, .log = stderr};
    fx_status st = fx_extract_values(ctx, g, &cfg, cfg.train.checkpoint, ds, names, n_names, &eo, out);
    fx_graph_destroy(g);
    return st;
}

static int make_folder(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "fxrun: %s: cannot create the output folder: %s\n", path, strerror(errno));
        return 1;
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "fxrun: %s: exists and is not a folder; choose another --out\n", path);
        return 1;
    }
    return 0;
}

static void free_data(explain_data *d)
{
    free(d->mean_face);
    free(d->pos);
    free(d->neg);
    free(d->faces);
    free(d->face_maps);
    for (int r = 0; r < d->n_regions; r++)
        free(d->regions[r].change);
}

int cli_cmd_explain(fx_context *ctx, const cli_options *o)
{
    double t0 = wall_seconds();
    if (!o->images) {
        fprintf(stderr, "fxrun: explain needs the faces: --images DIR (DIR/<identity>/<image>; see --help)\n");
        return 2;
    }
    fx_graph *g = NULL;
    fx_config cfg;
    fx_backend *be = NULL;
    if (cli_load(ctx, o, &g, &cfg) != 0)
        return 1;
    if (cli_backend(ctx, o, &cfg, &be) != 0) {
        fx_graph_destroy(g);
        return 1;
    }

    explain_data d;
    memset(&d, 0, sizeof d);
    d.graph_path = o->graph_path;
    d.checkpoint = cfg.train.checkpoint;
    d.images = o->images;
    d.landmarks_path = o->landmarks;
    memcpy(d.box, cfg.data.box, sizeof d.box);
    d.has_box = cfg.data.box[2] > 0;
    const char *out_dir = o->out_dir ? o->out_dir : "explain";

    /* the studied value and the feature */
    int rc = 0;
    if (o->value)
        snprintf(d.value, sizeof d.value, "%s", o->value);
    else if (fx_graph_keep(g, EXPLAIN_DEFAULT_VALUE) == FX_OK) /* it exists (this graph is thrown away) */
        snprintf(d.value, sizeof d.value, "%s", EXPLAIN_DEFAULT_VALUE);
    else {
        fx_context_clear_error(ctx);
        fprintf(stderr,
                "fxrun: %s: the graph has no value '%s' (the paper's layer); name the response maps to study "
                "with --value NAME (a layer's output [K, H, W])\n",
                o->graph_path, EXPLAIN_DEFAULT_VALUE);
        rc = 2;
    }
    if (rc == 0 && o->feature)
        snprintf(d.feature, sizeof d.feature, "%s", o->feature);
    else if (rc == 0 && fx_extract_default_feature(ctx, g, &cfg, d.feature, sizeof d.feature) != FX_OK)
        rc = cli_error(ctx);
    fx_graph_destroy(g);
    if (rc)
        return rc;

    /* the faces */
    fx_data_source src;
    memset(&src, 0, sizeof src);
    src.kind = FX_DATA_IMAGEFOLDER;
    snprintf(src.root, sizeof src.root, "%s", o->images);
    if (o->landmarks)
        snprintf(src.landmarks, sizeof src.landmarks, "%s", o->landmarks);
    src.limit = o->limit > 0 ? o->limit : EXPLAIN_DEFAULT_LIMIT;
    fx_dataset *ds = NULL;
    if (fx_dataset_open(ctx, &src, &cfg.data, &ds) != FX_OK)
        return cli_error(ctx);
    fx_shape ex = fx_dataset_example_shape(ds, &cfg.data);
    d.n = fx_dataset_size(ds);
    d.channels = (int)ex.dim[0];
    d.in_h = (int)ex.dim[1];
    d.in_w = (int)ex.dim[2];
    d.landmark_points = fx_dataset_landmark_points(ds);

    float tmpl[2 * FX_FACE_POINTS68];
    fx_face_mesh *mesh = NULL;
    face_pass fp = {NULL, NULL};
    fx_extracted clean[2];
    memset(clean, 0, sizeof clean);
    float *clean_feat = NULL;
    int64_t n_shape = 0;
    fx_status st = FX_OK;
    if (d.landmark_points == FX_FACE_POINTS68)
        st = mean_landmarks(ctx, ds, &cfg, tmpl, &n_shape);
    if (st == FX_OK && n_shape > 0) {
        st = fx_face_mesh_create(ctx, tmpl, FX_FACE_POINTS68, &mesh);
    } else if (st == FX_OK) {
        /* No 68-point landmarks: the occluded parts sit where the mean
         * face template puts them in the crop frame (the tmpl the windows
         * are placed on must never be left unset). */
        st = fx_face_template68(ctx, d.in_w, tmpl);
        for (int j = 0; st == FX_OK && d.in_h != d.in_w && j < FX_FACE_POINTS68; j++)
            tmpl[2 * j + 1] *= (float)d.in_h / (float)d.in_w;
    }
    if (st == FX_OK && o->verbose)
        fprintf(stderr, "explain: %lld faces of %dx%d from %s%s\n", (long long)d.n, d.in_w, d.in_h, o->images,
                mesh ? " (68 landmarks: peaks warped to the mean face)" : "");
    if (st == FX_OK)
        st = read_faces(ctx, ds, &cfg, mesh, tmpl, &d, &fp);
    if (st != FX_OK)
        rc = cli_error(ctx);

    /* the maps and the feature, clean */
    const char *names[2] = {d.value, d.feature};
    if (rc == 0 && (st = extract(ctx, o, be, ds, names, 2, NULL, clean)) != FX_OK)
        rc = cli_error(ctx);
    if (rc == 0 && clean[0].shape.ndim != 3) {
        fprintf(stderr, "fxrun: value '%s' has %d dimensions per image; explain needs response maps [K, H, W] "
                "(name a convolution or batch-norm output with --value)\n", d.value, clean[0].shape.ndim);
        rc = 2;
    }
    if (rc == 0) {
        d.filters = (int)clean[0].shape.dim[0];
        d.map_h = (int)clean[0].shape.dim[1];
        d.map_w = (int)clean[0].shape.dim[2];
        d.feature_dim = (int)fx_shape_numel(&clean[1].shape);
        st = compute_peaks(ctx, &clean[0], mesh, tmpl, &fp, &d);
        if (st == FX_OK)
            st = choose_filters(ctx, &d);
        /* the maps of the heat-map faces; then the big array can go */
        int64_t per_maps = (int64_t)d.filters * d.map_h * d.map_w;
        if (st == FX_OK) {
            d.face_maps = fx_malloc(ctx, (size_t)(d.n_faces * per_maps) * sizeof(float), "explain: face maps");
            if (!d.face_maps)
                st = FX_ERR_NOMEM;
            for (int f = 0; f < d.n_faces && st == FX_OK; f++)
                memcpy(d.face_maps + f * per_maps, clean[0].data + d.face_index[f] * per_maps,
                       (size_t)per_maps * sizeof(float));
        }
        /* the per-filter feature compared under occlusion: the feature when
         * it has one number per filter, else the spatial mean of the maps */
        if (st == FX_OK && d.feature_dim != d.filters) {
            clean_feat = pool_maps(ctx, &clean[0], d.filters);
            if (!clean_feat)
                st = FX_ERR_NOMEM;
        }
        fx_extracted_free(&clean[0], 1);
        if (st != FX_OK)
            rc = cli_error(ctx);
    }

    /* the feature under occlusion of each face part */
    if (rc == 0) {
        float black = cfg.data.n_norm ? (0.0f - cfg.data.mean[0]) / cfg.data.std[0] : 0.0f;
        place_windows(&d, tmpl, black);
        int pooled = d.feature_dim != d.filters;
        const char *occl_name[1] = {pooled ? d.value : d.feature};
        for (int r = 0; r < d.n_regions && rc == 0; r++) {
            explain_region *reg = &d.regions[r];
            if (o->verbose)
                fprintf(stderr, "explain: occluding the %s (%dx%d at %d,%d)\n", reg->name, reg->window.width,
                        reg->window.height, reg->window.x, reg->window.y);
            fx_extracted occ;
            memset(&occ, 0, sizeof occ);
            st = extract(ctx, o, be, ds, occl_name, 1, &reg->window, &occ);
            if (st == FX_ERR_UNSUPPORTED) {
                /* said, not hidden: the report shows no occlusion section */
                fprintf(stderr, "fxrun: note: no occlusion study: %s\n", fx_context_error(ctx));
                fx_context_clear_error(ctx);
                for (int q = 0; q < r; q++)
                    free(d.regions[q].change);
                d.n_regions = 0;
                break;
            }
            if (st != FX_OK) {
                rc = cli_error(ctx);
                break;
            }
            float *occ_feat = pooled ? pool_maps(ctx, &occ, d.filters) : occ.data;
            int dim = pooled ? d.filters : d.feature_dim;
            reg->change = fx_malloc(ctx, (size_t)dim * sizeof(double), "explain: feature change");
            st = occ_feat && reg->change ? FX_OK : FX_ERR_NOMEM;
            if (st == FX_OK)
                st = fx_interpret_feature_change(ctx, pooled ? clean_feat : clean[1].data, occ_feat, d.n, dim,
                                                 reg->change);
            if (st == FX_OK) {
                double s = 0.0;
                for (int k = 0; k < dim; k++)
                    s += reg->change[k];
                reg->mean_change = s / dim;
            }
            if (pooled)
                free(occ_feat);
            fx_extracted_free(&occ, 1);
            if (st != FX_OK)
                rc = cli_error(ctx);
        }
        if (pooled)
            d.feature_dim = d.filters;
    }

    /* the report */
    d.seconds = wall_seconds() - t0;
    if (rc == 0)
        rc = make_folder(out_dir);
    char path[FX_PATH_MAX + 32];
    struct {
        const char *file;
        fx_status (*write)(fx_context *, const explain_data *, const char *);
    } outputs[] = {
        {"peaks.png", explain_draw_peaks},         {"heatmaps.png", explain_draw_heatmaps},
        {"occlusion.png", explain_draw_occlusion}, {"explain.json", explain_write_json},
        {"explain.html", explain_write_html},
    };
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0] && rc == 0; i++) {
        if (outputs[i].write == explain_draw_occlusion && d.n_regions == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", out_dir, outputs[i].file);
        if (outputs[i].write(ctx, &d, path) != FX_OK)
            rc = cli_error(ctx);
    }
    if (rc == 0 && o->verbose) {
        printf("explain: %d filters of '%s' (%dx%d maps) over %lld faces%s\n", d.filters, d.value, d.map_w, d.map_h,
               (long long)d.n, d.n_warped ? " (warped to the mean face)" : "");
        printf("  spread of the average peak locations: %.2f px (positive peaks), %.2f px (negative), on a %dx%d "
               "face\n", d.spread_pos.rms, d.spread_neg.rms, d.in_w, d.in_h);
        printf("  median deviation of a filter's peaks: %.2f px\n", d.median_deviation);
        for (int r = 0; r < d.n_regions; r++)
            printf("  occluding the %-11s changes the feature by %.4f on average\n", d.regions[r].name,
                   d.regions[r].mean_change);
        printf("report: %s/explain.html\n", out_dir);
    }
    fx_extracted_free(&clean[1], 1);
    free(clean_feat);
    free(fp.landmarks);
    free(fp.warp_ok);
    fx_face_mesh_destroy(mesh);
    fx_dataset_close(ds);
    free_data(&d);
    return rc;
}
