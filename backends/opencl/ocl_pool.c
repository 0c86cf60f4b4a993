/* backends/opencl/ocl_pool.c - maxpool2d, avgpool2d and global_avgpool on
 * OpenCL (kernels: clkernels/pool.cl; op: core/ops/pool.c). maxpool saves
 * the argmax (index iy*W + ix within the plane, aux[0], I32) when the plan
 * allocated it (training) and backward routes the gradient there. */
#include "backends/opencl/ocl_backend.h"
#include "fx/geometry.h"

static fx_status window_args(const fx_kernel_call *call, ocl_args *a)
{
    const fx_tensor *x = call->in[0];
    fx_window2d win;
    fx_status st = fx_window2d_resolve(call->ctx, call->node, x->shape.dim[2], x->shape.dim[3], &win);
    if (st != FX_OK)
        return st;
    int ints[] = { (int)(x->shape.dim[0] * x->shape.dim[1]), (int)x->shape.dim[2], (int)x->shape.dim[3],
                   (int)win.kernel_h, (int)win.kernel_w, (int)win.stride_h, (int)win.stride_w,
                   (int)win.pad_top, (int)win.pad_left, (int)win.out_h, (int)win.out_w };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        ocl_arg_int(a, ints[i]);
    return FX_OK;
}

static int has_argmax(const fx_kernel_call *call)
{
    return call->n_aux > 0 && call->aux && call->aux[0] && call->aux[0]->buffer;
}

/* maxpool2d 2x2/2 windows inside the input: the loop-free kernel. */
static int is_plain_2x2(const fx_window2d *win, int64_t h, int64_t w)
{
    return win->kernel_h == 2 && win->kernel_w == 2 && win->stride_h == 2 && win->stride_w == 2 &&
           win->pad_top == 0 && win->pad_left == 0 && 2 * win->out_h <= h && 2 * win->out_w <= w;
}

fx_status ocl_maxpool2d_forward(const fx_kernel_call *call)
{
    const fx_tensor *x = call->in[0];
    fx_window2d win;
    fx_status st0 = fx_window2d_resolve(call->ctx, call->node, x->shape.dim[2], x->shape.dim[3], &win);
    if (st0 != FX_OK)
        return st0;
    if (is_plain_2x2(&win, x->shape.dim[2], x->shape.dim[3])) {
        ocl_args a;
        fx_status st = ocl_args_begin(call->backend, "pool.cl", "maxpool2x2_forward", &a);
        if (st != FX_OK)
            return st;
        int save = has_argmax(call);
        int total = (int)fx_tensor_numel(call->out[0]);
        ocl_arg_tensor(&a, x);
        ocl_arg_tensor(&a, call->out[0]);
        ocl_arg_tensor(&a, save ? call->aux[0] : call->out[0]);
        ocl_arg_int(&a, save);
        ocl_arg_int(&a, total);
        ocl_arg_int(&a, (int)x->shape.dim[2]);
        ocl_arg_int(&a, (int)x->shape.dim[3]);
        ocl_arg_int(&a, (int)win.out_h);
        ocl_arg_int(&a, (int)win.out_w);
        ocl_arg_divisor(&a, (int)win.out_w);
        ocl_arg_divisor(&a, (int)win.out_h);
        return ocl_launch_1d(call->backend, &a, (size_t)total, 0, "maxpool2x2_forward");
    }
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, "pool.cl", "maxpool_forward", &a);
    if (st != FX_OK)
        return st;
    int save = has_argmax(call);
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_tensor(&a, save ? call->aux[0] : call->out[0]);
    ocl_arg_int(&a, save);
    st = window_args(call, &a);
    if (st != FX_OK)
        return st;
    return ocl_launch_1d(call->backend, &a, (size_t)fx_tensor_numel(call->out[0]), 0, "maxpool_forward");
}

