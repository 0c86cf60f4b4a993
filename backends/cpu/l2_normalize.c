/* backends/cpu/l2_normalize.c - CPU kernels of l2_normalize (see
 * core/ops/l2_normalize.c): y = x * r with r = 1/sqrt(max(s, eps)),
 * s = sum over the axis of x^2.
 *
 * x is viewed as [outer, A, inner] (A = the normalised axis). For NCHW with
 * axis 1, inner = H*W is contiguous, so a task takes a block of up to
 * L2_BLOCK inner positions of one outer index and walks the A rows, with
 * every inner loop contiguous and vectorisable; per-block sums live on the
 * stack. Backward recomputes s from x instead of saving it:
 *   dx = r * g - [s > eps] * r^3 * (sum_a g * x) * x
 * (below eps the norm is the constant sqrt(eps) and only r * g remains). */
#include <math.h>

#include "backends/cpu/cpu_backend.h"

#define L2_BLOCK 256

typedef struct l2_job {
    int64_t outer, a, inner, blocks_per_outer;
    float eps;
    const float *x, *g;
    float *y, *gx;
} l2_job;

static void l2_range(void *arg, int64_t begin, int64_t end, int thread, int backward)
{
    const l2_job *j = arg;
    float s[L2_BLOCK], r[L2_BLOCK], dot[L2_BLOCK];
    for (int64_t item = begin; item < end; item++) {
        int64_t o = item / j->blocks_per_outer;
        int64_t k0 = (item % j->blocks_per_outer) * L2_BLOCK;
        int64_t len = j->inner - k0 < L2_BLOCK ? j->inner - k0 : L2_BLOCK;
        const float *xb = j->x + o * j->a * j->inner + k0;
        for (int64_t k = 0; k < len; k++)
            s[k] = dot[k] = 0.0f;
        for (int64_t a = 0; a < j->a; a++) {
            const float *restrict xr = xb + a * j->inner;
            for (int64_t k = 0; k < len; k++)
                s[k] += xr[k] * xr[k];
        }
        for (int64_t k = 0; k < len; k++)
            r[k] = 1.0f / sqrtf(s[k] > j->eps ? s[k] : j->eps);
        if (!backward) {
            float *yb = j->y + o * j->a * j->inner + k0;
            for (int64_t a = 0; a < j->a; a++) {
                const float *restrict xr = xb + a * j->inner;
                float *restrict yr = yb + a * j->inner;
                for (int64_t k = 0; k < len; k++)
                    yr[k] = xr[k] * r[k];
            }
            continue;
        }
        const float *gb = j->g + o * j->a * j->inner + k0;
        float *gxb = j->gx + o * j->a * j->inner + k0;
        for (int64_t a = 0; a < j->a; a++) {
            const float *restrict xr = xb + a * j->inner, *restrict gr = gb + a * j->inner;
            for (int64_t k = 0; k < len; k++)
                dot[k] += gr[k] * xr[k];
        }
        for (int64_t k = 0; k < len; k++) /* reuse dot as the coefficient of x */
            dot[k] = s[k] > j->eps ? r[k] * r[k] * r[k] * dot[k] : 0.0f;
        for (int64_t a = 0; a < j->a; a++) {
            const float *restrict xr = xb + a * j->inner, *restrict gr = gb + a * j->inner;
            float *restrict gxr = gxb + a * j->inner;
            for (int64_t k = 0; k < len; k++)
                gxr[k] += r[k] * gr[k] - dot[k] * xr[k];
        }
    }
}

static void l2_forward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    l2_range(arg, begin, end, thread, 0);
}

static void l2_backward_range(void *arg, int64_t begin, int64_t end, int thread)
{
    l2_range(arg, begin, end, thread, 1);
}

static int64_t l2_setup(const fx_kernel_call *call, l2_job *j)
{
    const fx_shape *xs = &call->in[0]->shape;
    int64_t axis = fx_node_attr_int(call->node, "axis");
    if (axis < 0)
        axis += xs->ndim;
    j->outer = j->inner = 1;
    for (int d = 0; d < axis; d++)
        j->outer *= xs->dim[d];
    for (int d = (int)axis + 1; d < xs->ndim; d++)
        j->inner *= xs->dim[d];
    j->a = xs->dim[axis];
    j->eps = (float)fx_node_attr_float(call->node, "eps");
    j->blocks_per_outer = (j->inner + L2_BLOCK - 1) / L2_BLOCK;
    j->x = fx_tensor_f32(call->in[0]);
    return j->outer * j->blocks_per_outer;
}

fx_status cpu_l2_normalize_forward(const fx_kernel_call *call)
{
    l2_job j = { 0 };
    int64_t items = l2_setup(call, &j);
    j.y = fx_tensor_f32(call->out[0]);
    int64_t per_item = j.a * (j.inner < L2_BLOCK ? j.inner : L2_BLOCK);
    fx_cpu_parallel_for(call->backend, items, 1 + 16384 / (per_item + 1), l2_forward_range, &j);
    return FX_OK;
}

fx_status cpu_l2_normalize_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    l2_job j = { 0 };
    int64_t items = l2_setup(call, &j);
    j.g = fx_tensor_f32(call->grad_out[0]);
    j.gx = fx_tensor_f32(call->grad_in[0]);
    int64_t per_item = j.a * (j.inner < L2_BLOCK ? j.inner : L2_BLOCK);
    fx_cpu_parallel_for(call->backend, items, 1 + 8192 / (per_item + 1), l2_backward_range, &j);
    return FX_OK;
}
