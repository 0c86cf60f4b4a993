/* plugins/prelu/prelu_opencl.c - the OpenCL kernels of the PReLU plugin:
 * the .cl source (a string, compiled by fx on first use for each device
 * and kept in fx's OpenCL program cache) and the host wrappers registered
 * under backend "opencl". They use the OpenCL module's helpers
 * (fx/opencl.h: program building through the cache, arguments, launches),
 * so this file needs no OpenCL headers or library: the kernels are always
 * registered, and run wherever fx has its OpenCL backend.
 *
 * Tensors on an OpenCL backend: every kernel takes (buffer, element
 * offset) pairs (fx_opencl_api.arg_tensor). Forward and dx are one
 * work-item per element; the slope gradient is one work-group of
 * PRELU_GROUP work-items per channel (all channels in one group when the
 * slope is shared), summing in local memory, so nothing races. */
#include "prelu.h"
#include "fx/opencl.h"

/* Work-group size of every launch; the .cl source gets the same number. */
#define PRELU_GROUP 64
#define PRELU_STRINGIFY_(x) #x
#define PRELU_STRINGIFY(x) PRELU_STRINGIFY_(x)

static const char prelu_cl_source[] =
    "#define GROUP " PRELU_STRINGIFY(PRELU_GROUP) "\n"
    "__kernel void prelu_forward(__global const float *x, uint xo, __global const float *a, uint ao,\n"
    "                            __global float *y, uint yo, int total, int c, int spatial, int shared_slope)\n"
    "{\n"
    "    int i = get_global_id(0);\n"
    "    if (i >= total) return;\n"
    "    int ch = shared_slope ? 0 : (i / spatial) % c;\n"
    "    float v = x[xo + i];\n"
    "    y[yo + i] = v > 0.0f ? v : a[ao + ch] * v;\n"
    "}\n"
    "__kernel void prelu_backward_x(__global const float *x, uint xo, __global const float *a, uint ao,\n"
    "                               __global const float *g, uint go, __global float *gx, uint gxo,\n"
    "                               int total, int c, int spatial, int shared_slope)\n"
    "{\n"
    "    int i = get_global_id(0);\n"
    "    if (i >= total) return;\n"
    "    int ch = shared_slope ? 0 : (i / spatial) % c;\n"
    "    float gi = g[go + i];\n"
    "    gx[gxo + i] += x[xo + i] > 0.0f ? gi : a[ao + ch] * gi;\n"
    "}\n"
    "/* Group k sums g * x over x <= 0 for channel k (all channels when\n"
    " * shared) and adds the sum to ga[k]. */\n"
    "__kernel void prelu_backward_slope(__global const float *x, uint xo, __global const float *g, uint go,\n"
    "                                   __global float *ga, uint gao, int n, int c, int spatial,\n"
    "                                   int shared_slope)\n"
    "{\n"
    "    __local float sums[GROUP];\n"
    "    int k = get_group_id(0), l = get_local_id(0);\n"
    "    int count = shared_slope ? n * c * spatial : n * spatial;\n"
    "    float acc = 0.0f;\n"
    "    for (int j = l; j < count; j += GROUP) {\n"
    "        int off = shared_slope ? j : ((j / spatial) * c + k) * spatial + j % spatial;\n"
    "        float v = x[xo + off];\n"
    "        acc += v > 0.0f ? 0.0f : g[go + off] * v;\n"
    "    }\n"
    "    sums[l] = acc;\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    for (int s = GROUP / 2; s > 0; s >>= 1) {\n"
    "        if (l < s) sums[l] += sums[l + s];\n"
    "        barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    }\n"
    "    if (l == 0) ga[gao + k] += sums[0];\n"
    "}\n";

static const char *const prelu_cl_kernels[] = { "prelu_forward", "prelu_backward_x", "prelu_backward_slope", NULL };

static const fx_opencl_program prelu_cl_program = {
    .name = "prelu.cl",
    .source = prelu_cl_source,
    .options = NULL,
    .kernels = prelu_cl_kernels,
};

/* The trailing int arguments of every kernel: (count, c, spatial,
 * shared_slope), count being the element total or, for the slope kernel, n. */
