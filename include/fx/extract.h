/* fx/extract.h - feature extraction: run a trained graph over every
 * example of a data set and copy named values out, one row per example.
 * Used by `fxrun features`, `verify`, `identify` and `explain`. */
#ifndef FX_EXTRACT_H
#define FX_EXTRACT_H

#include <stdint.h>
#include <stdio.h>
#include "fx/config.h"
#include "fx/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_extract_options {
    fx_backend *backend;          /* NULL: the context's CPU backend */
    int batch;                    /* examples per forward; 0: 64 (fewer when the data set is smaller) */
    const fx_occlusion *occlude;  /* NULL: none; else drawn on every example (fx/data.h: warped through
                                   * the example's landmarks when it has them, else in the crop frame) */
    int progress;                 /* draw "extracting i/n" on stderr */
    FILE *log;                    /* notes (fallback layers); NULL: none */
} fx_extract_options;

/* One named value for every example, in data set order. */
typedef struct fx_extracted {
    char name[FX_NAME_MAX];
    fx_shape shape;  /* one example's shape (the value's shape without the batch dim) */
    int64_t n;       /* examples */
    float *data;     /* [n, numel(shape)], malloc'd; free with fx_extracted_free */
} fx_extracted;

/* Plans g (loaded, not yet planned) for inference keeping `names`, loads
 * the weights from `checkpoint` (refused, naming the mismatches, when it
 * does not fit the graph), runs every example of ds in order (centre crop,
 * no flip, cfg->data's preprocessing) and copies each named value out into
 * out[0..n_names). A final partial batch counts. Every named value must
 * be float32 with the batch as its first dimension. On failure out holds
 * nothing to free. */
fx_status fx_extract_values(fx_context *ctx, fx_graph *g, const fx_config *cfg, const char *checkpoint,
                            fx_dataset *ds, const char *const *names, int n_names, const fx_extract_options *opt,
                            fx_extracted *out);
void fx_extracted_free(fx_extracted *e, int n);

/* The graph's feature before the classifier: the first input of the node
 * producing the class scores (train.predict, else the first input of the
 * first softmax_cross_entropy loss), walking back through dropout nodes. For configs/interpret-fr*.yaml
 * that is the clean branch's pooled feature. Writes the value name into
 * name (size bytes) or fails saying to pass a feature name. */
fx_status fx_extract_default_feature(fx_context *ctx, fx_graph *g, const fx_config *cfg, char *name, size_t size);

#ifdef __cplusplus
}
#endif
#endif
