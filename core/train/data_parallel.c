/* core/train/data_parallel.c - data-parallel training over a communicator
 * (fx/comm.h): N ranks each run forward and backward on their share of
 * the global batch (train.batch = B, B / N per rank), then every
 * learnable parameter's gradient is replaced by the mean over the ranks
 * and every rank takes the same optimiser step.
 *
 * Why the mean: each rank's loss is the mean over its B/N examples, the
 * single process's is the mean over B = the mean of the N rank losses,
 * so the single process's gradient is the mean of the rank gradients
 * (exactly, up to float summation order, when batch statistics are
 * global: train.sync_bn; and dropout draws by global example index).
 *
 * Gradients travel in buckets of at most BUCKET_FLOATS floats through one
 * host staging buffer (the same path for the CPU and OpenCL backends; on
 * the CPU the download is a memcpy): parameters are packed in reverse
 * order (the order backward finishes them). The executor reports each
 * gradient the moment it is final (fx_graph_set_grad_final); the gradient
 * is downloaded into its place in the staging buffer then, and a bucket's
 * MPI_Iallreduce starts as soon as its last gradient is in, while backward
 * goes on with earlier layers. After backward, buckets not started yet
 * (none, normally) are packed and started, all are waited for, scaled by
 * 1/N and uploaded. The sum is the same whenever it starts: results equal
 * the after-backward version exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/train/data_parallel.h"

#define BUCKET_FLOATS (1 << 20) /* 4 MiB: large enough for bandwidth, small enough to pipeline */

struct fx_dp {
    fx_context *ctx;
    fx_graph *g;
    fx_comm *comm;
    int size, rank, sync_bn;
    float *staging;            /* every learnable parameter's gradient, packed */
    int64_t grad_floats;
    float *state;              /* non-learnable parameters, packed */
    int64_t state_floats;
    /* Buckets: [start, start + floats) of staging, in reverse parameter
     * order; a bucket starts when `ready` reaches `params`. */
    int n_buckets;
    struct dp_bucket {
        int64_t start, floats;
        int params, ready;
        fx_comm_request *request; /* started, not yet waited for */
    } *buckets;
    int *param_bucket;         /* per parameter: its bucket, -1 = none */
    int64_t *param_offset;     /* per parameter: its place in staging */
    char *param_packed;        /* per parameter: downloaded this step */
    int64_t buckets_early, buckets_total; /* started during backward / in all */
    double grad_seconds;
    int64_t grad_steps;
    size_t staged_bytes;       /* per step: host<->device, both directions */
};

int fx_dp_active(const fx_dp *dp) { return dp && dp->size > 1; }
int fx_dp_rank(const fx_dp *dp) { return dp ? dp->rank : 0; }
int fx_dp_size(const fx_dp *dp) { return dp ? dp->size : 1; }
double fx_dp_gradient_seconds(const fx_dp *dp) { return dp ? dp->grad_seconds : 0; }
int64_t fx_dp_gradient_steps(const fx_dp *dp) { return dp ? dp->grad_steps : 0; }
size_t fx_dp_staged_bytes(const fx_dp *dp) { return dp ? dp->staged_bytes : 0; }

fx_status fx_dp_create(fx_context *ctx, fx_graph *g, const fx_config *cfg, fx_comm *comm, int *local_batch,
                       fx_dp **out)
{
    *out = NULL;
    *local_batch = cfg->train.batch;
    int size = fx_comm_size(comm), rank = fx_comm_rank(comm);
    if (size <= 1) {
        if (cfg->train.sync_bn && fx_context_get_options(ctx)->verbose > 1)
            fprintf(stderr, "note: train.sync_bn has no effect in a single process\n");
        return FX_OK;
    }
    if (cfg->train.batch % size != 0)
        return fx_fail(ctx, FX_ERR_INVALID,
                       "%s: train.batch %d is the global batch and must divide by the %d ranks; use a multiple "
                       "of %d (e.g. %d) or another -np",
                       cfg->path, cfg->train.batch, size, size, (cfg->train.batch / size + 1) * size);
    fx_dp *dp = fx_calloc(ctx, 1, sizeof *dp, "data-parallel state");
    if (!dp)
        return FX_ERR_NOMEM;
    dp->ctx = ctx;
    dp->g = g;
    dp->comm = comm;
    dp->size = size;
    dp->rank = rank;
    dp->sync_bn = cfg->train.sync_bn;
    *local_batch = cfg->train.batch / size;
    fx_graph_set_data_parallel(g, dp->sync_bn ? comm : NULL, (int64_t)rank * *local_batch);
    *out = dp;
    return FX_OK;
}

