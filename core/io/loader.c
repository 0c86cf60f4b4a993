/* core/io/loader.c - fx_loader: shuffled, augmented, normalised NCHW float
 * batches prepared on background threads.
 *
 * Determinism: the epoch's order is a Fisher-Yates shuffle seeded by
 * (seed, epoch), and every random choice for an example (crop offset,
 * flip) is drawn from a counter-based stream keyed by (seed, epoch,
 * example index). No random state is shared between threads, so the
 * batches are bit-identical for any number of workers and any timing.
 *
 * Threads: batch b of the epoch is prepared into slot b % n_slots of a
 * small ring (n_slots = workers + 2). Workers take the next unprepared
 * batch whose slot is free; fx_loader_next waits for the slot of the next
 * batch to be ready, copies it out and frees the slot. One mutex guards
 * the ring; `work` wakes workers (a slot freed, an epoch started, quit),
 * `ready` wakes the consumer, `idle` tells start_epoch that no worker is
 * still filling a slot of the previous epoch. Workers never touch the
 * context: a failure is stored in its slot as text and reported by
 * fx_loader_next on the caller's thread.
 *
 * Transform of one example (stored [C, H, W] 8-bit, see dataset.h):
 *   crop to size x size: random offset (augment and crop: random) or the
 *   centre ((H - size) / 2, floored); horizontal flip with probability 1/2
 *   (augment and flip); then out = x * scale[c] + bias[c] with
 *   scale = 1 / (255 std), bias = -mean / std (or 1/255 and 0).
 * Landmarks (stored geometry, dataset.c) follow: minus the crop offset;
 * on a flip x -> out_w - 1 - x, and for 68 points the indices are mirrored
 * (fx_face_mirror68) so point 36 stays the eye corner on the image's left.
 * Then the occlusion (opt->occlude), see draw_occlusion. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/io/dataset.h"
#include "fx/face.h"

/* data.workers at most (the YAML reader refuses more with line:column). */
#define FX_LOADER_MAX_WORKERS 64

enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_READY };

/* Streams of the per-example random numbers. */
enum { DRAW_CROP_Y = 0, DRAW_CROP_X = 1, DRAW_FLIP = 2 };

typedef struct loader_slot {
    int state;
    int64_t batch;
    int count;
    fx_status status;
    char error[FX_DATA_ERROR_MAX];
    float *images;
    int32_t *labels;
    float *landmarks; /* [batch, n_points, 2] when the data set has landmarks */
} loader_slot;

typedef struct loader_worker {
    fx_loader *loader;
    pthread_t thread;
    uint8_t *scratch; /* one decoded example (lazy data sets) */
    float *points;    /* one example's landmarks in stored geometry */
} loader_worker;

struct fx_loader {
    fx_context *ctx;
    const fx_dataset *ds;
    fx_loader_options opt;
    int channels, in_h, in_w, out_h, out_w;
    int random_crop, random_flip;
    float scale[3], bias[3];
    int64_t n, n_batches;
    int64_t *order;
    uint64_t augment_seed;
    int n_points;            /* landmarks per example; 0: none */
    int has_occlusion;
    fx_occlusion occlusion;  /* copy of *opt->occlude */
    float template_xy[2 * FX_FACE_POINTS68]; /* the mean face in the occlusion frame */
    fx_face_mesh *mesh;      /* over template_xy */

    pthread_mutex_t mutex;
    pthread_cond_t work, ready, idle;
    int sync_ready; /* mutex and conditions initialised */
    loader_worker *workers;
    int n_workers_alloc;  /* length of workers */
    int n_workers;        /* threads started */
    loader_slot *slots;
    int n_slots;
    int64_t next_fill, next_take;
    int shard, shards;    /* fx_loader_set_shard; shards 1 = the whole batch */
    uint64_t generation;
    int busy, active, quit, started;
};

