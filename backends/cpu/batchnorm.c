/* backends/cpu/batchnorm.c - CPU kernels of batchnorm (see
 * core/ops/batchnorm.c for the op's contract).
 *
 * x is viewed as [N, C, S] with S the product of the spatial dims (1 for
 * [N, C]). Work is split by channel: one task owns channel c, reads its N
 * planes of S contiguous floats, and is the only writer of every
 * per-channel value (statistics, running averages, gamma/beta gradients),
 * so no reduction crosses threads. Plane sums use eight float lanes (which
 * the compiler vectorises) and are combined across planes in double.
 *
 * Synchronised batch statistics (train.sync_bn, data parallel: the node's
 * batch communicator, fx_node_batch_comm, is set): the per-channel sums
 * are added over the ranks between the passes, so every rank normalises
 * with the global batch's mean and biased variance (M = the global count):
 *   forward:  sum x -> all-reduce -> mean; sum (x - mean)^2 -> all-reduce
 *   backward: sum g, sum g (x - mean) -> all-reduce -> dx with global means
 * gamma's and beta's gradients use this rank's sums: the gradient
 * all-reduce averages them into the global sums (each rank's upstream
 * gradient is N times its share of the global loss's; docs/scaling.md). */
#include <math.h>
#include <stdlib.h>

#include "backends/cpu/cpu_backend.h"

typedef struct bn_job {
    int64_t n, c, s;
    const float *x, *gamma, *beta, *grad_out;
    float *y, *grad_x, *grad_gamma, *grad_beta;
    int acc_x, acc_gamma, acc_beta; /* backward: add (1) or write 0 + v (0, first writer) */
    float *running_mean, *running_var;
    float *save_mean, *save_invstd; /* aux */
    float momentum, eps;
    int training;
    double *acc0, *acc1; /* synchronised statistics: per-channel sums, reduced over the ranks */
    double count;        /* synchronised statistics: values per channel in the global batch */
} bn_job;

/* The eight lanes of the sums below, added in one fixed order. */
static inline float bn_lanes_total(const float acc[8])
{
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Sum of x[0..n) with eight independent lanes: vectorisable without
 * -ffast-math, and more accurate than one serial float accumulator. */
static float bn_sum(const float *restrict x, int64_t n)
{
    float acc[8] = { 0 };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += x[i + j];
    for (; i < n; i++)
        acc[0] += x[i];
    return bn_lanes_total(acc);
}

/* Sum of (x - mean)^2. */
static float bn_sum_sqdev(const float *restrict x, int64_t n, float mean)
{
    float acc[8] = { 0 };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            float d = x[i + j] - mean;
            acc[j] += d * d;
        }
    for (; i < n; i++) {
        float d = x[i] - mean;
        acc[0] += d * d;
    }
    return bn_lanes_total(acc);
}

/* Sums of g and of g * (x - mean) together (one pass over both planes). */
static void bn_sum_grad(const float *restrict g, const float *restrict x, int64_t n, float mean, float *sum_g,
                        float *sum_gx)
{
    float ag[8] = { 0 }, agx[8] = { 0 };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            ag[j] += g[i + j];
            agx[j] += g[i + j] * (x[i + j] - mean);
        }
    for (; i < n; i++) {
        ag[0] += g[i];
        agx[0] += g[i] * (x[i] - mean);
    }
    *sum_g = bn_lanes_total(ag);
    *sum_gx = bn_lanes_total(agx);
}

/* y = a * x + b over one plane. */
static void bn_affine(float *restrict y, const float *restrict x, int64_t n, float a, float b)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a * x[i] + b;
}

/* gx += k * g + c1 * x + c0 over one plane (the whole batch-stat gradient
 * folded into three per-channel constants); acc 0: gx = 0 + ..., the
 * gradient's first writer (fx_kernel_call.grad_overwrite). */
static void bn_grad_plane(float *restrict gx, const float *restrict g, const float *restrict x, int64_t n,
                          float k, float c1, float c0, int acc)
{
    if (acc)
        for (int64_t i = 0; i < n; i++)
            gx[i] += k * g[i] + c1 * x[i] + c0;
    else
        for (int64_t i = 0; i < n; i++)
            gx[i] = 0.0f + (k * g[i] + c1 * x[i] + c0);
}

