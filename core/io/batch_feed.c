/* core/io/batch_feed.c - fx_batch_feed (fx/batch_feed.h): batches of a data
 * set drawn by a loader, padded to the graph's planned batch and uploaded
 * into its inputs. The one batch loop of training, evaluation and feature
 * extraction. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fx/batch_feed.h"
#include "fx/fx.h"
#include "core/internal.h"

struct fx_batch_feed {
    fx_context *ctx;
    fx_loader *loader;
    int64_t batch;        /* the graph's planned batch: rows fed */
    int64_t image_per;    /* floats per example */
    fx_tensor *images, *labels, *landmarks; /* labels, landmarks: NULL when not fed */
    float *ibuf;          /* [batch, C, H, W] */
    int32_t *lbuf;        /* [batch] */
    float *mbuf;          /* [batch, P, 2] when landmarks */
    int64_t landmark_per; /* floats per example */
    int landmarks_from_data;
    int count;            /* real rows of the drawn batch */
};

/* Index of graph input `name`, or -1. */
static int input_index(const fx_graph *g, const char *name)
{
    for (int i = 0; i < fx_graph_input_count(g); i++)
        if (strcmp(fx_graph_input_name(g, i), name) == 0)
            return i;
    return -1;
}

/* The label input, when fed: a scalar int32 input of the graph. */
static fx_status check_labels(fx_context *ctx, const fx_graph *g, const fx_config *cfg)
{
    const char *name = cfg->data.label_input;
    int lab = input_index(g, name);
    if (lab < 0)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: data.label names '%s', which is not an input of the graph",
                       cfg->path, name);
    if (fx_graph_input_dtype(g, lab) != FX_I32 || fx_graph_input_shape(g, lab).ndim != 0)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: label input '%s' must be a scalar int32 (write `%s: []`)",
                       cfg->path, name, name);
    return FX_OK;
}

/* The landmarks input (data.landmarks) when the graph declares it: per
 * example f32 [P, 2], P the data set's point count; without landmarks in
 * the data set it gets NaN (the occlude op then paints its plain window). */
static fx_status open_landmarks(fx_batch_feed *f, fx_graph *g, const fx_config *cfg, const fx_dataset *ds)
{
    int i = input_index(g, cfg->data.landmarks_input);
    if (i < 0)
        return FX_OK;
    fx_shape s = fx_graph_input_shape(g, i);
    int points = fx_dataset_landmark_points(ds);
    if (fx_graph_input_dtype(g, i) != FX_F32 || s.ndim != 2 || s.dim[1] != 2 || (points > 0 && s.dim[0] != points)) {
        char a[64];
        return fx_fail(f->ctx, FX_ERR_SHAPE,
                       "%s: input '%s' is fed with landmarks; declare it f32 [%d, 2] (the data's points), not %s",
                       cfg->path, cfg->data.landmarks_input, points > 0 ? points : 68, fx_shape_str(&s, a, sizeof a));
    }
    f->landmarks = fx_graph_value(g, cfg->data.landmarks_input);
    if (!f->landmarks)
        return fx_fail(f->ctx, FX_ERR_INVALID, "%s: landmarks input '%s' has no tensor: plan the graph first",
                       cfg->path, cfg->data.landmarks_input);
    f->landmark_per = s.dim[0] * 2;
    f->landmarks_from_data = points > 0;
    f->mbuf = fx_malloc(f->ctx, (size_t)(f->batch * f->landmark_per) * sizeof(float), "a landmarks batch");
    if (!f->mbuf)
        return FX_ERR_NOMEM;
    for (int64_t k = 0; k < f->batch * f->landmark_per; k++)
        f->mbuf[k] = NAN;
    return FX_OK;
}