/* Paints the occlusion window of one example (docs/data.md "Occlusion"):
 * with 68 finite landmarks its corners go through the mesh from the mean
 * face to the example, otherwise the frame is the crop. Every channel of
 * the pixels the quad covers (fx_face_quad_row_spans) gets `value`. */
static void draw_occlusion(const fx_loader *ld, const float *points, float *out)
{
    const fx_occlusion *o = &ld->occlusion;
    float quad[8];
    int warped = points && ld->n_points == FX_FACE_POINTS68 && ld->mesh &&
                 fx_face_window_warp_quad(ld->mesh, ld->template_xy, points, o->x, o->y, o->width, o->height,
                                          quad) == 0;
    if (!warped)
        fx_face_window_frame_quad(o->x, o->y, o->width, o->height, o->frame, ld->out_w, ld->out_h, quad);
    const int h = ld->out_h, w = ld->out_w;
    for (int i = 0; i < h; i++) {
        int spans[4];
        fx_face_quad_row_spans(quad, i, w, spans);
        for (int c = 0; c < ld->channels; c++) {
            float *row = out + ((size_t)c * h + i) * w;
            for (int s = 0; s < 4; s += 2)
                for (int j = spans[s]; j < spans[s + 1]; j++)
                    row[j] = o->value;
        }
    }
}

/* Writes example `index` (transformed) into out [C, out_h, out_w] and, when
 * the data set has landmarks, its points into points_out [n_points, 2]
 * (`stored` is a scratch array of the same size). */
static fx_status transform_example(const fx_loader *ld, int64_t index, uint8_t *scratch, float *stored,
                                   float *points_out, float *out, char *err, size_t err_size)
{
    const uint8_t *px;
    fx_status st = fx_dataset_example_pixels(ld->ds, index, scratch, &px, ld->n_points ? stored : NULL, err,
                                             err_size);
    if (st != FX_OK)
        return st;
    uint64_t stream = fx_rng_derive(ld->augment_seed, (uint64_t)index);
    int oy = (ld->in_h - ld->out_h) / 2, ox = (ld->in_w - ld->out_w) / 2;
    if (ld->random_crop) {
        int ry = ld->in_h - ld->out_h + 1, rx = ld->in_w - ld->out_w + 1;
        oy = (int)(fx_rng_uniform(stream, DRAW_CROP_Y) * (float)ry);
        ox = (int)(fx_rng_uniform(stream, DRAW_CROP_X) * (float)rx);
        if (oy >= ry)
            oy = ry - 1;
        if (ox >= rx)
            ox = rx - 1;
    }
    int flip = ld->random_flip && fx_rng_uniform(stream, DRAW_FLIP) < 0.5f;
    const int ow = ld->out_w;
    for (int c = 0; c < ld->channels; c++) {
        const float scale = ld->scale[c], bias = ld->bias[c];
        for (int y = 0; y < ld->out_h; y++) {
            const uint8_t *row = px + ((size_t)c * ld->in_h + (size_t)(oy + y)) * ld->in_w + ox;
            float *dst = out + ((size_t)c * ld->out_h + y) * ow;
            if (flip)
                for (int x = 0; x < ow; x++)
                    dst[x] = (float)row[ow - 1 - x] * scale + bias;
            else
                for (int x = 0; x < ow; x++)
                    dst[x] = (float)row[x] * scale + bias;
        }
    }
    if (ld->n_points) {
        int mirror68 = flip && ld->n_points == FX_FACE_POINTS68;
        for (int p = 0; p < ld->n_points; p++) {
            int from = mirror68 ? fx_face_mirror68(p) : p;
            float x = stored[2 * from] - (float)ox, y = stored[2 * from + 1] - (float)oy;
            points_out[2 * p] = flip ? (float)(ow - 1) - x : x;
            points_out[2 * p + 1] = y;
        }
    }
    if (ld->has_occlusion)
        draw_occlusion(ld, ld->n_points ? points_out : NULL, out);
    return FX_OK;
}

