/* core/ops/l2_normalize.c - definition of l2_normalize (TensorFlow
 * semantics): y = x / sqrt(max(sum_axis x^2, eps)). With the default axis
 * 1 on [N, C, H, W] each pixel's channel vector gets unit length (the
 * hypercolumn branches). Kernels: backends/cpu/l2_normalize.c. */
#include "core/ops/ops.h"

static const fx_attr_spec l2_attrs[] = {
    { "axis", FX_ATTR_INT, 0, "1", "axis summed over (1 = channels; negative counts from the end)" },
    { "eps", FX_ATTR_FLOAT, 0, "1e-12", "lower bound of the squared norm" },
};

static const char *const l2_inputs[] = { "x" };

static fx_status l2_infer(fx_infer_call *call)
{
    const fx_shape *x = &call->in[0];
    char buf[128];
    if (call->in_dtype[0] != FX_F32)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE, "input must be f32, got %s",
                            fx_dtype_name(call->in_dtype[0]));
    int64_t axis = fx_node_attr_int(call->node, "axis");
    if (axis < 0)
        axis += x->ndim;
    if (axis < 1 || axis >= x->ndim)
        return fx_node_fail(call->ctx, call->node, FX_ERR_SHAPE,
                            "axis %lld is out of range for input %s (use 1..%d; axis 0 is the batch)",
                            (long long)fx_node_attr_int(call->node, "axis"), fx_shape_str(x, buf, sizeof buf),
                            x->ndim - 1);
    if (!(fx_node_attr_float(call->node, "eps") > 0.0))
        return fx_node_fail(call->ctx, call->node, FX_ERR_INVALID, "eps %g must be > 0",
                            fx_node_attr_float(call->node, "eps"));
    call->out[0] = *x;
    return FX_OK;
}

const fx_op_def fx_op_l2_normalize = {
    .name = "l2_normalize",
    .doc = "y = x / sqrt(max(sum over axis of x^2, eps)) (default axis 1: channels)",
    .min_inputs = 1,
    .max_inputs = 1,
    .input_names = l2_inputs,
    .n_outputs = 1,
    .attrs = l2_attrs,
    .n_attrs = 2,
    .infer = l2_infer,
    .flags = FX_OP_BACKWARD_NO_OUTPUT,
};
