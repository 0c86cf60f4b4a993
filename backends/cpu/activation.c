/* backends/cpu/activation.c - CPU kernels of relu and elu (see
 * core/ops/activation.c).
 *
 * Both backward kernels read the OUTPUT, not the input, so the executor may
 * run the forward in place. elu needs exp on every negative element of the
 * largest maps in the network and libm's expm1f does not vectorise: with
 * AVX2 the forward runs the intrinsic version in activation_avx2.c, else
 * this scalar loop. Loops run over contiguous chunks of the flat tensor in
 * parallel. */
#include <math.h>
#include <stdint.h>

#include "backends/cpu/activation.h"
#include "backends/cpu/cpu_backend.h"

#define ACT_GRAIN 16384 /* elements: below this a thread costs more than it saves */

typedef struct act_job {
    const float *x, *y, *g;
    float *out, *grad_x;
    float alpha;
    fx_simd_level simd;
    int acc;              /* backward: add into grad_x; 0: grad_x = 0 + ... (its first writer) */
} act_job;

/* No restrict on in/out pairs below: the op may run in place (out == x).
 * In the backward loops, selects are written as arithmetic with a 0/1
 * factor: with the default -ftrapping-math, gcc does not if-convert (so
 * does not vectorise) a select whose arm does floating-point work. */
static void relu_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const act_job *j = arg;
    const float *x = j->x;
    float *y = j->out;
    for (int64_t i = begin; i < end; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void relu_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const act_job *j = arg;
    const float *restrict y = j->y, *restrict g = j->g;
    float *restrict gx = j->grad_x;
    if (j->acc) {
        for (int64_t i = begin; i < end; i++) {
            float gi = g[i]; /* loaded unconditionally so the select vectorises */
            gx[i] += y[i] > 0.0f ? gi : 0.0f;
        }
    } else {
        for (int64_t i = begin; i < end; i++) {
            float gi = g[i];
            gx[i] = 0.0f + (y[i] > 0.0f ? gi : 0.0f);
        }
    }
}

static void elu_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const act_job *j = arg;
    const float *x = j->x;
    float *y = j->out;
    const float alpha = j->alpha;
    if (j->simd >= FX_SIMD_AVX2) {
        cpu_elu_forward_avx2(y + begin, x + begin, end - begin, alpha);
        return;
    }
    for (int64_t i = begin; i < end; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? v : alpha * expm1f(v);
    }
}

/* dy/dx = 1 for y > 0, alpha * exp(x) = y + alpha otherwise. */
static void elu_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    const act_job *j = arg;
    const float *restrict y = j->y, *restrict g = j->g;
    float *restrict gx = j->grad_x;
    const float alpha = j->alpha;
    if (j->acc) {
        for (int64_t i = begin; i < end; i++) {
            float yi = y[i];
            float pos = yi > 0.0f ? 1.0f : 0.0f;
            gx[i] += g[i] * (pos + (1.0f - pos) * (yi + alpha));
        }
    } else {
        for (int64_t i = begin; i < end; i++) {
            float yi = y[i];
            float pos = yi > 0.0f ? 1.0f : 0.0f;
            gx[i] = 0.0f + g[i] * (pos + (1.0f - pos) * (yi + alpha));
        }
    }
}

static fx_status act_run(const fx_kernel_call *call, fx_cpu_range_fn fn, int backward)
{
    act_job j = { 0 };
    j.simd = fx_cpu_simd_level(call->backend);
    int64_t n = fx_tensor_numel(call->out[0]);
    if (fx_node_has_attr(call->node, "alpha"))
        j.alpha = (float)fx_node_attr_float(call->node, "alpha");
    if (backward) {
        if (!call->grad_in[0])
            return FX_OK;
        j.y = fx_tensor_f32(call->out[0]);
        j.g = fx_tensor_f32(call->grad_out[0]);
        j.grad_x = fx_tensor_f32(call->grad_in[0]);
        j.acc = !FX_GRAD_OVERWRITE_IN(call, 0);
    } else {
        j.x = fx_tensor_f32(call->in[0]);
        j.out = fx_tensor_f32(call->out[0]);
    }
    fx_cpu_parallel_for(call->backend, n, ACT_GRAIN, fn, &j);
    return FX_OK;
}

fx_status cpu_relu_forward(const fx_kernel_call *call) { return act_run(call, relu_forward_range, 0); }
fx_status cpu_relu_backward(const fx_kernel_call *call) { return act_run(call, relu_backward_range, 1); }
fx_status cpu_elu_forward(const fx_kernel_call *call) { return act_run(call, elu_forward_range, 0); }
fx_status cpu_elu_backward(const fx_kernel_call *call) { return act_run(call, elu_backward_range, 1); }