static fx_status fill_batch(const fx_loader *ld, int64_t batch, loader_slot *slot, uint8_t *scratch,
                            float *stored)
{
    int64_t rows = ld->opt.batch / ld->shards; /* this shard's rows of each batch */
    int64_t start = batch * ld->opt.batch + ld->shard * rows;
    int64_t count = ld->n - start < rows ? ld->n - start : rows;
    if (count < 0)
        count = 0;
    size_t example = (size_t)ld->channels * ld->out_h * ld->out_w;
    for (int64_t j = 0; j < count; j++) {
        int64_t index = ld->order[start + j];
        float *points = ld->n_points ? slot->landmarks + (size_t)j * (size_t)ld->n_points * 2 : NULL;
        fx_status st = transform_example(ld, index, scratch, stored, points, slot->images + (size_t)j * example,
                                         slot->error, sizeof slot->error);
        if (st != FX_OK)
            return st;
        slot->labels[j] = ld->ds->labels[index];
    }
    slot->count = (int)count;
    return FX_OK;
}

static void *worker_main(void *arg)
{
    loader_worker *w = arg;
    fx_loader *ld = w->loader;
    pthread_mutex_lock(&ld->mutex);
    for (;;) {
        while (!ld->quit &&
               !(ld->active && ld->next_fill < ld->n_batches &&
                 ld->slots[ld->next_fill % ld->n_slots].state == SLOT_FREE))
            pthread_cond_wait(&ld->work, &ld->mutex);
        if (ld->quit)
            break;
        int64_t batch = ld->next_fill++;
        loader_slot *slot = &ld->slots[batch % ld->n_slots];
        slot->state = SLOT_FILLING;
        slot->batch = batch;
        slot->error[0] = '\0';
        uint64_t generation = ld->generation;
        ld->busy++;
        pthread_mutex_unlock(&ld->mutex);

        fx_status st = fill_batch(ld, batch, slot, w->scratch, w->points);

        pthread_mutex_lock(&ld->mutex);
        ld->busy--;
        if (generation == ld->generation) {
            slot->status = st;
            slot->state = SLOT_READY;
            pthread_cond_broadcast(&ld->ready);
        }
        if (ld->busy == 0)
            pthread_cond_broadcast(&ld->idle);
    }
    pthread_mutex_unlock(&ld->mutex);
    return NULL;
}

static fx_status check_options(fx_context *ctx, const fx_dataset *ds, const fx_data_config *cfg,
                               const fx_loader_options *opt)
{
    if (opt->batch <= 0)
        return fx_fail(ctx, FX_ERR_INVALID, "loader: batch size is %d; it must be at least 1", opt->batch);
    if (cfg->workers > FX_LOADER_MAX_WORKERS)
        return fx_fail(ctx, FX_ERR_INVALID, "data.workers is %d; use 1 to %d (more threads than that only "
                       "contend for the cores)", cfg->workers, FX_LOADER_MAX_WORKERS);
    if (cfg->size < 0 || cfg->size > ds->height || cfg->size > ds->width)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "%s: data.size %d does not fit the %dx%d images; use a size up to %d "
                       "(or raise data.resize)",
                       ds->source, cfg->size, ds->height, ds->width,
                       ds->height < ds->width ? ds->height : ds->width);
    if (cfg->n_norm != 0 && cfg->n_norm != 1 && cfg->n_norm != ds->channels)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "data normalisation has %d mean/std values for %d-channel images; give 1 or %d",
                       cfg->n_norm, ds->channels, ds->channels);
    for (int c = 0; c < cfg->n_norm; c++)
        if (!(cfg->std[c] > 0))
            return fx_fail(ctx, FX_ERR_INVALID, "data normalisation std[%d] is %g; it must be positive", c,
                           (double)cfg->std[c]);
    const fx_occlusion *o = opt->occlude;
    if (o && (o->frame < 1 || o->frame > 65536 || o->width < 1 || o->height < 1 || !isfinite(o->value)))
        return fx_fail(ctx, FX_ERR_INVALID,
                       "occlusion window: frame %d, size %dx%d, value %g; use a positive frame and size and a "
                       "finite value",
                       o->frame, o->width, o->height, (double)o->value);
    return FX_OK;
}

