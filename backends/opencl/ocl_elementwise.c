/* backends/opencl/ocl_elementwise.c - OpenCL kernels (clkernels/
 * elementwise.cl) of relu, elu, add, mul, scale, flatten, reshape, dropout
 * and softmax_cross_entropy. Same semantics as backends/cpu/: backward
 * kernels accumulate, grad_in[i] may be NULL, activations' backward reads
 * the output (in-place forward allowed). */
#include <stdlib.h>

#include "backends/opencl/ocl_backend.h"

#define EW "elementwise.cl"

static int numel_int(const fx_tensor *t) { return (int)fx_tensor_numel(t); }

/* Kernels with signature (tensors..., [float alpha], n), one work-item per
 * element of the output. */
static fx_status pointwise(const fx_kernel_call *call, const char *kernel, int with_alpha,
                           const fx_tensor *const *tensors, int count)
{
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, EW, kernel, &a);
    if (st != FX_OK)
        return st;
    int n = numel_int(call->out[0]);
    for (int i = 0; i < count; i++)
        ocl_arg_tensor(&a, tensors[i]);
    if (with_alpha)
        ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "alpha"));
    ocl_arg_int(&a, n);
    return ocl_launch_1d(call->backend, &a, (size_t)n, 0, kernel);
}

/* y = f(x) kernels with signature (x, y, [float], n). */
static fx_status unary(const fx_kernel_call *call, const char *kernel, int with_alpha)
{
    const fx_tensor *tensors[] = { call->in[0], call->out[0] };
    return pointwise(call, kernel, with_alpha, tensors, 2);
}

/* gx += f(y, g) kernels with signature (y, g, gx, [float], n, acc); acc
 * 0 when the call asks to overwrite grad_in[0] (fx_kernel_call). */
static fx_status unary_backward(const fx_kernel_call *call, const char *kernel, int with_alpha)
{
    if (!call->grad_in[0])
        return FX_OK;
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, EW, kernel, &a);
    if (st != FX_OK)
        return st;
    int n = numel_int(call->out[0]);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_tensor(&a, call->grad_in[0]);
    if (with_alpha)
        ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "alpha"));
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, !FX_GRAD_OVERWRITE_IN(call, 0));
    return ocl_launch_1d(call->backend, &a, (size_t)n, 0, kernel);
}

/* dst += factor * src over n elements (acc 0: dst = 0 + factor * src). */
static fx_status accumulate(fx_backend *be, const fx_tensor *src, fx_tensor *dst, float factor, int acc)
{
    ocl_args a;
    fx_status st = ocl_args_begin(be, EW, "accumulate", &a);
    if (st != FX_OK)
        return st;
    int n = numel_int(src);
    ocl_arg_tensor(&a, src);
    ocl_arg_tensor(&a, dst);
    ocl_arg_float(&a, factor);
    ocl_arg_int(&a, n);
    ocl_arg_int(&a, acc);
    return ocl_launch_1d(be, &a, (size_t)n, 0, "accumulate");
}

fx_status ocl_relu_forward(const fx_kernel_call *call) { return unary(call, "relu_forward", 0); }
fx_status ocl_relu_backward(const fx_kernel_call *call) { return unary_backward(call, "relu_backward", 0); }
fx_status ocl_elu_forward(const fx_kernel_call *call)
{
    if (!ocl_impl(call->backend)->cpu_style)
        return unary(call, "elu_forward", 1);
    /* CPU style: 16 elements per work-item (vector expm1). */
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, EW, "elu_forward16", &a);
    if (st != FX_OK)
        return st;
    int n = numel_int(call->out[0]);
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "alpha"));
    ocl_arg_int(&a, n);
    return ocl_launch_1d(call->backend, &a, ((size_t)n + 15) / 16, 0, "elu_forward16");
}
fx_status ocl_elu_backward(const fx_kernel_call *call) { return unary_backward(call, "elu_backward", 1); }