static void bn_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const bn_job *j = arg;
    const int64_t m = j->n * j->s;
    for (int64_t c = begin; c < end; c++) {
        float mean, invstd;
        if (j->training) {
            double sum = 0.0;
            for (int64_t n = 0; n < j->n; n++)
                sum += bn_sum(j->x + (n * j->c + c) * j->s, j->s);
            mean = (float)(sum / (double)m);
            double sq = 0.0;
            for (int64_t n = 0; n < j->n; n++)
                sq += bn_sum_sqdev(j->x + (n * j->c + c) * j->s, j->s, mean);
            double var = sq / (double)m; /* biased: normalisation */
            invstd = (float)(1.0 / sqrt(var + (double)j->eps));
            j->save_mean[c] = mean;
            j->save_invstd[c] = invstd;
            double unbiased = sq / (double)(m - 1); /* m >= 2 checked by the caller */
            j->running_mean[c] = j->momentum * j->running_mean[c] + (1.0f - j->momentum) * mean;
            j->running_var[c] = j->momentum * j->running_var[c] + (1.0f - j->momentum) * (float)unbiased;
        } else {
            mean = j->running_mean[c];
            invstd = (float)(1.0 / sqrt((double)j->running_var[c] + (double)j->eps));
        }
        float a = j->gamma[c] * invstd;
        float b = j->beta[c] - mean * a;
        for (int64_t n = 0; n < j->n; n++) {
            int64_t off = (n * j->c + c) * j->s;
            bn_affine(j->y + off, j->x + off, j->s, a, b);
        }
    }
}

static void bn_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const bn_job *j = arg;
    const int64_t m = j->n * j->s;
    for (int64_t c = begin; c < end; c++) {
        float mean, invstd;
        if (j->training) {
            mean = j->save_mean[c];
            invstd = j->save_invstd[c];
        } else {
            mean = j->running_mean[c];
            invstd = (float)(1.0 / sqrt((double)j->running_var[c] + (double)j->eps));
        }
        double sum_g = 0.0, sum_gx = 0.0; /* sum g, sum g * (x - mean) */
        for (int64_t n = 0; n < j->n; n++) {
            int64_t off = (n * j->c + c) * j->s;
            float sg, sgx;
            bn_sum_grad(j->grad_out + off, j->x + off, j->s, mean, &sg, &sgx);
            sum_g += sg;
            sum_gx += sgx;
        }
        if (j->grad_gamma)
            j->grad_gamma[c] = (j->acc_gamma ? j->grad_gamma[c] : 0.0f) + (float)(sum_gx * invstd);
        if (j->grad_beta)
            j->grad_beta[c] = (j->acc_beta ? j->grad_beta[c] : 0.0f) + (float)sum_g;
        if (!j->grad_x)
            continue;
        /* Training: dx = k * (g - mean(g) - xhat * mean(g * xhat)) with
         * k = gamma * invstd, xhat = (x - mean) * invstd. Inference: the
         * statistics are constants and dx = k * g. */
        float k = j->gamma[c] * invstd;
        float c1 = 0.0f, c0 = 0.0f;
        if (j->training) {
            c1 = (float)(-(double)k * invstd * invstd * sum_gx / (double)m);
            c0 = (float)(-(double)k * sum_g / (double)m) - c1 * mean;
        }
        for (int64_t n = 0; n < j->n; n++) {
            int64_t off = (n * j->c + c) * j->s;
            bn_grad_plane(j->grad_x + off, j->grad_out + off, j->x + off, j->s, k, c1, c0, j->acc_x);
        }
    }
}

/* ---- synchronised statistics (train.sync_bn) ---- */

static void bn_sync_sum_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const bn_job *j = arg;
    for (int64_t c = begin; c < end; c++) {
        double sum = 0.0;
        for (int64_t n = 0; n < j->n; n++)
            sum += bn_sum(j->x + (n * j->c + c) * j->s, j->s);
        j->acc0[c] = sum;
    }
}

static void bn_sync_sqdev_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const bn_job *j = arg;
    for (int64_t c = begin; c < end; c++) {
        double sq = 0.0;
        for (int64_t n = 0; n < j->n; n++)
            sq += bn_sum_sqdev(j->x + (n * j->c + c) * j->s, j->s, j->save_mean[c]);
        j->acc1[c] = sq;
    }
}

