/* core/io/dataset.c - the fx_dataset object: checks the configuration,
 * dispatches to the IDX or ImageFolder reader, and answers queries about
 * size, classes and example shape. Also the image preparation shared by
 * both readers (channel conversion, HWC -> CHW, resize). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/io/dataset.h"
#include "core/io/image_resize.h"

/* FX_DATA_CACHE_MB: whole MiB, 0 (always decode lazily) up to 2^24 (16
 * TiB); anything else ("abc", "-5", "1e3", "4G") is an error rather than
 * the default, so a typo does not quietly cache 4 GiB. */
fx_status fx_dataset_cache_limit(fx_context *ctx, size_t *bytes)
{
    *bytes = (size_t)FX_DATA_CACHE_MB_DEFAULT << 20;
    const char *env = getenv("FX_DATA_CACHE_MB");
    if (!env || !*env)
        return FX_OK;
    size_t digits = strspn(env, "0123456789");
    if (digits == 0 || env[digits] != '\0' || digits > 8 || strtoull(env, NULL, 10) > ((uint64_t)1 << 24))
        return fx_fail(ctx, FX_ERR_INVALID, "FX_DATA_CACHE_MB='%.40s' in the environment: expected a whole number "
                       "of MiB from 0 (decode every image when used) to 16777216; unset it for the default %d",
                       env, FX_DATA_CACHE_MB_DEFAULT);
    uint64_t mb = strtoull(env, NULL, 10);
    *bytes = mb > (SIZE_MAX >> 20) ? SIZE_MAX : (size_t)mb << 20;
    return FX_OK;
}

static fx_status resize_failed(const fx_image_u8 *img, char *err, size_t err_size)
{
    snprintf(err, err_size, "out of memory resizing a %dx%d image", img->width, img->height);
    return FX_ERR_NOMEM;
}

fx_status fx_dataset_prepare_image(fx_image_u8 *img, int channels, int out_h, int out_w, uint8_t *dst,
                                   char *err, size_t err_size)
{
    fx_status st = fx_image_convert_channels(img, channels, err, err_size);
    if (st != FX_OK)
        return st;
    /* Grey HWC is already planar: resize (or copy) it straight into dst. */
    if (channels == 1)
        return fx_image_resize_u8(img->pixels, 1, img->height, img->width, dst, out_h, out_w) == 0
                   ? FX_OK
                   : resize_failed(img, err, err_size);
    size_t plane = (size_t)img->width * (size_t)img->height;
    int same = img->width == out_w && img->height == out_h;
    uint8_t *planar = dst;
    if (!same) {
        planar = malloc(plane * (size_t)channels);
        if (!planar)
            return resize_failed(img, err, err_size);
    }
    for (int c = 0; c < channels; c++) {
        uint8_t *p = planar + (size_t)c * plane;
        const uint8_t *s = img->pixels + c;
        for (size_t i = 0; i < plane; i++)
            p[i] = s[i * (size_t)channels];
    }
    if (!same) {
        int rc = fx_image_resize_u8(planar, channels, img->height, img->width, dst, out_h, out_w);
        free(planar);
        if (rc != 0)
            return resize_failed(img, err, err_size);
    }
    return FX_OK;
}

/* Cuts box (x, y, w, h) out of an HWC image, in place. */
static fx_status cut_box(fx_image_u8 *img, const int *box, const char *name, char *err, size_t err_size)
{
    if (box[2] == 0)
        return FX_OK;
    if (box[0] + box[2] > img->width || box[1] + box[3] > img->height) {
        snprintf(err, err_size,
                 "%s: image is %dx%d but data.box [%d, %d, %d, %d] reaches to x %d, y %d; use a box inside "
                 "every image (or leave data.box out)",
                 name, img->width, img->height, box[0], box[1], box[2], box[3], box[0] + box[2],
                 box[1] + box[3]);
        return FX_ERR_SHAPE;
    }
    size_t row = (size_t)box[2] * (size_t)img->channels;
    for (int y = 0; y < box[3]; y++)
        memmove(img->pixels + (size_t)y * row,
                img->pixels + ((size_t)(box[1] + y) * (size_t)img->width + (size_t)box[0]) * (size_t)img->channels,
                row);
    img->width = box[2];
    img->height = box[3];
    return FX_OK;
}

/* data.landmark_box: the square of side scale x max(bounding box) centred
 * on the bounding box of image i's landmarks, rounded to pixels and
 * clipped to the image; the whole image when a point is not finite. */