static void arg_layout(const fx_opencl_api *cl, fx_opencl_args *a, int64_t count, int64_t c, int64_t spatial,
                       int shared)
{
    cl->arg_int(a, (int)count);
    cl->arg_int(a, (int)c);
    cl->arg_int(a, (int)spatial);
    cl->arg_int(a, shared);
}

/* prelu_layout, plus total = n * c * spatial, refused when the kernels'
 * int indices could not reach every element. */
static fx_status ocl_layout(const fx_kernel_call *call, int64_t *n, int64_t *c, int64_t *spatial, int *shared,
                            int64_t *total)
{
    prelu_layout(call, n, c, spatial, shared);
    *total = *n * *c * *spatial;
    if (*total > 0x7fffffff)
        return fx_node_fail(call->ctx, call->node, FX_ERR_UNSUPPORTED, "more than 2^31 elements on OpenCL");
    return FX_OK;
}

/* The module's helpers for this call's backend, and the arguments of
 * kernel `name` begun. */
static fx_status begin(const fx_kernel_call *call, const char *name, const fx_opencl_api **cl, fx_opencl_args *a)
{
    *cl = fx_opencl_api_of(call->backend);
    if (!*cl || (*cl)->struct_size < offsetof(fx_opencl_api, launch_groups) + sizeof (*cl)->launch_groups)
        return fx_node_fail(call->ctx, call->node, FX_ERR_UNSUPPORTED,
                            "prelu on OpenCL needs fx's OpenCL module with the launch helpers (fx 0.1 ABI 2)");
    return (*cl)->args_begin(call->backend, &prelu_cl_program, name, a);
}

static fx_status prelu_ocl_forward(const fx_kernel_call *call)
{
    int64_t n, c, spatial, total;
    int shared;
    fx_status st = ocl_layout(call, &n, &c, &spatial, &shared, &total);
    if (st != FX_OK)
        return st;
    const fx_opencl_api *cl;
    fx_opencl_args a;
    st = begin(call, "prelu_forward", &cl, &a);
    if (st != FX_OK)
        return st;
    cl->arg_tensor(&a, call->in[0]);
    cl->arg_tensor(&a, call->param[0]);
    cl->arg_tensor(&a, call->out[0]);
    arg_layout(cl, &a, total, c, spatial, shared);
    return cl->launch_1d(call->backend, &a, (size_t)total, PRELU_GROUP, "prelu forward");
}

static fx_status prelu_ocl_backward(const fx_kernel_call *call)
{
    int64_t n, c, spatial, total;
    int shared;
    fx_status st = ocl_layout(call, &n, &c, &spatial, &shared, &total);
    if (st != FX_OK)
        return st;
    const fx_opencl_api *cl;
    fx_opencl_args a;
    if (call->grad_in[0]) {
        st = begin(call, "prelu_backward_x", &cl, &a);
        if (st != FX_OK)
            return st;
        cl->arg_tensor(&a, call->in[0]);
        cl->arg_tensor(&a, call->param[0]);
        cl->arg_tensor(&a, call->grad_out[0]);
        cl->arg_tensor(&a, call->grad_in[0]);
        arg_layout(cl, &a, total, c, spatial, shared);
        st = cl->launch_1d(call->backend, &a, (size_t)total, PRELU_GROUP, "prelu backward (input)");
        if (st != FX_OK)
            return st;
    }
    if (!call->param_grad[0])
        return FX_OK;
    st = begin(call, "prelu_backward_slope", &cl, &a);
    if (st != FX_OK)
        return st;
    cl->arg_tensor(&a, call->in[0]);
    cl->arg_tensor(&a, call->grad_out[0]);
    cl->arg_tensor(&a, call->param_grad[0]);
    arg_layout(cl, &a, n, c, spatial, shared);
    size_t groups = shared ? 1 : (size_t)c;
    return cl->launch_groups(call->backend, &a, groups, PRELU_GROUP, "prelu backward (slope)");
}

fx_status prelu_register_opencl(fx_plugin *plugin)
{
    fx_status st = fx_plugin_add_opencl_program(plugin, &prelu_cl_program);
    if (st == FX_OK)
        st = fx_registry_add_kernel(fx_plugin_registry(plugin), "prelu", "opencl", prelu_ocl_forward,
                                    prelu_ocl_backward);
    return st;
}
