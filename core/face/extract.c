/* core/face/extract.c - feature extraction (fx/extract.h): a trained graph run
 * in inference over a whole data set, named values copied out per example.
 *
 * The loop is evaluate_planned's (core/train/train.c) without the scoring: the
 * loader gives centre-cropped, unflipped batches in data set order; a final
 * partial batch is padded with copies of its first example (inference is
 * per example: BN uses running statistics, dropout is off) and only the
 * real rows are kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/internal.h"
#include "fx/batch_feed.h"
#include "fx/extract.h"

void fx_extracted_free(fx_extracted *e, int n)
{
    if (!e)
        return;
    for (int i = 0; i < n; i++) {
        free(e[i].data);
        e[i].data = NULL;
        e[i].n = 0;
    }
}

fx_status fx_extract_default_feature(fx_context *ctx, fx_graph *g, const fx_config *cfg, char *name, size_t size)
{
    const char *pred = fx_config_predict_name(g, cfg);
    if (!pred)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "%s: the graph names no classifier (no train.predict, no softmax_cross_entropy loss); pass "
                       "--feature NAME",
                       cfg->path);
    int v = fx_graph_find_value(g, pred);
    if (v < 0 || g->values[v].producer < 0)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "%s: train.predict '%s' is not a computed value of the graph; pass --feature NAME",
                       cfg->path, pred);
    const fx_node *classifier = &g->nodes[g->values[v].producer];
    if (classifier->n_in < 1)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: layer '%s' (producing '%s') has no input; pass --feature NAME",
                       cfg->path, classifier->name, pred);
    int f = classifier->in[0];
    /* Dropout only perturbs training; the feature is what it drops from.
     * The bound guards against a malformed graph with a cycle. */
    for (int hops = 0; hops < g->n_nodes && g->values[f].producer >= 0; hops++) {
        const fx_node *n = &g->nodes[g->values[f].producer];
        if (strcmp(n->op->name, "dropout") != 0 || n->n_in < 1)
            break;
        f = n->in[0];
    }
    if ((size_t)snprintf(name, size, "%s", g->values[f].name) >= size)
        return fx_fail(ctx, FX_ERR_INVALID, "feature name '%s' is longer than %zu bytes", g->values[f].name, size);
    return FX_OK;
}

/* Checks the request before anything is planned. */
static fx_status check_request(fx_context *ctx, fx_graph *g, const fx_config *cfg, const char *checkpoint,
                               fx_dataset *ds, const char *const *names, int n_names, const fx_extract_options *opt)
{
    if (!g || !cfg || !ds || !names || n_names < 1)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_extract_values: a graph, config, data set and names are required");
    if (g->planned)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "fx_extract_values: graph '%s' is already planned; pass a freshly loaded graph", g->name);
    if (!checkpoint || !checkpoint[0])
        return fx_fail(ctx, FX_ERR_INVALID,
                       "%s: features need trained weights: set train.checkpoint or pass --checkpoint FILE", cfg->path);
    if (opt && opt->batch < 0)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_extract_values: batch is %d; use 0 (default 64) or more",
                       opt->batch);
    if (fx_dataset_size(ds) == 0)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: the data set has no images", cfg->path);
    for (int k = 0; k < n_names; k++) {
        int v = fx_graph_find_value(g, names[k]);
        if (v < 0)
            return fx_fail(ctx, FX_ERR_INVALID,
                           "%s: graph '%s' has no value named '%s'; name a layer (or 'layer.output') of the file",
                           cfg->path, g->name, names[k]);
        if (g->values[v].producer < 0)
            return fx_fail(ctx, FX_ERR_INVALID, "%s: '%s' is an input of the graph, not a computed value",
                           cfg->path, names[k]);
        if (strlen(names[k]) >= FX_NAME_MAX)
            return fx_fail(ctx, FX_ERR_INVALID, "value name '%s' is too long", names[k]);
    }
    return fx_config_check_image_input(ctx, g, cfg, ds, "feature");
}

