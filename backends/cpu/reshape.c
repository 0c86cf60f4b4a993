/* backends/cpu/reshape.c - CPU kernels of flatten and reshape (see
 * core/ops/reshape.c). The data order does not change: forward copies the
 * input into the output buffer (the executor gives each value its own) and
 * backward adds the output gradient to the input gradient. Both work for
 * any 4-byte dtype in forward (i32 labels can be reshaped too). */
#include <string.h>

#include "backends/cpu/cpu_backend.h"

#define RESHAPE_GRAIN 65536

typedef struct reshape_job {
    const float *src;
    float *dst;
    int acc;              /* backward: add into dst; 0: dst = 0 + src (its first writer) */
} reshape_job;

static void copy_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const reshape_job *j = arg;
    memcpy(j->dst + begin, j->src + begin, (size_t)(end - begin) * sizeof(float));
}

static void accumulate_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const reshape_job *j = arg;
    const float *restrict src = j->src;
    float *restrict dst = j->dst;
    if (j->acc)
        for (int64_t i = begin; i < end; i++)
            dst[i] += src[i];
    else
        for (int64_t i = begin; i < end; i++)
            dst[i] = 0.0f + src[i];
}

static fx_status reshape_forward(const fx_kernel_call *call)
{
    reshape_job j = { fx_tensor_f32(call->in[0]), fx_tensor_f32(call->out[0]), 0 };
    if (j.src != j.dst)
        fx_cpu_parallel_for(call->backend, fx_tensor_numel(call->out[0]), RESHAPE_GRAIN, copy_range, &j);
    return FX_OK;
}

static fx_status reshape_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    reshape_job j = { fx_tensor_f32(call->grad_out[0]), fx_tensor_f32(call->grad_in[0]),
                      !FX_GRAD_OVERWRITE_IN(call, 0) };
    fx_cpu_parallel_for(call->backend, fx_tensor_numel(call->grad_out[0]), RESHAPE_GRAIN, accumulate_range, &j);
    return FX_OK;
}

fx_status cpu_flatten_forward(const fx_kernel_call *call) { return reshape_forward(call); }
fx_status cpu_flatten_backward(const fx_kernel_call *call) { return reshape_backward(call); }
fx_status cpu_reshape_forward(const fx_kernel_call *call) { return reshape_forward(call); }
fx_status cpu_reshape_backward(const fx_kernel_call *call) { return reshape_backward(call); }