/* acc1 holds the global sum of squared deviations from save_mean. */
static void bn_sync_apply_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const bn_job *j = arg;
    for (int64_t c = begin; c < end; c++) {
        float mean = j->save_mean[c];
        double var = j->acc1[c] / j->count;
        float invstd = (float)(1.0 / sqrt(var + (double)j->eps));
        j->save_invstd[c] = invstd;
        double unbiased = j->acc1[c] / (j->count - 1.0);
        j->running_mean[c] = j->momentum * j->running_mean[c] + (1.0f - j->momentum) * mean;
        j->running_var[c] = j->momentum * j->running_var[c] + (1.0f - j->momentum) * (float)unbiased;
        float a = j->gamma[c] * invstd;
        float b = j->beta[c] - mean * a;
        for (int64_t n = 0; n < j->n; n++) {
            int64_t off = (n * j->c + c) * j->s;
            bn_affine(j->y + off, j->x + off, j->s, a, b);
        }
    }
}

static void bn_sync_grad_sums_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const bn_job *j = arg;
    for (int64_t c = begin; c < end; c++) {
        double sum_g = 0.0, sum_gx = 0.0;
        for (int64_t n = 0; n < j->n; n++) {
            int64_t off = (n * j->c + c) * j->s;
            float sg, sgx;
            bn_sum_grad(j->grad_out + off, j->x + off, j->s, j->save_mean[c], &sg, &sgx);
            sum_g += sg;
            sum_gx += sgx;
        }
        if (j->grad_gamma)
            j->grad_gamma[c] = (j->acc_gamma ? j->grad_gamma[c] : 0.0f) + (float)(sum_gx * j->save_invstd[c]);
        if (j->grad_beta)
            j->grad_beta[c] = (j->acc_beta ? j->grad_beta[c] : 0.0f) + (float)sum_g;
        j->acc0[c] = sum_g;
        j->acc1[c] = sum_gx;
    }
}

/* acc0, acc1: the global sums of g and g (x - mean). */
static void bn_sync_grad_x_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const bn_job *j = arg;
    for (int64_t c = begin; c < end; c++) {
        float mean = j->save_mean[c], invstd = j->save_invstd[c];
        float k = j->gamma[c] * invstd;
        float c1 = (float)(-(double)k * invstd * invstd * j->acc1[c] / j->count);
        float c0 = (float)(-(double)k * j->acc0[c] / j->count) - c1 * mean;
        for (int64_t n = 0; n < j->n; n++) {
            int64_t off = (n * j->c + c) * j->s;
            bn_grad_plane(j->grad_x + off, j->grad_out + off, j->x + off, j->s, k, c1, c0, j->acc_x);
        }
    }
}

/* Scratch for the synchronised sums: acc0 [C], acc1 [C + 1] (the extra
 * slot carries this rank's count through the first all-reduce). */
static fx_status bn_sync_alloc(const fx_kernel_call *call, bn_job *j)
{
    j->acc0 = fx_calloc(call->ctx, (size_t)(2 * j->c + 2), sizeof(double), "synchronised batch statistics");
    if (!j->acc0)
        return FX_ERR_NOMEM;
    j->acc1 = j->acc0 + j->c + 1;
    return FX_OK;
}

static fx_status bn_sync_forward(const fx_kernel_call *call, bn_job *j, fx_comm *comm)
{
    fx_status st = bn_sync_alloc(call, j);
    if (st != FX_OK)
        return st;
    fx_cpu_parallel_for(call->backend, j->c, 1, bn_sync_sum_range, j);
    j->acc0[j->c] = (double)(j->n * j->s);
    st = fx_comm_allreduce_sum_f64(comm, j->acc0, j->c + 1);
    j->count = j->acc0[j->c];
    if (st == FX_OK && j->count < 2)
        st = fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                          "training needs more than one value per channel in the global batch, got %.0f", j->count);
    if (st == FX_OK) {
        for (int64_t c = 0; c < j->c; c++)
            j->save_mean[c] = (float)(j->acc0[c] / j->count);
        fx_cpu_parallel_for(call->backend, j->c, 1, bn_sync_sqdev_range, j);
        st = fx_comm_allreduce_sum_f64(comm, j->acc1, j->c);
    }
    if (st == FX_OK)
        fx_cpu_parallel_for(call->backend, j->c, 1, bn_sync_apply_range, j);
    free(j->acc0);
    return st;
}