static fx_status binary(const fx_kernel_call *call, const char *kernel)
{
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, EW, kernel, &a);
    if (st != FX_OK)
        return st;
    int n = numel_int(call->out[0]);
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->in[1]);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_int(&a, n);
    return ocl_launch_1d(call->backend, &a, (size_t)n, 0, kernel);
}

fx_status ocl_add_forward(const fx_kernel_call *call) { return binary(call, "add_forward"); }
fx_status ocl_mul_forward(const fx_kernel_call *call) { return binary(call, "mul_forward"); }

fx_status ocl_add_backward(const fx_kernel_call *call)
{
    fx_status st = FX_OK;
    for (int i = 0; i < 2 && st == FX_OK; i++)
        if (call->grad_in[i])
            st = accumulate(call->backend, call->grad_out[0], call->grad_in[i], 1.0f, !FX_GRAD_OVERWRITE_IN(call, i));
    return st;
}

fx_status ocl_mul_backward(const fx_kernel_call *call)
{
    fx_status st = FX_OK;
    for (int i = 0; i < 2 && st == FX_OK; i++) {
        if (!call->grad_in[i])
            continue;
        ocl_args a;
        st = ocl_args_begin(call->backend, EW, "mul_backward", &a);
        if (st != FX_OK)
            return st;
        int n = numel_int(call->grad_out[0]);
        ocl_arg_tensor(&a, call->grad_out[0]);
        ocl_arg_tensor(&a, call->in[1 - i]);
        ocl_arg_tensor(&a, call->grad_in[i]);
        ocl_arg_int(&a, n);
        st = ocl_launch_1d(call->backend, &a, (size_t)n, 0, "mul_backward");
    }
    return st;
}

fx_status ocl_scale_forward(const fx_kernel_call *call)
{
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, EW, "scale_forward", &a);
    if (st != FX_OK)
        return st;
    int n = numel_int(call->out[0]);
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "factor"));
    ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "offset"));
    ocl_arg_int(&a, n);
    return ocl_launch_1d(call->backend, &a, (size_t)n, 0, "scale_forward");
}

fx_status ocl_scale_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    return accumulate(call->backend, call->grad_out[0], call->grad_in[0],
                      (float)fx_node_attr_float(call->node, "factor"), !FX_GRAD_OVERWRITE_IN(call, 0));
}

/* flatten/reshape: the data order does not change; forward copies into the
 * output's own buffer (any 4-byte dtype), backward accumulates. */
static fx_status reshape_forward(const fx_kernel_call *call)
{
    const fx_tensor *x = call->in[0];
    fx_tensor *y = call->out[0];
    if (ocl_mem(x) == ocl_mem(y) && x->offset == y->offset)
        return FX_OK;
    return call->backend->ops->tensor_copy(call->backend, y, x);
}

static fx_status reshape_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    return accumulate(call->backend, call->grad_out[0], call->grad_in[0], 1.0f, !FX_GRAD_OVERWRITE_IN(call, 0));
}

fx_status ocl_flatten_forward(const fx_kernel_call *call) { return reshape_forward(call); }
fx_status ocl_flatten_backward(const fx_kernel_call *call) { return reshape_backward(call); }
fx_status ocl_reshape_forward(const fx_kernel_call *call) { return reshape_forward(call); }
fx_status ocl_reshape_backward(const fx_kernel_call *call) { return reshape_backward(call); }

/* Dropout: the mask is recomputed from (seed, flat index) in both passes,
 * identical to the CPU's. Outside training or with rate 0: a copy. The
 * index counts from the rank's first example in the global batch (data
 * parallel, fx_node_batch_offset). accumulate_into: 0 forward (dst = v),
 * 1 backward adding, 2 backward overwriting (dst = 0 + v). */
