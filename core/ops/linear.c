/* core/ops/linear.c - the linear (fully connected) op: y = x W^T + b with
 * x [N, ...] flattened per example to [N, I], weight [O, I], bias [O],
 * y [N, O]. Kernels: backends/cpu/linear.c. */
#include "core/ops/ops.h"

static const char *const linear_inputs[] = { "x" };

static const fx_attr_spec linear_attrs[] = {
    { "out_features", FX_ATTR_INT, 1, NULL, "number of outputs per example" },
    { "bias", FX_ATTR_BOOL, 0, "true", "add a learnable bias per output" },
};

/* bias: false gives the bias parameter shape ndim 0 ("no tensor"): the
 * executor passes NULL for it. */
static const fx_param_spec linear_params[] = {
    { "weight", 1, "xavier_uniform", "linear" },
    { "bias", 1, "zeros", "linear_bias" },
};

static fx_status linear_infer(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    char buf[96];
    if (x->ndim < 2)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "input must be [N, features...] with at least one feature dim, got %s",
                            fx_shape_str(x, buf, sizeof buf));
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    int64_t in_features = 1;
    for (int i = 1; i < x->ndim; i++)
        in_features *= x->dim[i];
    if (in_features <= 0)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input %s has no features per example",
                            fx_shape_str(x, buf, sizeof buf));
    int64_t out_features = fx_node_attr_int(call->node, "out_features");
    if (out_features <= 0)
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "out_features %lld must be positive",
                            (long long)out_features);
    call->out[0] = fx_shape_2d(x->dim[0], out_features);
    call->out_dtype[0] = FX_F32;
    call->param[0] = fx_shape_2d(out_features, in_features);
    if (fx_node_attr_bool(call->node, "bias"))
        call->param[1] = fx_shape_1d(out_features);
    else
        call->param[1].ndim = 0;
    call->n_aux = 0;
    return FX_OK;
}

const fx_op_def fx_op_linear = {
    .name = "linear",
    .doc = "fully connected: x [N, ...] flattened to [N, I] -> x W^T + b, W [O, I] -> [N, O]",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = linear_inputs,
    .n_outputs = 1,
    .attrs = linear_attrs,
    .n_attrs = (int)(sizeof linear_attrs / sizeof linear_attrs[0]),
    .params = linear_params,
    .n_params = 2,
    .infer = linear_infer,
    .flags = FX_OP_BACKWARD_NO_OUTPUT,
};