fx_status ocl_maxpool2d_backward(const fx_kernel_call *call)
{
    if (!call->grad_in || !call->grad_in[0])
        return FX_OK;
    if (!has_argmax(call))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL,
                            "maxpool2d backward has no saved argmax (aux 0); forward must run in training mode");
    const fx_tensor *x = call->in[0];
    fx_window2d win;
    fx_status st0 = fx_window2d_resolve(call->ctx, call->node, x->shape.dim[2], x->shape.dim[3], &win);
    if (st0 != FX_OK)
        return st0;
    if (win.stride_h >= win.kernel_h && win.stride_w >= win.kernel_w) {
        ocl_args a;
        fx_status st = ocl_args_begin(call->backend, "pool.cl", "maxpool_backward_scatter", &a);
        if (st != FX_OK)
            return st;
        int total = (int)fx_tensor_numel(call->grad_out[0]);
        int plane_out = (int)(win.out_h * win.out_w);
        ocl_arg_tensor(&a, call->grad_out[0]);
        ocl_arg_tensor(&a, call->aux[0]);
        ocl_arg_tensor(&a, call->grad_in[0]);
        ocl_arg_int(&a, total);
        ocl_arg_int(&a, (int)(x->shape.dim[2] * x->shape.dim[3]));
        ocl_arg_int(&a, plane_out);
        ocl_arg_divisor(&a, plane_out);
        return ocl_launch_1d(call->backend, &a, (size_t)total, 0, "maxpool_backward_scatter");
    }
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, "pool.cl", "maxpool_backward", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_tensor(&a, call->grad_in[0]);
    st = window_args(call, &a);
    if (st != FX_OK)
        return st;
    return ocl_launch_1d(call->backend, &a, (size_t)fx_tensor_numel(call->grad_in[0]), 0, "maxpool_backward");
}

fx_status ocl_avgpool2d_forward(const fx_kernel_call *call)
{
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, "pool.cl", "avgpool_forward", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->out[0]);
    st = window_args(call, &a);
    if (st != FX_OK)
        return st;
    return ocl_launch_1d(call->backend, &a, (size_t)fx_tensor_numel(call->out[0]), 0, "avgpool_forward");
}

fx_status ocl_avgpool2d_backward(const fx_kernel_call *call)
{
    if (!call->grad_in || !call->grad_in[0])
        return FX_OK;
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, "pool.cl", "avgpool_backward", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_tensor(&a, call->grad_in[0]);
    st = window_args(call, &a);
    if (st != FX_OK)
        return st;
    return ocl_launch_1d(call->backend, &a, (size_t)fx_tensor_numel(call->grad_in[0]), 0, "avgpool_backward");
}

fx_status ocl_global_avgpool_forward(const fx_kernel_call *call)
{
    const fx_tensor *x = call->in[0];
    size_t planes = (size_t)(x->shape.dim[0] * x->shape.dim[1]);
    int plane = (int)(x->shape.dim[2] * x->shape.dim[3]);
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, "pool.cl", "global_avgpool_forward", &a);
    if (st != FX_OK)
        return st;
    size_t local = ocl_group_size(call->backend, plane < 256 ? (size_t)plane : 256);
    ocl_arg_tensor(&a, x);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_int(&a, plane);
    ocl_arg_local(&a, local * sizeof(float));
    return ocl_launch_groups(call->backend, &a, planes, local, "global_avgpool_forward");
}

fx_status ocl_global_avgpool_backward(const fx_kernel_call *call)
{
    if (!call->grad_in || !call->grad_in[0])
        return FX_OK;
    const fx_tensor *x = call->in[0];
    int planes = (int)(x->shape.dim[0] * x->shape.dim[1]);
    int plane = (int)(x->shape.dim[2] * x->shape.dim[3]);
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, "pool.cl", "global_avgpool_backward", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_tensor(&a, call->grad_in[0]);
    ocl_arg_int(&a, planes);
    ocl_arg_int(&a, plane);
    return ocl_launch_1d(call->backend, &a, (size_t)planes * (size_t)plane, 0, "global_avgpool_backward");
}
