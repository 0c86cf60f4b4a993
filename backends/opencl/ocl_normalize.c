/* backends/opencl/ocl_normalize.c - batchnorm and l2_normalize on OpenCL
 * (kernels: clkernels/normalize.cl; ops: core/ops/batchnorm.c,
 * l2_normalize.c).
 *
 * batchnorm params: 0 gamma, 1 beta, 2 running_mean, 3 running_var; aux
 * (training): 0 batch mean, 1 batch invstd. Training: bn_stats (a
 * work-group per channel; bn_stats_rows, a work-item per channel, in the
 * CPU style) then bn_apply; inference, or a training plan run
 * for evaluation (call->training 0): bn_apply with the running statistics.
 * Backward: bn_backward_reduce (per channel, writes gamma/beta gradients
 * and three coefficients to scratch) then bn_backward_apply. */
#include "backends/opencl/ocl_backend.h"

#define NORM "normalize.cl"

typedef struct bn_geom {
    int n, c, s;
} bn_geom;

static bn_geom bn_geom_of(const fx_tensor *x)
{
    bn_geom g = { (int)x->shape.dim[0], (int)x->shape.dim[1], 1 };
    for (int d = 2; d < x->shape.ndim; d++)
        g.s *= (int)x->shape.dim[d];
    return g;
}

/* CPU style with planes of at least 16 values: the per-plane apply
 * kernels (a loop per plane) instead of one work-item per element. */
static int by_planes(fx_backend *be, const bn_geom *g) { return ocl_impl(be)->cpu_style && g->s >= 16; }

static int bn_has_aux(const fx_kernel_call *call)
{
    return call->n_aux >= 2 && call->aux[0] && call->aux[1] && call->aux[0]->buffer && call->aux[1]->buffer;
}

/* Where the normalisation statistics are: (mean, invstd) from aux when
 * training, (running_mean, running_var) otherwise. */
static void bn_stat_args(const fx_kernel_call *call, ocl_args *a, float eps)
{
    int running = !call->training;
    ocl_arg_tensor(a, running ? call->param[2] : call->aux[0]);
    ocl_arg_tensor(a, running ? call->param[3] : call->aux[1]);
    ocl_arg_int(a, running);
    ocl_arg_float(a, eps);
}

fx_status ocl_batchnorm_forward(const fx_kernel_call *call)
{
    fx_backend *be = call->backend;
    const fx_tensor *x = call->in[0];
    bn_geom g = bn_geom_of(x);
    float momentum = (float)fx_node_attr_float(call->node, "momentum");
    float eps = (float)fx_node_attr_float(call->node, "eps");
    ocl_args a;
    fx_status st;
    if (call->training) {
        if (!bn_has_aux(call))
            return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL,
                                "batch statistics buffers were not allocated for training");
        if ((int64_t)g.n * g.s < 2)
            return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                                "training needs more than one value per channel, got batch %d x %d positions; "
                                "use a batch of at least 2 or run in inference mode", g.n, g.s);
        int cpu = ocl_impl(be)->cpu_style;
        st = ocl_args_begin(be, NORM, cpu ? "bn_stats_rows" : "bn_stats", &a);
        if (st != FX_OK)
            return st;
        size_t local = ocl_group_size(be, 256);
        ocl_arg_tensor(&a, x);
        ocl_arg_tensor(&a, call->aux[0]);
        ocl_arg_tensor(&a, call->aux[1]);
        ocl_arg_tensor(&a, call->param[2]);
        ocl_arg_tensor(&a, call->param[3]);
        ocl_arg_int(&a, g.n);
        ocl_arg_int(&a, g.c);
        ocl_arg_int(&a, g.s);
        ocl_arg_float(&a, momentum);
        ocl_arg_float(&a, eps);
        if (cpu) {
            st = ocl_launch_1d(be, &a, (size_t)g.c, 1, "bn_stats_rows");
        } else {
            ocl_arg_local(&a, local * sizeof(float));
            st = ocl_launch_groups(be, &a, (size_t)g.c, local, "bn_stats");
        }
        if (st != FX_OK)
            return st;
    }
    int planes = by_planes(be, &g);
    st = ocl_args_begin(be, NORM, planes ? "bn_apply_planes" : "bn_apply", &a);
    if (st != FX_OK)
        return st;
    int total = (int)fx_tensor_numel(x);
    ocl_arg_tensor(&a, x);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_tensor(&a, call->param[0]);
    ocl_arg_tensor(&a, call->param[1]);
    bn_stat_args(call, &a, eps);
    ocl_arg_int(&a, g.c);
    ocl_arg_int(&a, g.s);
    if (planes) {
        ocl_arg_int(&a, g.n * g.c);
        return ocl_launch_1d(be, &a, (size_t)g.n * g.c, 1, "bn_apply_planes");
    }
    ocl_arg_int(&a, total);
    ocl_arg_divisor(&a, g.s);
    ocl_arg_divisor(&a, g.c);
    return ocl_launch_1d(be, &a, (size_t)total, 0, "bn_apply");
}