fx_status fx_loader_create(fx_context *ctx, fx_dataset *ds, const fx_data_config *cfg,
                           const fx_loader_options *opt, fx_loader **out)
{
    *out = NULL;
    if (!ds || !cfg || !opt)
        return fx_fail(ctx, FX_ERR_INVALID, "fx_loader_create: data set, config and options are required");
    fx_status st = check_options(ctx, ds, cfg, opt);
    if (st != FX_OK)
        return st;
    fx_loader *ld = fx_calloc(ctx, 1, sizeof *ld, "data loader");
    if (!ld)
        return FX_ERR_NOMEM;
    ld->ctx = ctx;
    ld->ds = ds;
    ld->opt = *opt;
    ld->shards = 1;
    ld->n = ds->n;
    ld->channels = ds->channels;
    ld->in_h = ds->height;
    ld->in_w = ds->width;
    ld->out_h = cfg->size ? cfg->size : ds->height;
    ld->out_w = cfg->size ? cfg->size : ds->width;
    ld->random_crop = opt->augment && cfg->crop == FX_CROP_RANDOM;
    ld->random_flip = opt->augment && cfg->flip;
    for (int c = 0; c < ld->channels; c++) {
        if (cfg->n_norm == 0) {
            ld->scale[c] = 1.0f / 255.0f;
            ld->bias[c] = 0.0f;
        } else {
            int k = cfg->n_norm == 1 ? 0 : c;
            ld->scale[c] = 1.0f / (255.0f * cfg->std[k]);
            ld->bias[c] = -cfg->mean[k] / cfg->std[k];
        }
    }
    ld->n_batches = opt->drop_last ? ld->n / opt->batch : (ld->n + opt->batch - 1) / opt->batch;
    ld->n_points = ds->n_points;
    ld->opt.occlude = NULL; /* the caller's pointer is not kept */
    if (opt->occlude) {
        ld->has_occlusion = 1;
        ld->occlusion = *opt->occlude;
        if (ld->n_points == FX_FACE_POINTS68) {
            fx_status mst = fx_face_template68(ctx, ld->occlusion.frame, ld->template_xy);
            if (mst == FX_OK)
                mst = fx_face_mesh_create(ctx, ld->template_xy, FX_FACE_POINTS68, &ld->mesh);
            if (mst != FX_OK) {
                fx_loader_destroy(ld);
                return mst;
            }
        }
    }

    int workers = cfg->workers < 1 ? 1 : cfg->workers; /* 0: a zeroed config, one thread */
    ld->n_slots = workers + 2;
    size_t example = (size_t)ld->channels * ld->out_h * ld->out_w;
    ld->order = fx_malloc(ctx, (size_t)(ld->n ? ld->n : 1) * sizeof(int64_t), "loader order");
    ld->slots = fx_calloc(ctx, (size_t)ld->n_slots, sizeof(loader_slot), "loader slots");
    ld->workers = fx_calloc(ctx, (size_t)workers, sizeof(loader_worker), "loader workers");
    if (!ld->order || !ld->slots || !ld->workers)
        goto nomem;
    ld->n_workers_alloc = workers;
    for (int s = 0; s < ld->n_slots; s++) {
        ld->slots[s].images = fx_malloc(ctx, (size_t)opt->batch * example * sizeof(float), "loader batch");
        ld->slots[s].labels = fx_malloc(ctx, (size_t)opt->batch * sizeof(int32_t), "loader labels");
        if (!ld->slots[s].images || !ld->slots[s].labels)
            goto nomem;
        if (ld->n_points) {
            ld->slots[s].landmarks = fx_malloc(ctx, (size_t)opt->batch * (size_t)ld->n_points * 2 * sizeof(float),
                                               "loader landmarks");
            if (!ld->slots[s].landmarks)
                goto nomem;
        }
    }
    for (int w = 0; w < workers; w++) {
        ld->workers[w].loader = ld;
        if (!ds->pixels) {
            ld->workers[w].scratch = fx_malloc(ctx, fx_dataset_example_bytes(ds), "loader decode buffer");
            if (!ld->workers[w].scratch)
                goto nomem;
        }
        if (ld->n_points) {
            ld->workers[w].points = fx_malloc(ctx, (size_t)ld->n_points * 2 * sizeof(float), "loader landmarks");
            if (!ld->workers[w].points)
                goto nomem;
        }
    }
    if (pthread_mutex_init(&ld->mutex, NULL) != 0)
        goto nothreads;
    if (pthread_cond_init(&ld->work, NULL) != 0) {
        pthread_mutex_destroy(&ld->mutex);
        goto nothreads;
    }
    if (pthread_cond_init(&ld->ready, NULL) != 0) {
        pthread_cond_destroy(&ld->work);
        pthread_mutex_destroy(&ld->mutex);
        goto nothreads;
    }
    if (pthread_cond_init(&ld->idle, NULL) != 0) {
        pthread_cond_destroy(&ld->ready);
        pthread_cond_destroy(&ld->work);
        pthread_mutex_destroy(&ld->mutex);
        goto nothreads;
    }
    ld->sync_ready = 1;
    for (int w = 0; w < workers; w++) {
        if (pthread_create(&ld->workers[w].thread, NULL, worker_main, &ld->workers[w]) != 0) {
            fx_loader_destroy(ld);
            return fx_fail(ctx, FX_ERR_INTERNAL, "loader: cannot start worker thread %d of %d; "
                           "lower data.workers", w + 1, workers);
        }
        ld->n_workers++;
    }
    *out = ld;
    return FX_OK;
nothreads:
    fx_loader_destroy(ld);
    return fx_fail(ctx, FX_ERR_INTERNAL, "loader: cannot initialise thread synchronisation");
nomem:
    fx_loader_destroy(ld);
    return FX_ERR_NOMEM;
}