void fx_dp_destroy(fx_dp *dp)
{
    if (!dp)
        return;
    fx_graph_set_data_parallel(dp->g, NULL, 0);
    free(dp->staging);
    free(dp->state);
    fx_graph_set_grad_final(dp->g, NULL, NULL);
    free(dp->buckets);
    free(dp->param_bucket);
    free(dp->param_offset);
    free(dp->param_packed);
    free(dp);
}

/* Parameter i as the all-reduce sees it: its value when allocated (NULL
 * for an absent or unplanned one), its gradient when it has one to reduce
 * (learnable, allocated, with a gradient; else NULL), and whether it is
 * learnable (the rest is state: BN running statistics). */
typedef struct dp_param {
    fx_tensor *value, *grad;
    int learnable;
} dp_param;

static dp_param dp_param_at(fx_graph *g, int i)
{
    fx_param p = fx_graph_param_at(g, i);
    dp_param d = { p.value && p.value->buffer ? p.value : NULL, NULL, p.learnable };
    if (d.value && p.learnable && p.grad)
        d.grad = p.grad;
    return d;
}

/* Buckets of at least BUCKET_FLOATS floats (the last may be smaller),
 * parameters packed in reverse order. */
static fx_status plan_buckets(fx_dp *dp)
{
    fx_graph *g = dp->g;
    const int n_params = fx_graph_param_count(g);
    size_t np = (size_t)(n_params ? n_params : 1);
    dp->buckets = fx_calloc(dp->ctx, np, sizeof *dp->buckets, "all-reduce buckets");
    dp->param_bucket = fx_malloc(dp->ctx, np * sizeof *dp->param_bucket, "all-reduce bucket plan");
    dp->param_offset = fx_calloc(dp->ctx, np, sizeof *dp->param_offset, "all-reduce bucket plan");
    dp->param_packed = fx_calloc(dp->ctx, np, 1, "all-reduce bucket plan");
    if (!dp->buckets || !dp->param_bucket || !dp->param_offset || !dp->param_packed)
        return FX_ERR_NOMEM;
    int64_t offset = 0;
    struct dp_bucket *b = NULL;
    for (int i = n_params - 1; i >= 0; i--) {
        dp->param_bucket[i] = -1;
        dp_param p = dp_param_at(g, i);
        if (!p.grad)
            continue;
        if (!b || b->floats >= BUCKET_FLOATS) {
            b = &dp->buckets[dp->n_buckets++];
            b->start = offset;
        }
        dp->param_bucket[i] = (int)(b - dp->buckets);
        dp->param_offset[i] = offset;
        int64_t n = fx_tensor_numel(p.grad);
        offset += n;
        b->floats += n;
        b->params++;
    }
    return FX_OK;
}

/* Downloads parameter i's gradient into staging; starts its bucket when
 * that was the bucket's last. */
static fx_status pack_gradient(fx_dp *dp, int i)
{
    int k = dp->param_bucket[i];
    if (k < 0 || dp->param_packed[i])
        return FX_OK;
    struct dp_bucket *b = &dp->buckets[k];
    fx_status st = fx_tensor_download(dp_param_at(dp->g, i).grad, dp->staging + dp->param_offset[i]);
    if (st != FX_OK)
        return st;
    dp->param_packed[i] = 1;
    if (++b->ready < b->params)
        return FX_OK;
    dp->buckets_total++;
    return fx_comm_allreduce_sum_start(dp->comm, dp->staging + b->start, b->floats, &b->request);
}

/* fx_graph_set_grad_final's callback: during backward. */
static fx_status gradient_final(void *user, int param)
{
    fx_dp *dp = user;
    int64_t before = dp->buckets_total;
    double t0 = fx_now_seconds();
    fx_status st = pack_gradient(dp, param);
    dp->buckets_early += dp->buckets_total - before;
    dp->grad_seconds += fx_now_seconds() - t0;
    return st;
}

void fx_dp_overlap(const fx_dp *dp, int64_t *early, int64_t *total)
{
    *early = dp ? dp->buckets_early : 0;
    *total = dp ? dp->buckets_total : 0;
}

