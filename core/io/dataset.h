/* core/io/dataset.h - private structure of fx_dataset, shared by the data set
 * readers (data_idx.c, data_imagefolder.c), dataset.c and the loader.
 *
 * Every example is stored as planar 8-bit pixels [C, H, W] at the data
 * set's final geometry (cfg->channels, cfg->resize or the native size), so
 * the loader only crops, flips and normalises. Eight bits per value keeps
 * 60k Fashion-MNIST images at 47 MB and 20k 110x110 RGB faces at 726 MB.
 *
 * ImageFolder data sets are decoded once at open ("cached") unless the
 * decoded pixels would exceed the cache limit (FX_DATA_CACHE_MB, default
 * 4096 MiB); then each example is decoded when the loader asks for it
 * ("lazy"), on the loader's worker threads. */
#ifndef FX_CORE_DATASET_H
#define FX_CORE_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include "fx/fx.h"
#include "core/io/image_decode.h"

#define FX_DATA_ERROR_MAX 1024
#define FX_DATA_CACHE_MB_DEFAULT 4096

struct fx_dataset {
    fx_data_kind kind;
    char source[FX_PATH_MAX]; /* IDX images file or ImageFolder root, for messages */
    int64_t n;
    int channels, height, width; /* stored geometry of every example */
    int n_classes;
    char **class_names;          /* [n_classes], owned */
    int32_t *labels;             /* [n] */
    uint8_t *pixels;             /* [n, C, H, W]; NULL when lazy */
    char **files;                /* ImageFolder: [n] image paths, owned; NULL for IDX */
    int resize_on_load;          /* lazy: images are resized to height x width when decoded;
                                  * 0: they must already have that size */
    int box[4];                  /* data.box (x, y, w, h) cut before the resize; w == 0: none */
    int n_points;                /* landmarks per image; 0: none */
    float *landmarks;            /* [n, n_points, 2] in source-image pixels (before the box); NaN: none */
    float landmark_box;          /* data.landmark_box; 0: none */
    int32_t *source_box;         /* [n, 4] region x, y, w, h cut from each file, filled when decoded (cached) */
};

/* Bytes of one stored example (C * H * W). */
static inline size_t fx_dataset_example_bytes(const fx_dataset *ds)
{
    return (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
}

/* Pixels of example i: a pointer into the cache, or (lazy) decoded into
 * `scratch` (fx_dataset_example_bytes bytes). When `landmarks` is not NULL
 * and the data set has landmarks, also writes its n_points (x, y) in the
 * stored geometry (after box and resize; NaN when the image has none).
 * Safe to call from several threads at once with distinct scratch
 * buffers. Errors go to err. */
fx_status fx_dataset_example_pixels(const fx_dataset *ds, int64_t i, uint8_t *scratch, const uint8_t **pixels,
                                    float *landmarks, char *err, size_t err_size);

/* Decodes image i's file, cuts ds->box (or the landmark box), converts and
 * resizes it into dst (stored geometry); region[4] gets the x, y, w, h cut
 * from the file. */
fx_status fx_dataset_decode_example(const fx_dataset *ds, int64_t i, int check_size, uint8_t *dst, int *region,
                                    char *err, size_t err_size);

/* Reads the landmarks CSV of `src` into ds->landmarks / ds->n_points
 * (core/io/data_landmarks.c); ds->files must be listed. */
fx_status fx_data_landmarks_read(fx_context *ctx, const fx_data_source *src, fx_dataset *ds);

/* The identities of an ImageFolder root a data.split part keeps
 * (core/io/data_split.c): keep[c] = 1 for the classes of names[0..n) in part
 * `part`. */
fx_status fx_data_split_classes(fx_context *ctx, const char *root, char *const *names, int n, float holdout,
                                uint64_t seed, fx_data_part part, unsigned char *keep);

/* Converts a decoded HWC image to `channels`, makes it planar and resizes
 * it to out_h x out_w into dst [channels, out_h, out_w]. `img` may be
 * converted in place. Errors go to err. */
fx_status fx_dataset_prepare_image(fx_image_u8 *img, int channels, int out_h, int out_w, uint8_t *dst,
                                   char *err, size_t err_size);

/* The cache limit in bytes (FX_DATA_CACHE_MB, MiB; default 4096); a value
 * that is not a whole number in range is an error. */
fx_status fx_dataset_cache_limit(fx_context *ctx, size_t *bytes);

/* Readers: fill ds (already zeroed, kind set) or fail with a message on
 * ctx. On failure the caller frees ds with fx_dataset_close. */
fx_status fx_data_idx_open(fx_context *ctx, const fx_data_source *src, const fx_data_config *cfg,
                           fx_dataset *ds);
fx_status fx_data_imagefolder_open(fx_context *ctx, const fx_data_source *src, const fx_data_config *cfg,
                                   fx_dataset *ds);

#endif