static fx_status dropout_run(const fx_kernel_call *call, const fx_tensor *src, fx_tensor *dst, int accumulate_into)
{
    float rate = (float)fx_node_attr_float(call->node, "rate");
    if (!(rate >= 0.0f && rate < 1.0f))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "rate %g must be in [0, 1)", (double)rate);
    int active = call->training && rate > 0.0f;
    if (!active) {
        if (accumulate_into)
            return accumulate(call->backend, src, dst, 1.0f, accumulate_into == 1);
        if (ocl_mem(src) == ocl_mem(dst) && src->offset == dst->offset)
            return FX_OK;
        return call->backend->ops->tensor_copy(call->backend, dst, src);
    }
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, EW, "dropout_apply", &a);
    if (st != FX_OK)
        return st;
    int n = numel_int(dst);
    ocl_arg_tensor(&a, src);
    ocl_arg_tensor(&a, dst);
    ocl_arg_ulong(&a, call->seed);
    ocl_arg_float(&a, rate);
    ocl_arg_float(&a, 1.0f / (1.0f - rate));
    ocl_arg_int(&a, accumulate_into);
    ocl_arg_int(&a, n);
    int64_t per_example = dst->shape.dim[0] > 0 ? fx_tensor_numel(dst) / dst->shape.dim[0] : 0;
    ocl_arg_ulong(&a, (uint64_t)(fx_node_batch_offset(call->node) * per_example));
    return ocl_launch_1d(call->backend, &a, (size_t)n, 0, "dropout_apply");
}

fx_status ocl_dropout_forward(const fx_kernel_call *call) { return dropout_run(call, call->in[0], call->out[0], 0); }

fx_status ocl_dropout_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    return dropout_run(call, call->grad_out[0], call->grad_in[0], FX_GRAD_OVERWRITE_IN(call, 0) ? 2 : 1);
}

fx_status ocl_softmax_cross_entropy_forward(const fx_kernel_call *call)
{
    const fx_tensor *x = call->in[0];
    int rows = (int)x->shape.dim[0], classes = (int)x->shape.dim[1];
    float smoothing = (float)fx_node_attr_float(call->node, "label_smoothing");
    if (call->n_aux < 2 || !call->aux[0]->buffer || !call->aux[1]->buffer)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL, "saved log-sum-exp buffers were not allocated");
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, EW, "ce_forward_rows", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, x);
    ocl_arg_tensor(&a, call->in[1]);
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_tensor(&a, call->aux[1]);
    ocl_arg_int(&a, rows);
    ocl_arg_int(&a, classes);
    ocl_arg_float(&a, smoothing);
    st = ocl_launch_1d(call->backend, &a, (size_t)rows, 0, "ce_forward_rows");
    if (st == FX_OK)
        st = ocl_args_begin(call->backend, EW, "ce_mean", &a);
    if (st != FX_OK)
        return st;
    /* The labels are checked on the device by ce_mean (one work-item, so
     * the first bad one is reported, as on the CPU) and the error comes
     * from the next host wait: no wait of its own in the middle of the
     * forward (ocl_checks.c). Out-of-range labels are never read through. */
    cl_mem check = NULL;
    int slot = 0;
    st = ocl_check_slot(call, "label %d of batch element %d is outside [0, %d); the data has more classes than the "
                        "logits (set the classifier's out_features)", classes, &check, &slot);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->aux[1]);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_int(&a, rows);
    ocl_arg_tensor(&a, call->in[1]);
    ocl_arg_int(&a, classes);
    ocl_arg_mem(&a, check, 2 * (size_t)slot);
    return ocl_launch_1d(call->backend, &a, 1, 1, "ce_mean");
}

fx_status ocl_softmax_cross_entropy_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    const fx_tensor *x = call->in[0];
    int rows = (int)x->shape.dim[0], classes = (int)x->shape.dim[1];
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, EW, "ce_backward", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, x);
    ocl_arg_tensor(&a, call->in[1]);
    ocl_arg_tensor(&a, call->aux[0]);
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_tensor(&a, call->grad_in[0]);
    ocl_arg_int(&a, rows);
    ocl_arg_int(&a, classes);
    ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "label_smoothing"));
    return ocl_launch_1d(call->backend, &a, (size_t)rows * (size_t)classes, 0, "ce_backward");
}
