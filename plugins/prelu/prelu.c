/* plugins/prelu/prelu.c - an fx plugin adding the PReLU activation
 * (He et al. 2015) with CPU kernels:
 *
 *   y = x            for x > 0
 *   y = a_c * x      otherwise,
 *
 * x is [N, C, ...] (NCHW maps or [N, F] vectors: channel = dim 1) and the
 * slope a is learnable, one per channel ([C]) or one for all (`shared:
 * true`, [1]), initialised to 0.25 as in the paper. Gradients:
 *   dx = g            for x > 0,   a_c * g otherwise
 *   da_c += sum over n and positions with x <= 0 of g * x.
 * The backward reads x (not y: y's sign alone cannot recover x when
 * a_c <= 0), so the op does not run in place.
 *
 * The OpenCL kernels are in prelu_opencl.c (built when the plugin's
 * CMake finds OpenCL). This file is also the tutorial's example
 * (docs/plugins.md). */
#include <stdlib.h>

#include "fx/fx.h"
#include "fx/plugin.h"
#include "prelu.h"

FX_PLUGIN("prelu", "1.0.0", "PReLU: relu with a learnable slope for negative inputs, per channel");

static const char *const prelu_inputs[] = { "x" };

static const fx_attr_spec prelu_attrs[] = {
    { "shared", FX_ATTR_BOOL, 0, "false", "one slope for all channels instead of one per channel" },
};

/* The "prelu" init group lets a graph change the initialiser for all
 * PReLU layers at once: params: {init: {prelu: constant:0.1}}. */
static const fx_param_spec prelu_params[] = {
    { "slope", 1, "constant:0.25", "prelu" },
};

static fx_status prelu_infer(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    char buf[96];
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    if (x->ndim < 2 || x->dim[1] < 1)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "input %s must be [N, C, ...] (the slope is per channel, dim 1)",
                            fx_shape_str(x, buf, sizeof buf));
    call->out[0] = *x;
    call->out_dtype[0] = FX_F32;
    call->param[0] = fx_shape_1d(fx_node_attr_bool(call->node, "shared") ? 1 : x->dim[1]);
    call->n_aux = 0;
    return FX_OK;
}

static const fx_op_def prelu_def = {
    .name = "prelu",
    .doc = "y = x for x > 0, slope * x otherwise; learnable slope per channel (dim 1), init 0.25",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = prelu_inputs,
    .n_outputs = 1,
    .attrs = prelu_attrs,
    .n_attrs = 1,
    .params = prelu_params,
    .n_params = 1,
    .infer = prelu_infer,
    .flags = 0,
};

void prelu_layout(const fx_kernel_call *call, int64_t *n, int64_t *c, int64_t *spatial, int *shared)
{
    const fx_shape *s = &call->in[0]->shape;
    *n = s->dim[0];
    *c = s->dim[1];
    *spatial = 1;
    for (int d = 2; d < s->ndim; d++)
        *spatial *= s->dim[d];
    *shared = fx_node_attr_bool(call->node, "shared");
}

/* ---- CPU kernels -------------------------------------------------------- */

typedef struct prelu_job {
    int64_t n, c, spatial;
    int shared;
    const float *x, *a, *g;
    float *y, *gx;
    double *ga;   /* per-channel partial slope gradients [C] */
} prelu_job;

/* Planes p = n * C + c of `spatial` contiguous elements each. */
static void forward_planes(void *arg, int64_t begin, int64_t end, int thread)
{
    const prelu_job *j = arg;
    for (int64_t p = begin; p < end; p++) {
        const float a = j->a[j->shared ? 0 : p % j->c];
        const float *restrict x = j->x + p * j->spatial;
        float *restrict y = j->y + p * j->spatial;
        /* Vectorised (see -fno-trapping-math in CMakeLists.txt). */
        for (int64_t i = 0; i < j->spatial; i++)
            y[i] = x[i] * (x[i] > 0.0f ? 1.0f : a);
    }
}

