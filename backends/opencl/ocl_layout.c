/* backends/opencl/ocl_layout.c - concat and resize_bilinear on OpenCL
 * (kernels: clkernels/layout.cl; ops: core/ops/concat.c,
 * resize_bilinear.c). The resize taps (source rows/columns and weights)
 * are computed on the host in double, as the CPU kernel does, at planning
 * (ocl_resize_bilinear_prepare) and uploaded into the node's workspace by
 * the plan's first launch; a call from outside a plan computes and
 * uploads them itself. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl_backend.h"

#define LAYOUT "layout.cl"

static fx_status concat_run(const fx_kernel_call *call, int backward)
{
    const fx_shape *ys = &call->out[0]->shape;
    int64_t axis = fx_node_attr_int(call->node, "axis");
    if (axis < 0)
        axis += ys->ndim;
    int64_t outer = 1, after = 1, total = 0;
    for (int d = 0; d < axis; d++)
        outer *= ys->dim[d];
    for (int d = (int)axis + 1; d < ys->ndim; d++)
        after *= ys->dim[d];
    for (int i = 0; i < call->n_in; i++)
        total += call->in[i]->shape.dim[axis] * after;
    int64_t offset = 0;
    fx_status st = FX_OK;
    for (int i = 0; i < call->n_in && st == FX_OK; i++) {
        int64_t inner = call->in[i]->shape.dim[axis] * after;
        const fx_tensor *part = backward ? call->grad_in[i] : call->in[i];
        const fx_tensor *whole = backward ? call->grad_out[0] : call->out[0];
        if (part) {
            ocl_args a;
            st = ocl_args_begin(call->backend, LAYOUT, "concat_part", &a);
            if (st != FX_OK)
                return st;
            ocl_arg_tensor(&a, part);
            ocl_arg_tensor(&a, whole);
            ocl_arg_int(&a, (int)outer);
            ocl_arg_int(&a, (int)inner);
            ocl_arg_int(&a, (int)total);
            ocl_arg_int(&a, (int)offset);
            ocl_arg_int(&a, backward);
            st = ocl_launch_1d(call->backend, &a, (size_t)(outer * inner), 0, "concat_part");
        }
        offset += inner;
    }
    return st;
}

fx_status ocl_concat_forward(const fx_kernel_call *call) { return concat_run(call, 0); }
fx_status ocl_concat_backward(const fx_kernel_call *call) { return concat_run(call, 1); }

/* Same mappings as backends/cpu/resize_bilinear.c. */
static void resize_taps(int map, int64_t in, int64_t out, float *taps)
{
    for (int64_t d = 0; d < out; d++) {
        double src;
        if (map == 0) {
            src = ((double)d + 0.5) * (double)in / (double)out - 0.5;
            if (src < 0.0)
                src = 0.0;
        } else if (map == 1) {
            src = out > 1 ? (double)d * (double)(in - 1) / (double)(out - 1) : 0.0;
        } else {
            src = (double)d * (double)in / (double)out;
        }
        int64_t i0 = (int64_t)floor(src);
        if (i0 > in - 1)
            i0 = in - 1;
        taps[3 * d] = (float)i0;
        taps[3 * d + 1] = (float)(i0 + 1 < in ? i0 + 1 : in - 1);
        taps[3 * d + 2] = (float)(src - (double)i0);
    }
}

static fx_status resize_mapping(const fx_kernel_call *call, const fx_node *node, fx_context *ctx, int *map)
{
    const char *mapping = fx_node_attr_string(node, "mapping");
    if (mapping && !strcmp(mapping, "half_pixel"))
        *map = 0;
    else if (mapping && !strcmp(mapping, "align_corners"))
        *map = 1;
    else if (mapping && !strcmp(mapping, "asymmetric"))
        *map = 2;
    else
        return fx_node_fail(ctx, node, FX_ERR_INVALID,
                            "unknown mapping '%s'; use half_pixel, align_corners or asymmetric", mapping ? mapping : "");
    (void)call;
    return FX_OK;
}

/* Plan-time state of a resize node: its geometry, its taps (host copy,
 * uploaded into the node's workspace by the first launch of the plan,
 * asynchronously: the copy stays alive here) and its two kernel handles. */
typedef struct resize_state {
    int planes, ih, iw, oh, ow;
    size_t bytes;
    float *taps;
    int uploaded;
    cl_kernel forward, backward;
} resize_state;

