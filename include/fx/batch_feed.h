/* fx/batch_feed.h - the one loop over a data set's batches that training,
 * evaluation and feature extraction share: it draws each batch with a
 * loader (fx/data.h), pads a final partial batch up to the graph's planned
 * batch, and uploads the batch into the graph's inputs (images, labels,
 * landmarks), so that a caller's loop is
 *
 *     fx_batch_feed_start_epoch(f, epoch);
 *     while (fx_batch_feed_next(f, &count) == FX_OK && count > 0) {
 *         fx_batch_feed_upload(f);  fx_graph_forward(g);  ...
 *     }
 *
 * The feed owns its host buffers and its loader; the graph and data set
 * are the caller's and must outlive it. */
#ifndef FX_BATCH_FEED_H
#define FX_BATCH_FEED_H

#include <stdint.h>
#include "fx/data.h"
#include "fx/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fx_batch_feed fx_batch_feed;

typedef struct fx_batch_feed_options {
    /* The loader's options. loader.batch is the global batch: the graph's
     * planned batch times `shards`. */
    fx_loader_options loader;
    /* Data parallel (docs/scaling.md): this process feeds rows
     * [shard * b, (shard + 1) * b) of every global batch, b the graph's
     * batch. shards 0 or 1: all rows. */
    int shard, shards;
    /* Upload the labels into the graph input data.label (training and
     * evaluation); 0 leaves that input alone (feature extraction, where a
     * graph's label input may be absent). */
    int labels;
    /* What the data is for, in error messages ("the training data gives
     * examples of shape ..."); NULL: "fed". */
    const char *what;
} fx_batch_feed_options;

/* Opens a feed for graph g, planned already (its batch is the batch fed),
 * over data set ds with the data section of cfg: cfg->data.image_input
 * must be a float32 input of g whose per-example shape is the data's
 * example shape; with opt->labels, cfg->data.label_input a scalar int32
 * input. The input cfg->data.landmarks_input, when g declares it, is fed
 * f32 [P, 2] landmarks per example (NaN where the data set has none).
 * A data set without examples is refused. */
fx_status fx_batch_feed_open(fx_graph *g, const fx_config *cfg, fx_dataset *ds, const fx_batch_feed_options *opt,
                             fx_batch_feed **out);
void fx_batch_feed_close(fx_batch_feed *f);
/* Starts epoch `epoch` of the loader (order and augmentation depend only
 * on the seed and the epoch). */
fx_status fx_batch_feed_start_epoch(fx_batch_feed *f, int64_t epoch);
/* Draws the next batch into the feed's host buffers: *count real examples
 * (0 at the end of the epoch), the rows after them, up to the graph's
 * batch, copies of the first example (padding the graph computes and the
 * caller ignores). Nothing is uploaded yet, so a resumed run can skip
 * batches cheaply. */
fx_status fx_batch_feed_next(fx_batch_feed *f, int *count);
/* Uploads the drawn batch into the graph's inputs. */
fx_status fx_batch_feed_upload(fx_batch_feed *f);
/* The drawn batch on the host: images [batch, C, H, W] and labels [batch]
 * (batch = the graph's planned batch), valid until the next draw. */
const float *fx_batch_feed_images(const fx_batch_feed *f);
const int32_t *fx_batch_feed_labels(const fx_batch_feed *f);
/* Batches per epoch of the loader (global batches). */
int64_t fx_batch_feed_batches_per_epoch(const fx_batch_feed *f);

#ifdef __cplusplus
}
#endif
#endif
