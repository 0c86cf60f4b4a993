/* core/train/stream_dump.c - FX_DUMP_STREAM=DIR: writes out exactly what each
 * training step consumed, so an outside reference (tools/parity/) can
 * replay fx's stream step by step and compare.
 *
 * Files in DIR (created if missing; `s` = the 0-based step, 6 digits):
 *   init.fxck               the weights (and optimiser state) before the
 *                           first step of this run, fx's checkpoint format
 *   s.images.npy            the batch as uploaded: [B, C, H, W] float32
 *                           (after crop, flip and normalisation)
 *   s.labels.npy            [B] int32
 *   s.<node>.mask.npy       per dropout node: the kept-and-scaled factor of
 *                           every element, 0 or 1/(1-rate), float32, the
 *                           node's output shape (the rule of
 *                           backends/cpu/dropout.c: keep element i iff
 *                           fx_rng_uniform(seed, i) >= rate)
 *   steps.jsonl             one line per step: step, lr, total loss, and
 *                           the seed of each dropout node
 *   s.fxck                  after step s (weights, optimiser state, BN
 *                           running statistics) when FX_DUMP_STREAM_EVERY=K
 *                           > 0 and (s + 1) % K == 0
 * Off (one getenv at the start of training) when FX_DUMP_STREAM is unset
 * or empty: the training loop then pays one NULL test per step. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fx/fx.h"
#include "core/train/stream_dump.h"

struct fx_stream_dump {
    fx_context *ctx;
    fx_graph *g;
    fx_optimizer *opt;
    char dir[FX_PATH_MAX];
    int64_t every;
    int64_t per_epoch; /* steps per epoch: the epoch each checkpoint resumes in */
    FILE *log;
    float *mask;      /* scratch: one dropout mask */
    size_t mask_cap;  /* elements */
};

static fx_status dump_path(fx_stream_dump *d, char *buf, size_t size, int64_t step, const char *what)
{
    int n = step < 0 ? snprintf(buf, size, "%s/%s", d->dir, what)
                     : snprintf(buf, size, "%s/%06lld.%s", d->dir, (long long)step, what);
    if (n < 0 || (size_t)n >= size)
        return fx_fail(d->ctx, FX_ERR_INVALID, "FX_DUMP_STREAM: the path %s/%s is too long", d->dir, what);
    return FX_OK;
}