fx_status ocl_resize_bilinear_prepare(fx_kernel_prepare_call *call)
{
    int map = 0;
    fx_status st = resize_mapping(NULL, call->node, call->ctx, &map);
    if (st != FX_OK)
        return st;
    const fx_shape *xs = &call->in[0], *ys = &call->out[0];
    resize_state *r = fx_calloc(call->ctx, 1, sizeof *r, "resize_bilinear plan state");
    if (!r)
        return FX_ERR_NOMEM;
    r->planes = (int)(xs->dim[0] * xs->dim[1]);
    r->ih = (int)xs->dim[2], r->iw = (int)xs->dim[3], r->oh = (int)ys->dim[2], r->ow = (int)ys->dim[3];
    r->bytes = (size_t)(r->oh + r->ow) * 3 * sizeof(float);
    r->taps = fx_malloc(call->ctx, r->bytes, "resize_bilinear tables");
    call->state = r; /* released with the plan, even when this fails */
    if (!r->taps)
        return FX_ERR_NOMEM;
    resize_taps(map, r->ih, r->oh, r->taps);
    resize_taps(map, r->iw, r->ow, r->taps + 3 * r->oh);
    st = ocl_kernel_get(call->backend, LAYOUT, "resize_forward", &r->forward);
    if (st == FX_OK && call->training)
        st = ocl_kernel_get(call->backend, LAYOUT, "resize_backward", &r->backward);
    call->workspace_bytes = r->bytes;
    return st;
}

void ocl_resize_bilinear_release(fx_backend *be, void *state)
{
    resize_state *r = state;
    (void)be;
    if (r)
        free(r->taps);
    free(r);
}

/* With plan-time state: the taps live in the workspace (uploaded once per
 * plan) and the kernels are the handles found at planning. Without (a
 * call not from a plan): taps computed and uploaded to scratch per call. */
static fx_status resize_run(const fx_kernel_call *call, int backward)
{
    fx_backend *be = call->backend;
    const fx_shape *xs = &call->in[0]->shape, *ys = &call->out[0]->shape;
    const char *kernel = backward ? "resize_backward" : "resize_forward";
    resize_state *r = call->state;
    int planes = (int)(xs->dim[0] * xs->dim[1]);
    int ih = (int)xs->dim[2], iw = (int)xs->dim[3], oh = (int)ys->dim[2], ow = (int)ys->dim[3];
    cl_mem dev = NULL;
    fx_status st = FX_OK;
    ocl_args a;
    if (r && call->workspace && (backward ? r->backward : r->forward) && r->planes == planes && r->ih == ih &&
        r->iw == iw && r->oh == oh && r->ow == ow) {
        if (!r->uploaded) {
            st = be->ops->tensor_write_async(be, call->workspace, r->taps, 0, r->bytes);
            if (st != FX_OK)
                return st;
            r->uploaded = 1;
        }
        dev = ocl_mem(call->workspace);
        ocl_args_begin_kernel(&a, backward ? r->backward : r->forward, kernel);
        ocl_arg_tensor(&a, backward ? call->grad_out[0] : call->in[0]);
        ocl_arg_tensor(&a, backward ? call->grad_in[0] : call->out[0]);
        ocl_arg_tensor(&a, call->workspace);
    } else {
        int map = 0;
        st = resize_mapping(call, call->node, call->ctx, &map);
        if (st != FX_OK)
            return st;
        size_t bytes = (size_t)(oh + ow) * 3 * sizeof(float);
        float *taps = fx_malloc(call->ctx, bytes, "resize_bilinear tables");
        if (!taps)
            return FX_ERR_NOMEM;
        resize_taps(map, ih, oh, taps);
        resize_taps(map, iw, ow, taps + 3 * oh);
        st = ocl_scratch(be, 0, bytes, &dev);
        if (st == FX_OK) {
            cl_int err = clEnqueueWriteBuffer(ocl_impl(be)->queue, dev, CL_TRUE, 0, bytes, taps, 0, NULL, NULL);
            if (err != CL_SUCCESS)
                st = ocl_fail(call->ctx, err, "clEnqueueWriteBuffer(resize taps)");
            else
                ocl_count_transfer(be, OCL_XFER_TO_DEVICE, bytes), ocl_count_sync(be);
        }
        free(taps);
        if (st == FX_OK)
            st = ocl_args_begin(be, LAYOUT, kernel, &a);
        if (st != FX_OK)
            return st;
        ocl_arg_tensor(&a, backward ? call->grad_out[0] : call->in[0]);
        ocl_arg_tensor(&a, backward ? call->grad_in[0] : call->out[0]);
        ocl_arg_mem(&a, dev, 0);
    }
    int ints[] = { planes, ih, iw, oh, ow };
    for (int i = 0; i < 5; i++)
        ocl_arg_int(&a, ints[i]);
    size_t items = backward ? (size_t)planes : (size_t)planes * oh * ow;
    return ocl_launch_1d(be, &a, items, backward ? ocl_group_size(be, 64) : 0, kernel);
}

fx_status ocl_resize_bilinear_forward(const fx_kernel_call *call) { return resize_run(call, 0); }

fx_status ocl_resize_bilinear_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    return resize_run(call, 1);
}
