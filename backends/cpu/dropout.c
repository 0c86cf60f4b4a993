/* backends/cpu/dropout.c - CPU kernels of dropout (see core/ops/dropout.c).
 *
 * The mask is never stored: element i (flat index over the whole tensor,
 * batch included) is kept iff fx_rng_uniform(call->seed, i) >= rate, in
 * forward and again in backward, so both passes (and the OpenCL kernels)
 * agree for the same seed without a saved tensor. Outside training, or
 * with rate 0, both passes are copies. Data parallel, i counts from the
 * rank's first example in the global batch (fx_node_batch_offset), so the
 * ranks together draw the single process's mask. */
#include <string.h>

#include "backends/cpu/cpu_backend.h"

#define DROPOUT_GRAIN 8192

typedef struct dropout_job {
    const float *src;
    float *dst;
    uint64_t seed;
    uint64_t first; /* flat index of element 0 in the global batch */
    float rate, scale;
    int accumulate; /* backward: 1 adds into dst, 2 writes dst = 0 + v (its first writer) */
} dropout_job;

static void dropout_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const dropout_job *j = arg;
    const float *src = j->src;
    float *dst = j->dst;
    for (int64_t i = begin; i < end; i++) {
        float keep = fx_rng_uniform(j->seed, j->first + (uint64_t)i) >= j->rate ? j->scale : 0.0f;
        if (j->accumulate == 1)
            dst[i] += keep * src[i];
        else if (j->accumulate == 2)
            dst[i] = 0.0f + keep * src[i];
        else
            dst[i] = keep * src[i];
    }
}

static void copy_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const dropout_job *j = arg;
    if (j->accumulate == 1) {
        const float *restrict src = j->src;
        float *restrict dst = j->dst;
        for (int64_t i = begin; i < end; i++)
            dst[i] += src[i];
    } else if (j->accumulate == 2) {
        const float *restrict src = j->src;
        float *restrict dst = j->dst;
        for (int64_t i = begin; i < end; i++)
            dst[i] = 0.0f + src[i];
    } else if (j->dst != j->src) {
        memcpy(j->dst + begin, j->src + begin, (size_t)(end - begin) * sizeof(float));
    }
}

static fx_status dropout_run(const fx_kernel_call *call, const fx_tensor *src, fx_tensor *dst, int accumulate)
{
    dropout_job j = { 0 };
    j.src = fx_tensor_f32(src);
    j.dst = fx_tensor_f32(dst);
    j.seed = call->seed;
    int64_t per_example = dst->shape.dim[0] > 0 ? fx_tensor_numel(dst) / dst->shape.dim[0] : 0;
    j.first = (uint64_t)(fx_node_batch_offset(call->node) * per_example);
    j.rate = (float)fx_node_attr_float(call->node, "rate");
    j.accumulate = accumulate;
    if (!(j.rate >= 0.0f && j.rate < 1.0f))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "rate %g must be in [0, 1)", (double)j.rate);
    j.scale = 1.0f / (1.0f - j.rate);
    int64_t n = fx_tensor_numel(dst);
    int active = call->training && j.rate > 0.0f;
    fx_cpu_parallel_for(call->backend, n, active ? DROPOUT_GRAIN : 4 * DROPOUT_GRAIN,
                        active ? dropout_range : copy_range, &j);
    return FX_OK;
}

fx_status cpu_dropout_forward(const fx_kernel_call *call)
{
    return dropout_run(call, call->in[0], call->out[0], 0);
}

fx_status cpu_dropout_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    return dropout_run(call, call->grad_out[0], call->grad_in[0], FX_GRAD_OVERWRITE_IN(call, 0) ? 2 : 1);
}