fx_status fx_extract_values(fx_context *ctx, fx_graph *g, const fx_config *cfg, const char *checkpoint,
                            fx_dataset *ds, const char *const *names, int n_names, const fx_extract_options *opt,
                            fx_extracted *out)
{
    fx_extract_options defaults;
    memset(&defaults, 0, sizeof defaults);
    if (!opt)
        opt = &defaults;
    if (out && n_names > 0)
        memset(out, 0, (size_t)n_names * sizeof *out);
    fx_status st = check_request(ctx, g, cfg, checkpoint, ds, names, n_names, opt);
    if (st != FX_OK)
        return st;
    if (!out)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_extract_values: out is required");
    int64_t n = fx_dataset_size(ds);
    int batch = opt->batch > 0 ? opt->batch : 64;
    if (batch > n)
        batch = (int)n; /* no point computing padding rows */
    fx_backend *be = opt->backend ? opt->backend : fx_context_cpu_backend(ctx);
    for (int k = 0; k < n_names && st == FX_OK; k++)
        st = fx_graph_keep(g, names[k]);
    if (st == FX_OK)
        st = fx_graph_plan(g, batch, FX_MODE_INFER, be);
    if (st == FX_OK && opt->log && fx_graph_fallback_count(g) > 0)
        fprintf(opt->log, "note: %d layer%s run on the fallback backend\n", fx_graph_fallback_count(g),
                fx_graph_fallback_count(g) == 1 ? "" : "s");
    if (st == FX_OK) {
        fx_checkpoint_meta meta;
        st = fx_checkpoint_load(ctx, checkpoint, g, NULL, &meta);
        if (st != FX_OK)
            return fx_fail_prefix(ctx, st, "%s: loading weights (train.checkpoint or --checkpoint must be a checkpoint "
                                  "trained with this graph file)", cfg->path);
    }
    if (st != FX_OK)
        return st;

    fx_tensor **values = fx_calloc(ctx, (size_t)n_names, sizeof *values, "extracted value table");
    if (!values)
        return FX_ERR_NOMEM;
    size_t scratch_floats = 0;
    for (int k = 0; k < n_names && st == FX_OK; k++) {
        fx_tensor *t = fx_graph_value(g, names[k]);
        if (!t || t->shape.ndim < 1 || t->shape.dim[0] != batch || t->dtype != FX_F32) {
            st = fx_fail(ctx, FX_ERR_INVALID,
                         "%s: value '%s' is not a float32 value with one row per example (a loss or a "
                         "label?); name a layer's output",
                         cfg->path, names[k]);
            break;
        }
        values[k] = t;
        snprintf(out[k].name, sizeof out[k].name, "%s", names[k]);
        out[k].shape.ndim = t->shape.ndim - 1;
        for (int d = 1; d < t->shape.ndim; d++)
            out[k].shape.dim[d - 1] = t->shape.dim[d];
        int64_t per = fx_shape_numel(&out[k].shape);
        out[k].n = n;
        out[k].data = fx_malloc(ctx, (size_t)(n * per) * sizeof(float), "extracted values");
        if (!out[k].data)
            st = FX_ERR_NOMEM;
        if ((size_t)fx_tensor_numel(t) > scratch_floats)
            scratch_floats = (size_t)fx_tensor_numel(t);
    }

    fx_batch_feed *feed = NULL;
    fx_batch_feed_options fo = { .loader = { .batch = batch, .shuffle = 0, .augment = 0, .drop_last = 0,
                                             .seed = cfg->train.seed, .occlude = opt->occlude },
                                 .labels = 0, .what = "feature" };
    if (st == FX_OK)
        st = fx_batch_feed_open(g, cfg, ds, &fo, &feed);
    if (st == FX_OK)
        st = fx_batch_feed_start_epoch(feed, 0);
    float *vbuf = NULL;
    if (st == FX_OK) {
        vbuf = fx_malloc(ctx, scratch_floats * sizeof(float), "extracted batch values");
        if (!vbuf)
            st = FX_ERR_NOMEM;
    }
    int64_t done = 0;
    double last_progress = 0;
    while (st == FX_OK) {
        int count = 0;
        st = fx_batch_feed_next(feed, &count);
        if (st != FX_OK || count == 0)
            break;
        st = fx_batch_feed_upload(feed);
        if (st == FX_OK)
            st = fx_graph_forward(g);
        for (int k = 0; k < n_names && st == FX_OK; k++) {
            st = fx_tensor_download(values[k], vbuf);
            int64_t per = fx_shape_numel(&out[k].shape);
            if (st == FX_OK)
                memcpy(out[k].data + done * per, vbuf, (size_t)(count * per) * sizeof(float));
        }
        done += count;
        if (opt->progress && (fx_now_seconds() - last_progress > 0.1 || done == n)) {
            last_progress = fx_now_seconds();
            fprintf(stderr, "\r  extracting %lld/%lld images   ", (long long)done, (long long)n);
            fflush(stderr);
        }
    }
    if (opt->progress)
        fprintf(stderr, "\r%*s\r", 40, "");
    if (st == FX_OK && done != n)
        st = fx_fail(ctx, FX_ERR_INTERNAL, "extraction produced %lld of %lld examples", (long long)done,
                     (long long)n);
    free(vbuf);
    free(values);
    fx_batch_feed_close(feed);
    if (st != FX_OK)
        fx_extracted_free(out, n_names);
    return st;
}