static void landmark_box(const fx_dataset *ds, int64_t i, int width, int height, int *box)
{
    box[0] = box[1] = 0;
    box[2] = width;
    box[3] = height;
    const float *p = ds->landmarks + (size_t)i * (size_t)ds->n_points * 2;
    float x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < ds->n_points; k++) {
        if (!isfinite(p[2 * k]) || !isfinite(p[2 * k + 1]))
            return;
        x0 = fminf(x0, p[2 * k]);
        x1 = fmaxf(x1, p[2 * k]);
        y0 = fminf(y0, p[2 * k + 1]);
        y1 = fmaxf(y1, p[2 * k + 1]);
    }
    double side = ds->landmark_box * fmax(fmax(x1 - x0, y1 - y0), 1.0);
    double cx = 0.5 * (x0 + x1), cy = 0.5 * (y0 + y1);
    long l = lround(cx - 0.5 * side), t = lround(cy - 0.5 * side);
    long r = l + lround(side), b = t + lround(side);
    l = l < 0 ? 0 : l;
    t = t < 0 ? 0 : t;
    r = r > width ? width : r;
    b = b > height ? height : b;
    if (r - l < 1 || b - t < 1)
        return; /* points outside the image: keep it whole */
    box[0] = (int)l;
    box[1] = (int)t;
    box[2] = (int)(r - l);
    box[3] = (int)(b - t);
}

fx_status fx_dataset_decode_example(const fx_dataset *ds, int64_t i, int check_size, uint8_t *dst, int *region,
                                    char *err, size_t err_size)
{
    fx_image_u8 img;
    fx_status st = fx_image_decode_file(ds->files[i], &img, err, err_size);
    if (st != FX_OK)
        return st;
    int box[4];
    memcpy(box, ds->box, sizeof box);
    if (box[2] == 0 && ds->landmark_box > 0 && ds->landmarks)
        landmark_box(ds, i, img.width, img.height, box);
    region[0] = box[2] ? box[0] : 0;
    region[1] = box[2] ? box[1] : 0;
    if ((st = cut_box(&img, box, ds->files[i], err, err_size)) != FX_OK) {
        fx_image_free(&img);
        return st;
    }
    if (check_size && (img.width != ds->width || img.height != ds->height)) {
        snprintf(err, err_size,
                 "%s: image is %dx%d but the data set's images are %dx%d (%s); set data.resize so all images "
                 "get one size",
                 ds->files[i], img.width, img.height, ds->width, ds->height, ds->files[0]);
        fx_image_free(&img);
        return FX_ERR_SHAPE;
    }
    region[2] = img.width;
    region[3] = img.height;
    st = fx_dataset_prepare_image(&img, ds->channels, ds->height, ds->width, dst, err, err_size);
    fx_image_free(&img);
    return st;
}

/* Source pixels (before the box) -> stored geometry: subtract the corner
 * of the region cut, then the resize's half-pixel-centre rule
 * x' = (x + 0.5) * W / w - 0.5 (pixel centres at integers). */
static void landmarks_to_stored(const fx_dataset *ds, int64_t i, const int *region, float *out)
{
    const float *in = ds->landmarks + (size_t)i * (size_t)ds->n_points * 2;
    double sx = (double)ds->width / region[2], sy = (double)ds->height / region[3];
    for (int p = 0; p < ds->n_points; p++) {
        out[2 * p] = (float)((in[2 * p] - region[0] + 0.5) * sx - 0.5);
        out[2 * p + 1] = (float)((in[2 * p + 1] - region[1] + 0.5) * sy - 0.5);
    }
}

fx_status fx_dataset_example_pixels(const fx_dataset *ds, int64_t i, uint8_t *scratch, const uint8_t **pixels,
                                    float *landmarks, char *err, size_t err_size)
{
    if (i < 0 || i >= ds->n) {
        snprintf(err, err_size, "%s: example %lld is out of range (data set has %lld)", ds->source,
                 (long long)i, (long long)ds->n);
        return FX_ERR_INVALID;
    }
    int region[4] = {0, 0, ds->width, ds->height};
    if (ds->pixels) {
        *pixels = ds->pixels + (size_t)i * fx_dataset_example_bytes(ds);
        if (ds->source_box)
            for (int k = 0; k < 4; k++)
                region[k] = ds->source_box[4 * i + k];
    } else {
        /* Lazy ImageFolder: decode now. Without a resize every image must
         * have the size of the first one (the loader's batches have one
         * shape). */
        fx_status st = fx_dataset_decode_example(ds, i, ds->resize_on_load == 0, scratch, region, err, err_size);
        if (st != FX_OK)
            return st;
        *pixels = scratch;
    }
    if (landmarks && ds->n_points > 0)
        landmarks_to_stored(ds, i, region, landmarks);
    return FX_OK;
}