/* Channels: each chunk owns its channels' slope gradient, so threads
 * never write the same ga[c]. */
static void backward_channels(void *arg, int64_t begin, int64_t end, int thread)
{
    const prelu_job *j = arg;
    for (int64_t c = begin; c < end; c++) {
        const float a = j->a[j->shared ? 0 : c];
        double acc = 0.0;
        for (int64_t n = 0; n < j->n; n++) {
            int64_t off = (n * j->c + c) * j->spatial;
            const float *restrict x = j->x + off, *restrict g = j->g + off;
            if (j->gx) {
                float *restrict gx = j->gx + off;
                for (int64_t i = 0; i < j->spatial; i++)
                    gx[i] += g[i] * (x[i] > 0.0f ? 1.0f : a);
            }
            /* d slope = sum of g * x over x <= 0: eight float lanes per plane
             * (vectorised), summed in double across planes. */
            float part[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
            int64_t i = 0;
            for (; i + 8 <= j->spatial; i += 8)
                for (int k = 0; k < 8; k++)
                    part[k] += g[i + k] * x[i + k] * (x[i + k] > 0.0f ? 0.0f : 1.0f);
            for (; i < j->spatial; i++)
                part[0] += g[i] * x[i] * (x[i] > 0.0f ? 0.0f : 1.0f);
            for (int k = 0; k < 8; k++)
                acc += (double)part[k];
        }
        j->ga[c] = acc;
    }
}

static fx_status prelu_cpu_forward(const fx_kernel_call *call)
{
    prelu_job j = { 0 };
    prelu_layout(call, &j.n, &j.c, &j.spatial, &j.shared);
    j.x = fx_tensor_f32(call->in[0]);
    j.a = fx_tensor_f32(call->param[0]);
    j.y = fx_tensor_f32(call->out[0]);
    fx_cpu_parallel_for(call->backend, j.n * j.c, 1 + 16384 / (j.spatial + 1), forward_planes, &j);
    return FX_OK;
}

static fx_status prelu_cpu_backward(const fx_kernel_call *call)
{
    prelu_job j = { 0 };
    prelu_layout(call, &j.n, &j.c, &j.spatial, &j.shared);
    j.x = fx_tensor_f32(call->in[0]);
    j.a = fx_tensor_f32(call->param[0]);
    j.g = fx_tensor_f32(call->grad_out[0]);
    j.gx = call->grad_in[0] ? fx_tensor_f32(call->grad_in[0]) : NULL;
    j.ga = calloc((size_t)j.c, sizeof *j.ga);
    if (!j.ga)
        return fx_node_fail(call->ctx, call->node, FX_ERR_NOMEM, "out of memory for %lld slope gradients",
                            (long long)j.c);
    fx_cpu_parallel_for(call->backend, j.c, 1 + 16384 / (j.n * j.spatial + 1), backward_channels, &j);
    if (call->param_grad[0]) {
        float *ga = fx_tensor_f32(call->param_grad[0]);
        if (j.shared) {
            double sum = 0.0; /* fixed order: independent of the thread count */
            for (int64_t c = 0; c < j.c; c++)
                sum += j.ga[c];
            ga[0] += (float)sum;
        } else {
            for (int64_t c = 0; c < j.c; c++)
                ga[c] += (float)j.ga[c];
        }
    }
    free(j.ga);
    return FX_OK;
}

fx_status fx_plugin_init(fx_plugin *plugin, int abi_version)
{
    fx_registry *reg = fx_plugin_registry(plugin);
    fx_status st = fx_registry_add_op(reg, &prelu_def);
    if (st == FX_OK)
        st = fx_registry_add_kernel(reg, "prelu", "cpu", prelu_cpu_forward, prelu_cpu_backward);
    if (st == FX_OK)
        st = prelu_register_opencl(plugin);
    return st;
}
