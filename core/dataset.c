/* core/dataset.c - the fx_dataset object: checks the configuration,
 * dispatches to the IDX or ImageFolder reader, and answers queries about
 * size, classes and example shape. Also the image preparation shared by
 * both readers (channel conversion, HWC -> CHW, resize). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/image_resize.h"

size_t fx_dataset_cache_limit(void)
{
    const char *env = getenv("FX_DATA_CACHE_MB");
    if (env && *env) {
        char *end;
        errno = 0;
        unsigned long long mb = strtoull(env, &end, 10);
        if (errno == 0 && *end == '\0')
            return mb > (SIZE_MAX >> 20) ? SIZE_MAX : (size_t)mb << 20;
    }
    return (size_t)FX_DATA_CACHE_MB_DEFAULT << 20;
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

fx_status fx_dataset_example_pixels(const fx_dataset *ds, int64_t i, uint8_t *scratch, const uint8_t **pixels,
                                    char *err, size_t err_size)
{
    if (i < 0 || i >= ds->n) {
        snprintf(err, err_size, "%s: example %lld is out of range (data set has %lld)", ds->source,
                 (long long)i, (long long)ds->n);
        return FX_ERR_INVALID;
    }
    if (ds->pixels) {
        *pixels = ds->pixels + (size_t)i * fx_dataset_example_bytes(ds);
        return FX_OK;
    }
    /* Lazy ImageFolder: decode now. Without a resize every image must have
     * the size of the first one (the loader's batches have one shape). */
    fx_image_u8 img;
    fx_status st = fx_image_decode_file(ds->files[i], &img, err, err_size);
    if (st != FX_OK)
        return st;
    if (ds->resize_on_load == 0 && (img.width != ds->width || img.height != ds->height)) {
        snprintf(err, err_size,
                 "%s: image is %dx%d but the data set's images are %dx%d; set data.resize to give "
                 "all images one size",
                 ds->files[i], img.width, img.height, ds->width, ds->height);
        fx_image_free(&img);
        return FX_ERR_SHAPE;
    }
    st = fx_dataset_prepare_image(&img, ds->channels, ds->height, ds->width, scratch, err, err_size);
    fx_image_free(&img);
    if (st != FX_OK)
        return st;
    *pixels = scratch;
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
    if (cfg->resize < 0 || cfg->resize > 4096)
        return fx_fail(ctx, FX_ERR_INVALID, "data.resize is %d; use 0 (keep) or a size up to 4096",
                       cfg->resize);
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

fx_shape fx_dataset_example_shape(const fx_dataset *ds, const fx_data_config *cfg)
{
    int64_t h = ds->height, w = ds->width;
    if (cfg && cfg->size > 0)
        h = w = cfg->size;
    return fx_shape_make(3, (int64_t[]){ds->channels, h, w});
}