fx_status fx_dataset_open(fx_context *ctx, const fx_data_source *src, const fx_data_config *cfg,
                          fx_dataset **out)
{
    *out = NULL;
    if (!src || !cfg)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_dataset_open: source and config are required");
    if (cfg->channels != 0 && cfg->channels != 1 && cfg->channels != 3)
        return fx_fail(ctx, FX_ERR_INVALID, "data.channels is %d; use 1 (grey) or 3 (RGB)", cfg->channels);
    size_t cache_limit = 0; /* checked here for every kind of source: a bad value is never ignored */
    fx_status cache_st = fx_dataset_cache_limit(ctx, &cache_limit);
    if (cache_st != FX_OK)
        return cache_st;
    if (cfg->resize < 0 || cfg->resize > 4096)
        return fx_fail(ctx, FX_ERR_INVALID, "data.resize is %d; use 0 (keep) or a size up to 4096",
                       cfg->resize);
    if (cfg->box[2] < 0 || cfg->box[3] < 0 || cfg->box[0] < 0 || cfg->box[1] < 0 ||
        (cfg->box[2] == 0) != (cfg->box[3] == 0))
        return fx_fail(ctx, FX_ERR_INVALID,
                       "data.box is [%d, %d, %d, %d]; give [x, y, width, height] with x, y >= 0 and a positive "
                       "width and height",
                       cfg->box[0], cfg->box[1], cfg->box[2], cfg->box[3]);
    if (!(cfg->landmark_box >= 0 && cfg->landmark_box <= 100))
        return fx_fail(ctx, FX_ERR_INVALID, "data.landmark_box is %g; use 0 (none) or a scale such as 1.3",
                       (double)cfg->landmark_box);
    if (cfg->landmark_box > 0 && (cfg->box[2] || cfg->resize == 0))
        return fx_fail(ctx, FX_ERR_INVALID,
                       "data.landmark_box cuts a box of its own size around each image's landmarks: it needs "
                       "data.resize, and excludes data.box");
    if (!(cfg->split_holdout >= 0 && cfg->split_holdout < 1))
        return fx_fail(ctx, FX_ERR_INVALID, "data.split.holdout is %g; use a share of identities in (0, 1)",
                       (double)cfg->split_holdout);
    if (src->part != FX_DATA_PART_ALL && cfg->split_holdout == 0)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "the data source asks for the %s part of a split, but there is no data.split; add "
                       "`split: {holdout: 0.2, seed: 1}` under data",
                       src->part == FX_DATA_PART_KEPT ? "kept" : "held-out");
    if (src->kind == FX_DATA_IDX && (cfg->box[2] || src->landmarks[0] || src->part != FX_DATA_PART_ALL))
        return fx_fail(ctx, FX_ERR_INVALID,
                       "%s: data.box, landmarks and split parts apply to ImageFolder sources, not IDX files",
                       src->images);
    if (src->limit < 0)
        return fx_fail(ctx, FX_ERR_INVALID, "data limit is %lld; use 0 (all) or a positive count",
                       (long long)src->limit);
    fx_dataset *ds = fx_calloc(ctx, 1, sizeof *ds, "data set");
    if (!ds)
        return FX_ERR_NOMEM;
    ds->kind = src->kind;
    fx_status st;
    switch (src->kind) {
    case FX_DATA_IDX:
        st = fx_data_idx_open(ctx, src, cfg, ds);
        break;
    case FX_DATA_IMAGEFOLDER:
        st = fx_data_imagefolder_open(ctx, src, cfg, ds);
        break;
    default:
        st = fx_fail(ctx, FX_ERR_INVALID,
                     "no data source given; set data.train (and data.test) to {idx: ...} or {imagefolder: ...}");
        break;
    }
    if (st != FX_OK) {
        fx_dataset_close(ds);
        return st;
    }
    *out = ds;
    return FX_OK;
}

void fx_dataset_close(fx_dataset *ds)
{
    if (!ds)
        return;
    if (ds->class_names)
        for (int i = 0; i < ds->n_classes; i++)
            free(ds->class_names[i]);
    free(ds->class_names);
    if (ds->files)
        for (int64_t i = 0; i < ds->n; i++)
            free(ds->files[i]);
    free(ds->files);
    free(ds->labels);
    free(ds->pixels);
    free(ds->landmarks);
    free(ds->source_box);
    free(ds);
}

int64_t fx_dataset_size(const fx_dataset *ds)
{
    return ds ? ds->n : 0;
}

int fx_dataset_classes(const fx_dataset *ds)
{
    return ds ? ds->n_classes : 0;
}

const char *fx_dataset_class_name(const fx_dataset *ds, int i)
{
    if (!ds || i < 0 || i >= ds->n_classes)
        return NULL;
    return ds->class_names[i];
}

int fx_dataset_landmark_points(const fx_dataset *ds)
{
    return ds ? ds->n_points : 0;
}

const char *fx_dataset_file(const fx_dataset *ds, int64_t i)
{
    if (!ds || !ds->files || i < 0 || i >= ds->n)
        return NULL;
    return ds->files[i];
}

fx_shape fx_dataset_example_shape(const fx_dataset *ds, const fx_data_config *cfg)
{
    int64_t h = ds->height, w = ds->width;
    if (cfg && cfg->size > 0)
        h = w = cfg->size;
    return fx_shape_make(3, (int64_t[]){ds->channels, h, w});
}
