/* fx/data.h - data sets and batch loading.
 *
 * A data set yields examples as float CHW images (already decoded,
 * converted to cfg->channels and resized to cfg->resize when set) and int
 * labels. A loader draws shuffled batches on background threads and applies
 * the augmentation (crop, flip) and normalisation of the config, writing
 * NCHW float batches. */
#ifndef FX_DATA_H
#define FX_DATA_H

#include <stdint.h>
#include "fx/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_dataset fx_dataset;
typedef struct fx_loader fx_loader;

fx_status fx_dataset_open(fx_context *ctx, const fx_data_source *src, const fx_data_config *cfg,
                          fx_dataset **out);
void fx_dataset_close(fx_dataset *ds);
int64_t fx_dataset_size(const fx_dataset *ds);
int fx_dataset_classes(const fx_dataset *ds);
const char *fx_dataset_class_name(const fx_dataset *ds, int i); /* "3" for IDX */
/* Shape of one example after the loader's transforms: [C, H, W]. */
fx_shape fx_dataset_example_shape(const fx_dataset *ds, const fx_data_config *cfg);
/* Landmark points per image (the CSV's count), 0 when the source has none. */
int fx_dataset_landmark_points(const fx_dataset *ds);
/* ImageFolder: the path of example i (root/<class>/<file>); NULL for IDX
 * or i out of range. Owned by the data set. */
const char *fx_dataset_file(const fx_dataset *ds, int64_t i);

/* Checks that the data set's examples fit the graph's image input
 * (cfg->data.image_input): that it names an input of the graph, of the
 * examples' [C, H, W] shape and float32. The error names cfg->path and
 * `which` data ("train", "test", ...) and the fix. */
fx_status fx_config_check_image_input(fx_context *ctx, const fx_graph *g, const fx_config *cfg, fx_dataset *ds,
                                      const char *which);

/* A synthetic occlusion window (the paper's FAD window, docs/data.md
 * "Occlusion"): top-left (x, y) and size in a frame x frame frontal mean
 * face (fx_face_template68 scaled to the frame), drawn with `value` (in
 * normalised units, e.g. -1 = black for [-1, 1] images). */
typedef struct fx_occlusion {
    int x, y, width, height;
    int frame;
    float value;
} fx_occlusion;

typedef struct fx_loader_options {
    int batch;
    int shuffle;     /* reshuffle each epoch (seeded) */
    int augment;     /* random crop/flip per cfg; else centre crop, no flip */
    int drop_last;   /* skip a final partial batch */
    uint64_t seed;
    /* NULL: none; else drawn on every example after the crop, flip and
     * normalisation: warped through the example's 68 landmarks (piecewise
     * affine mesh over the mean face; the window's corners become a
     * quadrilateral) when it has them, else placed in the crop frame (the
     * frame scaled to the crop). Copied at fx_loader_create. */
    const fx_occlusion *occlude;
} fx_loader_options;

fx_status fx_loader_create(fx_context *ctx, fx_dataset *ds, const fx_data_config *cfg,
                           const fx_loader_options *opt, fx_loader **out);
void fx_loader_destroy(fx_loader *ld);
/* Starts epoch `epoch` (0-based): order and augmentation depend only on
 * (seed, epoch), so a resumed run sees the same batches. */
fx_status fx_loader_start_epoch(fx_loader *ld, int64_t epoch);
/* Fills images [batch, C, H, W] and labels [batch]; *count is the number of
 * examples written (0 at the end of the epoch). */
fx_status fx_loader_next(fx_loader *ld, float *images, int32_t *labels, int *count);
/* Like fx_loader_next, and landmarks [batch, P, 2] (x, y; P =
 * fx_dataset_landmark_points) in output-pixel coordinates of the final
 * example (after box, resize, crop and flip; pixel (j, i) has its centre at
 * (j, i)), NaN for an image without landmarks. `landmarks` may be NULL. */
fx_status fx_loader_next_landmarks(fx_loader *ld, float *images, int32_t *labels, float *landmarks, int *count);
int64_t fx_loader_batches_per_epoch(const fx_loader *ld);
/* Data-parallel sharding (docs/scaling.md), before the first
 * fx_loader_start_epoch: the loader's batch becomes the global batch and
 * fx_loader_next yields only rows [shard * b, (shard + 1) * b) of each,
 * b = batch / shards (batch must divide by shards), so the union over the
 * shards is the single-process batch. A shard's part of a final partial
 * batch may be empty (count 0, as at the end of the epoch). */
fx_status fx_loader_set_shard(fx_loader *ld, int shard, int shards);

#ifdef __cplusplus
}
#endif
#endif