static fx_status bn_sync_backward(const fx_kernel_call *call, bn_job *j, fx_comm *comm)
{
    fx_status st = bn_sync_alloc(call, j);
    if (st != FX_OK)
        return st;
    fx_cpu_parallel_for(call->backend, j->c, 1, bn_sync_grad_sums_range, j);
    /* acc0 and acc1 are contiguous: one all-reduce of 2C + 1 values (the
     * slot between them carries the count). */
    j->acc0[j->c] = (double)(j->n * j->s);
    st = fx_comm_allreduce_sum_f64(comm, j->acc0, 2 * j->c + 1);
    j->count = j->acc0[j->c];
    if (st == FX_OK && j->grad_x)
        fx_cpu_parallel_for(call->backend, j->c, 1, bn_sync_grad_x_range, j);
    free(j->acc0);
    return st;
}

static fx_status bn_setup(const fx_kernel_call *call, bn_job *j)
{
    const fx_tensor *x = call->in[0];
    j->n = x->shape.dim[0];
    j->c = x->shape.dim[1];
    j->s = 1;
    for (int d = 2; d < x->shape.ndim; d++)
        j->s *= x->shape.dim[d];
    j->x = fx_tensor_f32(x);
    j->gamma = fx_tensor_f32(call->param[0]);
    j->beta = fx_tensor_f32(call->param[1]);
    j->running_mean = fx_tensor_f32(call->param[2]);
    j->running_var = fx_tensor_f32(call->param[3]);
    j->momentum = (float)fx_node_attr_float(call->node, "momentum");
    j->eps = (float)fx_node_attr_float(call->node, "eps");
    j->training = call->training;
    if (j->training) {
        if (call->n_aux < 2 || !call->aux[0] || !call->aux[1] || !call->aux[0]->buffer || !call->aux[1]->buffer)
            return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL,
                                "batch statistics buffers were not allocated for training");
        j->save_mean = fx_tensor_f32(call->aux[0]);
        j->save_invstd = fx_tensor_f32(call->aux[1]);
    }
    return FX_OK;
}

fx_status cpu_batchnorm_forward(const fx_kernel_call *call)
{
    bn_job j = { 0 };
    fx_status st = bn_setup(call, &j);
    if (st != FX_OK)
        return st;
    /* One value per channel has no variance (and no unbiased variance for
     * the running average): refuse, as PyTorch does, rather than emit
     * y = beta silently. */
    j.y = fx_tensor_f32(call->out[0]);
    fx_comm *comm = j.training ? fx_node_batch_comm(call->node) : NULL;
    if (comm)
        return bn_sync_forward(call, &j, comm);
    if (j.training && j.n * j.s < 2)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "training needs more than one value per channel, got batch %lld x %lld positions; "
                            "use a batch of at least 2 or run in inference mode",
                            (long long)j.n, (long long)j.s);
    fx_cpu_parallel_for(call->backend, j.c, 1, bn_forward_range, &j);
    return FX_OK;
}

fx_status cpu_batchnorm_backward(const fx_kernel_call *call)
{
    bn_job j = { 0 };
    fx_status st = bn_setup(call, &j);
    if (st != FX_OK)
        return st;
    j.grad_out = fx_tensor_f32(call->grad_out[0]);
    j.grad_x = call->grad_in && call->grad_in[0] ? fx_tensor_f32(call->grad_in[0]) : NULL;
    j.grad_gamma = call->param_grad && call->param_grad[0] ? fx_tensor_f32(call->param_grad[0]) : NULL;
    j.grad_beta = call->param_grad && call->param_grad[1] ? fx_tensor_f32(call->param_grad[1]) : NULL;
    j.acc_x = !FX_GRAD_OVERWRITE_IN(call, 0);
    j.acc_gamma = !FX_GRAD_OVERWRITE_P(call, 0);
    j.acc_beta = !FX_GRAD_OVERWRITE_P(call, 1);
    fx_comm *comm = j.training ? fx_node_batch_comm(call->node) : NULL;
    if (comm)
        return bn_sync_backward(call, &j, comm);
    fx_cpu_parallel_for(call->backend, j.c, 1, bn_backward_range, &j);
    return FX_OK;
}