fx_status ocl_batchnorm_backward(const fx_kernel_call *call)
{
    fx_backend *be = call->backend;
    const fx_tensor *x = call->in[0];
    bn_geom g = bn_geom_of(x);
    float eps = (float)fx_node_attr_float(call->node, "eps");
    fx_tensor *gx = call->grad_in ? call->grad_in[0] : NULL;
    fx_tensor *gg = call->param_grad ? call->param_grad[0] : NULL;
    fx_tensor *gb = call->param_grad ? call->param_grad[1] : NULL;
    if (call->training && !bn_has_aux(call))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INTERNAL,
                            "batch statistics buffers were not allocated for training");
    cl_mem coef = NULL;
    fx_status st = ocl_scratch(be, 1, (size_t)g.c * 3 * sizeof(float), &coef);
    ocl_args a;
    int cpu = ocl_impl(be)->cpu_style;
    if (st == FX_OK)
        st = ocl_args_begin(be, NORM, cpu ? "bn_backward_reduce_rows" : "bn_backward_reduce", &a);
    if (st != FX_OK)
        return st;
    size_t local = ocl_group_size(be, 256);
    ocl_arg_tensor(&a, x);
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_tensor(&a, call->param[0]);
    bn_stat_args(call, &a, eps);
    /* 0: none, 1: add, 2: overwrite (the gradient's first writer) */
    ocl_arg_tensor(&a, ocl_has_tensor(gg) ? gg : call->param[0]);
    ocl_arg_int(&a, ocl_has_tensor(gg) ? (FX_GRAD_OVERWRITE_P(call, 0) ? 2 : 1) : 0);
    ocl_arg_tensor(&a, ocl_has_tensor(gb) ? gb : call->param[1]);
    ocl_arg_int(&a, ocl_has_tensor(gb) ? (FX_GRAD_OVERWRITE_P(call, 1) ? 2 : 1) : 0);
    ocl_arg_mem(&a, coef, 0);
    ocl_arg_int(&a, g.n);
    ocl_arg_int(&a, g.c);
    ocl_arg_int(&a, g.s);
    if (cpu) {
        st = ocl_launch_1d(be, &a, (size_t)g.c, 1, "bn_backward_reduce_rows");
    } else {
        ocl_arg_local(&a, local * sizeof(float));
        st = ocl_launch_groups(be, &a, (size_t)g.c, local, "bn_backward_reduce");
    }
    if (st != FX_OK || !ocl_has_tensor(gx))
        return st;
    int planes = by_planes(be, &g);
    st = ocl_args_begin(be, NORM, planes ? "bn_backward_apply_planes" : "bn_backward_apply", &a);
    if (st != FX_OK)
        return st;
    int total = (int)fx_tensor_numel(x);
    ocl_arg_tensor(&a, x);
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_tensor(&a, gx);
    ocl_arg_mem(&a, coef, 0);
    ocl_arg_int(&a, g.c);
    ocl_arg_int(&a, g.s);
    int acc = !FX_GRAD_OVERWRITE_IN(call, 0);
    if (planes) {
        ocl_arg_int(&a, g.n * g.c);
        ocl_arg_int(&a, acc);
        return ocl_launch_1d(be, &a, (size_t)g.n * g.c, 1, "bn_backward_apply_planes");
    }
    ocl_arg_int(&a, total);
    ocl_arg_divisor(&a, g.s);
    ocl_arg_divisor(&a, g.c);
    ocl_arg_int(&a, acc);
    return ocl_launch_1d(be, &a, (size_t)total, 0, "bn_backward_apply");
}

static void l2_geom(const fx_kernel_call *call, int *outer, int *axis_len, int *inner)
{
    const fx_shape *xs = &call->in[0]->shape;
    int64_t axis = fx_node_attr_int(call->node, "axis");
    if (axis < 0)
        axis += xs->ndim;
    int64_t o = 1, in = 1;
    for (int d = 0; d < axis; d++)
        o *= xs->dim[d];
    for (int d = (int)axis + 1; d < xs->ndim; d++)
        in *= xs->dim[d];
    *outer = (int)o;
    *inner = (int)in;
    *axis_len = (int)xs->dim[axis];
}

fx_status ocl_l2_normalize_forward(const fx_kernel_call *call)
{
    int outer, axis, inner;
    l2_geom(call, &outer, &axis, &inner);
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, NORM, "l2_normalize_forward", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->out[0]);
    ocl_arg_int(&a, outer);
    ocl_arg_int(&a, axis);
    ocl_arg_int(&a, inner);
    ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "eps"));
    return ocl_launch_1d(call->backend, &a, (size_t)outer * (size_t)inner, 0, "l2_normalize_forward");
}

fx_status ocl_l2_normalize_backward(const fx_kernel_call *call)
{
    if (!call->grad_in[0])
        return FX_OK;
    int outer, axis, inner;
    l2_geom(call, &outer, &axis, &inner);
    ocl_args a;
    fx_status st = ocl_args_begin(call->backend, NORM, "l2_normalize_backward", &a);
    if (st != FX_OK)
        return st;
    ocl_arg_tensor(&a, call->in[0]);
    ocl_arg_tensor(&a, call->grad_out[0]);
    ocl_arg_tensor(&a, call->grad_in[0]);
    ocl_arg_int(&a, outer);
    ocl_arg_int(&a, axis);
    ocl_arg_int(&a, inner);
    ocl_arg_float(&a, (float)fx_node_attr_float(call->node, "eps"));
    return ocl_launch_1d(call->backend, &a, (size_t)outer * (size_t)inner, 0, "l2_normalize_backward");
}