fx_status fx_dp_start(fx_dp *dp)
{
    if (!fx_dp_active(dp))
        return FX_OK;
    fx_graph *g = dp->g;
    fx_context *ctx = dp->ctx;
    if (dp->sync_bn)
        for (int n = 0; n < fx_graph_node_count(g); n++) {
            const fx_node *node = fx_graph_node_at(g, n);
            if (!strcmp(fx_node_op_name(node), "batchnorm") && strcmp(fx_node_backend_name(node), "cpu"))
                return fx_fail(ctx, FX_ERR_UNSUPPORTED,
                               "train.sync_bn: BatchNorm layer '%s' runs on %s, where synchronised batch statistics "
                               "are not implemented yet (CPU only); remove train.sync_bn (each rank then uses its "
                               "own batch statistics) or train on the CPU",
                               fx_node_name(node), fx_node_backend_name(node));
        }
    const int n_params = fx_graph_param_count(g);
    dp->grad_floats = 0;
    dp->state_floats = 0;
    int64_t max_value = 1;
    for (int i = 0; i < n_params; i++) {
        dp_param p = dp_param_at(g, i);
        if (!p.value)
            continue;
        int64_t n = fx_tensor_numel(p.value);
        if (n > max_value)
            max_value = n;
        if (p.grad)
            dp->grad_floats += n;
        else if (!p.learnable)
            dp->state_floats += n;
    }
    dp->staging = fx_malloc(ctx, (size_t)(dp->grad_floats > max_value ? dp->grad_floats : max_value) * sizeof(float),
                            "gradient staging for the all-reduce");
    dp->state = fx_malloc(ctx, (size_t)(dp->state_floats ? dp->state_floats : 1) * sizeof(float),
                          "state staging for the all-reduce");
    if (!dp->staging || !dp->state)
        return FX_ERR_NOMEM;
    fx_status st = plan_buckets(dp);
    if (st != FX_OK)
        return st;
    fx_graph_set_grad_final(g, gradient_final, dp);
    /* Rank 0's parameters and state everywhere: identical seeds already
     * give identical initial values; this makes it a guarantee (and
     * covers a checkpoint that only rank 0 could read). */
    for (int i = 0; i < n_params && st == FX_OK; i++) {
        dp_param p = dp_param_at(g, i);
        if (!p.value)
            continue;
        st = fx_tensor_download(p.value, dp->staging);
        if (st == FX_OK)
            st = fx_comm_broadcast(dp->comm, dp->staging, fx_tensor_bytes(p.value), 0);
        if (st == FX_OK)
            st = fx_tensor_upload(p.value, dp->staging);
    }
    return st;
}

fx_status fx_dp_allreduce_gradients(fx_dp *dp)
{
    if (!fx_dp_active(dp))
        return FX_OK;
    double t0 = fx_now_seconds();
    fx_graph *g = dp->g;
    fx_status st = FX_OK;
    /* Whatever backward did not report (a backward without the hook):
     * packed and started now, in the same reverse order. */
    const int n_params = fx_graph_param_count(g);
    for (int i = n_params - 1; i >= 0 && st == FX_OK; i--)
        st = pack_gradient(dp, i);
    for (int k = 0; k < dp->n_buckets; k++) {
        struct dp_bucket *b = &dp->buckets[k];
        if (b->request) {
            fx_status wst = fx_comm_wait(dp->comm, b->request);
            if (st == FX_OK)
                st = wst;
        }
        b->request = NULL;
        b->ready = 0;
    }
    memset(dp->param_packed, 0, (size_t)(n_params ? n_params : 1));
    /* Mean over the ranks, back into the gradients. */
    const float scale = 1.0f / (float)dp->size;
    for (int64_t k = 0; st == FX_OK && k < dp->grad_floats; k++)
        dp->staging[k] *= scale;
    for (int i = n_params - 1; i >= 0 && st == FX_OK; i--)
        if (dp->param_bucket[i] >= 0)
            st = fx_tensor_upload(dp_param_at(g, i).grad, dp->staging + dp->param_offset[i]);
    dp->staged_bytes = (size_t)dp->grad_floats * sizeof(float) * 2;
    dp->grad_seconds += fx_now_seconds() - t0;
    dp->grad_steps++;
    return st;
}

fx_status fx_dp_average_state(fx_dp *dp)
{
    if (!fx_dp_active(dp) || dp->state_floats == 0)
        return FX_OK;
    fx_graph *g = dp->g;
    fx_status st = FX_OK;
    int64_t offset = 0;
    for (int i = 0; i < fx_graph_param_count(g) && st == FX_OK; i++) {
        dp_param p = dp_param_at(g, i);
        if (!p.value || p.learnable)
            continue;
        st = fx_tensor_download(p.value, dp->state + offset);
        offset += fx_tensor_numel(p.value);
    }
    if (st == FX_OK)
        st = fx_comm_allreduce_sum(dp->comm, dp->state, offset);
    const float scale = 1.0f / (float)dp->size;
    for (int64_t k = 0; st == FX_OK && k < offset; k++)
        dp->state[k] *= scale;
    offset = 0;
    for (int i = 0; i < fx_graph_param_count(g) && st == FX_OK; i++) {
        dp_param p = dp_param_at(g, i);
        if (!p.value || p.learnable)
            continue;
        st = fx_tensor_upload(p.value, dp->state + offset);
        offset += fx_tensor_numel(p.value);
    }
    return st;
}

fx_status fx_dp_sum(fx_dp *dp, double *values, int n)
{
    if (!fx_dp_active(dp))
        return FX_OK;
    return fx_comm_allreduce_sum_f64(dp->comm, values, n);
}