void fx_loader_destroy(fx_loader *ld)
{
    if (!ld)
        return;
    if (ld->sync_ready) {
        pthread_mutex_lock(&ld->mutex);
        ld->quit = 1;
        ld->generation++;
        pthread_cond_broadcast(&ld->work);
        pthread_mutex_unlock(&ld->mutex);
        /* A worker in the middle of a batch finishes it (bounded work)
         * and then sees quit. */
        for (int w = 0; w < ld->n_workers; w++)
            pthread_join(ld->workers[w].thread, NULL);
        pthread_cond_destroy(&ld->idle);
        pthread_cond_destroy(&ld->ready);
        pthread_cond_destroy(&ld->work);
        pthread_mutex_destroy(&ld->mutex);
    }
    if (ld->slots)
        for (int s = 0; s < ld->n_slots; s++) {
            free(ld->slots[s].images);
            free(ld->slots[s].labels);
            free(ld->slots[s].landmarks);
        }
    if (ld->workers)
        for (int w = 0; w < ld->n_workers_alloc; w++) {
            free(ld->workers[w].scratch);
            free(ld->workers[w].points);
        }
    fx_face_mesh_destroy(ld->mesh);
    free(ld->workers);
    free(ld->slots);
    free(ld->order);
    free(ld);
}