fx_status fx_batch_feed_open(fx_graph *g, const fx_config *cfg, fx_dataset *ds, const fx_batch_feed_options *opt,
                             fx_batch_feed **out)
{
    *out = NULL;
    fx_context *ctx = fx_graph_context(g);
    int shards = opt->shards > 1 ? opt->shards : 1;
    int64_t batch = fx_graph_batch(g);
    if (batch <= 0)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_batch_feed_open: plan graph '%s' before feeding it",
                       fx_graph_name(g));
    if (opt->loader.batch != batch * shards)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "fx_batch_feed_open: the loader's batch %d is not the graph's batch %lld times %d shard%s",
                       opt->loader.batch, (long long)batch, shards, shards == 1 ? "" : "s");
    if (fx_dataset_size(ds) == 0)
        return fx_fail(ctx, FX_ERR_INVALID, "%s: the data set has no examples; check its path", cfg->path);
    /* The loader writes the data's example shape into buffers sized by the
     * graph's input: they must agree. */
    fx_status st = fx_config_check_image_input(ctx, g, cfg, ds, opt->what ? opt->what : "fed");
    if (st == FX_OK && opt->labels)
        st = check_labels(ctx, g, cfg);
    if (st != FX_OK)
        return st;
    fx_batch_feed *f = fx_calloc(ctx, 1, sizeof *f, "a batch feed");
    if (!f)
        return FX_ERR_NOMEM;
    f->ctx = ctx;
    f->batch = batch;
    f->images = fx_graph_value(g, cfg->data.image_input);
    f->labels = opt->labels ? fx_graph_value(g, cfg->data.label_input) : NULL;
    if (!f->images || (opt->labels && !f->labels))
        st = fx_fail(ctx, FX_ERR_INVALID, "%s: the graph's inputs have no tensors: plan the graph first", cfg->path);
    if (st == FX_OK) {
        f->image_per = fx_tensor_numel(f->images) / batch;
        f->ibuf = fx_malloc(ctx, (size_t)fx_tensor_numel(f->images) * sizeof(float), "a batch of images");
        f->lbuf = fx_calloc(ctx, (size_t)batch, sizeof(int32_t), "a batch of labels");
        if (!f->ibuf || !f->lbuf)
            st = FX_ERR_NOMEM;
    }
    if (st == FX_OK)
        st = open_landmarks(f, g, cfg, ds);
    if (st == FX_OK)
        st = fx_loader_create(ctx, ds, &cfg->data, &opt->loader, &f->loader);
    if (st == FX_OK && shards > 1)
        st = fx_loader_set_shard(f->loader, opt->shard, shards);
    if (st != FX_OK) {
        fx_batch_feed_close(f);
        return st;
    }
    *out = f;
    return FX_OK;
}

void fx_batch_feed_close(fx_batch_feed *f)
{
    if (!f)
        return;
    fx_loader_destroy(f->loader);
    free(f->ibuf);
    free(f->lbuf);
    free(f->mbuf);
    free(f);
}

fx_status fx_batch_feed_start_epoch(fx_batch_feed *f, int64_t epoch)
{
    f->count = 0;
    return fx_loader_start_epoch(f->loader, epoch);
}

fx_status fx_batch_feed_next(fx_batch_feed *f, int *count)
{
    *count = 0;
    f->count = 0;
    int n = 0;
    fx_status st = fx_loader_next_landmarks(f->loader, f->ibuf, f->lbuf,
                                            f->landmarks && f->landmarks_from_data ? f->mbuf : NULL, &n);
    if (st != FX_OK || n == 0)
        return st;
    /* A final partial batch: the graph computes the planned batch, so the
     * rows after the real ones repeat the first example. */
    for (int64_t b = n; b < f->batch; b++) {
        memcpy(f->ibuf + b * f->image_per, f->ibuf, (size_t)f->image_per * sizeof(float));
        f->lbuf[b] = f->lbuf[0];
        if (f->mbuf)
            memcpy(f->mbuf + b * f->landmark_per, f->mbuf, (size_t)f->landmark_per * sizeof(float));
    }
    f->count = n;
    *count = n;
    return FX_OK;
}

fx_status fx_batch_feed_upload(fx_batch_feed *f)
{
    if (f->count == 0)
        return fx_fail(f->ctx, FX_ERR_INVALID, "fx_batch_feed_upload: no batch drawn (call fx_batch_feed_next)");
    fx_status st = fx_tensor_upload(f->images, f->ibuf);
    if (st == FX_OK && f->labels)
        st = fx_tensor_upload(f->labels, f->lbuf);
    if (st == FX_OK && f->landmarks)
        st = fx_tensor_upload(f->landmarks, f->mbuf);
    return st;
}

const float *fx_batch_feed_images(const fx_batch_feed *f) { return f->ibuf; }
const int32_t *fx_batch_feed_labels(const fx_batch_feed *f) { return f->lbuf; }
int64_t fx_batch_feed_batches_per_epoch(const fx_batch_feed *f) { return fx_loader_batches_per_epoch(f->loader); }