fx_status fx_stream_dump_open(fx_context *ctx, fx_graph *g, fx_optimizer *opt, int64_t per_epoch,
                              fx_stream_dump **out)
{
    *out = NULL;
    const char *dir = getenv("FX_DUMP_STREAM");
    if (!dir || !dir[0])
        return FX_OK;
    if (strlen(dir) + 32 >= FX_PATH_MAX)
        return fx_fail(ctx, FX_ERR_INVALID, "FX_DUMP_STREAM: the folder name '%s' is too long", dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return fx_fail(ctx, FX_ERR_IO, "FX_DUMP_STREAM: cannot create the folder '%s': %s", dir, strerror(errno));
    fx_stream_dump *d = fx_calloc(ctx, 1, sizeof *d, "the stream dump");
    if (!d)
        return FX_ERR_NOMEM;
    d->ctx = ctx;
    d->g = g;
    d->opt = opt;
    d->per_epoch = per_epoch > 0 ? per_epoch : 1;
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    const char *every = getenv("FX_DUMP_STREAM_EVERY");
    if (every && every[0]) {
        char *end = NULL;
        long long k = strtoll(every, &end, 10);
        if (*end || k < 0) {
            free(d);
            return fx_fail(ctx, FX_ERR_INVALID, "FX_DUMP_STREAM_EVERY='%s': give a number of steps >= 0", every);
        }
        d->every = k;
    }
    char path[FX_PATH_MAX];
    fx_status st = dump_path(d, path, sizeof path, -1, "steps.jsonl");
    if (st == FX_OK && !(d->log = fopen(path, "w")))
        st = fx_fail(ctx, FX_ERR_IO, "FX_DUMP_STREAM: cannot write %s: %s", path, strerror(errno));
    if (st == FX_OK)
        st = dump_path(d, path, sizeof path, -1, "init.fxck");
    if (st == FX_OK) {
        int64_t step = (int64_t)fx_graph_step(g);
        fx_checkpoint_meta m = { .epoch = step / d->per_epoch, .step = step, .seed = fx_graph_seed(g) };
        snprintf(m.graph_name, sizeof m.graph_name, "%s", fx_graph_name(g));
        st = fx_checkpoint_save(ctx, path, g, opt, &m);
    }
    if (st != FX_OK) {
        fx_stream_dump_close(d);
        return st;
    }
    *out = d;
    return FX_OK;
}

static fx_status write_f32(fx_stream_dump *d, const char *path, const float *data, const fx_shape *shape,
                           fx_dtype dtype)
{
    fx_array a = { .dtype = dtype, .shape = *shape, .data = (void *)data };
    return fx_npy_write(d->ctx, path, &a);
}

fx_status fx_stream_dump_batch(fx_stream_dump *d, int64_t step, float lr, const float *images,
                               const int32_t *labels)
{
    fx_graph *g = d->g;
    char path[FX_PATH_MAX];
    const fx_tensor *img = NULL, *lab = NULL;
    for (int i = 0; i < fx_graph_input_count(g); i++) {
        const fx_tensor *t = fx_graph_value(g, fx_graph_input_name(g, i));
        if (t && t->dtype == FX_F32 && !img)
            img = t;
        else if (t && t->dtype == FX_I32 && !lab)
            lab = t;
    }
    if (!img || !lab)
        return fx_fail(d->ctx, FX_ERR_INVALID, "FX_DUMP_STREAM: the graph needs one float and one int input");
    fx_status st = dump_path(d, path, sizeof path, step, "images.npy");
    if (st == FX_OK)
        st = write_f32(d, path, images, &img->shape, FX_F32);
    if (st == FX_OK)
        st = dump_path(d, path, sizeof path, step, "labels.npy");
    if (st == FX_OK)
        st = write_f32(d, path, (const float *)labels, &lab->shape, FX_I32);
    if (st != FX_OK)
        return st;
    fprintf(d->log, "{\"step\":%lld,\"lr\":%.9g,\"seeds\":{", (long long)step, (double)lr);
    int first = 1;
    for (int n = 0; n < fx_graph_node_count(g); n++) {
        const fx_node *node = fx_graph_node_at(g, n);
        if (strcmp(fx_node_op_name(node), "dropout") != 0)
            continue;
        /* A node's first output is named after it (fx/graph.h). */
        fx_shape shape;
        if (!fx_graph_value_shape(g, fx_node_name(node), &shape))
            return fx_fail(d->ctx, FX_ERR_INVALID, "FX_DUMP_STREAM: dropout node '%s' has no planned output",
                           fx_node_name(node));
        size_t numel = (size_t)fx_shape_numel(&shape);
        if (numel > d->mask_cap) {
            float *m = realloc(d->mask, numel * sizeof(float));
            if (!m)
                return fx_fail(d->ctx, FX_ERR_NOMEM, "FX_DUMP_STREAM: out of memory for a dropout mask");
            d->mask = m;
            d->mask_cap = numel;
        }
        /* The rule of backends/cpu/dropout.c, with the seed the executor
         * gives the node at this step. */
        uint64_t seed = fx_graph_node_seed(g, n);
        float rate = (float)fx_node_attr_float(node, "rate");
        float scale = 1.0f / (1.0f - rate);
        for (size_t i = 0; i < numel; i++)
            d->mask[i] = fx_rng_uniform(seed, (uint64_t)i) >= rate ? scale : 0.0f;
        char what[FX_NAME_MAX + 16];
        snprintf(what, sizeof what, "%s.mask.npy", fx_node_name(node));
        st = dump_path(d, path, sizeof path, step, what);
        if (st == FX_OK)
            st = write_f32(d, path, d->mask, &shape, FX_F32);
        if (st != FX_OK)
            return st;
        fprintf(d->log, "%s\"%s\":\"%llu\"", first ? "" : ",", fx_node_name(node), (unsigned long long)seed);
        first = 0;
    }
    fprintf(d->log, "}");
    return FX_OK;
}

fx_status fx_stream_dump_step(fx_stream_dump *d, int64_t step, float loss)
{
    fprintf(d->log, ",\"loss\":%.9g}\n", (double)loss);
    if (fflush(d->log) != 0)
        return fx_fail(d->ctx, FX_ERR_IO, "FX_DUMP_STREAM: cannot write %s/steps.jsonl: %s", d->dir, strerror(errno));
    if (d->every > 0 && (step + 1) % d->every == 0) {
        char path[FX_PATH_MAX];
        fx_status st = dump_path(d, path, sizeof path, step, "fxck");
        if (st != FX_OK)
            return st;
        /* The epoch the next step belongs to, as fx_train writes it: the
         * checkpoint resumes (--resume) into exactly the rest of the stream. */
        fx_checkpoint_meta m = { .epoch = (step + 1) / d->per_epoch, .step = step + 1, .seed = fx_graph_seed(d->g) };
        snprintf(m.graph_name, sizeof m.graph_name, "%s", fx_graph_name(d->g));
        return fx_checkpoint_save(d->ctx, path, d->g, d->opt, &m);
    }
    return FX_OK;
}

void fx_stream_dump_close(fx_stream_dump *d)
{
    if (!d)
        return;
    if (d->log)
        fclose(d->log);
    free(d->mask);
    free(d);
}