fx_status fx_loader_start_epoch(fx_loader *ld, int64_t epoch)
{
    if (epoch < 0)
        return fx_fail(ld->ctx, FX_ERR_INVALID, "loader: epoch %lld is negative", (long long)epoch);
    pthread_mutex_lock(&ld->mutex);
    /* Stop handing out batches of the old epoch and wait until no worker
     * is still writing into a slot. */
    ld->generation++;
    ld->active = 0;
    while (ld->busy > 0)
        pthread_cond_wait(&ld->idle, &ld->mutex);
    for (int s = 0; s < ld->n_slots; s++)
        ld->slots[s].state = SLOT_FREE;

    uint64_t epoch_seed = fx_rng_derive(ld->opt.seed, (uint64_t)epoch);
    for (int64_t i = 0; i < ld->n; i++)
        ld->order[i] = i;
    if (ld->opt.shuffle) {
        fx_rng rng;
        fx_rng_seed(&rng, fx_rng_derive(epoch_seed, 0));
        for (int64_t i = ld->n - 1; i > 0; i--) {
            int64_t j = (int64_t)fx_rng_below(&rng, (uint64_t)i + 1);
            int64_t t = ld->order[i];
            ld->order[i] = ld->order[j];
            ld->order[j] = t;
        }
    }
    ld->augment_seed = fx_rng_derive(epoch_seed, 1);
    ld->next_fill = ld->next_take = 0;
    ld->active = 1;
    ld->started = 1;
    pthread_cond_broadcast(&ld->work);
    pthread_mutex_unlock(&ld->mutex);
    return FX_OK;
}

fx_status fx_loader_next(fx_loader *ld, float *images, int32_t *labels, int *count)
{
    return fx_loader_next_landmarks(ld, images, labels, NULL, count);
}

fx_status fx_loader_next_landmarks(fx_loader *ld, float *images, int32_t *labels, float *landmarks, int *count)
{
    *count = 0;
    if (!ld->started)
        return fx_fail(ld->ctx, FX_ERR_INVALID, "loader: call fx_loader_start_epoch before fx_loader_next");
    pthread_mutex_lock(&ld->mutex);
    if (ld->next_take >= ld->n_batches) {
        pthread_mutex_unlock(&ld->mutex);
        return FX_OK;
    }
    int64_t batch = ld->next_take;
    loader_slot *slot = &ld->slots[batch % ld->n_slots];
    while (!(slot->state == SLOT_READY && slot->batch == batch))
        pthread_cond_wait(&ld->ready, &ld->mutex);
    pthread_mutex_unlock(&ld->mutex);

    /* The slot stays READY until we free it, so no worker touches it now. */
    if (slot->status != FX_OK)
        return fx_fail(ld->ctx, slot->status, "%s", slot->error);
    size_t example = (size_t)ld->channels * ld->out_h * ld->out_w;
    memcpy(images, slot->images, (size_t)slot->count * example * sizeof(float));
    memcpy(labels, slot->labels, (size_t)slot->count * sizeof(int32_t));
    if (landmarks && ld->n_points)
        memcpy(landmarks, slot->landmarks, (size_t)slot->count * (size_t)ld->n_points * 2 * sizeof(float));
    *count = slot->count;

    pthread_mutex_lock(&ld->mutex);
    slot->state = SLOT_FREE;
    ld->next_take++;
    pthread_cond_broadcast(&ld->work);
    pthread_mutex_unlock(&ld->mutex);
    return FX_OK;
}

fx_status fx_loader_set_shard(fx_loader *ld, int shard, int shards)
{
    if (ld->started)
        return fx_fail(ld->ctx, FX_ERR_INVALID, "loader: fx_loader_set_shard must come before the first epoch starts");
    if (shards < 1 || shard < 0 || shard >= shards || ld->opt.batch % shards != 0)
        return fx_fail(ld->ctx, FX_ERR_INVALID,
                       "loader: shard %d of %d with batch %d: the batch must divide by the number of shards", shard,
                       shards, ld->opt.batch);
    ld->shard = shard;
    ld->shards = shards;
    return FX_OK;
}

int64_t fx_loader_batches_per_epoch(const fx_loader *ld)
{
    return ld ? ld->n_batches : 0;
}
