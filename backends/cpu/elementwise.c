/* backends/cpu/elementwise.c - CPU kernels of add, mul and scale (see
 * core/ops/elementwise.c). Flat loops over contiguous chunks in parallel.
 * add and scale may run in place (out == a / out == x): their forward
 * loops carry no restrict, and the compiler checks for overlap at run
 * time before using its vector loop. */
#include "backends/cpu/cpu_backend.h"

#define ELEMENTWISE_GRAIN 16384

typedef struct ew_job {
    const float *a, *b, *g;
    float *out, *ga, *gb;
    float factor, offset;
    int acc_a, acc_b;     /* backward: add into ga / gb (0: their first writer) */
} ew_job;

static void add_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const ew_job *j = arg;
    const float *a = j->a, *b = j->b;
    float *y = j->out;
    for (int64_t i = begin; i < end; i++)
        y[i] = a[i] + b[i];
}

static void mul_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const ew_job *j = arg;
    const float *restrict a = j->a, *restrict b = j->b;
    float *restrict y = j->out;
    for (int64_t i = begin; i < end; i++)
        y[i] = a[i] * b[i];
}

static void scale_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const ew_job *j = arg;
    const float *x = j->a;
    float *y = j->out;
    const float f = j->factor, c = j->offset;
    for (int64_t i = begin; i < end; i++)
        y[i] = f * x[i] + c;
}

/* ga += factor * g (add: factor 1 into both; scale: the factor); acc 0:
 * ga = 0 + factor * g, the gradient's first writer (fx_kernel_call). */
static void scaled_accumulate(float *restrict dst, const float *restrict g, int64_t begin, int64_t end, float f,
                              int acc)
{
    if (acc)
        for (int64_t i = begin; i < end; i++)
            dst[i] += f * g[i];
    else
        for (int64_t i = begin; i < end; i++)
            dst[i] = 0.0f + f * g[i];
}

static void add_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const ew_job *j = arg;
    if (j->ga)
        scaled_accumulate(j->ga, j->g, begin, end, 1.0f, j->acc_a);
    if (j->gb)
        scaled_accumulate(j->gb, j->g, begin, end, 1.0f, j->acc_b);
}

static void scale_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const ew_job *j = arg;
    scaled_accumulate(j->ga, j->g, begin, end, j->factor, j->acc_a);
}

/* product rule: da += g * b, db += g * a. */
static void mul_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const ew_job *j = arg;
    const float *restrict a = j->a, *restrict b = j->b, *restrict g = j->g;
    if (j->ga) {
        float *restrict ga = j->ga;
        for (int64_t i = begin; i < end; i++)
            ga[i] += g[i] * b[i];
    }
    if (j->gb) {
        float *restrict gb = j->gb;
        for (int64_t i = begin; i < end; i++)
            gb[i] += g[i] * a[i];
    }
}

static float *grad_or_null(const fx_kernel_call *call, int i)
{
    return call->grad_in[i] ? fx_tensor_f32(call->grad_in[i]) : NULL;
}

static fx_status ew_forward(const fx_kernel_call *call, fx_cpu_range_fn fn)
{
    ew_job j = { 0 };
    j.a = fx_tensor_f32(call->in[0]);
    j.b = call->n_in > 1 ? fx_tensor_f32(call->in[1]) : NULL;
    j.out = fx_tensor_f32(call->out[0]);
    if (fx_node_has_attr(call->node, "factor")) {
        j.factor = (float)fx_node_attr_float(call->node, "factor");
        j.offset = (float)fx_node_attr_float(call->node, "offset");
    }
    fx_cpu_parallel_for(call->backend, fx_tensor_numel(call->out[0]), ELEMENTWISE_GRAIN, fn, &j);
    return FX_OK;
}

fx_status cpu_add_forward(const fx_kernel_call *call) { return ew_forward(call, add_forward_range); }
fx_status cpu_mul_forward(const fx_kernel_call *call) { return ew_forward(call, mul_forward_range); }
fx_status cpu_scale_forward(const fx_kernel_call *call) { return ew_forward(call, scale_forward_range); }

fx_status cpu_add_backward(const fx_kernel_call *call)
{
    ew_job j = { 0 };
    j.g = fx_tensor_f32(call->grad_out[0]);
    j.ga = grad_or_null(call, 0);
    j.gb = grad_or_null(call, 1);
    j.acc_a = !FX_GRAD_OVERWRITE_IN(call, 0);
    j.acc_b = !FX_GRAD_OVERWRITE_IN(call, 1);
    if (j.ga || j.gb)
        fx_cpu_parallel_for(call->backend, fx_tensor_numel(call->grad_out[0]), ELEMENTWISE_GRAIN,
                            add_backward_range, &j);
    return FX_OK;
}

fx_status cpu_mul_backward(const fx_kernel_call *call)
{
    ew_job j = { 0 };
    j.a = fx_tensor_f32(call->in[0]);
    j.b = fx_tensor_f32(call->in[1]);
    j.g = fx_tensor_f32(call->grad_out[0]);
    j.ga = grad_or_null(call, 0);
    j.gb = grad_or_null(call, 1);
    if (j.ga || j.gb)
        fx_cpu_parallel_for(call->backend, fx_tensor_numel(call->grad_out[0]), ELEMENTWISE_GRAIN,
                            mul_backward_range, &j);
    return FX_OK;
}

fx_status cpu_scale_backward(const fx_kernel_call *call)
{
    ew_job j = { 0 };
    j.g = fx_tensor_f32(call->grad_out[0]);
    j.ga = grad_or_null(call, 0);
    j.acc_a = !FX_GRAD_OVERWRITE_IN(call, 0);
    j.factor = (float)fx_node_attr_float(call->node, "factor");
    if (j.ga)
        fx_cpu_parallel_for(call->backend, fx_tensor_numel(call->grad_out[0]), ELEMENTWISE_GRAIN,
                            scale_backward_range, &j);
    return FX_OK;
}
